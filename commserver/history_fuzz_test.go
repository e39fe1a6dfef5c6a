package commserver

import (
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// FuzzHandleHistory is FuzzHandle with "t" a history topic (a ring of 8):
// arbitrary bytes from a client or a server link never panic and close
// nobody; the sender gets back only ERRORs, its PING, PRESENCE, RECOVERY
// and a replay of the stream's own messages on the reliable channel; what
// reaches the others is a forward on "t" as FuzzHandle checks it, and the
// reliable forwards to a client carry the stream's next positions, in order
// (a server's BATCH holds several).
func FuzzHandleHistory(f *testing.F) {
	for _, b := range dataChannelSeeds(f) {
		f.Add(false, true, b)
		f.Add(true, true, b)
	}
	fx := newHandleFixture(f)
	s := fx.s
	s.hist = newHistories([]history.Rule{{Pattern: "t", Messages: 8, Linger: 1}}, 0)
	s.hist.ensure([]string{"t"})
	st := s.hist.lookup([]byte("t"))
	f.Fuzz(func(t *testing.T, fromServer, onReliable bool, msg []byte) {
		sender := fx.client
		if fromServer {
			sender = fx.server
		}
		kind := unreliable
		if onReliable {
			kind = reliable
		}
		s.subs.SetClient(fx.client, []string{"t"})
		s.subs.SetServer(fx.server, []string{"t"})
		s.pres = newPresences()
		sender.bad.Store(0)
		st.mu.Lock()
		epoch, next := st.ring.Epoch(), st.ring.Next()
		st.mu.Unlock()

		sender.handle(sender.chans[kind], msg)

		for _, p := range append(fx.clients, fx.servers...) {
			want := next
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				t.Fatalf("peer %d closed by one message", p.alias)
			}
			for k, ch := range p.chans {
				for _, out := range ch.q.Take(nil) {
					if p != sender {
						checkForward(t, sender, p, chanKind(k), kind, out)
						typ, _ := relay.ReadType(out)
						if e, o, ok := relay.ParseStream(typ, out); chanKind(k) == reliable && !p.creds().isServer() &&
							(!ok || e != epoch || o != want) {
							t.Fatalf("client %d got stream position %d/%d (present %v), want %d/%d", p.alias, e, o, ok, epoch, want)
						}
						want++
						continue
					}
					typ, err := relay.ReadType(out)
					switch {
					case err != nil:
						t.Fatalf("sender got undecodable %x: %v", out, err)
					case chanKind(k) != reliable:
						checkToSender(t, chanKind(k), kind, msg, out)
					case typ == protocol.MessageType_TOPIC_FW || typ == protocol.MessageType_TOPIC_IDENTITY_FW:
						if _, _, ok := relay.ParseStream(typ, out); !ok {
							t.Fatalf("sender got a %v that is not a replay: %x", typ, out)
						}
					default:
						checkToSender(t, chanKind(k), kind, msg, out)
					}
				}
			}
		}
	})
}
