package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

// The soak's pass rule: "flat is the pass". Each of RSS, goroutines and
// open files, averaged over the last flatWindow of the run, is within
// flatTolerance of its average over the first flatWindow (both after the
// warm-up, which the window already excludes). A run shorter than three
// windows compares its first and last thirds instead.
const (
	flatWindow    = 10 * time.Minute
	flatTolerance = 0.10
)

// soakMetric is one figure of the timeline the rule applies to.
type soakMetric struct {
	name, unit string
	value      func(loadgen.Sample) float64
}

var soakMetrics = []soakMetric{
	{"RSS", "MiB", func(s loadgen.Sample) float64 {
		return sumServers(s, func(x loadgen.ServerSample) int64 { return x.RSSKB }) / 1024
	}},
	{"goroutines", "", func(s loadgen.Sample) float64 {
		return sumServers(s, func(x loadgen.ServerSample) int64 { return int64(x.Goroutines) })
	}},
	{"open files", "", func(s loadgen.Sample) float64 {
		return sumServers(s, func(x loadgen.ServerSample) int64 { return int64(x.FDs) })
	}},
}

// sumServers adds a figure over the servers; NaN when one could not be read.
func sumServers(s loadgen.Sample, f func(loadgen.ServerSample) int64) float64 {
	var sum float64
	for _, x := range s.Servers {
		v := f(x)
		if v < 0 {
			return math.NaN()
		}
		sum += float64(v)
	}
	return sum
}

// verdict is the rule applied to one metric.
type verdict struct {
	m                    soakMetric
	first, last, changed float64 // averages, and last/first - 1
	slopePer10Min        float64 // least squares, units per 10 minutes
	flat                 bool
}

func judge(m soakMetric, samples []loadgen.Sample) verdict {
	var xs, ys []float64
	for _, s := range samples {
		if v := m.value(s); s.AtS >= 0 && !math.IsNaN(v) {
			xs, ys = append(xs, s.AtS/60), append(ys, v)
		}
	}
	v := verdict{m: m}
	if len(xs) < 2 {
		return v
	}
	span := xs[len(xs)-1] - xs[0]
	w := math.Min(flatWindow.Minutes(), span/3)
	var firstSum, lastSum float64
	var nFirst, nLast int
	for i, x := range xs {
		if x <= xs[0]+w {
			firstSum, nFirst = firstSum+ys[i], nFirst+1
		}
		if x >= xs[len(xs)-1]-w {
			lastSum, nLast = lastSum+ys[i], nLast+1
		}
	}
	v.first, v.last = firstSum/float64(nFirst), lastSum/float64(nLast)
	if v.first != 0 {
		v.changed = v.last/v.first - 1
	}
	v.flat = math.Abs(v.changed) <= flatTolerance
	// Least-squares slope.
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+ys[i]
	}
	mx, my = mx/float64(len(xs)), my/float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx > 0 {
		v.slopePer10Min = sxy / sxx * 10
	}
	return v
}

// soakReport writes OUT/soak.md and OUT/soak.svg from one run's JSON.
func soakReport(file, outDir string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var r loadgen.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(r.Timeline) == 0 {
		return fmt.Errorf("%s: no timeline (run brokerctl load with --sample-every)", file)
	}
	meta, _ := os.ReadFile(filepath.Join(filepath.Dir(file), "meta.txt")) // optional
	verdicts := make([]verdict, len(soakMetrics))
	for i, m := range soakMetrics {
		verdicts[i] = judge(m, r.Timeline)
	}
	if err := os.WriteFile(filepath.Join(outDir, "soak.md"), []byte(soakPage(&r, verdicts, string(meta))), 0o644); err != nil {
		return fmt.Errorf("write soak.md: %w", err)
	}
	f, err := os.Create(filepath.Join(outDir, "soak.svg"))
	if err != nil {
		return fmt.Errorf("write soak.svg: %w", err)
	}
	defer f.Close()
	var series []loadgen.TimeSeries
	for _, v := range verdicts {
		s := loadgen.TimeSeries{Name: fmt.Sprintf("%s (100 = %s)", v.m.name, fmtNum(v.first))}
		for _, smp := range r.Timeline {
			if y := v.m.value(smp); !math.IsNaN(y) && v.first > 0 {
				s.Points = append(s.Points, [2]float64{smp.AtS / 60, 100 * y / v.first})
			}
		}
		series = append(series, s)
	}
	title := fmt.Sprintf("Soak: server RSS, goroutines, open files vs their first minutes (%s, churn %s)", runShape(&r), churnShape(&r))
	if err := loadgen.WriteTimelineSVG(f, title, "% of the first minutes' average (band: ±10 %)", series,
		100*(1-flatTolerance), 100*(1+flatTolerance)); err != nil {
		return fmt.Errorf("write soak.svg: %w", err)
	}
	return f.Close()
}

