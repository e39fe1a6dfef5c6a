package commserver

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// linkSeries returns the value of each commserver_link_* series of s by
// name and channel.
func linkSeries(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(s.m.links); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = v
		}
	}
	return got
}

// TestLinkMetricsGiveBatchSizeAndQueueDepth: the link series count every
// message written to a server link and every data-channel message it took,
// so their ratio is the mean batch size, and show what waits in its queue;
// a link that goes keeps its counts.
func TestLinkMetricsGiveBatchSizeAndQueueDepth(t *testing.T) {
	const n = 40 // of about 110 bytes each: 4 or more batches of at most 1,100 bytes
	f := newRelayFixture(t, RoleServer, 2, 1)
	sender, link := f.clients[0], f.servers[0]
	link.chans[unreliable].q.Close()
	link.chans[unreliable].q = outbound.NewUnreliable(2 * n) // the fixture's holds 4
	link.startBatching()
	for i := range n {
		sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "t", fmt.Appendf(nil, "%03d%s", i, bytes.Repeat([]byte("x"), 97))))
	}
	before := linkSeries(t, f.s)
	if q := before["commserver_link_queued_messages/unreliable"]; q != n {
		t.Fatalf("link_queued_messages{unreliable} = %v before the writer ran, want %d", q, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	sink := make(copySink, 2*n)
	done := make(chan error, 1)
	go func() { done <- link.chans[unreliable].q.Run(ctx, sink, 1<<30, nil) }()
	frames := 0
	for got := 0; got < n; frames++ {
		select {
		case b := <-sink:
			got += len(inner(t, b))
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d messages written", got, n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after := linkSeries(t, f.s)
	want := map[string]float64{
		"commserver_link_messages_written_total/unreliable": n,
		"commserver_link_writes_total/unreliable":           float64(frames),
		"commserver_link_queued_messages/unreliable":        0,
		"commserver_link_messages_written_total/reliable":   0,
	}
	for k, v := range want {
		if after[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, after[k], v, after)
		}
	}
	if frames < 4 || frames >= n {
		t.Errorf("%d data-channel messages for %d messages: want batches", frames, n)
	}

	// The link goes: its counts stay.
	f.s.m.links.linkGone(link)
	f.s.mu.Lock()
	delete(f.s.all, link)
	f.s.mu.Unlock()
	if gone := linkSeries(t, f.s); gone["commserver_link_writes_total/unreliable"] != float64(frames) ||
		gone["commserver_link_messages_written_total/unreliable"] != n {
		t.Fatalf("after the link went: %v, want its counts kept", gone)
	}
}
