package natsbus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// The envelope is what one client message becomes on NATS (documented in
// protocol/nats-envelope.md): a fixed 10-byte header, then the message as
// servers relay it to each other on a mesh link, a TOPIC or TOPIC_IDENTITY
// carrying the original from_alias, topic and body (and identity and role).
//
//	byte 0     version, 1
//	byte 1     flags: bit 0 set = the unreliable channel; other bits 0
//	bytes 2-9  origin: the publishing server's instance id, big-endian, never 0
//	bytes 10-  TOPIC or TOPIC_IDENTITY (protobuf, protocol/broker.proto)

const (
	envelopeVersion = 1
	headerSize      = 10
	flagUnreliable  = 1 << 0
)

// Errors of ParseEnvelope; each wraps errBadEnvelope.
var (
	errBadEnvelope = errors.New("bad NATS envelope")
	errVersion     = fmt.Errorf("%w: unknown version", errBadEnvelope)
	errFlags       = fmt.Errorf("%w: unknown flags", errBadEnvelope)
	errShort       = fmt.Errorf("%w: shorter than its header", errBadEnvelope)
	errOrigin      = fmt.Errorf("%w: origin 0", errBadEnvelope)
	errInnerType   = fmt.Errorf("%w: not a TOPIC or TOPIC_IDENTITY", errBadEnvelope)
)

// Envelope is a decoded envelope. Msg's slices are views into the decoded
// buffer.
type Envelope struct {
	Reliable bool
	Origin   uint64
	Msg      relay.Message
}

// appendHeader appends an envelope header to dst.
func appendHeader(dst []byte, reliable bool, origin uint64) []byte {
	var flags byte
	if !reliable {
		flags |= flagUnreliable
	}
	dst = append(dst, envelopeVersion, flags)
	return binary.BigEndian.AppendUint64(dst, origin)
}

// AppendEnvelope appends the whole envelope of one message to dst: identity
// and role are carried only when identified (a TOPIC_IDENTITY).
func AppendEnvelope(dst []byte, reliable bool, origin uint64, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte) []byte {
	dst = appendHeader(dst, reliable, origin)
	if identified {
		return relay.AppendTopicIdentity(dst, from, topic, identity, role, body)
	}
	return relay.AppendTopic(dst, from, topic, body)
}

// AppendEnvelopeAt is AppendEnvelope of a world message: the TOPIC or
// TOPIC_IDENTITY carries the sender's position.
func AppendEnvelopeAt(dst []byte, reliable bool, origin uint64, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos relay.Position) []byte {
	dst = appendHeader(dst, reliable, origin)
	if identified {
		return relay.AppendTopicIdentityAt(dst, from, topic, identity, role, body, pos)
	}
	return relay.AppendTopicAt(dst, from, topic, body, pos)
}

// EnvelopeSize is len(AppendEnvelope(nil, ...)) without encoding.
func EnvelopeSize(identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte) int {
	if identified {
		return headerSize + relay.SizeTopicIdentity(from, topic, identity, role, body)
	}
	return headerSize + relay.SizeTopic(from, topic, body)
}

// ParseEnvelope decodes b without copying. A wrong version or unknown flag
// bit is refused rather than guessed at: a newer server's envelope is not
// read as an older one's.
func ParseEnvelope(b []byte) (Envelope, error) {
	if len(b) < headerSize {
		return Envelope{}, errShort
	}
	if b[0] != envelopeVersion {
		return Envelope{}, fmt.Errorf("%w %d", errVersion, b[0])
	}
	if b[1]&^flagUnreliable != 0 {
		return Envelope{}, fmt.Errorf("%w %#x", errFlags, b[1])
	}
	e := Envelope{Reliable: b[1]&flagUnreliable == 0, Origin: binary.BigEndian.Uint64(b[2:headerSize])}
	if e.Origin == 0 {
		return Envelope{}, errOrigin
	}
	m, err := relay.ParseTopic(b[headerSize:])
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", errBadEnvelope, err)
	}
	if m.Type != protocol.MessageType_TOPIC && m.Type != protocol.MessageType_TOPIC_IDENTITY {
		return Envelope{}, fmt.Errorf("%w, got %v", errInnerType, m.Type)
	}
	e.Msg = m
	return e, nil
}
