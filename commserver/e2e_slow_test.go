package commserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// A client that stops reading is cut once its reliable queue is over the
// budget: SCTP back-pressures the server (the client's receive window
// closes, the server's SCTP buffer fills to its high-water mark), the rest
// queues in the peer's outbound queue, and the first message over
// outbound.reliable_bytes while the writer waits for SCTP closes the peer
// with a warning, counted as a slow consumer. Every other subscriber still
// gets every message, in order, up to a marker sent after the cut.
//
// The fast subscribers provably keep up: at most window+1 messages are in
// flight to each (about 70 KB), far under the SCTP high water (1 MiB), so
// their writer never waits for them and the budget never counts against
// them, however late the starved server runs its writers. (It once did:
// under 8 concurrent copies on 2 cores the relay queued 15 messages to
// every subscriber before any writer ran, and all four were cut at once,
// the fast ones with 0 to 2 KiB unacknowledged in SCTP.)
func TestSlowConsumerIsCutAndTheOthersGetEveryMessage(t *testing.T) {
	const (
		budget = 64 << 10
		body   = 4 << 10
		// window bounds the messages in flight to the fast subscribers, so
		// that they never come near the high water, however slowly the
		// machine runs them (see above).
		window      = 16
		fast        = 3
		maxMessages = 4000 // 16 MiB: far past what the slow one can hold
		topic       = "slow.topic"
	)
	logs := &warnings{}
	// On a failure the server's warnings say which peers were cut and why.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server warnings:\n%s", logs.dump())
		}
	})
	cl := cluster.Start(t, cluster.Options{
		Server: func(_ int, cfg *commserver.Config) { cfg.Outbound.ReliableBytes = budget },
		ServerOptions: func(_ int, o *commserver.Options) {
			o.Logger = slog.New(logs)
		},
	})

	// The slow consumer reads its first topic message and then stops: its
	// OnMessage waits until the test ends.
	release := make(chan struct{})
	var stalled atomic.Bool
	slow := cl.Client(t, func(cfg *client.Config) {
		cfg.WebRTC.SCTPReceiveBuffer = 128 << 10 // a smaller window fills sooner
		// Cut is final: a reconnection would be a new peer.
		cfg.Reconnect.Disabled = true
		cfg.OnMessage = func(client.Message) {
			stalled.Store(true)
			<-release
		}
	})
	t.Cleanup(func() { close(release) }) // before the cluster's Close of slow: it waits for its read loops
	subscribe(t, slow, topic)

	tallies := make([]*tally, fast)
	for i := range tallies {
		tallies[i] = &tally{}
		c := cl.Client(t, func(cfg *client.Config) { cfg.OnMessage = tallies[i].add })
		subscribe(t, c, topic)
		t.Logf("fast subscriber %d: peer %d", i, c.Alias())
	}
	pub := cl.Client(t)
	t.Logf("slow consumer: peer %d; publisher: peer %d", slow.Alias(), pub.Alias())
	peers := func() float64 { return cl.Counter(t, 0, "commserver_peers", map[string]string{"role": "CLIENT"}) }
	// The server counts a client once its AUTH is through, which may be
	// after Dial returned.
	testwait.For(t, eventTimeout, "every client counted by the server", func() bool { return peers() == fast+2 })

	pad := strings.Repeat("x", body)
	cut := func() bool {
		return cl.Counter(t, 0, "commserver_dropped_messages_total", map[string]string{"reason": "slow_consumer"}) > 0
	}
	sent := 0
	for ; sent < maxMessages && !cut(); sent++ {
		// Wait until every fast subscriber is at most window behind.
		testwait.For(t, eventTimeout, fmt.Sprintf("the fast subscribers within %d of message %d", window, sent), func() bool {
			for _, ta := range tallies {
				if ta.count() < sent-window {
					return false
				}
			}
			return true
		})
		publish(t, pub, topic, fmt.Sprintf("m%d %s", sent, pad), client.Reliable)
	}
	if !cut() {
		t.Fatalf("the slow consumer was not cut after %d messages of %d bytes (budget %d)", sent, body, budget)
	}
	if !stalled.Load() {
		t.Fatal("the slow consumer never received a message, so it never stopped reading")
	}
	t.Logf("slow consumer cut after %d messages of %d bytes", sent, body)

	publish(t, pub, topic, "marker", client.Reliable)
	for i, ta := range tallies {
		testwait.For(t, eventTimeout, fmt.Sprintf("fast subscriber %d to get the marker", i), ta.gotMarker)
		got := ta.bodies()
		if len(got) != sent+1 {
			t.Fatalf("fast subscriber %d got %d messages, want %d and the marker", i, len(got), sent)
		}
		for j := range sent {
			if want := fmt.Sprintf("m%d ", j); !strings.HasPrefix(got[j], want) {
				t.Fatalf("fast subscriber %d: message %d is %.20q, want it to start with %q", i, j, got[j], want)
			}
		}
	}

	testwait.For(t, eventTimeout, "the server to drop the slow consumer", func() bool { return peers() == fast+1 })
	if n := cl.Counter(t, 0, "commserver_dropped_messages_total", map[string]string{"reason": "slow_consumer"}); n != 1 {
		t.Errorf("slow_consumer drops = %v, want 1", n)
	}
	rec, ok := logs.find("closed: slow consumer")
	if !ok {
		t.Fatalf("no warning that the slow consumer was closed; warnings: %v", logs.messages())
	}
	if rec.attrs["peer"] != fmt.Sprint(slow.Alias()) || !strings.Contains(rec.attrs["err"], "slow consumer") {
		t.Errorf("slow-consumer warning has peer %q and err %q; want peer %d and the budget error", rec.attrs["peer"], rec.attrs["err"], slow.Alias())
	}
	// The warning says why: the peer's role, what was queued against
	// which budget, and what SCTP still held for it.
	if rec.attrs["role"] != "CLIENT" || rec.attrs["budget"] != fmt.Sprint(budget) || rec.attrs["queued_bytes"] == "" ||
		rec.attrs["sctp_buffered"] == "" || rec.attrs["writer_idle"] == "" {
		t.Errorf("slow-consumer warning lacks role, budget, queued_bytes, sctp_buffered or writer_idle: %v", rec.attrs)
	}
	t.Logf("slow-consumer warning: %v", rec.attrs)
}

