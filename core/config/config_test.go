package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Listen string `koanf:"listen"`
	WebRTC struct {
		LoopbackOnly bool     `koanf:"loopback_only"`
		ICEServers   []string `koanf:"ice_servers"`
	} `koanf:"webrtc"`
	Auth struct {
		Timeout time.Duration `koanf:"timeout"`
	} `koanf:"auth"`
}

var defaults = map[string]any{
	"listen":               "127.0.0.1:9090",
	"webrtc.loopback_only": false,
	"webrtc.ice_servers":   []string{},
	"auth.timeout":         "2s",
}

func TestLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:1\nauth:\n  timeout: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		environ []string
		check   func(t *testing.T, c testConfig)
	}{
		{"defaults", nil, nil, func(t *testing.T, c testConfig) {
			if c.Listen != "127.0.0.1:9090" || c.Auth.Timeout != 2*time.Second {
				t.Fatalf("got %+v", c)
			}
		}},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c testConfig) {
			if c.Listen != "127.0.0.1:1" || c.Auth.Timeout != 5*time.Second {
				t.Fatalf("got %+v", c)
			}
		}},
		{"env over file", []string{"--config", file}, []string{"BROKER_LISTEN=127.0.0.1:2", "BROKER_WEBRTC__LOOPBACK_ONLY=true", "OTHER=1"}, func(t *testing.T, c testConfig) {
			if c.Listen != "127.0.0.1:2" || !c.WebRTC.LoopbackOnly {
				t.Fatalf("got %+v", c)
			}
		}},
		{"set over env", []string{"--set", "listen=127.0.0.1:3", "--set", "webrtc.ice_servers=stun:a,stun:b"}, []string{"BROKER_LISTEN=127.0.0.1:2"}, func(t *testing.T, c testConfig) {
			if c.Listen != "127.0.0.1:3" || len(c.WebRTC.ICEServers) != 2 {
				t.Fatalf("got %+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Load(Options{Name: "t", Args: tc.args, Environ: tc.environ, Defaults: defaults, Out: &bytes.Buffer{}}, &c)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestRejects(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown key in --set", []string{"--set", "lisen=x"}, nil, "lisen"},
		{"unknown key in env", nil, []string{"BROKER_WEBRTC__LOOPBACK=true"}, "loopback"},
		{"bad set syntax", []string{"--set", "novalue"}, nil, "key=value"},
		{"bad duration", []string{"--set", "auth.timeout=soon"}, nil, "timeout"},
		{"missing file", []string{"--config", "/nonexistent.yaml"}, nil, "nonexistent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Load(Options{Name: "t", Args: tc.args, Environ: tc.env, Defaults: defaults, Out: &bytes.Buffer{}}, &c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestPrintConfig(t *testing.T) {
	var out bytes.Buffer
	var c testConfig
	err := Load(Options{Name: "t", Args: []string{"--print-config", "--set", "listen=127.0.0.1:4"}, Defaults: defaults, Out: &out}, &c)
	if !errors.Is(err, ErrPrinted) {
		t.Fatalf("err = %v, want ErrPrinted", err)
	}
	if !strings.Contains(out.String(), "127.0.0.1:4") || !strings.Contains(out.String(), "loopback_only") {
		t.Fatalf("printed:\n%s", out.String())
	}
}

// A request for help is flag.ErrHelp with the usage on Out; a bad command
// line is ErrUsage with the error and the usage on Err.
func TestHelpAndUsageErrors(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		want      error
		out, errs string
	}{
		{"help", []string{"--help"}, flag.ErrHelp, "-print-config", ""},
		{"unknown flag", []string{"--no-such-flag"}, ErrUsage, "", "no-such-flag"},
		{"stray argument", []string{"serve"}, ErrUsage, "", `unexpected argument "serve"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			var c testConfig
			err := Load(Options{Name: "t", Args: tc.args, Defaults: defaults, Out: &out, Err: &errs}, &c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			got, other := &out, &errs
			if tc.want == ErrUsage {
				got, other = &errs, &out
			}
			if !strings.Contains(got.String(), "-print-config") || !strings.Contains(got.String(), tc.out+tc.errs) {
				t.Fatalf("usage output %q lacks the usage or %q", got.String(), tc.out+tc.errs)
			}
			if other.Len() != 0 {
				t.Fatalf("the other stream got %q", other.String())
			}
		})
	}
}
