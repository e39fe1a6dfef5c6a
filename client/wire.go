package client

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Data-channel messages are encoded and decoded by hand with protowire: a
// publish appends into a reused buffer and a receive slices the read buffer,
// so neither allocates per message. wire_test.go checks every encoder and
// decoder against the generated protocol package, field by field.

var errMalformed = errors.New("malformed message")

// appendTopic encodes a TopicMessage (typ TOPIC) or a TopicIdentityMessage
// (typ TOPIC_IDENTITY) as a client sends it: no from_alias, identity or role,
// because the server stamps those and never trusts a client's.
func appendTopic(b []byte, typ protocol.MessageType, topic string, body []byte) []byte {
	b = appendType(b, typ)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, topic)
	bodyField := protowire.Number(4) // TopicMessage.body
	if typ == protocol.MessageType_TOPIC_IDENTITY {
		bodyField = 6 // TopicIdentityMessage.body
	}
	if len(body) > 0 {
		b = protowire.AppendTag(b, bodyField, protowire.BytesType)
		b = protowire.AppendBytes(b, body)
	}
	return b
}

func appendSubscription(b []byte, format protocol.Format, topics []byte) []byte {
	b = appendType(b, protocol.MessageType_SUBSCRIPTION)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(format))
	if len(topics) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, topics)
	}
	return b
}

func appendAuth(b []byte, role protocol.Role, body []byte) []byte {
	b = appendType(b, protocol.MessageType_AUTH)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(role))
	if len(body) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, body)
	}
	return b
}

func appendPing(b []byte, t float64) []byte {
	b = appendType(b, protocol.MessageType_PING)
	if t != 0 {
		b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(t))
	}
	return b
}

func appendType(b []byte, typ protocol.MessageType) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(typ))
}

// rawFields are the fields 1-6 of any broker message, before the type says
// what each number means. Bytes alias the decoded buffer.
type rawFields struct {
	varint [7]uint64
	bytes  [7][]byte
	fixed2 uint64 // PingMessage.time
}

// decode parses one data-channel message into m. Body, Identity and the topic
// bytes alias b; topic converts the topic bytes to a string (the read loops
// pass an interning function so that a steady stream of one topic does not
// allocate). Unknown fields are skipped, as protobuf requires; a message of an
// unknown type is returned with only Type set.
func decode(b []byte, m *Message, topic func([]byte) string) error {
	var f rawFields
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case wt == protowire.VarintType && num < 7:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(n))
			}
			f.varint[num] = v
			b = b[n:]
		case wt == protowire.BytesType && num < 7:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(n))
			}
			f.bytes[num] = v
			b = b[n:]
		case wt == protowire.Fixed64Type && num == 2:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(n))
			}
			f.fixed2 = v
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, wt, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	m.Type = protocol.MessageType(f.varint[1])
	switch m.Type {
	case protocol.MessageType_TOPIC:
		m.FromAlias, m.Topic, m.Body = f.varint[2], topic(f.bytes[3]), f.bytes[4]
	case protocol.MessageType_TOPIC_FW:
		m.FromAlias, m.Body, m.Topic = f.varint[2], f.bytes[3], topic(f.bytes[4])
	case protocol.MessageType_TOPIC_IDENTITY:
		m.FromAlias, m.Topic, m.Identity = f.varint[2], topic(f.bytes[3]), f.bytes[4]
		m.Role, m.Body = protocol.Role(f.varint[5]), f.bytes[6]
	case protocol.MessageType_TOPIC_IDENTITY_FW:
		m.FromAlias, m.Identity, m.Role = f.varint[2], f.bytes[3], protocol.Role(f.varint[4])
		m.Body, m.Topic = f.bytes[5], topic(f.bytes[6])
	case protocol.MessageType_PING:
		m.pingTime = math.Float64frombits(f.fixed2)
	case protocol.MessageType_ERROR:
		m.ErrorCode, m.Topic = protocol.ErrorCode(f.varint[2]), topic(f.bytes[3])
		m.Reason = string(f.bytes[4])
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
