package coordinator

import (
	"errors"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
)

func TestConfigDefaultsComeFromDefaults(t *testing.T) {
	cfg, err := Config{PingInterval: time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9090" || cfg.Selector != selectorRandom || cfg.MaxMessageSize != 64<<10 ||
		cfg.WriteTimeout != 5*time.Second || cfg.Auth.Timeout != auth.DefaultTimeout {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.PingInterval != time.Second {
		t.Fatalf("ping_interval set to 1s became %s", cfg.PingInterval)
	}
	if _, err := (Config{WriteTimeout: -time.Second}).withDefaults(); !errors.Is(err, errNegative) {
		t.Fatalf("negative write_timeout: err = %v, want %v", err, errNegative)
	}
}
