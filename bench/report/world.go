package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// worldSection renders the world scenario's run (raw/world.txt, what
// `brokerctl load --scenario world` prints: spatial interest off and on,
// side by side in one run), or nothing when the run did not happen.
func worldSection(rawDir string) string {
	b, err := os.ReadFile(filepath.Join(rawDir, "world.txt"))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	return fmt.Sprintf("\n## World: spatial interest off and on (issue 14)\n\n"+
		"`brokerctl load --scenario world` on one server declaring `worlds` (bench/scripts/world.yaml): random walkers "+
		"publish first on one ordinary topic (interest off: everyone gets everything), then on the world topic "+
		"(interest on: only the subscribers within the radius, at rates falling with distance). "+
		"Expected deliveries follow from the walkers' geometry.\n\n```\n%s\n```\n", strings.TrimRight(string(b), "\n"))
}
