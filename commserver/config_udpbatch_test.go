package commserver

import (
	"bytes"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/config"
)

// webrtc.udp_batch_writes defaults to on and false turns it off, through
// --set, the environment and the filling of zero fields with defaults.
func TestConfigUDPBatchWrites(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
		want bool
	}{
		{"default", nil, nil, true},
		{"--set false", []string{"--set", "webrtc.udp_batch_writes=false"}, nil, false},
		{"--set true", []string{"--set", "webrtc.udp_batch_writes=true"}, nil, true},
		{"environment false", nil, []string{"BROKER_WEBRTC__UDP_BATCH_WRITES=false"}, false},
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
			if got := cfg.WebRTC.BatchWrites(); got != tc.want {
				t.Fatalf("BatchWrites() = %v, want %v", got, tc.want)
			}
			if cfg.WebRTC.UDPBatchSize != 64 || cfg.WebRTC.UDPBatchInterval.Microseconds() != 500 {
				t.Fatalf("batch size %d, interval %s; want 64, 500µs", cfg.WebRTC.UDPBatchSize, cfg.WebRTC.UDPBatchInterval)
			}
		})
	}
}
