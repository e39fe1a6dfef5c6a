package main

import (
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/bench/internal/ceiling"
	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

func TestBatchSectionComparesTheKinds(t *testing.T) {
	load := func(name, kind string, cpu, perSec float64) *entry {
		return &entry{name: name, kind: kind, ceiling: "ceiling-dense-unreliable",
			load: &loadgen.Report{ServerCPUPerDeliveryUs: cpu, DeliveriesPerSec: perSec, Latency: loadgen.Latency{P99Us: 4000}}}
	}
	entries := []*entry{
		load("dense-unreliable", "load", 2, 0),
		load("dense-unreliable-2019", "load", 8, 0),
		{name: "ceiling-dense-unreliable", kind: "ceiling", raw: &ceiling.Result{CPUPerDeliveryUs: 4}},
		load("step-50x40", "step", 1, 90_000),
		load("step2019-50x20", "step2019", 1, 30_000),
	}
	mixed := load("dense-mixed", "load", 3, 0)
	mixed.load.Kinds = &loadgen.KindsResult{Batching: loadgen.KindResult{Clients: 25, Expected: 10, Delivered: 10},
		Legacy: loadgen.KindResult{Clients: 25, Expected: 10, Delivered: 9, LossPct: 10}}
	entries = append(entries, mixed)
	byName := map[string]*entry{}
	for _, e := range entries {
		byName[e.name] = e
	}
	var b strings.Builder
	writeBatchSection(&b, entries, byName, byName["step-50x40"], nil)
	out := b.String()
	for _, want := range []string{
		"| dense-unreliable | 2.00 (0.50 x) | 8.00 (2.00 x) | 0.25 x |",
		"| dense-reliable | | | | not measured |",
		"| 2019-style | 25 | 9 of 10 | 10.000 % |",
		"batching / 2019: 3.00 x",
		"raw pion ceiling: none sustained",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
