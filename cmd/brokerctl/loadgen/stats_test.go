package loadgen

import (
	"testing"
	"time"
)

func body(t *testing.T, s Stamp) []byte {
	t.Helper()
	b, err := NewBody(MinBodySize)
	if err != nil {
		t.Fatal(err)
	}
	EncodeStamp(b, s)
	return b
}

func TestRecorderCountsOnlyTheWindow(t *testing.T) {
	r := NewRecorder(time.Now(), 2, 1)
	r.SetWindow(1000, 2000)
	for _, sentNs := range []int64{999, 1000, 1999, 2000} {
		r.Sent(sentNs, 2)
	}
	// Receiver 0 gets everything, receiver 1 only the in-window messages.
	for seq, sentNs := range []int64{999, 1000, 1999, 2000} {
		r.Received(0, body(t, Stamp{Seq: uint64(seq + 1), SentNs: sentNs}), sentNs+500_000)
	}
	r.Received(1, body(t, Stamp{Seq: 2, SentNs: 1000}), 1000+500_000)

	c := r.Counts()
	want := Counts{Sent: 2, Expected: 4, Delivered: 3}
	if c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	if got := c.LossPct(); got != 25 {
		t.Fatalf("loss %v%%, want 25%%", got)
	}
	if l := r.Latency(); l.Count != 3 || l.P50Us != 500 || l.MaxUs != 500 {
		t.Fatalf("latency %+v, want 3 samples of 500 µs", l)
	}
}

func TestRecorderOrder(t *testing.T) {
	tests := []struct {
		name          string
		seqs          []uint64
		ooo, dup, got uint64
	}{
		{"in order", []uint64{1, 2, 3, 4}, 0, 0, 4},
		{"gap is not disorder", []uint64{1, 2, 5, 6}, 0, 0, 4},
		{"late message", []uint64{1, 3, 2, 4}, 1, 0, 4},
		{"duplicate", []uint64{1, 2, 2, 3}, 0, 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(time.Now(), 1, 2)
			r.SetWindow(0, 1<<62)
			for _, seq := range tc.seqs {
				r.Received(0, body(t, Stamp{Sender: 1, Seq: seq, SentNs: 10}), 20)
			}
			// Another sender's sequence is tracked on its own.
			r.Received(0, body(t, Stamp{Sender: 0, Seq: 1, SentNs: 10}), 20)
			c := r.Counts()
			if c.OutOfOrder != tc.ooo || c.Duplicates != tc.dup || c.Delivered != tc.got+1 {
				t.Fatalf("out of order %d, duplicates %d, delivered %d; want %d, %d, %d",
					c.OutOfOrder, c.Duplicates, c.Delivered, tc.ooo, tc.dup, tc.got+1)
			}
		})
	}
}

func TestRecorderStray(t *testing.T) {
	r := NewRecorder(time.Now(), 1, 1)
	r.SetWindow(0, 1<<62)
	r.Received(0, []byte("hello"), 10)
	r.Received(0, body(t, Stamp{Sender: 9, Seq: 1}), 10) // no such sender
	if c := r.Counts(); c.Stray != 2 || c.Delivered != 0 {
		t.Fatalf("counts %+v, want 2 stray and nothing delivered", c)
	}
}

func TestRecorderPercentiles(t *testing.T) {
	r := NewRecorder(time.Now(), 4, 1)
	r.SetWindow(0, 1<<62)
	// 1..1000 µs, spread over receivers (and so over shards).
	for i := 1; i <= 1000; i++ {
		r.Received(i%4, body(t, Stamp{Seq: uint64(i), SentNs: 0}), int64(i)*1000)
	}
	l := r.Latency()
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"p50", l.P50Us, 500}, {"p90", l.P90Us, 900}, {"p99", l.P99Us, 990}, {"max", l.MaxUs, 1000}} {
		if c.got != c.want {
			t.Errorf("%s = %d µs, want %d", c.name, c.got, c.want)
		}
	}
	if l.Count != 1000 || len(l.Distribution) != len(plotPercentiles) {
		t.Fatalf("count %d and %d distribution points; want 1000 and %d", l.Count, len(l.Distribution), len(plotPercentiles))
	}
	iv := r.Interval()
	if iv.Delivered != 1000 || iv.P50 != 500*time.Microsecond {
		t.Fatalf("interval %+v, want 1000 deliveries with p50 500µs", iv)
	}
	if iv := r.Interval(); iv.Delivered != 0 {
		t.Fatalf("second interval %+v, want it empty", iv)
	}
}

func TestPlanFanout(t *testing.T) {
	tests := []struct {
		name     string
		scenario Scenario
		n        int
		topics   int
		up       []bool
		want     []int
	}{
		{"dense: everybody else", Dense, 4, 0, []bool{true, true, true, true}, []int{3, 3, 3, 3}},
		{"dense: only connected clients", Dense, 4, 0, []bool{true, false, true, true}, []int{2, 0, 2, 2}},
		{"sparse: topic mates", Sparse, 6, 2, []bool{true, true, true, true, true, true}, []int{2, 2, 2, 2, 2, 2}},
		{"sparse: alone on a topic", Sparse, 3, 2, []bool{true, true, true}, []int{1, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := newPlan(tc.scenario, tc.n, tc.topics, "t").fanout(tc.up)
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("fanout %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestRecorderAllocatesNothingPerMessage(t *testing.T) {
	r := NewRecorder(time.Now(), 2, 2)
	r.SetWindow(0, 1<<62)
	b := body(t, Stamp{Sender: 1, Seq: 1, SentNs: 5})
	seq := uint64(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		EncodeStamp(b, Stamp{Sender: 1, Seq: seq, SentNs: 5})
		r.Received(0, b, 1000)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per received message, want 0", allocs)
	}
}
