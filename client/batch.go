package client

import (
	"errors"
	"fmt"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Batching (protocol.BatchMessage): the client lists FEATURE_BATCH in its
// AUTH unless Config.DisableBatching, and the server then may send several
// messages in one BATCH. The read loop unpacks it in place: each inner
// message is a view into the read buffer, decoded and delivered exactly as
// a message that came alone, so a batch costs no allocation per message
// beyond what that message costs unbatched.

// appendAuth appends the client's AUTH: the 2019 AUTH byte for byte when
// batching is disabled (the client acts as a 2019 client), otherwise with
// FEATURE_BATCH listed, and FEATURE_DRAIN (a draining server tells it to
// move: drain.go) unless reconnection is disabled, since a client that does
// not reconnect does not move either.
func appendAuth(b []byte, cfg Config) []byte {
	b = relay.AppendAuth(b, protocol.Role_CLIENT, cfg.AuthBody)
	switch {
	case cfg.DisableBatching:
		return b
	case cfg.Reconnect.Disabled:
		return relay.AppendFeatures(b, protocol.Feature_FEATURE_BATCH)
	}
	return relay.AppendFeatures(b, protocol.Feature_FEATURE_BATCH, protocol.Feature_FEATURE_DRAIN)
}

// deliverBatch delivers the messages of a BATCH, in order. A batch that does
// not parse, holds a batch, or holds a message that does not decode breaks
// the protocol: it is logged and dropped from that point on, as an
// undecodable message alone is; the link stays up.
func (c *Client) deliverBatch(l *link, ch *dataChannel, b []byte, topics topicCache) {
	err := unbatch(b, topics.intern, func(f frame) { c.deliverFrame(l, ch, &f) })
	if err != nil {
		c.log.Warn("dropping (the rest of) a malformed BATCH from server", "server", l.server, "channel", ch.label, "err", err)
	}
}

// errNestedBatch: a BATCH inside a BATCH.
var errNestedBatch = errors.New("a BATCH inside a BATCH")

// unbatch decodes the messages of the BATCH b in order and hands each to
// deliver; it stops at the first that does not decode, or is a BATCH, and
// returns why. Frames alias b, and topic converts topic bytes as decode's
// does. A frame is passed by value: a pointer would make each escape to the
// heap through the function value.
func unbatch(b []byte, topic func([]byte) string, deliver func(frame)) error {
	it, err := relay.ParseBatch(b)
	if err != nil {
		return fmt.Errorf("BATCH: %w", err)
	}
	for i := 0; ; i++ {
		inner, ok := it.Next()
		if !ok {
			return nil
		}
		var f frame
		if err := decode(inner, &f, topic); err != nil {
			return fmt.Errorf("BATCH message %d: %w", i, err)
		}
		if f.Type == protocol.MessageType_BATCH {
			return fmt.Errorf("BATCH message %d: %w", i, errNestedBatch)
		}
		deliver(f)
	}
}