// tally is a fast subscriber's record of the topic messages it got.
type tally struct {
	mu     sync.Mutex
	got    []string
	marker bool
}

func (ta *tally) add(m client.Message) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.got = append(ta.got, string(m.Body)) // Body is valid only during the call
	ta.marker = ta.marker || string(m.Body) == "marker"
}

func (ta *tally) count() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return len(ta.got)
}

func (ta *tally) gotMarker() bool {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.marker
}

func (ta *tally) bodies() []string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return append([]string(nil), ta.got...)
}

// warnings is a slog.Handler that keeps the warnings and errors a server
// logs, with their attributes as text (including those added by With).
type warnings struct {
	mu   sync.Mutex
	recs []logRecord
	base []slog.Attr // set on the handlers With returns
	root *warnings   // where those store records; nil for the root itself
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func (w *warnings) store() *warnings {
	if w.root != nil {
		return w.root
	}
	return w
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: map[string]string{}}
	for _, a := range w.base {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	s := w.store()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, rec)
	return nil
}

func (w *warnings) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnings{base: append(append([]slog.Attr(nil), w.base...), as...), root: w.store()}
}

// WithGroup is not used by the server; attributes stay flat.
func (w *warnings) WithGroup(string) slog.Handler { return w }

func (w *warnings) find(msg string) (logRecord, bool) {
	s := w.store()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if r.msg == msg {
			return r, true
		}
	}
	return logRecord{}, false
}

func (w *warnings) messages() []string {
	s := w.store()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs {
		out = append(out, r.msg)
	}
	return out
}

// dump is every record, one a line, with its attributes in key order.
func (w *warnings) dump() string {
	s := w.store()
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.recs {
		keys := make([]string, 0, len(r.attrs))
		for k := range r.attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(&b, "%q", r.msg)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, r.attrs[k])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
