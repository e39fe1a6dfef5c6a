package commserver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// coordinator_url as the binary loads it: a YAML string (the old form) is a
// list of one, a YAML list is the list, and --set or the environment take a
// comma-separated string.
func TestCoordinatorURLLoads(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		yaml string
		args []string
		env  []string
		want []string
	}{
		{name: "default", want: []string{"ws://127.0.0.1:9090"}},
		{name: "a string", yaml: "coordinator_url: ws://10.0.0.1:9090\n", want: []string{"ws://10.0.0.1:9090"}},
		{name: "a list", yaml: "coordinator_url:\n  - ws://10.0.0.1:9090\n  - wss://c2.example.com\n",
			want: []string{"ws://10.0.0.1:9090", "wss://c2.example.com"}},
		{name: "--set, commas", args: []string{"--set", "coordinator_url=ws://a:1,ws://b:2"}, want: []string{"ws://a:1", "ws://b:2"}},
		{name: "environment", env: []string{"BROKER_COORDINATOR_URL=ws://a:1, ws://b:2,ws://a:1"}, want: []string{"ws://a:1", "ws://b:2"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				f := filepath.Join(dir, fmt.Sprintf("%d.yaml", i))
				if err := os.WriteFile(f, []byte(c.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", f}, args...)
			}
			var cfg Config
			err := config.Load(config.Options{Name: "commserver", Args: args, Environ: c.env, Defaults: Defaults(), Out: io.Discard}, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			if cfg, err = cfg.withDefaults(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.CoordinatorURLs, c.want) || cfg.CoordinatorURL != c.want[0] {
				t.Fatalf("coordinator_url = %q (first %q), want %q", cfg.CoordinatorURLs, cfg.CoordinatorURL, c.want)
			}
		})
	}
}

func TestCoordinatorURLsInConfigLiterals(t *testing.T) {
	cfg, err := Config{CoordinatorURL: "ws://127.0.0.1:7"}.withDefaults()
	if err != nil || !slices.Equal(cfg.CoordinatorURLs, []string{"ws://127.0.0.1:7"}) {
		t.Fatalf("CoordinatorURL alone: %q, %v", cfg.CoordinatorURLs, err)
	}
	cfg, err = Config{CoordinatorURL: "ws://ignored:1", CoordinatorURLs: []string{"ws://a:1", "ws://b:1"}}.withDefaults()
	if err != nil || !slices.Equal(cfg.CoordinatorURLs, []string{"ws://a:1", "ws://b:1"}) || cfg.CoordinatorURL != "ws://a:1" {
		t.Fatalf("both set: %q, %q, %v; the list wins", cfg.CoordinatorURLs, cfg.CoordinatorURL, err)
	}
	for _, bad := range [][]string{{"ftp://a:1"}, {"ws://a:1", "tcp://b"}, {"ws://"}} {
		if _, err := (Config{CoordinatorURLs: bad}).withDefaults(); !errors.Is(err, errBadCoordinatorURL) {
			t.Errorf("coordinator_url %q: err = %v, want %v", bad, err, errBadCoordinatorURL)
		}
	}
	// coordinator_ca applies to every coordinator, so each must be wss.
	if _, err := (Config{CoordinatorURLs: []string{"wss://a:1", "ws://b:1"}, CoordinatorCA: "ca.pem"}).withDefaults(); !errors.Is(err, errCAWithoutTLS) {
		t.Errorf("coordinator_ca with a ws:// coordinator: err = %v, want %v", err, errCAWithoutTLS)
	}
}

func TestDiscoverURLProposesTheAlias(t *testing.T) {
	got, err := discoverURL("ws://127.0.0.1:9090", protocol.Role_COMMUNICATION_SERVER, TransportMesh, 12345, nil)
	if err != nil || got != "ws://127.0.0.1:9090/discover?alias=12345&role=COMMUNICATION_SERVER" {
		t.Fatalf("discoverURL with alias = %q, %v", got, err)
	}
}
