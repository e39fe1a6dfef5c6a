package loadgen

import (
	"context"
	"net/http"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// afterStormRead is how long into the idle hold the "after the storm" RSS
// is read: what the bench reported alone before issue 11's review.
const afterStormRead = 5 * time.Second

// joinStorm reports the connect phase that Run already ran with every client
// dialling at once, then holds the clients idle for cfg.Duration and reads the
// servers' memory twice: afterStormRead into the hold, and at its end.
//
// The first reading is not what an idle client costs: the Go heap of an idle
// server still grows (pion's ICE keepalives allocate about 1 KiB a second per
// peer), into pages the process keeps once touched, until a GC collects the
// garbage; with GOGC=100 and the storm's live heap that is the runtime's
// forced GC, 2 minutes after the last one. The reading at the end of a hold
// that saw a GC (IdleGCs, from the servers' /metrics) is the steady state.
func (e *engine) joinStorm(ctx context.Context, rep *Report, t connectTimes, servers *ProcSampler) {
	dial := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	sub := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	js := &JoinStormResult{IdleGCs: -1}
	for i, c := range e.clients {
		if c == nil {
			continue
		}
		_ = dial.RecordValue(min(max(t.dialed[i].Microseconds(), histMinUs), histMaxUs))
		_ = sub.RecordValue(min(max(t.subscribed[i].Microseconds(), histMinUs), histMaxUs))
		js.AllConnectedMs = max(js.AllConnectedMs, durMs(t.dialed[i]))
		js.AllSubscribedMs = max(js.AllSubscribedMs, durMs(t.subscribed[i]))
	}
	js.Dial, js.Subscribed = latencyOf(dial), latencyOf(sub)
	js.Dial.Distribution, js.Subscribed.Distribution = nil, nil

	e.phase.Store("idle")
	hc := &http.Client{Timeout: 5 * time.Second}
	gcsBefore, haveGCs := e.scrapeSum(ctx, hc, "go_gc_duration_seconds_count")
	idleStart := time.Now()
	hold := func(d time.Duration) bool {
		if !holdFor(ctx, d) {
			rep.Interrupted = true
			return false
		}
		return true
	}
	if hold(min(afterStormRead, e.cfg.Duration)) {
		js.AfterStormSeconds = time.Since(idleStart).Seconds()
		js.AfterStormRSSDeltaKB = rssDelta(servers.Usage())
		if rest := e.cfg.Duration - time.Since(idleStart); rest > 0 {
			hold(rest)
		}
	}
	js.IdleSeconds = time.Since(idleStart).Seconds()
	rep.Servers = servers.Usage()
	js.ServerRSSDeltaKB = rssDelta(rep.Servers)
	if gcs, ok := e.scrapeSum(ctx, hc, "go_gc_duration_seconds_count"); ok && haveGCs {
		js.IdleGCs = int64(gcs - gcsBefore)
	}
	if v, ok := e.scrapeSum(ctx, hc, "go_memstats_heap_inuse_bytes"); ok {
		js.HeapInuseKB = int64(v / 1024)
	}
	if v, ok := e.scrapeSum(ctx, hc, "go_memstats_stack_inuse_bytes"); ok {
		js.StackInuseKB = int64(v / 1024)
	}
	if v, ok := e.scrapeSum(ctx, hc, "go_goroutines"); ok {
		js.Goroutines = int64(v)
	}
	if n := float64(rep.Connected); n > 0 {
		js.ServerRSSPerClientKB = float64(js.ServerRSSDeltaKB) / n
		js.AfterStormRSSPerClientKB = float64(js.AfterStormRSSDeltaKB) / n
	}
	rep.WindowSeconds = js.IdleSeconds
	rep.JoinStorm = js
}

// rssDelta is the servers' RSS growth since the sampler's mark.
func rssDelta(us []ProcUsage) int64 {
	var d int64
	for _, s := range us {
		d += int64(s.RSSEndKB) - int64(s.RSSStartKB)
	}
	return d
}

// scrapeSum adds up one unlabelled sample over every server's /metrics
// (Config.MetricsURLs); false when there are none or one fails, since a sum
// that misses a server means nothing.
func (e *engine) scrapeSum(ctx context.Context, hc *http.Client, name string) (float64, bool) {
	var sum float64
	n := 0
	for _, u := range e.cfg.MetricsURLs {
		if u == "" {
			continue
		}
		v, err := scrapeGauge(ctx, hc, u, name)
		if err != nil {
			return 0, false
		}
		sum += v
		n++
	}
	return sum, n > 0
}

func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// holdFor waits d, or until ctx is done; false if ctx ended it.
func holdFor(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
