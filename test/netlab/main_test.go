package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bin holds the binaries the lab hosts run, built once per test binary.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "netlab-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "netlab:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	const mod = "github.com/webrtc-broker/webrtc-broker/"
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		mod+"cmd/coordinator", mod+"cmd/commserver", mod+"test/netlab/internal/labclient")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "netlab: building the lab's binaries:", err)
		return 1
	}
	bin = dir
	return m.Run()
}
