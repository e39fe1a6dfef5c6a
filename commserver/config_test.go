package commserver

import (
	"errors"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Role != RoleServer || cfg.MaxMessageSize != 65536 || cfg.EstablishTimeout != 15*time.Second ||
		cfg.Reconnect.Min != 100*time.Millisecond || cfg.Reconnect.Max != 10*time.Second {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.Auth.Timeout != auth.DefaultTimeout || cfg.CoordinatorURL != "ws://127.0.0.1:9090" {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.Cluster.Transport != TransportMesh || cfg.NATS.PendingLimit != 65536 || cfg.NATS.SubjectPrefix != "wrb" {
		t.Fatalf("cluster/nats defaults = %+v, %+v", cfg.Cluster, cfg.NATS)
	}
	var viaNATS Config
	viaNATS.Cluster.Transport = TransportNATS
	viaNATS.NATS.URL = []string{"ftp://nats"}
	if _, err := viaNATS.withDefaults(); err == nil {
		t.Fatal("cluster.transport=nats with an ftp:// nats.url accepted")
	}
	var slow Config
	slow.Reconnect.Min = time.Minute
	if slow, err = slow.withDefaults(); err != nil || slow.Reconnect.Max != time.Minute {
		t.Fatalf("reconnect.min 1m without a max: max = %s, err %v; want 1m", slow.Reconnect.Max, err)
	}
	for _, k := range []string{"coordinator_url", "role", "max_peers", "establish_timeout", "reconnect.min",
		"outbound.reliable_bytes", "http.listen", "webrtc.loopback_only", "scripts.dir", "auth.plugin", "log.level"} {
		if _, ok := Defaults()[k]; !ok {
			t.Errorf("Defaults() lacks %s", k)
		}
	}
	bad := []struct {
		name   string
		adjust func(*Config)
		want   error
	}{
		{"unknown role", func(c *Config) { c.Role = "proxy" }, errBadRole},
		{"negative max_peers", func(c *Config) { c.MaxPeers = -1 }, errNegative},
		{"backoff max under min", func(c *Config) { c.Reconnect.Min, c.Reconnect.Max = time.Second, time.Millisecond }, errBadBackoff},
		{"unknown transport", func(c *Config) { c.Cluster.Transport = "carrier-pigeon" }, errBadTransport},
		{"hub over nats", func(c *Config) { c.Role, c.Cluster.Transport = RoleHub, TransportNATS }, errHubOverNATS},
	}
	for _, tt := range bad {
		var c Config
		tt.adjust(&c)
		if _, err := c.withDefaults(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}