func runShape(r *loadgen.Report) string {
	return fmt.Sprintf("%s %dx%.0f msg/s %s", r.Scenario, r.Clients, r.Rate, r.Channel)
}

func churnShape(r *loadgen.Report) string {
	if r.Churn == nil {
		return "none"
	}
	return fmt.Sprintf("%d/s", r.Churn.PerSec)
}

func fmtNum(f float64) string {
	if math.Abs(f) >= 100 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

func soakPage(r *loadgen.Report, verdicts []verdict, meta string) string {
	var b strings.Builder
	b.WriteString("# Soak\n\n")
	b.WriteString("Written by `make soak` (bench/soak.sh, then `bench/report -soak`); not part of CI.\n\n")
	fmt.Fprintf(&b, "%s, %d-byte bodies, %.0f s window after %.0f s warm-up; churn %s", runShape(r), r.BodySize, r.WindowSeconds, r.WarmupSeconds, churnShape(r))
	if c := r.Churn; c != nil {
		fmt.Fprintf(&b, " (%d left, %d joined, %d joins failed)", c.Left, c.Joined, c.JoinFailures)
	}
	b.WriteString(".\n\n")
	if meta != "" {
		b.WriteString("```\n" + strings.TrimRight(meta, "\n") + "\n```\n\n")
	}

	allFlat := true
	for _, v := range verdicts {
		allFlat = allFlat && v.flat
	}
	fmt.Fprintf(&b, "## Verdict: %s\n\n", map[bool]string{true: "flat (pass)", false: "NOT flat (fail)"}[allFlat])
	b.WriteString("Flat means: the average over the last minutes of the window is within 10 % of the average over its first minutes " +
		"(10 minutes each; a third of the window each when it is shorter than 30 minutes). The slope is a least-squares fit over the whole window.\n\n")
	b.WriteString("| figure | first minutes | last minutes | change | slope per 10 min | flat |\n|---|---:|---:|---:|---:|---|\n")
	for _, v := range verdicts {
		unit := ""
		if v.m.unit != "" {
			unit = " " + v.m.unit
		}
		fmt.Fprintf(&b, "| %s | %s%s | %s%s | %+.1f %% | %+.2f%s | %s |\n", v.m.name, fmtNum(v.first), unit, fmtNum(v.last), unit,
			100*v.changed, v.slopePer10Min, unit, yesNo(v.flat))
	}
	last := r.Timeline[len(r.Timeline)-1]
	fmt.Fprintf(&b, "\nReliable loss over the whole window: %.4f %% (%d of %d expected deliveries missing after the drain); "+
		"%d out of order, %d duplicates. Latency p50 %s, p99 %s, p99.9 %s, max %s. Clients disconnected during the run: %d.\n\n",
		r.LossPct, r.Expected-min(r.Delivered, r.Expected), r.Expected, r.OutOfOrder, r.Duplicates,
		ms(r.Latency.P50Us), ms(r.Latency.P99Us), ms(r.Latency.P999Us), ms(r.Latency.MaxUs), r.Disconnected)
	_ = last

	b.WriteString("## Every sample\n\n")
	b.WriteString("Server figures are summed over the servers (one in the soak). Goroutines are the server's `go_goroutines` (/metrics), " +
		"open files the entries of /proc/PID/fd. Loss is of the deliveries due in the interval (sent more than --drain ago) that had not arrived " +
		"when the sample was taken; a client that leaves is owed only what was sent before it left, and stays --drain to receive it " +
		"(cmd/brokerctl/loadgen/roster.go).\n\n")
	b.WriteString("| min | clients | RSS MiB | goroutines | open files | deliveries/s | loss in interval | loss so far |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Timeline {
		fmt.Fprintf(&b, "| %.1f | %d | %s | %s | %s | %s | %.4f %% | %.4f %% |\n", s.AtS/60, s.Connected,
			fmtNum(soakMetrics[0].value(s)), fmtNum(soakMetrics[1].value(s)), fmtNum(soakMetrics[2].value(s)),
			thousands(s.DeliveriesPerSec), s.LossPct, s.CumLossPct)
	}
	b.WriteString("\n![soak](soak.svg)\n")
	return b.String()
}
