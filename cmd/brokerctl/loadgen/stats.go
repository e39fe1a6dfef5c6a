package loadgen

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to a minute, to three
// significant digits.
const (
	histMinUs   = 1
	histMaxUs   = 60_000_000
	histSigFigs = 3
	// recShards spreads receivers over independently locked shards, so the
	// read loops of many clients rarely wait for each other.
	recShards = 16
)

// Recorder counts what the senders of one run sent and what its receivers got:
// deliveries, latency (HDR histogram), out-of-order and duplicate messages per
// sender. Only messages stamped inside the measurement window count, on both
// sides, so warm-up traffic and messages still in flight at the end of the
// window are left out consistently. All methods are safe for concurrent use.
type Recorder struct {
	epoch   time.Time
	senders int
	// from and to bound the window, ns since epoch; empty until SetWindow.
	from, to atomic.Int64

	sent, expected atomic.Uint64
	// slots split the window by send time for Outstanding; set by SetWindow.
	slots  atomic.Pointer[slotTable]
	shards [recShards]recShard
	// seqs[r][s] is the highest sequence receiver r has seen from sender s.
	// Row r is guarded by shards[r%recShards].mu.
	seqs [][]uint64
	// spans[r] is the send-time span of the messages owed to receiver r
	// (see roster); every message by default.
	spans []span
	// phases, when set, splits the latency by phase of a slow-consumer run.
	phases atomic.Pointer[phaseRec]
	// kinds, when set, splits a mixed run by receiver kind (kinds.go).
	kinds atomic.Pointer[kindRec]
	// hops, when set, splits a multi-server run by path (hops.go).
	hops atomic.Pointer[hopRec]
}

// recShard owns the counters and histograms of the receivers r with
// r%recShards equal to its index; mu guards every field.
type recShard struct {
	mu                sync.Mutex
	total, interval   *hdrhistogram.Histogram
	delivered         uint64
	intervalDelivered uint64
	outOfOrder        uint64
	duplicates        uint64
	stray             uint64
}

// NewRecorder makes a recorder for receivers and senders numbered from 0,
// whose send times are ns since epoch.
func NewRecorder(epoch time.Time, receivers, senders int) *Recorder {
	r := &Recorder{epoch: epoch, senders: senders, seqs: make([][]uint64, receivers), spans: make([]span, receivers)}
	for i := range r.seqs {
		r.seqs[i] = make([]uint64, senders)
		r.spans[i].from.Store(math.MinInt64)
		r.spans[i].to.Store(math.MaxInt64)
	}
	for i := range r.shards {
		r.shards[i].total = hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
		r.shards[i].interval = hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	}
	r.from.Store(math.MaxInt64)
	r.to.Store(math.MaxInt64)
	return r
}

// Now is the current time in ns since the recorder's epoch: the clock bodies
// are stamped with.
func (r *Recorder) Now() int64 { return int64(time.Since(r.epoch)) }

// SetWindow sets the measurement window [from, to), in ns since the epoch.
func (r *Recorder) SetWindow(from, to int64) {
	// The first call sizes the slots; a window cut short keeps them (the
	// later ones stay empty).
	if t := r.slots.Load(); t == nil || t.from != from {
		r.slots.Store(newSlots(from, to))
	}
	r.from.Store(from)
	r.to.Store(to)
}

func (r *Recorder) inWindow(ns int64) bool { return ns >= r.from.Load() && ns < r.to.Load() }

// Sent records one message stamped sentNs that fanout receivers should get.
func (r *Recorder) Sent(sentNs int64, fanout int) {
	if !r.inWindow(sentNs) {
		return
	}

	r.sent.Add(1)
	r.expected.Add(uint64(fanout))
	if sl := r.slots.Load().at(sentNs); sl != nil {
		sl.expected.Add(uint64(fanout))
	}
}

