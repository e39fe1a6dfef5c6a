package relay

import (
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// The control messages on a client's data channels: what a client sends
// besides topics (SUBSCRIPTION, AUTH, PING) and what it reads besides them
// (PING echoed, ERROR). Same rules as the topic encoders: byte-identical to
// proto.Marshal, no allocation when dst has room, views into the buffer on
// parse.

// Field numbers, per protocol/broker.proto.
const (
	// SubscriptionMessage
	subscriptionFormat = 2
	subscriptionTopics = 3

	// AuthMessage
	authRole = 2
	authBody = 3

	// PingMessage
	pingTime = 2

	// ErrorMessage
	errorCode   = 2
	errorTopic  = 3
	errorReason = 4
)

// AppendSubscription appends a SubscriptionMessage to dst.
func AppendSubscription(dst []byte, format protocol.Format, topics []byte) []byte {
	dst = appendType(dst, protocol.MessageType_SUBSCRIPTION)
	dst = appendVarint(dst, subscriptionFormat, enumVarint(format))
	return appendBytes(dst, subscriptionTopics, topics)
}

// AppendAuth appends an AuthMessage to dst.
func AppendAuth(dst []byte, role protocol.Role, body []byte) []byte {
	dst = appendType(dst, protocol.MessageType_AUTH)
	dst = appendVarint(dst, authRole, enumVarint(role))
	return appendBytes(dst, authBody, body)
}

// AppendPing appends a PingMessage to dst.
func AppendPing(dst []byte, t float64) []byte {
	dst = appendType(dst, protocol.MessageType_PING)
	// proto3 omits a double whose bits are zero (+0 only, not -0).
	if bits := math.Float64bits(t); bits != 0 {
		dst = protowire.AppendTag(dst, pingTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, bits)
	}
	return dst
}

// ParsePing returns the time of a PingMessage.
func ParsePing(b []byte) (float64, error) {
	var bits uint64
	err := parseFields(b, protocol.MessageType_PING, func(num protowire.Number, wt protowire.Type, value []byte) error {
		if num == pingTime && wt == protowire.Fixed64Type {
			bits, _ = protowire.ConsumeFixed64(value)
		}
		return nil
	})
	return math.Float64frombits(bits), err
}

// Error is a decoded ErrorMessage. Topic and Reason are views into the
// parsed buffer, as Message's fields are.
type Error struct {
	Code   protocol.ErrorCode
	Topic  []byte
	Reason []byte
}

// ParseError decodes an ErrorMessage. Topic and Reason must be valid UTF-8
// (they are proto3 strings).
func ParseError(b []byte) (Error, error) {
	var e Error
	err := parseFields(b, protocol.MessageType_ERROR, func(num protowire.Number, wt protowire.Type, value []byte) error {
		switch {
		case num == errorCode && wt == protowire.VarintType:
			v, _ := protowire.ConsumeVarint(value)
			e.Code = protocol.ErrorCode(int32(v)) // as protobuf truncates an enum
		case (num == errorTopic || num == errorReason) && wt == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(value)
			if !utf8.Valid(v) {
				return fmt.Errorf("%w: ERROR: field %d is not valid UTF-8", ErrMalformed, num)
			}
			if num == errorTopic {
				e.Topic = v
			} else {
				e.Reason = v
			}
		}
		return nil
	})
	return e, err
}

// parseFields checks that b is a well-formed message of type want and calls
// field for each field after the type, in order, with its raw value; the
// last occurrence of a field wins, as in proto.Unmarshal, when field keeps
// overwriting.
func parseFields(b []byte, want protocol.MessageType, field func(protowire.Number, protowire.Type, []byte) error) error {
	t, err := ReadType(b)
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("%w: %v, want %v", ErrWrongType, t, want)
	}
	// ReadType has checked the framing, so only values are checked here.
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, wt, b)
		if err := field(num, wt, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
