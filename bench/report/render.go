package main

import (
	"fmt"
	"strings"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

// Pass marks for the targets table.
const (
	pass = "met"
	fail = "**not met**"
	none = "not measured"
)

func ms(us int64) string { return fmt.Sprintf("%.2f ms", float64(us)/1000) }

// thousands formats n with thin separators: 110,000.
func thousands(f float64) string {
	n := int64(f + 0.5)
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return pass
	}
	return fail
}

// sustained is the step-up's rule for a load the broker sustains.
func sustained(lossPct float64, p99Us int64) bool { return lossPct < 1 && p99Us < 50_000 }

func peakRSS(e *entry) uint64 {
	var kb uint64
	for _, s := range e.load.Servers {
		kb += s.PeakRSSKB
	}
	return kb
}

func render(entries []*entry, byName map[string]*entry, meta, rawDir string) string {
	var b strings.Builder
	b.WriteString("# Benchmark results\n\n")
	b.WriteString("Written by `make bench` (bench/run.sh, then bench/report). Everything runs on this machine over loopback: " +
		"coordinator, communication servers, the load generator (`brokerctl load`) and the raw pion ceiling (`bench/ceiling`). " +
		"Server CPU is read from /proc/PID/stat over the measured window only; deliveries count messages stamped inside the window. " +
		"The load generator shares the 2 cores with the servers, so every figure includes that contention. " +
		"Each row is a single run: compare dense-unreliable with step-50x20 and ceiling-dense-unreliable with ceilstep-49x1000 " +
		"(the same loads, run twice) to see how far two runs of one load differ before reading much into a small difference.\n\n")
	if meta != "" {
		b.WriteString("## Conditions\n\n```\n" + strings.TrimSpace(meta) + "\n```\n\n")
	}

	b.WriteString("## Scenarios\n\n")
	b.WriteString("| run | clients x msg/s x bytes | channel | deliveries/s (expected) | loss | out of order | p50 | p90 | p99 | max | server CPU µs/delivery | raw pion µs/delivery | cost vs raw | cores used: servers + generator | server peak RSS | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range entries {
		switch {
		case e.kind == "skipped":
			fmt.Fprintf(&b, "| %s | | | | | | | | | | | | | | | skipped: %s |\n", e.name, e.note)
		case e.kind == "load" && e.load.JoinStorm == nil:
			r := e.load
			rawCost, ratio := "", ""
			if c := byName[e.ceiling]; c != nil && c.raw != nil && c.raw.CPUPerDeliveryUs > 0 {
				rawCost = fmt.Sprintf("%.2f", c.raw.CPUPerDeliveryUs)
				ratio = fmt.Sprintf("%.2f x", r.ServerCPUPerDeliveryUs/c.raw.CPUPerDeliveryUs)
			}
			fmt.Fprintf(&b, "| %s | %d x %g x %d | %s | %s (%s) | %.3f %% | %d | %s | %s | %s | %s | %.2f | %s | %s | %s | %d MiB | %s |\n",
				e.name, r.Connected, r.Rate, r.BodySize, r.Channel, thousands(r.DeliveriesPerSec), thousands(r.ExpectedPerSec),
				r.LossPct, r.OutOfOrder, ms(r.Latency.P50Us), ms(r.Latency.P90Us), ms(r.Latency.P99Us), ms(r.Latency.MaxUs),
				r.ServerCPUPerDeliveryUs, rawCost, ratio, cores(r), peakRSS(e)/1024, loadNote(e))
		}
	}

	b.WriteString("\n## Dense step-up (largest load with loss < 1 % and p99 < 50 ms)\n\n")
	b.WriteString("| run | clients x msg/s | deliveries/s (expected) | loss | p99 | server CPU µs/delivery | cores used: servers + generator | sustained |\n|---|---|---|---|---|---|---|---|\n")
	var best *entry
	for _, e := range entries {
		if e.kind != "step" {
			continue
		}
		r := e.load
		ok := sustained(r.LossPct, r.Latency.P99Us)
		if ok && (best == nil || r.DeliveriesPerSec > best.load.DeliveriesPerSec) {
			best = e
		}
		fmt.Fprintf(&b, "| %s | %d x %g | %s (%s) | %.3f %% | %s | %.2f | %s | %s |\n", e.name, r.Connected, r.Rate,
			thousands(r.DeliveriesPerSec), thousands(r.ExpectedPerSec), r.LossPct, ms(r.Latency.P99Us), r.ServerCPUPerDeliveryUs, cores(r), yesNo(ok))
	}

	b.WriteString("\n## Raw pion ceiling (bench/ceiling: one relay process, one publisher, N detached channels, no broker logic)\n\n")
	b.WriteString("| run | receivers x msg/s (burst) | channel | deliveries/s (expected) | loss | relay dropped | p50 | p99 | relay CPU µs/delivery | cores used: relay + generator | idle peer RSS | goroutines/peer |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var bestRaw *entry
	for _, e := range entries {
		if e.kind != "ceiling" && e.kind != "ceilstep" {
			continue
		}
		r := e.raw
		if e.kind == "ceilstep" && sustained(r.LossPct, r.Latency.P99Us) && (bestRaw == nil || r.DeliveriesPerSec > bestRaw.raw.DeliveriesPerSec) {
			bestRaw = e
		}
		fmt.Fprintf(&b, "| %s | %d x %g (%d) | %s | %s (%s) | %.3f %% | %d | %s | %s | %.2f | %.2f + %.2f | %.0f KiB | %.1f |\n",
			e.name, r.Receivers, r.Rate, r.Burst, r.Channel, thousands(r.DeliveriesPerSec), thousands(r.ExpectedPerSec),
			r.LossPct, r.RelayDropped, ms(r.Latency.P50Us), ms(r.Latency.P99Us), r.CPUPerDeliveryUs,
			r.Relay.CPUSeconds/r.WindowSeconds, r.Generator.CPUSeconds/r.WindowSeconds, r.IdleRSSPerPeerKB, r.IdleGoroutinesPerPeer)
	}

	if js := byName["join-storm"]; js != nil && js.load != nil && js.load.JoinStorm != nil {
		j, r := js.load.JoinStorm, js.load
		b.WriteString("\n## Join storm\n\n")
		b.WriteString("| clients connected | all connected | all subscribed | dial p50 / p99 | per-client join (subscribed) p50 / p99 / max | server RSS per idle client after the storm | in steady state |\n|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| %d of %d | %.0f ms | %.0f ms | %s / %s | %s / %s / %s | %.0f KiB (after %.0f s idle) | %s |\n",
			r.Connected, r.Clients, j.AllConnectedMs, j.AllSubscribedMs, ms(j.Dial.P50Us), ms(j.Dial.P99Us),
			ms(j.Subscribed.P50Us), ms(j.Subscribed.P99Us), ms(j.Subscribed.MaxUs),
			j.AfterStormRSSPerClientKB, j.AfterStormSeconds, steadyCell(j, r.Connected))
		if n := float64(r.Connected); j.Goroutines > 0 && n > 0 {
			fmt.Fprintf(&b, "\nAt the end of the hold, per client: %.0f KiB of Go heap in use, %.0f KiB of goroutine stacks, %.1f goroutines.\n",
				float64(j.HeapInuseKB)/n, float64(j.StackInuseKB)/n, float64(j.Goroutines)/n)
		}
		b.WriteString("\nAn idle server's heap keeps growing after the storm (pion's ICE keepalives allocate) into pages it keeps once touched, until a GC; the steady state is read at the end of a hold that saw one, the after-the-storm figure 5 s in.\n")
		b.WriteString("\nClients a server refuses as busy (`max_half_open` of them being set up) retry by themselves (`retry_after_ms`), so the storm is admitted at the rate the server completes setups.\n")
	}

	writeProfileSection(&b, rawDir, "dense-unreliable")
	writeBatchSection(&b, entries, byName, best, bestRaw)

	b.WriteString("\n## Targets (issue 5)\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range targets(byName, best, bestRaw) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t[0], t[1], t[2])
	}
	b.WriteString("\n![latency](latency.svg)\n")
	return b.String()
}

// cores is the CPU the servers and the load generator used over the window,
// in cores: how close the run came to the machine's limit.
func cores(r *loadgen.Report) string {
	if r.WindowSeconds <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f + %.2f", r.ServerCPUSeconds/r.WindowSeconds, r.Generator.CPUSeconds/r.WindowSeconds)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// targets checks the targets against the runs the bench names.
func targets(byName map[string]*entry, best, bestRaw *entry) [][3]string {
	var t [][3]string
	if e := byName["dense-unreliable"]; e != nil && e.load != nil {
		r := e.load
		t = append(t, [3]string{"dense 50 x 20 msg/s x 100 B unreliable: no loss, p99 < 3 ms",
			fmt.Sprintf("loss %.3f %%, p99 %s", r.LossPct, ms(r.Latency.P99Us)), mark(r.Delivered == r.Expected && r.Latency.P99Us < 3000)})
		if c := byName[e.ceiling]; c != nil && c.raw != nil && c.raw.CPUPerDeliveryUs > 0 {
			ratio := r.ServerCPUPerDeliveryUs / c.raw.CPUPerDeliveryUs
			t = append(t, [3]string{"server CPU per delivery <= 1.1 x raw pion's, same run",
				fmt.Sprintf("%.2f µs vs %.2f µs = %.2f x", r.ServerCPUPerDeliveryUs, c.raw.CPUPerDeliveryUs, ratio), mark(ratio <= 1.1)})
			t = append(t, belowRaw(byName, ratio))
		}
	} else {
		t = append(t, [3]string{"dense 50 x 20 msg/s x 100 B unreliable", "", none})
	}
	if e := byName["dense-reliable"]; e != nil && e.load != nil {
		r := e.load
		t = append(t, [3]string{"dense reliable: nothing lost, nothing out of order",
			fmt.Sprintf("%d of %d delivered, %d out of order, %d duplicates", r.Delivered, r.Expected, r.OutOfOrder, r.Duplicates),
			mark(r.Delivered == r.Expected && r.OutOfOrder == 0 && r.Duplicates == 0)})
	}
	if best != nil {
		v := best.load.DeliveriesPerSec
		s := fmt.Sprintf("%s deliveries/s (%s)", thousands(v), best.name)
		if bestRaw != nil {
			s += fmt.Sprintf("; raw pion sustains %s/s, so %.0f %% of the ceiling", thousands(bestRaw.raw.DeliveriesPerSec), 100*v/bestRaw.raw.DeliveriesPerSec)
		}
		t = append(t, [3]string{"largest dense load with loss < 1 % and p99 < 50 ms >= 110,000 deliveries/s", s, mark(v >= 110_000)})
	} else {
		t = append(t, [3]string{"largest dense load with loss < 1 % and p99 < 50 ms >= 110,000 deliveries/s", "no step sustained", fail})
	}
	if e := byName["join-storm"]; e != nil && e.load != nil && e.load.JoinStorm != nil {
		j := e.load.JoinStorm
		// Judged on the steady state: the after-the-storm figure is a lower
		// bound, and a hold without a GC does not say what an idle client costs.
		if j.SteadyState() {
			t = append(t, [3]string{"memory per idle connected client < 150 KB server RSS (steady state)",
				fmt.Sprintf("%.0f KiB (%.0f KiB right after the storm)", j.ServerRSSPerClientKB, j.AfterStormRSSPerClientKB),
				mark(j.ServerRSSPerClientKB < 150)})
		} else {
			t = append(t, [3]string{"memory per idle connected client < 150 KB server RSS (steady state)",
				fmt.Sprintf("not measured: no GC in the %.0f s hold (%.0f KiB right after the storm)", j.IdleSeconds, j.AfterStormRSSPerClientKB),
				fail})
		}
		t = append(t, [3]string{fmt.Sprintf("join-storm of %d clients: all connected and subscribed within 10 s", e.load.Clients),
			fmt.Sprintf("%d connected, all subscribed in %.0f ms", e.load.Connected, j.AllSubscribedMs),
			mark(e.load.Connected == e.load.Clients && j.AllSubscribedMs < 10_000)})
	}
	return t
}

// belowRaw checks "below raw pion's per-message cost": with
// outbound.coalesce (the dense-coalesce run and its own ceiling run) when the
// bench has it, else with the plain dense ratio. Two runs of one load differ
// by up to about 10 % here, so "below" has to be by more than that to count.
func belowRaw(byName map[string]*entry, plain float64) [3]string {
	const what = "then below raw pion's per-message cost (several queued messages per packet)"
	verdict := func(ratio float64) string {
		switch {
		case ratio < 0.9:
			return pass
		case ratio <= 1.1:
			return "**not met**: level with raw pion, within run-to-run spread"
		}
		return fail
	}
	e := byName["dense-coalesce"]
	if e == nil || e.load == nil {
		return [3]string{what, fmt.Sprintf("%.2f x", plain), verdict(plain)}
	}
	c := byName[e.ceiling]
	if c == nil || c.raw == nil || c.raw.CPUPerDeliveryUs <= 0 {
		return [3]string{what, fmt.Sprintf("%.2f x (no ceiling run beside dense-coalesce)", plain), verdict(plain)}
	}
	r := e.load.ServerCPUPerDeliveryUs / c.raw.CPUPerDeliveryUs
	return [3]string{what, fmt.Sprintf("%.2f µs vs %.2f µs = %.2f x with outbound.coalesce=5ms, p99 %s (%.2f x without)",
		e.load.ServerCPUPerDeliveryUs, c.raw.CPUPerDeliveryUs, r, ms(e.load.Latency.P99Us), plain), verdict(r)}
}

// loadNote is a load row's note, with a multi-server run's latency by path
// (loadgen's hops.go): sender and receiver on one server, or over a link.
func loadNote(e *entry) string {
	h := e.load.Hops
	if h == nil {
		return e.note
	}
	hops := fmt.Sprintf("same server p50 %s p99 %s; over a server link p50 %s p99 %s",
		ms(h.Local.P50Us), ms(h.Local.P99Us), ms(h.Cross.P50Us), ms(h.Cross.P99Us))
	if e.note == "" {
		return hops
	}
	return e.note + "; " + hops
}

// steadyCell is the join storm's steady-state RSS per client, or why the
// reading at the end of its hold is not one.
func steadyCell(j *loadgen.JoinStormResult, clients int) string {
	if !j.SteadyState() {
		return fmt.Sprintf("%.0f KiB after %.0f s idle, no GC yet: not the steady state", j.ServerRSSPerClientKB, j.IdleSeconds)
	}
	return fmt.Sprintf("%.0f KiB (+%d KiB for %d clients, after %.0f s idle and %d GC)", j.ServerRSSPerClientKB, j.ServerRSSDeltaKB, clients, j.IdleSeconds, j.IdleGCs)
}
