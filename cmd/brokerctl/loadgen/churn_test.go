package loadgen

import (
	"bufio"
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// A client that leaves is owed what was sent while its account was open and
// nothing after: a message sent after it left is neither expected nor
// counted if it arrives, so the leaver's undelivered messages are not loss.
func TestRosterOwesALeaverOnlyWhatWasSentBeforeItLeft(t *testing.T) {
	r := NewRecorder(time.Now(), 3, 3)
	r.SetWindow(0, math.MaxInt64)
	ro := newRoster(r)
	for i := range 3 {
		ro.join(i, "t")
	}
	send := func(sender int, seq uint64) (int64, int) {
		ns, fanout, ok := ro.stamp(sender, "t")
		if !ok {
			t.Fatalf("sender %d may not publish", sender)
		}
		r.Sent(ns, fanout)
		return ns, fanout
	}
	ns1, f1 := send(0, 1)
	if f1 != 2 {
		t.Fatalf("fanout with three members = %d, want 2", f1)
	}
	if !ro.leave(2, "t") || ro.leave(2, "t") {
		t.Fatal("leave: want true once, then false")
	}
	ns2, f2 := send(0, 2)
	if f2 != 1 {
		t.Fatalf("fanout after one left = %d, want 1", f2)
	}
	if _, _, ok := ro.stamp(2, "t"); ok {
		t.Fatal("a client that left may still publish")
	}
	r.Received(1, body(t, Stamp{Sender: 0, Seq: 1, SentNs: ns1}), ns1+1000)
	r.Received(1, body(t, Stamp{Sender: 0, Seq: 2, SentNs: ns2}), ns2+1000)
	r.Received(2, body(t, Stamp{Sender: 0, Seq: 1, SentNs: ns1}), ns1+1000) // owed: sent before it left
	r.Received(2, body(t, Stamp{Sender: 0, Seq: 2, SentNs: ns2}), ns2+1000) // not owed, not counted
	c := r.Counts()
	if c.Expected != 3 || c.Delivered != 3 || c.LossPct() != 0 {
		t.Fatalf("counts %+v, want 3 expected and delivered", c)
	}
}

// The clients that hold a sender slot in turn take different paths, so a
// late message of the earlier one is not out of order.
func TestALateMessageOfAnEarlierClientOfTheSlotIsNotOutOfOrder(t *testing.T) {
	r := NewRecorder(time.Now(), 1, 1)
	r.SetWindow(0, math.MaxInt64)
	r.Received(0, body(t, Stamp{Seq: withGen(1, 10)}), 10)
	r.Received(0, body(t, Stamp{Seq: withGen(0, 9)}), 10) // the previous client's last
	r.Received(0, body(t, Stamp{Seq: withGen(1, 11)}), 10)
	r.Received(0, body(t, Stamp{Seq: withGen(1, 5)}), 10) // really out of order
	if c := r.Counts(); c.Delivered != 4 || c.OutOfOrder != 1 {
		t.Fatalf("counts %+v, want 4 delivered and 1 out of order", c)
	}
}

// Churn and a slow consumer through a real cluster on the reliable channel:
// clients leave and join every second and one stops reading, and still no
// delivery owed to anyone is lost; the timeline samples the server.
func TestChurnAndSlowConsumerThroughACluster(t *testing.T) {
	// The default outbound budget: the slow client is unlikely to be cut
	// within the window (that takes megabytes), so what the test holds to
	// is the accounting; bench/README.md has the measurement.
	c := cluster.Start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		CoordinatorURL: c.URL(),
		Scenario:       Dense,
		Clients:        6,
		Rate:           30,
		BodySize:       500,
		Reliable:       true,
		Warmup:         500 * time.Millisecond,
		Duration:       4 * time.Second,
		Drain:          3 * time.Second, // a leaver's linger: the machine may be slow
		Churn:          1,
		Slow:           1,
		SlowAfter:      time.Second,
		SampleEvery:    time.Second,
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
		PIDs:           []int{os.Getpid()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch, sl := rep.Churn, rep.Slow
	if ch == nil || ch.Left == 0 || sl == nil || sl.Clients != 1 {
		t.Fatalf("churn %+v, slow %+v: want clients replaced and one slow", ch, sl)
	}
	t.Logf("churn: %d left, %d joined; slow: stopped at %.1fs, cut %d; others p99 before %dµs while %dµs after %dµs",
		ch.Left, ch.Joined, sl.StoppedAtS, sl.Cut, sl.Before.P99Us, sl.While.P99Us, sl.After.P99Us)
	if rep.Expected == 0 || rep.Delivered != rep.Expected || rep.OutOfOrder != 0 || rep.Duplicates != 0 {
		t.Fatalf("reliable with churn: delivered %d of %d, %d out of order, %d duplicates, %d disconnected (join errors %v)",
			rep.Delivered, rep.Expected, rep.OutOfOrder, rep.Duplicates, rep.Disconnected, ch.JoinErrors)
	}
	if sl.Before.Count == 0 {
		t.Fatalf("no deliveries to the others before the slow client stopped: %+v", sl)
	}
	if len(rep.Timeline) == 0 || rep.Timeline[0].Servers[0].RSSKB <= 0 || rep.Timeline[0].Servers[0].FDs <= 0 {
		t.Fatalf("timeline %+v", rep.Timeline)
	}
}

func TestParseGauge(t *testing.T) {
	in := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines_extra 3\ngo_goroutines 42\n"
	got, err := parseGauge(bufioScanner(in), "go_goroutines", "u")
	if err != nil || got != 42 {
		t.Fatalf("parseGauge = %v, %v; want 42", got, err)
	}
	if _, err := parseGauge(bufioScanner("other 1\n"), "go_goroutines", "u"); err == nil {
		t.Fatal("no sample: want an error")
	}
}

func bufioScanner(s string) *bufio.Scanner { return bufio.NewScanner(strings.NewReader(s)) }
