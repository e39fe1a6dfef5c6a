package client

import (
	"encoding/binary"
	"slices"
)

// The dedupe of a move (drain.go): which of the new link's messages are
// copies of what the old link delivered.
//
// What the two links have in common. The same publish relayed by two servers
// carries the same sender alias, topic, channel and body, and nothing else in
// common: the stream positions of history topics (StreamPosition) are
// numbered by each server for its own clients, so a copy on the other link
// carries another epoch and offset (see StreamPosition in
// protocol/broker.proto). No per-sender sequence travels on the wire, so
// without a protocol change a copy is known only by its body.
//
// What makes a body enough most of the time is order. Reliable messages of
// one sender on one topic arrive in publish order on each link, and each
// link carries a contiguous stretch of that sender's stream: the old link up
// to where it is closed, the new one from where its subscription took effect.
// So the copies are matched per stream (sender, topic, channel), in order,
// as an alignment of the two stretches, not as a bag of bodies: a body the
// old link delivered earlier in the stream than the new link's first copy is
// never owed again, and once the new link delivers a message of a stream
// that is not the next one owed, nothing more of that stream is (identical
// bodies published again by the sender are delivered, not collapsed).
//
// What stays ambiguous. When a sender repeats one body, content and order
// cannot tell how far the two stretches overlap ("the new link is one
// message behind" looks like "the sender published it again"). The
// alignment then takes the shortest overlap that fits: it never takes a
// message for a copy unless every alignment says so, so a wrong guess costs
// duplicates of the repeated body, never a loss. The one guess the other
// way is for a stream the new link held nothing of at the end: what the old
// link delivered of it once the new link existed is taken as owed (a copy in
// flight), so the sender's identical next publish, if it is the new link's
// first of that stream, is dropped once; what the old link delivered before
// the new link existed is not owed. A per-sender sequence stamped by the publishing SDK
// and carried by the servers (a new TopicMessage field) would remove the
// ambiguity; it is not on the wire yet.

// oldEntry is a message the old link delivered during the handover.
type oldEntry struct {
	body string
	// afterNext: the new link existed (its subscription was being sent or
	// was in force) when the old one delivered it.
	afterNext bool
}

// streamKey names the stream of m: sender, channel and topic.
func streamKey(m Message) string {
	b := make([]byte, 0, 9+binary.MaxVarintLen64+len(m.Topic))
	b = binary.BigEndian.AppendUint64(b, m.FromAlias)
	b = append(b, byte(m.Channel))
	b = binary.AppendUvarint(b, uint64(len(m.Topic))) // a topic may hold any byte but a space
	b = append(b, m.Topic...)
	return string(b)
}

// streamReliable reports whether stream key k (streamKey) is of the
// reliable channel.
func streamReliable(k string) bool { return len(k) > 8 && Channel(k[8]) == Reliable }

// messageKey identifies a message across the two links: its stream and its
// body.
func messageKey(m Message) string { return streamKey(m) + string(m.Body) }

// align matches held, the new link's messages of one stream in arrival
// order, against old, what the old link delivered of it. It returns how
// many of held, from the first, are copies, and what of old the new link
// still owes (old was ahead), in order.
func align(old []oldEntry, held []string, reliable bool) (copies int, owed []string) {
	n, m := len(old), len(held)
	if m == 0 {
		// Nothing to align on: the new link owes what old delivered once it
		// existed (it was subscribing, or subscribed), not what came before.
		for _, e := range old {
			if e.afterNext {
				owed = append(owed, e.body)
			}
		}
		return 0, owed
	}
	if !reliable {
		return alignLossy(old, held)
	}
	// s is where in old the new link's stretch starts; valid when held and
	// old agree from there on. The latest valid start is the shortest
	// overlap, the fewest copies and owed: caught up (held runs past old's
	// end) first, else old ahead. A start the new link existed for is
	// preferred to one it did not.
	valid := func(s int) bool {
		for j := 0; j < m && s+j < n; j++ {
			if old[s+j].body != held[j] {
				return false
			}
		}
		return true
	}
	best := -1
	for _, wantAfter := range []bool{true, false} {
		for s := n - 1; s >= max(0, n-m) && best < 0; s-- { // caught up, shortest overlap first
			if (!wantAfter || old[s].afterNext) && valid(s) {
				best = s
			}
		}
		for s := n - m - 1; s >= 0 && best < 0; s-- { // old ahead, fewest owed first
			if (!wantAfter || old[s].afterNext) && valid(s) {
				best = s
			}
		}
		if best >= 0 {
			break
		}
	}
	if best < 0 {
		return 0, nil // the new link starts after all old delivered
	}
	if n-best >= m {
		for _, e := range old[best+m:] {
			owed = append(owed, e.body)
		}
		return m, owed
	}
	return n - best, nil
}

// alignLossy is align for the unreliable channel, where either link may
// have lost messages: the new link's first message is placed as align does
// on its own, and the rest are matched forward from there, a message not
// found further on being a new one.
func alignLossy(old []oldEntry, held []string) (copies int, owed []string) {
	start := -1
	for s := len(old) - 1; s >= 0; s-- {
		if old[s].body == held[0] {
			start = s
			if old[s].afterNext {
				break
			}
		}
	}
	if start < 0 {
		return 0, nil
	}
	i := start
	for _, b := range held {
		j := slices.IndexFunc(old[i:], func(e oldEntry) bool { return e.body == b })
		if j < 0 {
			break
		}
		copies++
		i += j + 1
	}
	for _, e := range old[i:] {
		owed = append(owed, e.body)
	}
	return copies, owed
}

// dropOwed reports whether m, delivered by the new link after the handover
// ended, is a copy it owed of what the old link delivered ahead, and
// consumes it. A reliable stream's first message that is not the next owed
// one means the new link is past them all. h.mu held.
func (h *handover) dropOwed(m Message) bool {
	k := streamKey(m)
	q := h.owed[k]
	if len(q) == 0 {
		return false
	}
	body := string(m.Body)
	if q[0] == body {
		h.owed[k] = q[1:]
		return true
	}
	if m.Channel == Reliable {
		delete(h.owed, k)
		return false
	}
	if j := slices.Index(q, body); j >= 0 { // the new link lost those before it
		h.owed[k] = q[j+1:]
		return true
	}
	return false
}
