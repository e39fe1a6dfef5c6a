package loadgen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// latencySampler keeps a bounded reservoir of latencies.
type latencySampler struct {
	mu   sync.Mutex
	seen int
	keep []time.Duration
	rng  *rand.Rand
}

const latencyKeep = 4096

func (l *latencySampler) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen++
	if len(l.keep) < latencyKeep {
		l.keep = append(l.keep, d)
		return
	}
	if l.rng == nil {
		l.rng = rand.New(rand.NewPCG(1, 2))
	}
	if k := l.rng.IntN(l.seen); k < latencyKeep {
		l.keep[k] = d
	}
}

func (l *latencySampler) reset() {
	l.mu.Lock()
	l.seen, l.keep = 0, l.keep[:0]
	l.mu.Unlock()
}

func (l *latencySampler) merge(o *latencySampler) {
	o.mu.Lock()
	keep := append([]time.Duration(nil), o.keep...)
	o.mu.Unlock()
	for _, d := range keep {
		l.add(d)
	}
}

func (l *latencySampler) quantileMs(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keep) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.keep...)
	slices.Sort(s)
	return float64(s[min(int(q*float64(len(s))), len(s)-1)]) / 1e6
}

// WriteText prints the phases side by side.
func (r *WorldReport) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "world: %d clients (%d connected), %.0f x %.0f, %.3g updates/s each; cell %.3g, radius %.3g\n",
		r.Clients, r.Connected, r.Size, r.Size, r.Rate, r.Cell, r.Radius)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-8s %12s %14s %14s %16s %14s %12s %10s %10s\n", "interest", "sent/s", "deliveries/s", "expected/s",
		"bytes/client/s", "msgs/client/s", "server CPU%", "p50 ms", "p99 ms")
	for _, p := range r.Phases {
		if _, err := fmt.Fprintf(w, "%-8s %12.0f %14.0f %14.0f %16.0f %14.1f %12.1f %10.2f %10.2f\n", p.Name, p.SentPerSec,
			p.DeliveriesPerSec, p.ExpectedPerSec, p.BytesPerClientPerSec, p.MsgsPerClientPerSec, p.ServerCPUPct,
			p.LatencyP50Ms, p.LatencyP99Ms); err != nil {
			return err
		}
	}
	return nil
}
