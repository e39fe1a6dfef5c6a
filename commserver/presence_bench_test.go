package commserver

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// BenchmarkPresenceJoin10k is what one client's join and leave of a topic
// of 10,000 members costs the server when someone follows the topic's
// presence: the SUBSCRIPTION handling and the presence event to the
// follower, and with report, the report to a server link that wants the
// topic's presence. counts: the default presence.max_members (events and
// reports are counts); members: a limit above the size (events list who
// joined and left; a report is a snapshot of the server's members, by
// design, so that a lost report heals at the next: O(min(n, max_members))).
// Both include the subscription table's copy of the topic's subscriber
// list on each change (core/subscriptions keeps immutable snapshots for
// the relay's lock-free lookups), O(n) in pointer copies.
func BenchmarkPresenceJoin10k(b *testing.B) {
	enc := func(m proto.Message) []byte {
		out, err := proto.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	join := enc(&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN, Topics: []byte("t")})
	leave := enc(&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN})
	follow := enc(&protocol.PresenceRequestMessage{Type: protocol.MessageType_PRESENCE_REQUEST, Topics: []string{"t"}})
	for _, limit := range []struct {
		name   string
		max    int
		report bool
	}{{"counts", 100, false}, {"members", 20000, false}, {"counts+report", 100, true}, {"members+report", 20000, true}} {
		b.Run(limit.name, func(b *testing.B) {
			f := newRelayFixture(b, RoleServer, 10002, 1) // all on "t"; the server link too
			f.s.cfg.Presence.MaxMembers = limit.max
			follower, joiner := f.clients[0], f.clients[1]
			joiner.subscribe(reliable, leave)
			follower.requestPresence(reliable, follow)
			if limit.report {
				f.s.subs.SetServer(f.servers[0], []string{"$presence.t"})
			} else {
				f.s.subs.SetServer(f.servers[0], nil)
			}
			follower.chans[reliable].q.Take(nil)
			b.ReportAllocs()
			for b.Loop() {
				joiner.subscribe(reliable, join)
				joiner.subscribe(reliable, leave)
				follower.chans[reliable].q.Take(nil)
				f.servers[0].chans[reliable].q.Take(nil)
			}
		})
	}
}
