package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config file is operator input: whatever it holds, Load returns a config
// or an error, never panics, and an unknown key is never silently accepted.
func FuzzLoadFile(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\nauth:\n  timeout: 5s\n")
	f.Add("webrtc:\n  ice_servers: [stun:127.0.0.1:3478]\n  loopback_only: yes\n")
	f.Add("auth: {timeout: -1}\n")
	f.Add("listne: typo\n")
	f.Add("a: &a [*a, *a]\n")
	f.Add("webrtc: 7\n")
	f.Add("\x00\xff: [")
	f.Fuzz(func(t *testing.T, content string) {
		file := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var c testConfig
		err := Load(Options{Name: "fuzz", Args: []string{"--config", file}, Defaults: defaults, Out: io.Discard}, &c)
		if err == nil && strings.HasPrefix(content, "listne:") {
			t.Fatalf("%q: the unknown key listne was accepted", content)
		}
	})
}
