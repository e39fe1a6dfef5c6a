package relay

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// The Append functions encode relayed messages directly with protowire,
// byte-identical to proto.Marshal of the generated messages (fields in
// number order, proto3 zero values omitted), so that the hot path allocates
// only the output buffer: each grows dst at most once, by exactly the
// message's size, and allocates nothing when dst has room. Pass dst[:0] of
// a buffer you own, or nil for a buffer of exactly the right size to share
// between queues. The topic must be valid UTF-8, as it is when it comes from
// ParseTopic: receivers decode it as a proto3 string and reject it otherwise.

// Field numbers, per protocol/broker.proto.
const (
	fieldType = 1
	fieldFrom = 2

	// TopicMessage
	topicTopic    = 3
	topicBody     = 4
	topicPosition = 5 // extension

	// TopicFWMessage
	topicFWBody     = 3
	topicFWTopic    = 4 // extension
	topicFWPosition = 5 // extension
	topicFWStream   = 6 // extension

	// TopicIdentityMessage
	identityTopic    = 3
	identityIdentity = 4
	identityRole     = 5
	identityBody     = 6
	identityPosition = 7 // extension

	// TopicIdentityFWMessage
	identityFWIdentity = 3
	identityFWRole     = 4
	identityFWBody     = 5
	identityFWTopic    = 6 // extension
	identityFWPosition = 7 // extension
	identityFWStream   = 8 // extension
)

// AppendTopicFW appends a TopicFWMessage (what a local client subscriber
// receives) to dst.
func AppendTopicFW(dst []byte, from uint64, topic string, body []byte) []byte {
	dst = grow(dst, SizeTopicFW(from, topic, body))
	dst = appendType(dst, protocol.MessageType_TOPIC_FW)
	dst = appendVarint(dst, fieldFrom, from)
	dst = appendBytes(dst, topicFWBody, body)
	return appendString(dst, topicFWTopic, topic)
}

// AppendTopic appends a TopicMessage (what a subscribed server receives) to
// dst.
func AppendTopic(dst []byte, from uint64, topic string, body []byte) []byte {
	dst = grow(dst, SizeTopic(from, topic, body))
	dst = appendType(dst, protocol.MessageType_TOPIC)
	dst = appendVarint(dst, fieldFrom, from)
	dst = appendString(dst, topicTopic, topic)
	return appendBytes(dst, topicBody, body)
}

// AppendTopicIdentityFW appends a TopicIdentityFWMessage to dst.
func AppendTopicIdentityFW(dst []byte, from uint64, topic string, identity []byte, role protocol.Role, body []byte) []byte {
	dst = grow(dst, SizeTopicIdentityFW(from, topic, identity, role, body))
	dst = appendType(dst, protocol.MessageType_TOPIC_IDENTITY_FW)
	dst = appendVarint(dst, fieldFrom, from)
	dst = appendBytes(dst, identityFWIdentity, identity)
	dst = appendVarint(dst, identityFWRole, enumVarint(role))
	dst = appendBytes(dst, identityFWBody, body)
	return appendString(dst, identityFWTopic, topic)
}

// AppendTopicIdentity appends a TopicIdentityMessage to dst.
func AppendTopicIdentity(dst []byte, from uint64, topic string, identity []byte, role protocol.Role, body []byte) []byte {
	dst = grow(dst, SizeTopicIdentity(from, topic, identity, role, body))
	dst = appendType(dst, protocol.MessageType_TOPIC_IDENTITY)
	dst = appendVarint(dst, fieldFrom, from)
	dst = appendString(dst, identityTopic, topic)
	dst = appendBytes(dst, identityIdentity, identity)
	dst = appendVarint(dst, identityRole, enumVarint(role))
	return appendBytes(dst, identityBody, body)
}

// SizeTopicFW is the encoded size of AppendTopicFW's message.
func SizeTopicFW(from uint64, topic string, body []byte) int {
	return sizeType(protocol.MessageType_TOPIC_FW) + sizeVarint(fieldFrom, from) +
		sizeBytes(topicFWBody, len(body)) + sizeBytes(topicFWTopic, len(topic))
}

// SizeTopic is the encoded size of AppendTopic's message.
func SizeTopic(from uint64, topic string, body []byte) int {
	return sizeType(protocol.MessageType_TOPIC) + sizeVarint(fieldFrom, from) +
		sizeBytes(topicTopic, len(topic)) + sizeBytes(topicBody, len(body))
}

// SizeTopicIdentityFW is the encoded size of AppendTopicIdentityFW's message.
func SizeTopicIdentityFW(from uint64, topic string, identity []byte, role protocol.Role, body []byte) int {
	return sizeType(protocol.MessageType_TOPIC_IDENTITY_FW) + sizeVarint(fieldFrom, from) +
		sizeBytes(identityFWIdentity, len(identity)) + sizeVarint(identityFWRole, enumVarint(role)) +
		sizeBytes(identityFWBody, len(body)) + sizeBytes(identityFWTopic, len(topic))
}

// SizeTopicIdentity is the encoded size of AppendTopicIdentity's message.
func SizeTopicIdentity(from uint64, topic string, identity []byte, role protocol.Role, body []byte) int {
	return sizeType(protocol.MessageType_TOPIC_IDENTITY) + sizeVarint(fieldFrom, from) +
		sizeBytes(identityTopic, len(topic)) + sizeBytes(identityIdentity, len(identity)) +
		sizeVarint(identityRole, enumVarint(role)) + sizeBytes(identityBody, len(body))
}

// grow returns dst with room for n more bytes, allocating at most once. It
// is slices.Grow without the append-of-make idiom, which the compiler does
// not optimise under -race and would then allocate twice.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	next := make([]byte, len(dst), len(dst)+n)
	copy(next, dst)
	return next
}

// enumVarint is how protobuf encodes an enum: its int32 value sign-extended
// to 64 bits, so a negative value takes ten bytes as proto.Marshal does.
func enumVarint[E ~int32](e E) uint64 {
	return uint64(int64(e))
}

func appendType(dst []byte, t protocol.MessageType) []byte {
	return appendVarint(dst, fieldType, enumVarint(t))
}

func sizeType(t protocol.MessageType) int {
	return sizeVarint(fieldType, enumVarint(t))
}

// appendVarint appends a varint field, omitted when zero as proto3 does.
func appendVarint(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

// appendBytes appends a bytes field, omitted when empty as proto3 does.
func appendBytes(dst []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

// appendString appends a string field, omitted when empty as proto3 does.
func appendString(dst []byte, num protowire.Number, s string) []byte {
	if len(s) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func sizeBytes(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}
