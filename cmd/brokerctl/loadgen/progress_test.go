package loadgen

import (
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

// The window's expected deliveries that have not arrived split by how long
// ago they were sent: within due they are in flight, before it lost.
func TestOutstandingSplitsInFlightFromLost(t *testing.T) {
	r := NewRecorder(time.Now(), 2, 1)
	r.SetWindow(0, 10*sec)
	r.Sent(1*sec, 2)       // long due: one of its two deliveries arrives
	r.Sent(9*sec+sec/2, 2) // sent half a second ago: none arrived yet
	r.Sent(11*sec, 2)      // after the window: not counted at all
	r.Received(0, body(t, Stamp{Seq: 1, SentNs: 1 * sec}), 1*sec+sec/100)
	got := r.Outstanding(10*sec, 2*time.Second)
	want := Outstanding{Due: 2, Lost: 1, InFlight: 2}
	if got != want {
		t.Fatalf("Outstanding = %+v, want %+v", got, want)
	}
	if p := got.LossPct(); p != 50 {
		t.Fatalf("loss %v%%, want 50%% of the deliveries that are due", p)
	}
	// Once the second message is due too, its deliveries count as lost.
	if got := r.Outstanding(12*sec, 2*time.Second); got != (Outstanding{Due: 4, Lost: 3}) {
		t.Fatalf("Outstanding later = %+v, want 4 due, 3 lost, none in flight", got)
	}
}

// The progress line of a run that loses nothing shows the deliveries not yet
// arrived as in flight, and 0 % loss: not the share of expected deliveries
// still on their way, which a mid-run line used to show as loss.
func TestProgressLineShowsInFlightNotLoss(t *testing.T) {
	e := &engine{cfg: Config{Clients: 3, Drain: 2 * time.Second}, rec: NewRecorder(time.Now(), 3, 3)}
	e.phase.Store("measuring")
	e.connected.Store(3)
	e.rec.SetWindow(0, 10*sec)
	// Messages sent every 10 ms to two receivers; those of the last 50 ms
	// have not arrived yet.
	now := 5 * sec
	seq := uint64(0)
	for ns := int64(0); ns < now; ns += 10 * int64(time.Millisecond) {
		seq++
		e.rec.Sent(ns, 2)
		if ns < now-50*int64(time.Millisecond) {
			for recv := 1; recv <= 2; recv++ {
				e.rec.Received(recv, body(t, Stamp{Sender: 0, Seq: seq, SentNs: ns}), ns+int64(time.Millisecond))
			}
		}
	}
	line := e.progressLine(5*time.Second, 100, now)
	for _, want := range []string{"clients 3/3", "sent/s 100", "in flight 10", "loss 0.00%", "measuring"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
}
