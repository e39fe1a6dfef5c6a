package loadgen

import (
	"context"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// joinStorm reports the connect phase that Run already ran with every client
// dialling at once, then holds the clients idle for cfg.Duration and reads the
// servers' memory, so RSS growth per idle client comes out of the same run.
func (e *engine) joinStorm(ctx context.Context, rep *Report, t connectTimes, servers *ProcSampler) {
	dial := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	sub := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	js := &JoinStormResult{}
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
	idleStart := time.Now()
	hold := time.NewTimer(e.cfg.Duration)
	select {
	case <-hold.C:
	case <-ctx.Done():
		hold.Stop()
		rep.Interrupted = true
	}
	js.IdleSeconds = time.Since(idleStart).Seconds()
	rep.Servers = servers.Usage()
	for _, s := range rep.Servers {
		js.ServerRSSDeltaKB += int64(s.RSSEndKB) - int64(s.RSSStartKB)
	}
	if rep.Connected > 0 {
		js.ServerRSSPerClientKB = float64(js.ServerRSSDeltaKB) / float64(rep.Connected)
	}
	rep.WindowSeconds = js.IdleSeconds
	rep.JoinStorm = js
}

func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
