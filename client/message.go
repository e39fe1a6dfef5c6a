package client

import "github.com/webrtc-broker/webrtc-broker/protocol"

// Message is one message the server sent to this client.
//
// Type says which fields are set:
//   - TOPIC_FW: FromAlias, Topic, Body.
//   - TOPIC_IDENTITY_FW: FromAlias, Topic, Body, Identity and Role (what
//     authentication gave the sender; the built-in allow-all gives an empty
//     identity).
//   - ERROR: ErrorCode, Reason, and Topic when the error concerns one.
//   - PING: an echo of a PING sent with SendRaw (echoes of Ping are consumed
//     by Ping itself).
//   - any other type: Type only, plus the fields that type shares with TOPIC.
//
// Reliable tells which channel the message arrived on. Messages received
// through Messages() own their bytes; in Config.OnMessage, Body and Identity
// alias the read buffer and are valid only until the callback returns.
type Message struct {
	Type      protocol.MessageType
	FromAlias uint64
	Topic     string
	Body      []byte
	Identity  []byte
	Role      protocol.Role
	Reliable  bool
	ErrorCode protocol.ErrorCode
	Reason    string

	pingTime float64 // PING: the echoed time, to match a pending Ping
}

// clone returns m with Body and Identity copied into one fresh allocation, so
// it can outlive the read buffer.
func (m Message) clone() Message {
	n := len(m.Body) + len(m.Identity)
	if n == 0 {
		return m
	}
	buf := make([]byte, n)
	k := copy(buf, m.Body)
	copy(buf[k:], m.Identity)
	if m.Body != nil {
		m.Body = buf[:k:k]
	}
	if m.Identity != nil {
		m.Identity = buf[k:]
	}
	return m
}
