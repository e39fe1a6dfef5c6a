package client

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Data-channel messages are encoded and parsed by core/relay, the broker's
// one wire codec: a publish appends into a reused buffer and a receive
// slices the read buffer, so neither allocates per message. This file only
// turns what relay parses into a Message.

// decode parses one data-channel message into m. Body, Identity and the topic
// bytes alias b; topic converts the topic bytes to a string (the read loops
// pass an interning function so that a steady stream of one topic does not
// allocate). Unknown fields are skipped, as protobuf requires; a message of an
// unknown type is returned with only Type set.
func decode(b []byte, m *frame, topic func([]byte) string) error {
	m.raw = b
	tm, err := relay.ParseTopic(b)
	switch {
	case err == nil:
		m.Type, m.FromAlias, m.Topic, m.Body = tm.Type, tm.From, topic(tm.Topic), tm.Body
		m.Identity, m.Role = tm.Identity, tm.Role
		m.Position, m.HasPosition = tm.Position, tm.HasPosition
		return nil
	case !errors.Is(err, relay.ErrNotTopic):
		return err
	}
	// Not a topic message, and well formed (ParseTopic checked the framing).
	m.Type, _ = relay.ReadType(b)
	switch m.Type {
	case protocol.MessageType_PING:
		if m.pingTime, err = relay.ParsePing(b); err != nil {
			return fmt.Errorf("PING: %w", err)
		}
	case protocol.MessageType_ERROR:
		e, err := relay.ParseError(b)
		if err != nil {
			return fmt.Errorf("ERROR: %w", err)
		}
		m.ErrorCode, m.Topic, m.Reason = e.Code, topic(e.Topic), string(e.Reason)
	case protocol.MessageType_DRAIN:
		// Once per server shutdown: proto.Unmarshal's cost does not matter.
		var d protocol.DrainMessage
		if err := proto.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("DRAIN: %w", err)
		}
		m.graceMs = d.GetGraceMs()
	}
	return nil
}

// topicCache interns topic strings for one read loop, which owns it (no
// lock). It is bounded so that a peer sending many distinct topics costs at
// most maxCachedTopics strings.
type topicCache map[string]string

const maxCachedTopics = 256

func (tc topicCache) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := tc[string(b)]; ok { // no allocation: the compiler special-cases map[string(b)]
		return s
	}
	s := string(b)
	if len(tc) < maxCachedTopics {
		tc[s] = s
	}
	return s
}

func allocTopic(b []byte) string { return string(b) }
