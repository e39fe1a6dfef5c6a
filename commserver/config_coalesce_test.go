package commserver

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/config"
)

// outbound.unreliable_coalesce defaults to DefaultUnreliableCoalesce, 0
// turns it off (it is not refilled with the default), and the unreliable
// channel's window is the longer of it and outbound.coalesce, which alone
// sets the reliable channel's.
func TestConfigUnreliableCoalesce(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
		want time.Duration // UnreliableWindow
	}{
		{"default", nil, nil, DefaultUnreliableCoalesce},
		{"--set 0s", []string{"--set", "outbound.unreliable_coalesce=0s"}, nil, 0},
		{"--set 5ms", []string{"--set", "outbound.unreliable_coalesce=5ms"}, nil, 5 * time.Millisecond},
		{"environment 0s", nil, []string{"BROKER_OUTBOUND__UNRELIABLE_COALESCE=0s"}, 0},
		{"outbound.coalesce longer", []string{"--set", "outbound.coalesce=10ms"}, nil, 10 * time.Millisecond},
		{"off, outbound.coalesce set", []string{"--set", "outbound.unreliable_coalesce=0s", "--set", "outbound.coalesce=1ms"}, nil, time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			err := config.Load(config.Options{Name: "t", Args: tc.args, Environ: tc.env, Defaults: Defaults(), Out: &bytes.Buffer{}}, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			if cfg, err = cfg.withDefaults(); err != nil {
				t.Fatal(err)
			}
			if got := cfg.UnreliableWindow(); got != tc.want {
				t.Fatalf("UnreliableWindow() = %s, want %s", got, tc.want)
			}
		})
	}

	// A Config literal (tests, embedders) gets the default too.
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.UnreliableWindow(); got != DefaultUnreliableCoalesce || cfg.Outbound.Coalesce != 0 {
		t.Fatalf("literal: UnreliableWindow() = %s, outbound.coalesce %s; want %s and 0s", got, cfg.Outbound.Coalesce, DefaultUnreliableCoalesce)
	}
	neg := -time.Millisecond
	var bad Config
	bad.Outbound.UnreliableCoalesce = &neg
	if _, err := bad.withDefaults(); !errors.Is(err, errNegative) {
		t.Fatalf("negative outbound.unreliable_coalesce: err = %v, want %v", err, errNegative)
	}
}
