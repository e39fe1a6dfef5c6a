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
