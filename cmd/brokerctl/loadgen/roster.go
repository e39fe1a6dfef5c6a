package loadgen

import (
	"math"
	"sync"
	"sync/atomic"
)

// Reliable accounting with clients that come and go (--churn, --slow).
//
// Each client incarnation is a receiver with an account: the span of send
// times of the messages owed to it. The account opens when its Subscribe
// returned (the server has applied the subscription) and closes when the
// client leaves. A message is owed to exactly the incarnations whose
// account is open at the moment it is stamped; the sender's stamp and the
// count of open accounts on its topic are taken under one lock, so the
// expected count (Recorder.Sent) and the receiver's check (span.owes) agree
// on every message.
//
// A leaving client closes its account first, keeps its connection for the
// drain time (--drain, the same bound the end of the run gives messages in
// flight) so that what was sent to it before can arrive, and only then
// closes. So a leaving client's messages still in flight are neither
// expected nor lost: a message is lost only when it was owed to a client
// that stayed connected at least --drain after it was sent, and did not
// arrive. Messages a client receives outside its span are not counted.
//
// With a mesh, a joiner's subscription reaches the other servers some time
// after Subscribe returns; messages from their clients in between may miss
// it and count as loss. The soak runs on one server.

// A sender slot's sequence goes on across the clients that hold it in turn;
// the top genBits bits of a sequence number say which of them (the
// generation), since the ones of different clients take different paths
// and are not ordered with each other.
const genBits = 20

func seqGen(seq uint64) uint64 { return seq >> (64 - genBits) }

func withGen(gen, n uint64) uint64 { return gen<<(64-genBits) | n }

// span is a receiver's account: messages stamped in [from, to) are owed to
// it.
type span struct{ from, to atomic.Int64 }

func (s *span) owes(sentNs int64) bool { return sentNs >= s.from.Load() && sentNs < s.to.Load() }

// roster is who is subscribed to what, for the expected counts.
type roster struct {
	rec *Recorder
	mu  sync.RWMutex
	// open counts the open accounts per topic; member[r] says whether
	// receiver r's account is open.
	open   map[string]int
	member []bool
	// openLegacy counts the open accounts of 2019-style receivers per
	// topic, for a mixed run's split (kinds.go).
	openLegacy map[string]int
}

// newRoster takes over rec's accounts: nothing is owed to a receiver until
// it joins (a joiner gets messages between its subscription taking effect
// and join).
func newRoster(rec *Recorder) *roster {
	for i := range rec.spans {
		rec.spans[i].from.Store(math.MaxInt64)
	}
	return &roster{rec: rec, open: map[string]int{}, member: make([]bool, len(rec.spans)), openLegacy: map[string]int{}}
}

// join opens receiver r's account on topic from now.
func (ro *roster) join(r int, topic string) {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	sp := &ro.rec.spans[r]
	sp.to.Store(math.MaxInt64)
	sp.from.Store(ro.rec.Now())
	ro.member[r] = true
	ro.open[topic]++
	if ro.legacy(r) {
		ro.openLegacy[topic]++
	}
}

// legacy reports whether receiver r acts as a 2019 client in a mixed run.
func (ro *roster) legacy(r int) bool {
	k := ro.rec.kinds.Load()
	return k != nil && k.legacy[r].Load()
}

// leave closes receiver r's account: nothing stamped from now on is owed
// to it. It reports whether the account was open.
func (ro *roster) leave(r int, topic string) bool {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if !ro.member[r] {
		return false
	}
	ro.rec.spans[r].to.Store(ro.rec.Now())
	ro.member[r] = false
	ro.open[topic]--
	if ro.legacy(r) {
		ro.openLegacy[topic]--
	}
	return true
}

// stamp is the send time of a message receiver-and-sender r publishes on
// topic and how many open accounts it is owed to (every open one but r's);
// ok is false when r has left, and must not publish.
func (ro *roster) stamp(r int, topic string) (ns int64, fanout int, ok bool) {
	ro.mu.RLock()
	defer ro.mu.RUnlock()
	if !ro.member[r] {
		return 0, 0, false
	}
	ns, fanout = ro.rec.Now(), ro.open[topic]-1
	if k := ro.rec.kinds.Load(); k != nil && ro.rec.inWindow(ns) {
		// Split under the same lock, so the kinds' expected counts add up
		// to the total.
		legacy := ro.openLegacy[topic]
		if ro.legacy(r) {
			legacy--
		}
		k.expected[kindLegacy].Add(uint64(legacy))
		k.expected[kindBatching].Add(uint64(fanout - legacy))
	}
	return ns, fanout, true
}
