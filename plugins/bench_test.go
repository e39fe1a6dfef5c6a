package plugins_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// BenchmarkAuthenticate measures one authentication round trip through the
// host and a real plugin process (gRPC over a Unix socket): allowall for the
// bare transport, token for a realistic plugin verifying an HMAC token. It
// reports p50/p99 latency and auths/s; the parallel variants show throughput
// with many peers authenticating at once.
//
//	go test -run XXX -bench Authenticate -benchmem ./plugins/
func BenchmarkAuthenticate(b *testing.B) {
	plugins := []struct {
		name string
		cfg  auth.Config
		req  func(b *testing.B) auth.Request
	}{
		{"allowall", auth.Config{}, func(*testing.B) auth.Request { return body(protocol.Role_CLIENT, "x") }},
		{"token", auth.Config{Config: map[string]any{"secret": tokenSecret}}, func(b *testing.B) auth.Request {
			return auth.Request{Role: protocol.Role_CLIENT, HTTP: &auth.HTTPRequest{
				URL: "http://127.0.0.1:9090/connect?token=" +
					mintToken(b, "alice", protocol.Role_CLIENT, time.Now().Add(time.Hour)), RemoteAddr: "127.0.0.1:40000"}}
		}},
	}
	for _, p := range plugins {
		b.Run(p.name, func(b *testing.B) {
			a, _, _ := start(b, p.name, p.cfg)
			req := p.req(b)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				res, err := a.Authenticate(b.Context(), req)
				lat = append(lat, time.Since(t0))
				if err != nil || !res.Allow {
					b.Fatalf("%+v, %v", res, err)
				}
			}
			report(b, lat)
		})
		b.Run(p.name+"/parallel", func(b *testing.B) {
			a, _, _ := start(b, p.name, p.cfg)
			req := p.req(b)
			var (
				mu  sync.Mutex // guards all
				all []time.Duration
			)
			b.SetParallelism(16) // 16 per core: many peers authenticating at once
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				lat := make([]time.Duration, 0, 1024)
				for pb.Next() {
					t0 := time.Now()
					res, err := a.Authenticate(b.Context(), req)
					lat = append(lat, time.Since(t0))
					if err != nil || !res.Allow {
						b.Errorf("%+v, %v", res, err)
						return
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			report(b, all)
		})
	}
}

// report adds the latency percentiles and the throughput to the result.
func report(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auths/s")
}
