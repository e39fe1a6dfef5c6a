package client

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TestStreamsSeen: which received positions are delivered, in sequence.
func TestStreamsSeen(t *testing.T) {
	var st streams
	st.linked(5)
	steps := []struct {
		name          string
		from          uint64
		epoch, offset uint64
		deliver       bool
		last          uint64 // the offset remembered after the step
	}{
		{"first", 9, 1, 1, true, 1},
		{"next", 9, 1, 2, true, 2},
		{"duplicate", 9, 1, 2, false, 2},
		{"older", 9, 1, 1, false, 2},
		{"own message under an earlier alias", 5, 1, 3, false, 3},
		{"after it", 9, 1, 4, true, 4},
		{"another epoch", 9, 2, 1, true, 1},
	}
	for _, s := range steps {
		if got := st.seen("chat", s.from, s.epoch, s.offset); got != s.deliver {
			t.Fatalf("%s: delivered %v, want %v", s.name, got, s.deliver)
		}
		if p := st.last["chat"]; p.offset != s.last {
			t.Fatalf("%s: remembered offset %d, want %d", s.name, p.offset, s.last)
		}
	}
	st.answered(Recovery{Topic: "chat", Epoch: 3, Offset: 40})
	if p := st.last["chat"]; p != (pos{3, 40}) {
		t.Fatalf("after a RECOVERY in another epoch: %+v", p)
	}
	st.answered(Recovery{Topic: "chat", Epoch: 3, Offset: 50})
	if p := st.last["chat"]; p != (pos{3, 40}) {
		t.Fatalf("a RECOVERY in the same epoch moved the position (its replay must not be skipped): %+v", p)
	}
}

// TestRecoverFieldsMergeIntoTheSubscription: the recover field appended to
// an encoded SUBSCRIPTION decodes as one message with both.
func TestRecoverFieldsMergeIntoTheSubscription(t *testing.T) {
	var st streams
	st.seen("chat", 9, 7, 12)
	st.seen("gone", 9, 7, 1)
	sub := append(relay.AppendSubscription(nil, protocol.Format_PLAIN, []byte("chat other")), st.recoverFields([]string{"chat", "other"})...)
	var m protocol.SubscriptionMessage
	if err := proto.Unmarshal(sub, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != protocol.MessageType_SUBSCRIPTION || string(m.Topics) != "chat other" || len(m.Recover) != 1 ||
		m.Recover[0].Topic != "chat" || m.Recover[0].Epoch != 7 || m.Recover[0].Offset != 12 {
		t.Fatalf("merged SUBSCRIPTION: %v", &m)
	}
	if b := st.recoverFields([]string{"other"}); b != nil {
		t.Fatalf("recover for topics without a position: %x", b)
	}
}

// TestPickPreferred: a reconnection goes back to the preferred server (the
// one lost, whose streams the client's positions are of) when the
// coordinator offers it and it has not failed since; otherwise it picks as
// pickServer does.
func TestPickPreferred(t *testing.T) {
	cases := []struct {
		name    string
		offered []uint64
		prefer  uint64
		avoid   map[uint64]bool
		want    uint64
	}{
		{"offered, not first", []uint64{2, 3, 1}, 1, nil, 1},
		{"not offered (gone, draining or full)", []uint64{2, 3}, 1, nil, 2},
		{"failed since", []uint64{1, 2}, 1, map[uint64]bool{1: true}, 2},
		{"no preference", []uint64{1, 2}, 0, map[uint64]bool{1: true}, 2},
		{"all avoided", []uint64{1}, 1, map[uint64]bool{1: true}, 1},
	}
	for _, tc := range cases {
		if got, ok := pickPreferred(tc.offered, tc.prefer, tc.avoid); !ok || got != tc.want {
			t.Errorf("%s: picked %d (%v), want %d", tc.name, got, ok, tc.want)
		}
	}
	if _, ok := pickPreferred(nil, 1, nil); ok {
		t.Error("picked a server when none is offered")
	}
}

// TestStreamsPositioned: only a client that received a numbered message (or
// a RECOVERY with a position) holds a position.
func TestStreamsPositioned(t *testing.T) {
	var st streams
	if st.positioned() {
		t.Fatal("a new client is positioned")
	}
	st.answered(Recovery{Topic: "t"}) // no history there: epoch 0
	if st.positioned() {
		t.Fatal("positioned by a RECOVERY without a stream")
	}
	st.seen("t", 7, 1, 1)
	if !st.positioned() {
		t.Fatal("not positioned after a numbered message")
	}
}
