package loadgen

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A mixed run (--unbatched N, fewer than all the clients): the first N
// client slots act as 2019 clients (client.Config.DisableBatching: their AUTH
// lists no features, so their server never batches to them), the others
// batch, as the SDK does by default. The report then splits what the two
// kinds of receiver got, in the same run, on the same server: expected
// (through the roster's open accounts per kind), delivered, loss and
// latency.

// Receiver kinds.
const (
	kindBatching = iota
	kindLegacy
	kinds
)

// kindRec splits deliveries by receiver kind.
type kindRec struct {
	legacy   []atomic.Bool // by receiver, set before its account opens
	expected [kinds]atomic.Uint64
	shards   [recShards]struct {
		mu        sync.Mutex
		delivered [kinds]uint64
		h         [kinds]*hdrhistogram.Histogram
	}
}

func newKindRec(receivers int) *kindRec {
	k := &kindRec{legacy: make([]atomic.Bool, receivers)}
	for i := range k.shards {
		for j := range k.shards[i].h {
			k.shards[i].h[j] = hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
		}
	}
	return k
}

func (k *kindRec) kind(receiver int) int {
	if k.legacy[receiver].Load() {
		return kindLegacy
	}
	return kindBatching
}

func (k *kindRec) record(receiver int, latUs int64) {
	kd := k.kind(receiver)
	sh := &k.shards[receiver%recShards]
	sh.mu.Lock()
	sh.delivered[kd]++
	_ = sh.h[kd].RecordValue(latUs)
	sh.mu.Unlock()
}

// KindResult is what one kind of receiver got in a mixed run.
type KindResult struct {
	Clients   int     `json:"clients"`
	Expected  uint64  `json:"expected"`
	Delivered uint64  `json:"delivered"`
	LossPct   float64 `json:"loss_pct"`
	Latency   Latency `json:"latency"`
}

// KindsResult is a mixed run's split (see kinds.go).
type KindsResult struct {
	Batching KindResult `json:"batching"`
	Legacy   KindResult `json:"legacy_2019"`
}

func (k *kindRec) result(unbatched, clients int) *KindsResult {
	var out [kinds]KindResult
	for kd := range out {
		h := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
		for i := range k.shards {
			sh := &k.shards[i]
			sh.mu.Lock()
			out[kd].Delivered += sh.delivered[kd]
			h.Merge(sh.h[kd])
			sh.mu.Unlock()
		}
		out[kd].Latency = latencyOf(h)
		out[kd].Latency.Distribution = nil
		out[kd].Expected = k.expected[kd].Load()
		out[kd].LossPct = Counts{Expected: out[kd].Expected, Delivered: out[kd].Delivered}.LossPct()
	}
	out[kindLegacy].Clients = unbatched
	out[kindBatching].Clients = clients - unbatched
	return &KindsResult{Batching: out[kindBatching], Legacy: out[kindLegacy]}
}

func writeKinds(b *strings.Builder, r *KindsResult) {
	for _, k := range []struct {
		name string
		k    KindResult
	}{{"batching", r.Batching}, {"2019", r.Legacy}} {
		fmt.Fprintf(b, "  %-8s %4d clients: %d of %d delivered, loss %.3f%%, p50 %s  p99 %s  p99.9 %s  max %s\n",
			k.name, k.k.Clients, k.k.Delivered, k.k.Expected, k.k.LossPct, us(k.k.Latency.P50Us), us(k.k.Latency.P99Us),
			us(k.k.Latency.P999Us), us(k.k.Latency.MaxUs))
	}
}
