package outbound

import "time"

// Latest-wins and the delay bound, for unreliable queues carrying state: a
// subscriber that falls behind should get the newest state of each sender,
// at a lower rate, not a backlog of old states (issue 14). Every field these
// functions use is Queue's, guarded by Queue.mu (see there).

// PushLatest is Push for a message that supersedes the earlier ones of the
// same key (the relay keys by sender and topic): if a message with key is
// still queued, msg takes its place in the queue (and its own age) and the
// older one is dropped, counted in Dropped and Superseded. A queue that keeps
// up holds nothing when the next message comes, so this changes nothing
// until the subscriber backs up. Key 0 is no key (plain Push); a reliable
// queue never drops and ignores the key. Tickets (PushTicket) assume FIFO
// and do not mix with it on one queue.
func (q *Queue) PushLatest(msg []byte, key uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.push(msg, key)
}

// SetMaxDelay bounds how long a message of an unreliable queue may wait: the
// writer drops, and counts in Dropped, what has been queued for longer than
// d when it takes the queue, since state that late is worth less than the
// next one. 0, the default, keeps messages until the queue is full. Call it
// before Run; a reliable queue ignores it.
func (q *Queue) SetMaxDelay(d time.Duration) {
	if !q.reliable {
		q.maxDelay = d
	}
}

// Superseded returns how many messages PushLatest replaced by a newer one of
// the same key (they are in Dropped too).
func (q *Queue) Superseded() uint64 { return q.superseded.Load() }

// supersede puts msg in the place of the queued message of key, if there is
// one, and reports whether it did. Lock held on entry.
func (q *Queue) supersede(msg []byte, key uint64) bool {
	n, ok := q.index[key]
	first := q.msgs - uint64(q.count)
	if !ok || n < first || n >= q.msgs {
		return false // never queued, or already taken or dropped
	}
	slot := (q.head + int(n-first)) % len(q.ring)
	if q.keys[slot] != key {
		return false
	}
	old := len(q.ring[slot])
	q.ring[slot] = msg
	if q.at != nil {
		q.at[slot] = q.now()
	}
	q.bytes += len(msg) - old
	q.pushed += uint64(len(msg))
	q.left.Add(uint64(old))
	q.dropped.Add(1)
	q.superseded.Add(1)
	return true
}

// mark records slot's key and push time, creating the parallel rings on
// first use. Lock held on entry.
func (q *Queue) mark(slot int, key uint64) {
	if key != 0 && q.keys == nil {
		q.keys = make([]uint64, len(q.ring))
		q.index = make(map[uint64]uint64)
	}
	if q.keys != nil {
		q.keys[slot] = key
		if key != 0 {
			if len(q.index) >= 2*max(q.maxMessages, len(q.ring)) {
				q.reindex() // stale entries of dropped messages piled up
			}
			q.index[key] = q.msgs // the number this message gets
		}
	}
	if q.maxDelay > 0 {
		if q.at == nil {
			q.at = make([]int64, len(q.ring))
			q.base = time.Now()
		}
		q.at[slot] = q.now()
	}
}

// reindex rebuilds index from the queued messages alone. Lock held on entry.
func (q *Queue) reindex() {
	clear(q.index)
	for i := range q.count {
		slot := (q.head + i) % len(q.ring)
		if k := q.keys[slot]; k != 0 {
			q.index[k] = q.msgs - uint64(q.count) + uint64(i)
		}
	}
}

// now is the push time stored in at: nanoseconds since base, monotonic.
func (q *Queue) now() int64 { return int64(time.Since(q.base)) }

// takeFresh is take for a queue with keys or push times: it moves the queued
// messages to batch, oldest first, leaves out those older than maxDelay
// (counted as dropped), and forgets the keys. Lock held on entry. A message
// left out shifts the later ones' places in batch, so Run's batching may
// take one of them for a message from before EnableBatching and write it
// alone: only ever unbatched, never the reverse.
func (q *Queue) takeFresh(batch [][]byte) [][]byte {
	var oldest int64
	bounded := q.at != nil && q.maxDelay > 0
	if bounded {
		oldest = q.now() - int64(q.maxDelay)
	}
	for i := range q.count {
		slot := (q.head + i) % len(q.ring)
		if bounded && q.at[slot] < oldest {
			q.dropped.Add(1)
		} else {
			batch = append(batch, q.ring[slot])
		}
		q.ring[slot] = nil
		if q.keys != nil {
			q.keys[slot] = 0
		}
	}
	if len(q.index) > 0 {
		clear(q.index)
	}
	q.left.Add(uint64(q.bytes))
	q.head, q.count, q.bytes = 0, 0, 0
	return batch
}
