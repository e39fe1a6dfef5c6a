package loadgen

import "testing"

// TestHopsSplitByServer: a run whose clients are on several servers splits
// its deliveries into same-server and cross-link ones by the sender's and
// the receiver's servers; a run on one server has no split.
func TestHopsSplitByServer(t *testing.T) {
	if newHopRec([]uint64{7, 7, 7}) != nil {
		t.Fatal("a split for clients all on one server")
	}
	k := newHopRec([]uint64{7, 7, 9})
	k.record(0, 1, 100) // 7 -> 7
	k.record(1, 0, 200) // 7 -> 7
	k.record(2, 0, 5000)
	k.record(0, 2, 7000)
	k.record(5, 0, 1) // a receiver that joined later: no known server
	r := k.result()
	if r.Local.Count != 2 || r.Cross.Count != 2 {
		t.Fatalf("local %d, cross %d deliveries; want 2 and 2", r.Local.Count, r.Cross.Count)
	}
	if r.Local.MaxUs > 250 || r.Cross.P50Us < 4900 {
		t.Fatalf("local max %d µs, cross p50 %d µs: deliveries counted on the wrong path", r.Local.MaxUs, r.Cross.P50Us)
	}
}
