package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// BenchmarkPing measures the round trip of Ping to one real server on
// loopback, one ping at a time, and reports its p50 and p99:
//
//	go test -run '^$' -bench Ping -benchtime 1000x ./client/
func BenchmarkPing(b *testing.B) {
	cl := cluster.Start(b, cluster.Options{})
	c := cl.Client(b)
	for _, ch := range []client.Channel{client.Reliable, client.Unreliable} {
		b.Run(ch.String(), func(b *testing.B) {
			rtts := make([]time.Duration, 0, b.N)
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				rtt, err := c.Ping(ctx, ch)
				cancel()
				if err != nil {
					b.Fatalf("ping on %s: %v", ch, err) // loopback does not lose packets
				}
				rtts = append(rtts, rtt)
			}
			slices.Sort(rtts)
			b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
		})
	}
}