// Received records a body that receiver got at nowNs. Bodies the load
// generator did not write, or from an unknown sender, count as stray.
func (r *Recorder) Received(receiver int, body []byte, nowNs int64) {
	sh := &r.shards[receiver%recShards]
	st, err := DecodeStamp(body)
	if err != nil || int(st.Sender) >= r.senders || receiver < 0 || receiver >= len(r.seqs) {
		sh.mu.Lock()
		sh.stray++
		sh.mu.Unlock()
		return
	}
	counted := r.inWindow(st.SentNs) && r.spans[receiver].owes(st.SentNs)
	latUs := max((nowNs-st.SentNs)/1000, histMinUs)

	sh.mu.Lock()
	defer sh.mu.Unlock()
	row := r.seqs[receiver]
	last := row[st.Sender]
	switch {
	case seqGen(st.Seq) < seqGen(last):
		// A late message of an earlier client of the sender's slot
		// (--churn): a different path from its successor's, so no order
		// holds between them.
	case st.Seq > last:
		row[st.Sender] = st.Seq
	case st.Seq == last:
		if counted {
			sh.duplicates++
		}
		return
	default:
		// An earlier sequence after a later one: out of order (or a late
		// duplicate; on an ordered channel either is a fault).
		if counted {
			sh.outOfOrder++
		}
	}
	// The value is clamped to the histogram's range, so the errors cannot occur.
	latUs = min(latUs, histMaxUs)
	// The live interval shows warm-up traffic too; the totals do not.
	sh.intervalDelivered++
	_ = sh.interval.RecordValue(latUs)
	if counted {
		sh.delivered++
		_ = sh.total.RecordValue(latUs)
		if ph := r.phases.Load(); ph != nil {
			ph.record(receiver, st.SentNs, latUs)
		}
		if k := r.kinds.Load(); k != nil {
			k.record(receiver, latUs)
		}
		if k := r.hops.Load(); k != nil {
			k.record(receiver, int(st.Sender), latUs)
		}
		if sl := r.slots.Load().at(st.SentNs); sl != nil {
			sl.delivered.Add(1)
		}
	}
}

// Counts are a run's totals so far.
type Counts struct {
	Sent       uint64 `json:"sent"`
	Expected   uint64 `json:"expected"`
	Delivered  uint64 `json:"delivered"`
	OutOfOrder uint64 `json:"out_of_order"`
	Duplicates uint64 `json:"duplicates"`
	Stray      uint64 `json:"stray"`
}

// LossPct is the share of expected deliveries that did not arrive, in percent;
// never negative.
func (c Counts) LossPct() float64 {
	if c.Expected == 0 || c.Delivered >= c.Expected {
		return 0
	}
	return 100 * float64(c.Expected-c.Delivered) / float64(c.Expected)
}

// Counts returns the totals so far.
func (r *Recorder) Counts() Counts {
	c := Counts{Sent: r.sent.Load(), Expected: r.expected.Load()}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		c.Delivered += sh.delivered
		c.OutOfOrder += sh.outOfOrder
		c.Duplicates += sh.duplicates
		c.Stray += sh.stray
		sh.mu.Unlock()
	}
	return c
}

// Interval is what arrived since the previous call to Interval, warm-up
// included.
type Interval struct {
	Delivered uint64
	P50, P99  time.Duration
}

// Interval returns the deliveries and latency since the previous call and
// starts a new interval: the live progress line.
func (r *Recorder) Interval() Interval {
	h := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	var iv Interval
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		iv.Delivered += sh.intervalDelivered
		sh.intervalDelivered = 0
		h.Merge(sh.interval)
		sh.interval.Reset()
		sh.mu.Unlock()
	}
	iv.P50 = time.Duration(h.ValueAtQuantile(50)) * time.Microsecond
	iv.P99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
	return iv
}

// Latency returns the latency of every delivery counted so far.
func (r *Recorder) Latency() Latency {
	h := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		h.Merge(sh.total)
		sh.mu.Unlock()
	}
	return latencyOf(h)
}

// Latency summarises a latency histogram, in microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  int64   `json:"p50_us"`
	P90Us  int64   `json:"p90_us"`
	P99Us  int64   `json:"p99_us"`
	P999Us int64   `json:"p999_us"`
	MaxUs  int64   `json:"max_us"`
	// Distribution is the latency at plotPercentiles, for the latency plot.
	Distribution []PercentileValue `json:"distribution,omitempty"`
}

// PercentileValue is one point of a latency distribution.
type PercentileValue struct {
	Percentile float64 `json:"percentile"`
	Us         int64   `json:"us"`
}

// plotPercentiles are the points a latency plot draws: dense towards the tail,
// where the interesting differences are.
var plotPercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	l := Latency{
		Count:  h.TotalCount(),
		MeanUs: h.Mean(),
		P50Us:  h.ValueAtQuantile(50),
		P90Us:  h.ValueAtQuantile(90),
		P99Us:  h.ValueAtQuantile(99),
		P999Us: h.ValueAtQuantile(99.9),
		MaxUs:  h.Max(),
	}
	if l.Count == 0 {
		return l
	}
	for _, p := range plotPercentiles {
		l.Distribution = append(l.Distribution, PercentileValue{Percentile: p, Us: h.ValueAtQuantile(p)})
	}
	return l
}
