package commserver_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// stateLog is a subscriber's record of a conflated topic: per sender, the
// state numbers it got, in order, and how far behind the sender each was
// when it was read.
type stateLog struct {
	mu     sync.Mutex
	got    map[int][]int
	behind int // the most a read state trailed its sender's latest
	total  atomic.Int64
}

func newStateLog() *stateLog { return &stateLog{got: map[int][]int{}} }

// add records a "S K pad" body; published[S] is how many states sender S
// had published when it was read.
func (sl *stateLog) add(m client.Message, published []atomic.Int64) {
	var s, k int
	if _, err := fmt.Sscanf(string(m.Body), "%d %d", &s, &k); err != nil {
		return
	}
	sl.mu.Lock()
	sl.got[s] = append(sl.got[s], k)
	if published != nil {
		sl.behind = max(sl.behind, int(published[s].Load())-1-k)
	}
	sl.mu.Unlock()
	sl.total.Add(1)
}

func (sl *stateLog) last(s int) int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if g := sl.got[s]; len(g) > 0 {
		return g[len(g)-1]
	}
	return -1
}

// TestConflateSlowSubscriber: four senders publish numbered states on a
// conflate topic (unreliable), each paced by two fast subscribers (a
// sender's next state goes once they have its last), which get every state
// of every sender. A third subscriber reads one message for
// every ten published, so SCTP back-pressures the server and its queue backs
// up: it keeps only the newest state per sender, so the slow one reads
// fresh states at a lower rate, each sender's in increasing order, never
// further behind its sender than the buffers past the queue make it (the
// delay bound, in states: without conflation it would fall about 90% of the
// run behind), and once it catches up it has every sender's final state.
func TestConflateSlowSubscriber(t *testing.T) {
	const (
		senders   = 4
		perSender = 500
		body      = 8 << 10
		readEvery = 10 // the slow one reads one message per readEvery published
		// maxBehind bounds the slow one's lag, in its sender's states. The
		// queue holds one state per sender; past it, pion's buffer (128 KiB
		// high water) and the client's SCTP window (128 KiB, set below)
		// hold about 32 states of 8 KiB, which the slow one reads at one
		// per readEvery published: each has waited about 32*readEvery
		// states, a quarter of them its sender's, so about 80 of them.
		// Without conflation it would trail by most of the run (about 450).
		maxBehind = 200
		topic     = "state.room"
	)
	cl := cluster.Start(t, cluster.Options{Server: func(_ int, cfg *commserver.Config) {
		cfg.Conflate = []string{"state.*"}
		// A queue that never fills, so that only conflation keeps the slow
		// subscriber's backlog short; and a delay bound far above the run,
		// so that every final state is kept.
		cfg.Outbound.UnreliableMessages = 1 << 20
		cfg.Outbound.MaxDelay = time.Minute
	}})

	var published [senders]atomic.Int64
	fast := []*stateLog{newStateLog(), newStateLog()}
	for _, sl := range fast {
		c := cl.Client(t, func(cfg *client.Config) { cfg.OnMessage = func(m client.Message) { sl.add(m, nil) } })
		subscribe(t, c, topic)
	}
	tokens := make(chan struct{}, senders*perSender)
	slowLog := newStateLog()
	slow := cl.Client(t, func(cfg *client.Config) {
		cfg.WebRTC.SCTPReceiveBuffer = 128 << 10
		cfg.OnMessage = func(m client.Message) {
			<-tokens
			slowLog.add(m, published[:])
		}
	})
	var once sync.Once
	release := func() { once.Do(func() { close(tokens) }) }
	t.Cleanup(release) // before the cluster closes slow: Close waits for its read loop
	subscribe(t, slow, topic)
	var pubs []*client.Client
	for range senders {
		pubs = append(pubs, cl.Client(t))
	}
	peers := func() float64 { return cl.Counter(t, 0, "commserver_peers", map[string]string{"role": "CLIENT"}) }
	testwait.For(t, eventTimeout, "every client counted by the server", func() bool { return peers() == 3+senders })

	pad := strings.Repeat("x", body)
	sent := 0
	for k := range perSender {
		for s, pub := range pubs {
			// A sender's state goes once the fast subscribers have its
			// previous one: never two of one sender in flight to them,
			// which their queues would rightly merge if they backed up.
			testwait.For(t, eventTimeout, fmt.Sprintf("the fast subscribers to get sender %d's state %d", s, k-1), func() bool {
				for _, sl := range fast {
					if sl.last(s) < k-1 {
						return false
					}
				}
				return true
			})
			published[s].Store(int64(k + 1)) // before the publish, so a read never sees a state from the future
			publish(t, pub, topic, fmt.Sprintf("%d %d %s", s, k, pad), client.Unreliable)
			sent++
			if sent%readEvery == 0 {
				tokens <- struct{}{}
			}
		}
	}
	for i, sl := range fast {
		testwait.ForReport(t, eventTimeout, func() bool { return int(sl.total.Load()) == sent }, func() string {
			drops := map[string]float64{}
			for _, r := range []string{"conflated", "unreliable_overflow"} {
				drops[r] = cl.Counter(t, 0, "commserver_dropped_messages_total", map[string]string{"reason": r})
			}
			received := cl.Counter(t, 0, "commserver_messages_received_total", map[string]string{"type": "TOPIC"})
			return fmt.Sprintf("fast subscriber %d to get all %d states: it has %d; server drops %v, TOPICs received %v",
				i, sent, sl.total.Load(), drops, received)
		})
		for s := range senders {
			sl.mu.Lock()
			got := sl.got[s]
			sl.mu.Unlock()
			for k, v := range got {
				if v != k {
					t.Fatalf("fast subscriber %d: sender %d's state %d is %d", i, s, k, v)
				}
			}
		}
	}
	conflated := cl.Counter(t, 0, "commserver_dropped_messages_total", map[string]string{"reason": "conflated"})
	readWhileSlow := slowLog.total.Load()
	release()
	for s := range senders {
		testwait.For(t, eventTimeout, fmt.Sprintf("the slow subscriber to get sender %d's final state", s), func() bool {
			return slowLog.last(s) == perSender-1
		})
	}

	slowLog.mu.Lock()
	defer slowLog.mu.Unlock()
	total := 0
	for s := range senders {
		got := slowLog.got[s]
		total += len(got)
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("slow subscriber: sender %d's state %d came after %d", s, got[i], got[i-1])
			}
		}
	}
	t.Logf("slow subscriber read %d states while slow and %d in all, of %d; at most %d behind; %v superseded",
		readWhileSlow, total, sent, slowLog.behind, conflated)
	if conflated == 0 {
		t.Fatal("nothing was superseded: the slow subscriber's queue never backed up, so the test proves nothing")
	}
	if total >= sent/2 {
		t.Fatalf("the slow subscriber got %d of %d states: not conflated", total, sent)
	}
	if slowLog.behind > maxBehind {
		t.Fatalf("the slow subscriber read a state %d behind its sender's latest, bound %d", slowLog.behind, maxBehind)
	}
}
