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
}
