package main

import (
	"fmt"
	"strings"
)

// writeBatchSection compares batching clients with 2019-style clients
// (issue 11): the dense runs and their 2019 twins, each beside the same raw
// pion run, the mixed run's split by kind, and the two step-ups. Every
// figure is a ratio of runs of one build in one bench run.
func writeBatchSection(b *strings.Builder, entries []*entry, byName map[string]*entry, best, bestRaw *entry) {
	b.WriteString("\n## Batching (issue 11): batching clients against 2019-style clients, same build, same run\n\n")
	b.WriteString("| load | batching: server CPU µs/delivery (x raw) | 2019-style: server CPU µs/delivery (x raw) | batching / 2019 | p99 batching / 2019 |\n|---|---|---|---|---|\n")
	for _, name := range []string{"dense-unreliable", "dense-reliable"} {
		e, old := byName[name], byName[name+"-2019"]
		if e == nil || e.load == nil || old == nil || old.load == nil {
			fmt.Fprintf(b, "| %s | | | | not measured |\n", name)
			continue
		}
		raw := 0.0
		if c := byName[e.ceiling]; c != nil && c.raw != nil {
			raw = c.raw.CPUPerDeliveryUs
		}
		x := func(v float64) string {
			if raw <= 0 {
				return fmt.Sprintf("%.2f", v)
			}
			return fmt.Sprintf("%.2f (%.2f x)", v, v/raw)
		}
		n, o := e.load.ServerCPUPerDeliveryUs, old.load.ServerCPUPerDeliveryUs
		ratio := ""
		if o > 0 {
			ratio = fmt.Sprintf("%.2f x", n/o)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s / %s |\n", name, x(n), x(o), ratio, ms(e.load.Latency.P99Us), ms(old.load.Latency.P99Us))
	}
	if m := byName["dense-mixed"]; m != nil && m.load != nil && m.load.Kinds != nil {
		k := m.load.Kinds
		b.WriteString("\nMixed run (dense-mixed: both kinds on one topic):\n\n| kind | clients | delivered of expected | loss | p50 | p99 |\n|---|---|---|---|---|---|\n")
		fmt.Fprintf(b, "| batching | %d | %d of %d | %.3f %% | %s | %s |\n", k.Batching.Clients, k.Batching.Delivered, k.Batching.Expected,
			k.Batching.LossPct, ms(k.Batching.Latency.P50Us), ms(k.Batching.Latency.P99Us))
		fmt.Fprintf(b, "| 2019-style | %d | %d of %d | %.3f %% | %s | %s |\n", k.Legacy.Clients, k.Legacy.Delivered, k.Legacy.Expected,
			k.Legacy.LossPct, ms(k.Legacy.Latency.P50Us), ms(k.Legacy.Latency.P99Us))
	}
	var best2019 *entry
	for _, e := range entries {
		if e.kind == "step2019" && e.load != nil && sustained(e.load.LossPct, e.load.Latency.P99Us) &&
			(best2019 == nil || e.load.DeliveriesPerSec > best2019.load.DeliveriesPerSec) {
			best2019 = e
		}
	}
	b.WriteString("\nLargest dense load sustained (loss < 1 %, p99 < 50 ms):\n\n")
	line := func(what string, e *entry, v float64) {
		if e == nil {
			fmt.Fprintf(b, "- %s: none sustained\n", what)
			return
		}
		fmt.Fprintf(b, "- %s: %s deliveries/s (%s)\n", what, thousands(v), e.name)
	}
	var vBest, v2019, vRaw float64
	if best != nil {
		vBest = best.load.DeliveriesPerSec
	}
	if best2019 != nil {
		v2019 = best2019.load.DeliveriesPerSec
	}
	if bestRaw != nil {
		vRaw = bestRaw.raw.DeliveriesPerSec
	}
	line("batching clients", best, vBest)
	line("2019-style clients", best2019, v2019)
	line("raw pion ceiling", bestRaw, vRaw)
	if vBest > 0 && v2019 > 0 {
		fmt.Fprintf(b, "- batching / 2019: %.2f x (target 3 x)", vBest/v2019)
		if vRaw > 0 {
			fmt.Fprintf(b, "; batching / raw pion: %.2f x (target 2 x)", vBest/vRaw)
		}
		b.WriteString("\n")
	}

	b.WriteString("\nTargets (issue 11):\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range batchTargets(entries, byName, best, best2019, bestRaw) {
		fmt.Fprintf(b, "| %s | %s | %s |\n", t[0], t[1], t[2])
	}
}

// batchTargets checks issue 11's CPU and throughput targets. A largest load
// that is the top step its step-up ran is a lower bound (the step-up found
// no limit), and a ratio against a lower bound says so.
func batchTargets(entries []*entry, byName map[string]*entry, best, best2019, bestRaw *entry) [][3]string {
	var t [][3]string
	const cpuWhat = "dense 50 x 20 x 100 B unreliable, batching clients: server CPU per delivery <= 0.35 x raw pion's"
	if e := byName["dense-unreliable"]; e != nil && e.load != nil {
		if c := byName[e.ceiling]; c != nil && c.raw != nil && c.raw.CPUPerDeliveryUs > 0 {
			r := e.load.ServerCPUPerDeliveryUs / c.raw.CPUPerDeliveryUs
			t = append(t, [3]string{cpuWhat, fmt.Sprintf("%.2f µs vs %.2f µs = %.2f x, p50 %s, p99 %s",
				e.load.ServerCPUPerDeliveryUs, c.raw.CPUPerDeliveryUs, r, ms(e.load.Latency.P50Us), ms(e.load.Latency.P99Us)), mark(r <= 0.35)})
		}
	}
	if len(t) == 0 {
		t = append(t, [3]string{cpuWhat, "", none})
	}
	const tputWhat = "largest dense load sustained, batching clients: >= 3 x the 2019 path's and >= 2 x raw pion's deliveries/s"
	if best == nil || best2019 == nil || bestRaw == nil {
		return append(t, [3]string{tputWhat, "a step-up sustained no step", none})
	}
	vBest, v2019, vRaw := best.load.DeliveriesPerSec, best2019.load.DeliveriesPerSec, bestRaw.raw.DeliveriesPerSec
	bound := func(e *entry, v float64) string {
		s := thousands(v)
		if topStep(entries, e) {
			s += " (top step: at least)"
		}
		return s
	}
	s := fmt.Sprintf("batching %s, 2019 %s, raw %s deliveries/s: %.2f x the 2019 path, %.2f x raw pion",
		bound(best, vBest), bound(best2019, v2019), bound(bestRaw, vRaw), vBest/v2019, vBest/vRaw)
	ok := vBest >= 3*v2019 && vBest >= 2*vRaw
	verdict := mark(ok)
	if topStep(entries, best2019) || topStep(entries, bestRaw) || (!ok && topStep(entries, best)) {
		// A bound that is only "at least" on the wrong side makes the ratio
		// unreadable: the step-ups must go higher.
		verdict = "**not readable**: a step-up ended at its top step"
	}
	return append(t, [3]string{tputWhat, s, verdict})
}

// topStep reports whether e is the highest-rate run of its step-up's kind:
// nothing above it was tried, so its load is a lower bound of the limit.
func topStep(entries []*entry, e *entry) bool {
	rate := func(x *entry) float64 {
		if x.load != nil {
			return x.load.Rate
		}
		if x.raw != nil {
			return x.raw.Rate
		}
		return 0
	}
	for _, x := range entries {
		if x.kind == e.kind && rate(x) > rate(e) {
			return false
		}
	}
	return true
}
