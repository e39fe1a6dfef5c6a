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
		{"batched writes", Config{UDPMuxPort: 50000, UDPBatchWrites: true, UDPBatchSize: 64, UDPBatchInterval: DefaultUDPBatchInterval}, nil},
		{"batch of none", Config{UDPBatchWrites: true, UDPBatchSize: 0, UDPBatchInterval: time.Millisecond}, ErrBadBatch},
		{"batch too large", Config{UDPBatchWrites: true, UDPBatchSize: 2000, UDPBatchInterval: time.Millisecond}, ErrBadBatch},
		{"no batch interval", Config{UDPBatchWrites: true, UDPBatchSize: 64}, ErrBadBatch},
		{"batch interval too long", Config{UDPBatchWrites: true, UDPBatchSize: 64, UDPBatchInterval: time.Second}, ErrBadBatch},
		{"batch settings unchecked when off", Config{UDPBatchSize: -1}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); !errors.Is(err, tc.want) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}
