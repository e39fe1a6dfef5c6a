package netlab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// bin holds the binaries the lab hosts run, built once per test binary.
var bin string

// clusterSecret is the cluster.secret every process gets, when the
// binaries know that key (servers are admitted and their links proven with
// it); empty when they do not.
var clusterSecret string

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
		mod+"cmd/coordinator", mod+"cmd/commserver", mod+"test/netlab/internal/labclient",
		mod+"test/netlab/internal/labswarm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "netlab: building the lab's binaries:", err)
		return 1
	}
	bin = dir
	out, err := exec.Command(filepath.Join(dir, "coordinator"), "--print-config").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netlab: coordinator --print-config:", err)
		return 1
	}
	if regexp.MustCompile(`(?m)^cluster:`).Match(out) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			fmt.Fprintln(os.Stderr, "netlab:", err)
			return 1
		}
		clusterSecret = base64.RawURLEncoding.EncodeToString(b)
	}
	return m.Run()
}
