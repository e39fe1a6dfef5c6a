package relay

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Message is a decoded TOPIC, TOPIC_FW, TOPIC_IDENTITY or
// TOPIC_IDENTITY_FW. Topic, Identity and Body are views into the parsed
// buffer, not copies: they are valid as long as the buffer is unchanged, and
// a caller that keeps one (or reuses its read buffer) copies it first. Look
// the topic up with subscriptions.Table.Lookup, which also gives the table's
// own string for it, so that the relay never allocates one.
type Message struct {
	Type     protocol.MessageType
	From     uint64
	Topic    []byte
	Identity []byte        // TOPIC_IDENTITY(_FW) only
	Role     protocol.Role // TOPIC_IDENTITY(_FW) only
	Body     []byte
	// Position is the sender's position extension (world topics), valid
	// when HasPosition: a message may carry one at the origin.
	Position    Position
	HasPosition bool
}

// ParseTopic decodes a topic message of any of the four types without
// allocating (except for the error on bad input). It follows proto.Unmarshal
// of the generated message: fields may come in any order and the last
// occurrence wins, unknown fields and fields of an unexpected wire type are
// skipped, and the topic must be valid UTF-8 (it is a proto3 string). It
// returns an error wrapping ErrMalformed for bytes that proto.Unmarshal would
// reject, or ErrNotTopic for a well-formed message of another type.
func ParseTopic(b []byte) (Message, error) {
	t, err := ReadType(b)
	if err != nil {
		return Message{}, err
	}
	return ParseTopicAs(t, b)
}

// ParseTopicAs is ParseTopic for a message whose type ReadType has already
// returned as t: a read loop reads every message's type to dispatch it, and
// the relay then parses a topic message without reading its type again.
// With a t that ReadType did not return for b, the fields are read by the
// wrong type's numbers; framing errors are still reported, never a panic.
func ParseTopicAs(t protocol.MessageType, b []byte) (Message, error) {
	// Field numbers of the type's fields; 0 for a field the type lacks.
	// The relay reads the position (world topics) and not the stream, but
	// proto.Unmarshal rejects an embedded message whose own framing is
	// broken, so both are checked.
	var topicNum, identityNum, roleNum, bodyNum, posNum, streamNum protowire.Number
	switch t {
	case protocol.MessageType_TOPIC:
		topicNum, bodyNum, posNum = topicTopic, topicBody, topicPosition
	case protocol.MessageType_TOPIC_FW:
		topicNum, bodyNum, posNum, streamNum = topicFWTopic, topicFWBody, topicFWPosition, topicFWStream
	case protocol.MessageType_TOPIC_IDENTITY:
		topicNum, identityNum, roleNum, bodyNum = identityTopic, identityIdentity, identityRole, identityBody
		posNum = identityPosition
	case protocol.MessageType_TOPIC_IDENTITY_FW:
		topicNum, identityNum, roleNum, bodyNum = identityFWTopic, identityFWIdentity, identityFWRole, identityFWBody
		posNum, streamNum = identityFWPosition, identityFWStream
	default:
		return Message{}, fmt.Errorf("%w: type %v", ErrNotTopic, t)
	}

	m := Message{Type: t}
	// ReadType has checked the framing (the two n < 0 checks guard only
	// against a caller that skipped it); the field values are checked here.
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Message{}, fmt.Errorf("%w: tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, wt, b)
		if n < 0 {
			return Message{}, fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		value := b[:n]
		b = b[n:]
		switch {
		case wt == protowire.VarintType && (num == fieldFrom || num == roleNum):
			v, _ := protowire.ConsumeVarint(value)
			if num == fieldFrom {
				m.From = v
			} else {
				m.Role = protocol.Role(int32(v)) // as protobuf truncates an enum
			}
		case wt == protowire.BytesType && (num == topicNum || num == identityNum || num == bodyNum):
			v, _ := protowire.ConsumeBytes(value)
			switch num {
			case topicNum:
				if !utf8.Valid(v) {
					return Message{}, fmt.Errorf("%w: %v: topic (field %d) is not valid UTF-8", ErrMalformed, t, num)
				}
				m.Topic = v
			case identityNum:
				m.Identity = v
			default:
				m.Body = v
			}
		case wt == protowire.BytesType && (num == posNum || num == streamNum):
			v, _ := protowire.ConsumeBytes(value)
			if err := checkFraming(v); err != nil {
				return Message{}, fmt.Errorf("%w: %v: embedded message (field %d): %w", ErrMalformed, t, num, err)
			}
			if num == posNum {
				mergePosition(&m.Position, v)
				m.HasPosition = true
			}
		}
	}
	return m, nil
}

// checkFraming reports whether b is a well-framed sequence of fields, as
// proto.Unmarshal requires of an embedded message even when it skips the
// fields (neither Position nor StreamPosition embeds another message).
func checkFraming(b []byte) error {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, wt, b)
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// ReadType returns the type (field 1) of any broker message without decoding
// the rest or allocating, and checks the framing of the whole message so
// that a truncated or garbled one is caught before dispatch. A message
// without a type field has type UNKNOWN_MESSAGE_TYPE.
func ReadType(b []byte) (protocol.MessageType, error) {
	var t protocol.MessageType
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("%w: tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return 0, fmt.Errorf("%w: tag: field number %d out of range", ErrMalformed, num)
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, wt, b)
		if n < 0 {
			return 0, fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		if num == fieldType && wt == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(b[:n])
			t = protocol.MessageType(int32(v)) // as protobuf truncates an enum
		}
		b = b[n:]
	}
	return t, nil
}
