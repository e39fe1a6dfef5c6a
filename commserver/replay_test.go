package commserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// replayFixture: client 100 publishes on chat.a, a history topic; client
// 101 is not subscribed until it recovers.
func replayFixture(t *testing.T, messages int) (*relayFixture, *stream) {
	t.Helper()
	f := newRelayFixture(t, RoleServer, 2, 0)
	f.s.hist = newHistories([]history.Rule{{Pattern: "chat.*", Messages: messages, Linger: time.Hour}}, 0)
	f.s.hist.ensure([]string{"chat.a"})
	f.s.subs.SetClient(f.clients[1], nil)
	return f, f.s.hist.lookup([]byte("chat.a"))
}

func (f *relayFixture) publishChat(body string) {
	sender := f.clients[0]
	sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, "chat.a", []byte(body)))
}

// TestReplayPacedThroughQueue: a replay is queued a few messages at a time
// as the queue drains (here: half of outbound.reliable_bytes, two
// messages), live messages published during it come after it, and the
// client gets every message once, in order, and never its own.
func TestReplayPacedThroughQueue(t *testing.T) {
	f, st := replayFixture(t, 100)
	for i := 1; i <= 20; i++ {
		f.publishChat(fmt.Sprintf("m-%02d", i))
	}
	size := len(relay.AppendStream(relay.AppendTopicFW(nil, 100, "chat.a", []byte("m-01")), protocol.MessageType_TOPIC_FW, 1, 1))
	f.s.cfg.Outbound.ReliableBytes = 4 * size
	p := f.clients[1]
	st.mu.Lock()
	epoch := st.ring.Epoch()
	st.mu.Unlock()
	p.setClientRecovering([]string{"chat.a"}, []*protocol.TopicPosition{{Topic: "chat.a", Epoch: epoch, Offset: 0}})

	var got []string
	var batch [][]byte
	recovery := false
	testwait.For(t, 10*time.Second, "30 messages in", func() bool {
		if _, bytes := p.chans[reliable].q.Len(); bytes > 2*size+64 {
			t.Fatalf("%d bytes queued at once, the pace allows %d", bytes, 2*size)
		}
		batch = p.chans[reliable].q.Take(batch[:0])
		for _, b := range batch {
			typ, err := relay.ReadType(b)
			if err != nil {
				t.Fatal(err)
			}
			if typ == protocol.MessageType_RECOVERY {
				recovery = true
				continue
			}
			m, err := relay.ParseTopicAs(typ, b)
			if err != nil || !recovery {
				t.Fatalf("topic message %q before the RECOVERY (%v)", b, err)
			}
			got = append(got, string(m.Body))
			if len(got) == 5 {
				// Live messages while the replay is under way.
				for i := 21; i <= 30; i++ {
					f.publishChat(fmt.Sprintf("m-%02d", i))
				}
				// and one of its own, which is never echoed to it.
				p.handle(p.chans[reliable], relay.AppendTopic(nil, 0, "chat.a", []byte("own")))
			}
		}
		return len(got) >= 30
	})
	for i, body := range got {
		if want := fmt.Sprintf("m-%02d", i+1); body != want || len(got) != 30 {
			t.Fatalf("received %q, want m-01 to m-30 in order", got)
		}
	}
	testwait.For(t, 10*time.Second, "the replay to end", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.replaying) == 0
	})
	f.publishChat("live")
	batch = p.chans[reliable].q.Take(batch[:0])
	if len(batch) != 1 {
		t.Fatalf("after the replay: %d messages queued for a live one", len(batch))
	}
}

// TestReplayOvertakenClosesClient: when the history drops a message the
// replay has not sent yet (a client that drains slower than the topic
// moves), the client is closed as a slow consumer, not left with a gap it
// was told it did not have.
func TestReplayOvertakenClosesClient(t *testing.T) {
	f, st := replayFixture(t, 5)
	for i := 1; i <= 5; i++ {
		f.publishChat(fmt.Sprintf("m-%d", i))
	}
	f.s.cfg.Outbound.ReliableBytes = 2 // one message a round
	p := f.clients[1]
	st.mu.Lock()
	epoch := st.ring.Epoch()
	st.mu.Unlock()
	p.setClientRecovering([]string{"chat.a"}, []*protocol.TopicPosition{{Topic: "chat.a", Epoch: epoch, Offset: 0}})
	// Nothing drains the client's queue: the replay stalls while ten more
	// messages push the ones it still has to send out of the ring.
	for i := 6; i <= 15; i++ {
		f.publishChat(fmt.Sprintf("m-%d", i))
	}
	testwait.For(t, 10*time.Second, "the client to be closed", func() bool { return p.ctx.Err() != nil })
	if n := f.s.m.slowConsumers.Load(); n != 1 {
		t.Fatalf("%d slow consumers counted, want 1", n)
	}
	testwait.For(t, 10*time.Second, "the stream to forget the replay", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.replaying) == 0
	})
}

// TestReplayEndsWhenTheClientLeavesTheTopic: a client that unsubscribes
// during its replay is sent no more of it.
func TestReplayEndsWhenTheClientLeavesTheTopic(t *testing.T) {
	f, st := replayFixture(t, 100)
	for i := 1; i <= 20; i++ {
		f.publishChat(fmt.Sprintf("m-%02d", i))
	}
	f.s.cfg.Outbound.ReliableBytes = 2 // one message a round
	p := f.clients[1]
	st.mu.Lock()
	epoch := st.ring.Epoch()
	st.mu.Unlock()
	p.setClientRecovering([]string{"chat.a"}, []*protocol.TopicPosition{{Topic: "chat.a", Epoch: epoch, Offset: 0}})
	p.setClientRecovering(nil, nil)
	testwait.For(t, 10*time.Second, "the replay to end", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.replaying) == 0
	})
	// Nothing drained the queue: at most the RECOVERY and a message of the
	// first round went out.
	if n, _ := p.chans[reliable].q.Len(); n > 2 {
		t.Fatalf("%d messages queued to a client that left the topic", n)
	}
}
