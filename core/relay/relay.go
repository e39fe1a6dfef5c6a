// Package relay owns the relay rules and the wire encoding of relayed messages.
package relay

import "github.com/webrtc-broker/webrtc-broker/protocol"

type Origin int

const (
	FromClient Origin = iota + 1
	FromServer
)

func Route(o Origin, hub bool) (toClients, toServers bool) { return }

func AppendTopicFW(dst []byte, from uint64, topic string, body []byte) []byte { return dst }
func AppendTopic(dst []byte, from uint64, topic string, body []byte) []byte   { return dst }
func AppendTopicIdentityFW(dst []byte, from uint64, topic string, identity []byte, role protocol.Role, body []byte) []byte {
	return dst
}
func AppendTopicIdentity(dst []byte, from uint64, topic string, identity []byte, role protocol.Role, body []byte) []byte {
	return dst
}

// Message is a decoded TOPIC, TOPIC_FW, TOPIC_IDENTITY or TOPIC_IDENTITY_FW.
type Message struct {
	Type     protocol.MessageType
	From     uint64
	Topic    []byte
	Identity []byte
	Role     protocol.Role
	Body     []byte
}

func ParseTopic(b []byte) (Message, error)            { return Message{}, nil }
func ReadType(b []byte) (protocol.MessageType, error) { return 0, nil }
