package ceiling

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// relayEnv makes the test binary act as the relay process.
const relayEnv = "CEILING_TEST_RELAY=1"

func TestMain(m *testing.M) {
	if os.Getenv("CEILING_TEST_RELAY") == "1" {
		if err := ServeRelay(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCeilingRelaysToEveryReceiver(t *testing.T) {
	tests := []struct {
		name     string
		reliable bool
		burst    int
	}{
		{"reliable", true, 1},
		{"unreliable in bursts", false, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := Run(ctx, Config{
				RelayCommand: []string{os.Args[0], "-test.run=^$"},
				RelayEnv:     []string{relayEnv},
				Receivers:    3,
				Rate:         200,
				Burst:        tc.burst,
				BodySize:     100,
				Reliable:     tc.reliable,
				Warmup:       200 * time.Millisecond,
				Duration:     time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", *res)
			if res.Sent == 0 || res.Expected != 3*res.Sent {
				t.Fatalf("sent %d, expected %d: want 3 deliveries per message", res.Sent, res.Expected)
			}
			if res.Delivered == 0 || res.Latency.Count != int64(res.Delivered) {
				t.Fatalf("delivered %d, latency samples %d", res.Delivered, res.Latency.Count)
			}
			if tc.reliable && (res.Delivered != res.Expected || res.OutOfOrder != 0 || res.Duplicates != 0) {
				t.Fatalf("reliable: delivered %d of %d, %d out of order, %d duplicates", res.Delivered, res.Expected, res.OutOfOrder, res.Duplicates)
			}
			if res.Relay.PID == 0 || res.Relay.Error != "" || res.Relay.PeakRSSKB == 0 {
				t.Fatalf("relay usage not measured: %+v", res.Relay)
			}
			if res.IdleGoroutinesPerPeer <= 0 {
				t.Fatalf("idle goroutines per peer %v: want the peers' goroutines counted", res.IdleGoroutinesPerPeer)
			}
		})
	}
}
