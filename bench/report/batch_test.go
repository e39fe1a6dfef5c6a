package main

import (
	"fmt"
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

// The issue 11 targets: the CPU ratio against the dense run's ceiling, and
// the throughput ratios, which are unreadable while a step-up that should
// have found its limit ended at its top step.
func TestBatchTargetsReadsTheStepUps(t *testing.T) {
	step := func(kind string, rate, perSec float64, ok bool) *entry {
		p99 := int64(4000)
		if !ok {
			p99 = 90_000
		}
		return &entry{name: fmt.Sprintf("%s-%g", kind, rate), kind: kind,
			load: &loadgen.Report{Rate: rate, DeliveriesPerSec: perSec, Latency: loadgen.Latency{P99Us: p99}}}
	}
	ceil := func(rate, perSec float64, ok bool) *entry {
		p99 := int64(4000)
		if !ok {
			p99 = 90_000
		}
		return &entry{name: fmt.Sprintf("ceilstep-%g", rate), kind: "ceilstep",
			raw: &ceiling.Result{Rate: rate, DeliveriesPerSec: perSec, Latency: loadgen.Latency{P99Us: p99}}}
	}
	dense := &entry{name: "dense-unreliable", kind: "load", ceiling: "ceiling-dense-unreliable",
		load: &loadgen.Report{ServerCPUPerDeliveryUs: 3, Latency: loadgen.Latency{P50Us: 1500, P99Us: 9000}}}
	raw := &entry{name: "ceiling-dense-unreliable", kind: "ceiling", raw: &ceiling.Result{CPUPerDeliveryUs: 10}}
	byName := map[string]*entry{dense.name: dense, raw.name: raw}

	best, old, top := step("step", 150, 300_000, true), step("step2019", 40, 90_000, true), ceil(2000, 98_000, true)
	entries := []*entry{dense, raw, step("step", 100, 200_000, true), best, step("step", 200, 310_000, false),
		old, step("step2019", 50, 100_000, false), top, ceil(3000, 130_000, false)}
	got := batchTargets(entries, byName, best, old, top)
	if len(got) != 2 {
		t.Fatalf("got %d targets, want 2: %v", len(got), got)
	}
	if !strings.Contains(got[0][1], "= 0.30 x") || got[0][2] != pass {
		t.Errorf("CPU target = %v, want 0.30 x, met", got[0])
	}
	if !strings.Contains(got[1][1], "3.33 x the 2019 path, 3.06 x raw pion") || got[1][2] != pass {
		t.Errorf("throughput target = %v, want 3.33 x and 3.06 x, met", got[1])
	}

	// The 2019 step-up sustained its top step: its limit is unknown.
	entries = []*entry{dense, raw, best, step("step", 200, 310_000, false), old, top, ceil(3000, 130_000, false)}
	got = batchTargets(entries, byName, best, old, top)
	if !strings.Contains(got[1][1], "90,000 (top step: at least)") || !strings.Contains(got[1][2], "not readable") {
		t.Errorf("throughput target with the 2019 top step sustained = %v, want it marked a lower bound, not readable", got[1])
	}
}
