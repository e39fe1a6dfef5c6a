package client

import "github.com/webrtc-broker/webrtc-broker/protocol"

// Channel chooses one of the two data channels.
type Channel uint8

const (
	// Reliable is ordered and retransmitted.
	Reliable Channel = iota + 1
	// Unreliable is unordered and never retransmitted: the latest state
	// matters more than every state.
	Unreliable
)

func (ch Channel) String() string {
	switch ch {
	case Reliable:
		return "reliable"
	case Unreliable:
		return "unreliable"
	}
	return "invalid channel"
}

func (ch Channel) valid() bool { return ch == Reliable || ch == Unreliable }

// Message is one topic message another peer published.
//
// Identity and Role are set for identity messages (sent with
// PublishIdentity): the server stamps them from what authentication gave the
// sender, never from a client field (the built-in allow-all gives an empty
// identity). Role is non-zero exactly for identity messages.
//
// Messages received through Messages() own their bytes; in
// Config.OnMessage, Body and Identity alias the read buffer and are valid
// only until the callback returns.
type Message struct {
	Topic     string
	FromAlias uint64
	Body      []byte
	Identity  []byte
	Role      protocol.Role
	// Channel is the channel the message arrived on.
	Channel Channel
	// Position is the sender's position, on a world topic's messages
	// (HasPosition): see World.
	Position    Position
	HasPosition bool
}

// frame is any decoded data-channel message, before the client sorts it
// into a Message, a ServerError or a PING echo.
type frame struct {
	Type      protocol.MessageType
	FromAlias uint64
	Topic     string
	Body      []byte
	Identity  []byte
	Role      protocol.Role
	ErrorCode protocol.ErrorCode
	Reason    string

	Position    Position
	HasPosition bool

	pingTime float64 // PING: the echoed time, to match a pending Ping
	graceMs  uint32  // DRAIN: how long the server waits (drain.go)
	// raw is the whole message as received (a view of the read buffer),
	// for what decode does not parse: stream positions, PRESENCE, RECOVERY.
	raw []byte
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
