package plugintest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/plugins/plugintest"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cases.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCases(t *testing.T) {
	c, err := plugintest.LoadCases(writeFile(t, `
config:
  secret: s3cret
timeout: 500ms
cases:
  - name: by url
    role: hub
    url: /discover?token=x
    headers: {Authorization: Bearer x}
    expect: allow
    identity: hub
  - name: by body
    body: ""
    expect: deny
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Config["secret"] != "s3cret" || c.Timeout != 500*time.Millisecond || len(c.Cases) != 2 {
		t.Fatalf("loaded %+v", c)
	}
	if c.Cases[1].Body == nil || *c.Cases[1].Body != "" {
		t.Fatalf("an empty body must still be a body: %+v", c.Cases[1])
	}
}

func TestLoadCasesEmptyFileHasNoCases(t *testing.T) {
	c, err := plugintest.LoadCases(writeFile(t, ""))
	if err != nil || len(c.Cases) != 0 {
		t.Fatalf("%+v, %v", c, err)
	}
}

func TestLoadCasesRejects(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "cases:\n  - {url: /connect, expect: allow, expected: deny}\n", "expected"},
		{"url and body", "cases:\n  - {url: /connect, body: x, expect: allow}\n", "exactly one of url and body"},
		{"neither url nor body", "cases:\n  - {expect: allow}\n", "exactly one of url and body"},
		{"bad expect", "cases:\n  - {body: x, expect: maybe}\n", "allow or deny"},
		{"identity on deny", "cases:\n  - {body: x, expect: deny, identity: a}\n", "only checked on allow"},
		{"bad role", "cases:\n  - {body: x, role: admin, expect: deny}\n", "unknown role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugintest.LoadCases(writeFile(t, tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := plugintest.LoadConfig(writeFile(t, "secret: abc\nttl: 1m\n"))
	if err != nil || cfg["secret"] != "abc" || cfg["ttl"] != "1m" {
		t.Fatalf("%v, %v", cfg, err)
	}
}
