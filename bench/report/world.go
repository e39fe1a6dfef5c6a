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

// worldStepsSection renders the world step-up (raw/world-steps.txt, what
// `brokerctl load --scenario world --world-steps` prints), or nothing.
func worldStepsSection(rawDir string) string {
	b, err := os.ReadFile(filepath.Join(rawDir, "world-steps.txt"))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	return fmt.Sprintf("\n## World: how many clients one server holds at 10 updates/s, interest on (issue 14)\n\n"+
		"`brokerctl load --scenario world --world-steps` on one server (bench/scripts/world.yaml): fresh random walkers "+
		"at each step, in a world sized for the issue's density (500 clients in 1,000 x 1,000), until a step is not "+
		"sustained (deliveries at least 99 %% of what the geometry expects, p99 under 100 ms). "+
		"`held` is the largest sustained step.\n\n```\n%s\n```\n", strings.TrimRight(string(b), "\n"))
}
