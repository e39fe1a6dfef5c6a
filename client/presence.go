package client

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Member is a client in a topic's presence, as the server's authentication
// knows it (never what the client claims).
type Member struct {
	Alias    uint64
	Identity []byte
	Role     protocol.Role
}

// Presence is a topic's presence: a snapshot (Snapshot true: Members is
// everyone, replacing what was known) or a change (Joined, Left). Above the
// server's presence.max_members only Count is set (CountsOnly). After a
// reconnection the new server sends a snapshot again.
type Presence struct {
	Topic        string
	Snapshot     bool
	Members      []Member
	Joined, Left []Member
	Count        int
	CountsOnly   bool
}

// FollowPresence replaces the set of topics whose presence the client
// follows (none stops following) and returns once the server has it: the
// snapshots of newly followed topics have then reached Config.OnPresence.
// The set is sent again after every reconnection.
func (c *Client) FollowPresence(ctx context.Context, topics ...string) error {
	for _, t := range topics {
		if !validTopic(t) {
			return fmt.Errorf("follow presence %q: %w", t, ErrInvalidTopic)
		}
	}
	msg, err := proto.Marshal(&protocol.PresenceRequestMessage{Type: protocol.MessageType_PRESENCE_REQUEST, Topics: topics})
	if err != nil {
		return fmt.Errorf("follow presence: %w", err)
	}
	c.subMu.Lock()
	c.presence = msg
	c.mu.Lock()
	l := c.link
	c.mu.Unlock()
	if l != nil {
		err = l.write(l.reliable, func(b []byte) []byte { return append(b, msg...) })
	}
	c.subMu.Unlock()
	if err != nil && !errors.Is(err, errLinkLost) {
		return fmt.Errorf("follow presence: %w", err)
	}
	if _, err := c.Ping(ctx, Reliable); err != nil {
		return fmt.Errorf("follow presence: waiting for the server: %w", err)
	}
	return nil
}

// deliverPresence decodes a PRESENCE and tells the application.
func (c *Client) deliverPresence(l *link, b []byte) {
	var m protocol.PresenceMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		c.log.Warn("dropping undecodable PRESENCE", "server", l.server, "err", err)
		return
	}
	if c.cfg.OnPresence == nil {
		return
	}
	c.cfg.OnPresence(Presence{Topic: m.Topic, Snapshot: m.Snapshot, Members: members(m.Members),
		Joined: members(m.Joined), Left: members(m.Left), Count: int(m.Count), CountsOnly: m.CountsOnly})
}

func members(ms []*protocol.Member) []Member {
	if len(ms) == 0 {
		return nil
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{Alias: m.Alias, Identity: m.Identity, Role: m.Role}
	}
	return out
}
