package luahost

import (
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Limits of the per-script state kept in Go. They bound what a buggy or
// hostile script can make the server hold.
const (
	maxBuckets     = 10000    // rate-limit keys per script
	maxKVKeys      = 10000    // key/value entries per script
	maxKVValueSize = 64 << 10 // bytes of one string value
	maxKVBytes     = 16 << 20 // bytes of all keys and string values
)

// store is the Go-side state of one script file: its token buckets and its
// key/value entries. All the Lua states of the script share it, and it
// survives reloads of the same file name (an edit does not reset counters);
// it is dropped when the file is removed. Each half has its own mutex.
type store struct {
	bmu     sync.Mutex
	buckets map[bucketKey]bucket // guarded by bmu

	kmu     sync.Mutex
	kv      map[string]lua.LValue // guarded by kmu; LString, LNumber or LBool
	kvBytes int                   // guarded by kmu
}

func newStore() *store {
	return &store{buckets: make(map[bucketKey]bucket), kv: make(map[string]lua.LValue)}
}

// bucketKey lets a script key buckets by a number (typically the peer alias)
// without formatting it into a string on every message.
type bucketKey struct {
	s   string
	n   float64
	num bool
}

type bucket struct {
	tokens float64
	last   time.Time
	rate   float64 // tokens per second
	burst  float64
}

// refilled is the number of tokens b holds at now.
func (b *bucket) refilled(now time.Time) float64 {
	t := b.tokens + now.Sub(b.last).Seconds()*b.rate
	if t > b.burst {
		t = b.burst
	}
	return t
}

// allow takes one token from key's bucket, creating a full bucket for a new
// key. rate and burst are the caller's current settings: a script that
// changes them changes the bucket.
func (s *store) allow(key bucketKey, rate, burst float64, now time.Time) bool {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		if len(s.buckets) >= maxBuckets {
			s.evictBuckets(now)
		}
		b = bucket{tokens: burst, last: now}
	} else {
		b.tokens = b.refilled(now)
		if now.After(b.last) {
			b.last = now
		}
	}
	b.rate, b.burst = rate, burst
	if b.tokens > burst {
		b.tokens = burst
	}
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	s.buckets[key] = b
	return allowed
}

// evictBuckets makes room: first every bucket that has refilled to its burst
// (forgetting it changes nothing), then, if all are busy, an arbitrary
// eighth. Called with bmu held.
func (s *store) evictBuckets(now time.Time) {
	for k, b := range s.buckets {
		if b.refilled(now) >= b.burst {
			delete(s.buckets, k)
		}
	}
	if len(s.buckets) < maxBuckets {
		return
	}
	n := len(s.buckets) / 8
	for k := range s.buckets {
		if n == 0 {
			break
		}
		delete(s.buckets, k)
		n--
	}
}

func kvSize(key string, v lua.LValue) int {
	if s, ok := v.(lua.LString); ok {
		return len(key) + len(s)
	}
	return len(key) + 8
}

func (s *store) get(key string) lua.LValue {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if v, ok := s.kv[key]; ok {
		return v
	}
	return lua.LNil
}

// set stores v (nil deletes) and reports false when the store is full.
func (s *store) set(key string, v lua.LValue) bool {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	old, had := s.kv[key]
	if v == lua.LNil {
		if had {
			s.kvBytes -= kvSize(key, old)
			delete(s.kv, key)
		}
		return true
	}
	grow := kvSize(key, v)
	if had {
		grow -= kvSize(key, old)
	} else if len(s.kv) >= maxKVKeys {
		return false
	}
	if s.kvBytes+grow > maxKVBytes {
		return false
	}
	s.kv[key] = v
	s.kvBytes += grow
	return true
}

// incr adds delta to a numeric entry (absent counts as 0) in one step, which
// a kv_get then kv_set from concurrent states could not do. It returns a
// message instead when the entry is not a number or the store is full.
func (s *store) incr(key string, delta float64) (lua.LNumber, string) {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	old, had := s.kv[key]
	var n lua.LNumber
	if had {
		cur, ok := old.(lua.LNumber)
		if !ok {
			return 0, "value is not a number"
		}
		n = cur
	} else {
		if len(s.kv) >= maxKVKeys || s.kvBytes+len(key)+8 > maxKVBytes {
			return 0, "store full"
		}
		s.kvBytes += len(key) + 8
	}
	n += lua.LNumber(delta)
	s.kv[key] = n
	return n, ""
}
