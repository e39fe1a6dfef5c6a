package loadgen

import (
	"fmt"
	"strings"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A run whose clients landed on several servers (the mesh scenario) splits
// its deliveries by path: local, where sender and receiver share a server
// (one server hop, as on a single server), and cross, where the message went
// over a server link (publisher -> server A -> link -> server B ->
// receiver). The same run's local deliveries are the baseline of its cross
// ones: what the link adds is the difference, whatever the machine's load,
// and a local p99 as high as the cross one says the mesh's cost is the
// machine (more processes on the same cores), not the links.

// Paths of a delivery.
const (
	pathLocal = iota
	pathCross
	paths
)

// hopRec splits deliveries by path; server[i] is client i's server (a
// small number, not the alias), fixed before the window opens.
type hopRec struct {
	server []int
	shards [recShards]struct {
		mu sync.Mutex
		h  [paths]*hdrhistogram.Histogram
	}
}

// newHopRec returns nil unless the clients are on more than one server.
func newHopRec(aliases []uint64) *hopRec {
	ids := map[uint64]int{}
	k := &hopRec{server: make([]int, len(aliases))}
	for i, a := range aliases {
		id, ok := ids[a]
		if !ok {
			id = len(ids)
			ids[a] = id
		}
		k.server[i] = id
	}
	if len(ids) < 2 {
		return nil
	}
	for i := range k.shards {
		for j := range k.shards[i].h {
			k.shards[i].h[j] = hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
		}
	}
	return k
}

// record counts one delivery from sender to receiver; receivers past the
// first clients (churn's newcomers) have no known server and are left out.
func (k *hopRec) record(receiver, sender int, latUs int64) {
	if receiver >= len(k.server) || sender >= len(k.server) {
		return
	}
	p := pathCross
	if k.server[receiver] == k.server[sender] {
		p = pathLocal
	}
	sh := &k.shards[receiver%recShards]
	sh.mu.Lock()
	_ = sh.h[p].RecordValue(latUs)
	sh.mu.Unlock()
}

// HopsResult is a multi-server run's latency by path (hops.go).
type HopsResult struct {
	Local Latency `json:"local"`
	Cross Latency `json:"cross"`
}

func (k *hopRec) result() *HopsResult {
	var out [paths]Latency
	for p := range out {
		h := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
		for i := range k.shards {
			sh := &k.shards[i]
			sh.mu.Lock()
			h.Merge(sh.h[p])
			sh.mu.Unlock()
		}
		out[p] = latencyOf(h)
		out[p].Distribution = nil
	}
	return &HopsResult{Local: out[pathLocal], Cross: out[pathCross]}
}

func writeHops(b *strings.Builder, r *HopsResult) {
	for _, p := range []struct {
		name string
		l    Latency
	}{{"local", r.Local}, {"cross", r.Cross}} {
		fmt.Fprintf(b, "  %-6s %8d deliveries  p50 %s  p99 %s  p99.9 %s  max %s\n",
			p.name, p.l.Count, us(p.l.P50Us), us(p.l.P99Us), us(p.l.P999Us), us(p.l.MaxUs))
	}
}
