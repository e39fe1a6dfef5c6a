package subscriptions

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// topicsInTwoShards returns two topics that fall on different shards.
func topicsInTwoShards(tbl *Table[string]) (x, y string) {
	x = "x"
	for i := 0; ; i++ {
		y = fmt.Sprint("y", i)
		if tbl.shardOf(x) != tbl.shardOf(y) {
			return x, y
		}
	}
}

func TestShardOfBytesAgreesWithShardOf(t *testing.T) {
	tbl := New[string]()
	used := map[*shard[string]]bool{}
	for i := range 1000 {
		topic := fmt.Sprint("topic.", i)
		sh := tbl.shardOf(topic)
		if tbl.shardOfBytes([]byte(topic)) != sh {
			t.Fatalf("%q: shardOfBytes and shardOf differ", topic)
		}
		used[sh] = true
	}
	// 1000 topics over 64 shards: all but a vanishingly unlikely few used.
	if len(used) < numShards*3/4 {
		t.Fatalf("1000 topics fell on %d of %d shards", len(used), numShards)
	}
	if size := unsafe.Sizeof(shard[string]{}); size%64 != 0 {
		t.Fatalf("a shard is %d bytes, not a whole number of cache lines", size)
	}
}

// TestSetsSpanningShards: a set's topics live in many shards, and a change
// to it is still one change, with the union reported as it moves.
func TestSetsSpanningShards(t *testing.T) {
	tbl := New[string]()
	var all, firstHalf, secondHalf []string
	for i := range 200 {
		topic := fmt.Sprintf("t%03d", i)
		all = append(all, topic)
		if i < 100 {
			firstHalf = append(firstHalf, topic)
		} else {
			secondHalf = append(secondHalf, topic)
		}
	}
	if !tbl.SetClient("a", all) {
		t.Fatal("first set: union unchanged")
	}
	if tbl.SetClient("b", secondHalf) {
		t.Fatal("b's topics are all a's: union changed")
	}
	if tbl.SetClient("a", firstHalf) {
		t.Fatal("a dropped the second half, which b holds: union changed")
	}
	if got := tbl.ClientTopics(); !slices.Equal(got, all) {
		t.Fatalf("ClientTopics() = %d topics, want all %d", len(got), len(all))
	}
	for i, topic := range all {
		want := "a"
		if i >= 100 {
			want = "b"
		}
		if subs, ok := tbl.Lookup([]byte(topic)); !ok || !slices.Equal(subs.Clients, []string{want}) || subs.Topic != topic {
			t.Fatalf("Lookup(%q) = %+v, %v; want clients [%s]", topic, subs, ok, want)
		}
	}
	if !tbl.Remove("b") {
		t.Fatal("removing b loses the second half: union unchanged")
	}
	if got := tbl.ClientTopics(); !slices.Equal(got, firstHalf) {
		t.Fatalf("ClientTopics() after Remove(b) = %q", got)
	}
	tbl.Remove("a")
	if n := tbl.entries(); n != 0 || tbl.clientTopics != 0 {
		t.Fatalf("after removing everyone: %d entries, %d client topics", n, tbl.clientTopics)
	}
}

// TestLookupDoesNotWaitOnAnotherShard: a change in progress in one shard
// (its write lock held) does not hold up a Lookup of a topic in another.
func TestLookupDoesNotWaitOnAnotherShard(t *testing.T) {
	tbl := New[string]()
	x, y := topicsInTwoShards(tbl)
	tbl.SetClient("a", []string{x, y})
	sh := tbl.shardOf(x)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	done := make(chan Subscribers[string])
	go func() {
		subs, _ := tbl.Lookup([]byte(y))
		done <- subs
	}()
	select {
	case subs := <-done:
		if !slices.Equal(subs.Clients, []string{"a"}) {
			t.Fatalf("Lookup(%q) = %+v", y, subs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lookup in one shard waited on another shard's write lock")
	}
}

// TestWalksSeeWholeChanges: while a client moves between two topics in
// different shards, the announced union always holds exactly one of them,
// never neither or both: a walk never sees half a change.
func TestWalksSeeWholeChanges(t *testing.T) {
	tbl := New[string]()
	x, y := topicsInTwoShards(tbl)
	tbl.SetClient("a", []string{x})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tbl.SetClient("a", []string{[]string{x, y}[i%2]})
		}
	})
	for range 2000 {
		if got := tbl.ClientTopics(); len(got) != 1 {
			t.Errorf("ClientTopics() = %q, want exactly one of %s, %s", got, x, y)
			break
		}
		if got := tbl.TopicsExcept("nobody"); len(got) != 1 {
			t.Errorf("TopicsExcept() = %q, want exactly one of %s, %s", got, x, y)
			break
		}
	}
	close(stop)
	wg.Wait()
}
