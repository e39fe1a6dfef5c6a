package rtcconfig

import (
	"errors"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"defaults", Config{}, nil},
		{"mux port", Config{UDPMuxPort: 50000}, nil},
		{"range", Config{UDPPortMin: 50000, UDPPortMax: 50999}, nil},
		{"one-port range", Config{UDPPortMin: 50000, UDPPortMax: 50000}, nil},
		{"NAT, one address", Config{NAT1To1IPs: []string{"203.0.113.10"}}, nil},
		{"NAT, mapped pair", Config{NAT1To1IPs: []string{"203.0.113.10/10.0.0.5"}}, nil},
		{"mux port out of range", Config{UDPMuxPort: 70000}, ErrBadPort},
		{"negative mux port", Config{UDPMuxPort: -1}, ErrBadPort},
		{"min only", Config{UDPPortMin: 50000}, ErrHalfRange},
		{"max only", Config{UDPPortMax: 50000}, ErrHalfRange},
		{"min over max", Config{UDPPortMin: 50999, UDPPortMax: 50000}, ErrBadPort},
		{"mux and range", Config{UDPMuxPort: 50000, UDPPortMin: 50000, UDPPortMax: 50999}, ErrMuxAndRange},
		{"NAT host name", Config{NAT1To1IPs: []string{"broker.example.com"}}, ErrBadNATIP},
		{"NAT bad local", Config{NAT1To1IPs: []string{"203.0.113.10/eth0"}}, ErrBadNATIP},
		{"batched writes", Config{UDPMuxPort: 50000, UDPBatchSize: 64, UDPBatchInterval: DefaultUDPBatchInterval}, nil},
		{"batch defaults", Config{UDPMuxPort: 50000, UDPBatchSize: 0, UDPBatchInterval: 0}, nil},
		{"negative batch", Config{UDPBatchSize: -1}, ErrBadBatch},
		{"batch too large", Config{UDPBatchSize: 2000}, ErrBadBatch},
		{"negative batch interval", Config{UDPBatchInterval: -time.Millisecond}, ErrBadBatch},
		{"batch interval too long", Config{UDPBatchInterval: time.Second}, ErrBadBatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); !errors.Is(err, tc.want) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

// Batched writes are on unless set to false: the field is a pointer so that
// false survives the filling of zero fields with defaults.
func TestBatchWritesDefaultsOn(t *testing.T) {
	off := false
	if !(Config{}).BatchWrites() {
		t.Error("unset UDPBatchWrites: batching off, want on")
	}
	if (Config{UDPBatchWrites: &off}).BatchWrites() {
		t.Error("UDPBatchWrites false: batching on")
	}
}
