package presence

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TopicPrefix starts the internal topic a server publishes its members of
// topic T on: "$presence.T". Clients may neither publish nor subscribe to
// topics starting with "$".
const TopicPrefix = "$presence."

// QueryTopic is where, over a transport without server links (NATS), a
// server that starts following a topic's presence asks for the others'
// reports: the body is the topic's name. Every such server subscribes to
// it; one with members of the topic answers with its report, and reports
// each change for a while after (the follower asks again periodically).
const QueryTopic = "$presence-query"

// ErrMalformed wraps every error DecodeReport returns.
var ErrMalformed = errors.New("malformed presence report")

// Encode builds the PRESENCE message telling ev about topic name.
func Encode(name string, ev Event) ([]byte, error) {
	m := &protocol.PresenceMessage{
		Type:       protocol.MessageType_PRESENCE,
		Topic:      name,
		Snapshot:   ev.Snapshot,
		Members:    toProto(ev.Members),
		Joined:     toProto(ev.Joined),
		Left:       toProto(ev.Left),
		Count:      uint32(min(ev.Count, 1<<32-1)),
		CountsOnly: ev.CountsOnly,
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode PRESENCE: %w", err)
	}
	return b, nil
}

// EncodeReport builds the body a server publishes on "$presence."+name:
// a PRESENCE snapshot of its own members, or only their count above
// maxMembers.
func EncodeReport(name string, local []Member, maxMembers int) ([]byte, error) {
	ev := Event{Snapshot: true, Count: len(local)}
	if len(local) > maxMembers {
		ev.CountsOnly = true
	} else {
		ev.Members = local
	}
	return Encode(name, ev)
}

// EncodeCount is EncodeReport for a server that reports only how many
// members it has, without listing them (a large topic is not walked).
func EncodeCount(name string, count int) ([]byte, error) {
	return Encode(name, Event{Snapshot: true, Count: count, CountsOnly: true})
}

// DecodeReport reads a server's report from the body of a "$presence."
// topic message; name is the topic it is about (the message's topic without
// the prefix), which the report must name too.
func DecodeReport(name string, body []byte) (Report, error) {
	var m protocol.PresenceMessage
	if err := proto.Unmarshal(body, &m); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case m.Type != protocol.MessageType_PRESENCE:
		return Report{}, fmt.Errorf("%w: type %v", ErrMalformed, m.Type)
	case !m.Snapshot:
		return Report{}, fmt.Errorf("%w: not a snapshot", ErrMalformed)
	case m.Topic != name:
		return Report{}, fmt.Errorf("%w: about %q, published on the presence of %q", ErrMalformed, m.Topic, name)
	case m.CountsOnly && len(m.Members) > 0:
		return Report{}, fmt.Errorf("%w: counts only with members", ErrMalformed)
	}
	r := Report{CountsOnly: m.CountsOnly, Count: int(m.Count)}
	if !m.CountsOnly {
		r.Members = make([]Member, 0, len(m.Members))
		for _, pm := range m.Members {
			r.Members = append(r.Members, Member{Alias: pm.Alias, Identity: pm.Identity, Role: pm.Role})
		}
		r.Count = len(r.Members)
	}
	return r, nil
}

func toProto(ms []Member) []*protocol.Member {
	if len(ms) == 0 {
		return nil
	}
	out := make([]*protocol.Member, len(ms))
	for i, m := range ms {
		out[i] = &protocol.Member{Alias: m.Alias, Identity: m.Identity, Role: m.Role}
	}
	return out
}
