package relay

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Position is a topic message's position extension (protocol.Position), the
// sender's place in a world topic's space: decoded by value, so reading it
// allocates nothing.
type Position struct {
	X, Y, Z float32
}

// Position field numbers, per protocol/broker.proto.
const (
	positionX = 1
	positionY = 2
	positionZ = 3
)

// mergePosition decodes one occurrence of an embedded Position into p, as
// proto.Unmarshal merges it: a field present in b replaces p's, an absent one
// keeps p's, the last occurrence wins, and a field of another wire type is
// skipped as unknown. The framing has been checked (checkFraming).
func mergePosition(p *Position, b []byte) {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, wt, b)
		value := b[:n]
		b = b[n:]
		if wt != protowire.Fixed32Type {
			continue
		}
		v, _ := protowire.ConsumeFixed32(value)
		f := math.Float32frombits(v)
		switch num {
		case positionX:
			p.X = f
		case positionY:
			p.Y = f
		case positionZ:
			p.Z = f
		}
	}
}

// appendPosition appends pos as the embedded message field num. proto3
// omits a zero float inside it (but not -0, whose sign bit is set), and the
// field itself is always written: its presence says the sender has a
// position, even at the origin.
func appendPosition(dst []byte, num protowire.Number, pos Position) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(sizePositionBody(pos)))
	dst = appendFloat(dst, positionX, pos.X)
	dst = appendFloat(dst, positionY, pos.Y)
	return appendFloat(dst, positionZ, pos.Z)
}

func sizePosition(num protowire.Number, pos Position) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(sizePositionBody(pos))
}

func sizePositionBody(pos Position) int {
	return sizeFloat(positionX, pos.X) + sizeFloat(positionY, pos.Y) + sizeFloat(positionZ, pos.Z)
}

func appendFloat(dst []byte, num protowire.Number, f float32) []byte {
	bits := math.Float32bits(f)
	if bits == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(dst, bits)
}

func sizeFloat(num protowire.Number, f float32) int {
	if math.Float32bits(f) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeFixed32()
}

// The *At encoders are the plain ones with the sender's position appended
// (its field number is the highest of each message's fields that the relay
// writes, so the bytes stay in number order, as proto.Marshal writes them).

// AppendTopicFWAt is AppendTopicFW with the sender's position.
func AppendTopicFWAt(dst []byte, from uint64, topic string, body []byte, pos Position) []byte {
	dst = grow(dst, SizeTopicFWAt(from, topic, body, pos))
	return appendPosition(AppendTopicFW(dst, from, topic, body), topicFWPosition, pos)
}

// AppendTopicAt is AppendTopic with the sender's position.
func AppendTopicAt(dst []byte, from uint64, topic string, body []byte, pos Position) []byte {
	dst = grow(dst, SizeTopicAt(from, topic, body, pos))
	return appendPosition(AppendTopic(dst, from, topic, body), topicPosition, pos)
}

// AppendTopicIdentityFWAt is AppendTopicIdentityFW with the sender's position.
func AppendTopicIdentityFWAt(dst []byte, from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos Position) []byte {
	dst = grow(dst, SizeTopicIdentityFWAt(from, topic, identity, role, body, pos))
	return appendPosition(AppendTopicIdentityFW(dst, from, topic, identity, role, body), identityFWPosition, pos)
}

// AppendTopicIdentityAt is AppendTopicIdentity with the sender's position.
func AppendTopicIdentityAt(dst []byte, from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos Position) []byte {
	dst = grow(dst, SizeTopicIdentityAt(from, topic, identity, role, body, pos))
	return appendPosition(AppendTopicIdentity(dst, from, topic, identity, role, body), identityPosition, pos)
}

// SizeTopicFWAt is the encoded size of AppendTopicFWAt's message.
func SizeTopicFWAt(from uint64, topic string, body []byte, pos Position) int {
	return SizeTopicFW(from, topic, body) + sizePosition(topicFWPosition, pos)
}

// SizeTopicAt is the encoded size of AppendTopicAt's message.
func SizeTopicAt(from uint64, topic string, body []byte, pos Position) int {
	return SizeTopic(from, topic, body) + sizePosition(topicPosition, pos)
}

// SizeTopicIdentityFWAt is the encoded size of AppendTopicIdentityFWAt's message.
func SizeTopicIdentityFWAt(from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos Position) int {
	return SizeTopicIdentityFW(from, topic, identity, role, body) + sizePosition(identityFWPosition, pos)
}

// SizeTopicIdentityAt is the encoded size of AppendTopicIdentityAt's message.
func SizeTopicIdentityAt(from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos Position) int {
	return SizeTopicIdentity(from, topic, identity, role, body) + sizePosition(identityPosition, pos)
}
