package client

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// History and recovery: a server numbers the reliable messages of its
// history topics (StreamPosition: epoch, offset). The client remembers the
// last position it received per topic and, when it reconnects, asks the new
// link for what it missed (SubscriptionMessage.recover) on the SUBSCRIPTION
// that restores its topics. The server answers each topic with a RECOVERY,
// then the missed messages, then live ones; Config.OnRecovery hears the
// answers, Recovered false meaning a gap.

// Recovery is a server's answer for one topic after a reconnection.
type Recovery struct {
	Topic string
	// Recovered: every reliable message missed on the topic follows
	// (Replayed of them). False: the history no longer covers the gap (or
	// the client reconnected to another server, whose stream is another
	// epoch); what follows, if anything, starts later.
	Recovered bool
	Replayed  int
	// Epoch and Offset: where the server's stream stands now.
	Epoch, Offset uint64
}

// pos is a stream position.
type pos struct{ epoch, offset uint64 }

// streams is what the client knows of history topics: the last position
// received per topic, and its own past aliases, whose messages a replay may
// hold (the server never echoes a message to its sender, but a replay after
// a reconnection comes to a new alias).
type streams struct {
	mu      sync.Mutex
	last    map[string]pos
	aliases []uint64
}

// seen records a received message's position, and reports whether it is to
// be delivered: not one already received (same epoch, not later) and not one
// this client sent under an earlier alias.
func (st *streams) seen(topic string, from, epoch, offset uint64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if slices.Contains(st.aliases, from) {
		if p, ok := st.last[topic]; ok && p.epoch == epoch && offset > p.offset {
			st.last[topic] = pos{epoch: epoch, offset: offset}
		}
		return false
	}
	if p, ok := st.last[topic]; ok && p.epoch == epoch && offset <= p.offset {
		return false
	}
	if st.last == nil {
		st.last = map[string]pos{}
	}
	st.last[topic] = pos{epoch: epoch, offset: offset}
	return true
}

// positioned reports whether the client holds a stream position on any
// topic: a reconnection then goes back to the same server if it can.
func (st *streams) positioned() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.last) > 0
}

// linked records a link's alias as one of the client's own.
func (st *streams) linked(alias uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Contains(st.aliases, alias) {
		st.aliases = append(st.aliases, alias)
	}
}

// answered takes a RECOVERY into account: a stream in another epoch
// starts from where the server stands (its replay, if any, is not for us).
// Epoch 0: the topic has no history there; nothing to remember.
func (st *streams) answered(r Recovery) {
	if r.Epoch == 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if p, ok := st.last[r.Topic]; !ok || p.epoch != r.Epoch {
		if st.last == nil {
			st.last = map[string]pos{}
		}
		st.last[r.Topic] = pos{epoch: r.Epoch, offset: r.Offset}
	}
}

// recoverFields encodes the recover field of a SUBSCRIPTION for the topics
// of set the client has a position on; appended to an encoded SUBSCRIPTION
// it adds the field (protobuf concatenation merges).
func (st *streams) recoverFields(set []string) []byte {
	st.mu.Lock()
	var req []*protocol.TopicPosition
	for _, t := range set {
		if p, ok := st.last[t]; ok {
			req = append(req, &protocol.TopicPosition{Topic: t, Epoch: p.epoch, Offset: p.offset})
		}
	}
	st.mu.Unlock()
	if len(req) == 0 {
		return nil
	}
	b, err := proto.Marshal(&protocol.SubscriptionMessage{Recover: req})
	if err != nil {
		return nil
	}
	return b
}

// StreamPosition returns the last stream position the client received on
// a history topic (ok false when none).
func (c *Client) StreamPosition(topic string) (epoch, offset uint64, ok bool) {
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	p, ok := c.streams.last[topic]
	return p.epoch, p.offset, ok
}

// fresh reports whether a received topic message is to be delivered, given
// its stream position if it has one.
func (c *Client) fresh(f *frame) bool {
	epoch, offset, ok := relay.ParseStream(f.Type, f.raw)
	if !ok {
		return true
	}
	return c.streams.seen(f.Topic, f.FromAlias, epoch, offset)
}

// deliverRecovery decodes a RECOVERY and tells the application.
func (c *Client) deliverRecovery(l *link, b []byte) {
	var m protocol.RecoveryMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		c.log.Warn("dropping undecodable RECOVERY", "server", l.server, "err", err)
		return
	}
	r := Recovery{Topic: m.Topic, Recovered: m.Recovered, Replayed: int(m.Replayed),
		Epoch: m.GetPosition().GetEpoch(), Offset: m.GetPosition().GetOffset()}
	c.streams.answered(r)
	if !r.Recovered {
		c.log.Info("history did not cover the reconnection: messages were missed", "topic", r.Topic, "server", l.server)
	}
	if c.cfg.OnRecovery != nil {
		c.cfg.OnRecovery(r)
	}
}
