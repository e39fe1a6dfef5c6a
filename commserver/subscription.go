package commserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// subscribe applies a SUBSCRIPTION. A client's set replaces its previous
// one, less the topics a policy denies (each answered with an ERROR; the
// rest stays in force). A server link's set is what that server announced.
func (p *peer) subscribe(kind chanKind, msg []byte) {
	var m protocol.SubscriptionMessage
	if err := proto.Unmarshal(msg, &m); err != nil {
		p.violate(kind, protocol.MessageType_SUBSCRIPTION, fmt.Errorf("%w: %w", errMalformed, err))
		return
	}
	if p.creds().isServer() {
		p.applyAnnouncement(kind, &m)
		return
	}
	if m.More {
		p.violate(kind, protocol.MessageType_SUBSCRIPTION, errClientParts)
		return
	}
	topics, err := decodeTopics(m.Format, m.Topics, p.s.cfg.MaxTopicsSize)
	if err != nil {
		p.violate(kind, protocol.MessageType_SUBSCRIPTION, err)
		return
	}
	s := p.s
	topics = p.cellTopicsDenied(topics)
	topics = p.publicTopics(topics)
	if s.policy != nil {
		topics = p.allowedTopics(topics)
	}
	// Under the presence lock, so that membership events leave in the order
	// the sets changed (presence.go).
	s.pres.mu.Lock()
	old := s.subs.ClientSet(p)
	if s.hist != nil {
		s.hist.ensure(topics)
	}
	var changed bool
	if len(m.Recover) > 0 {
		changed = p.setClientRecovering(topics, m.Recover)
	} else {
		changed = p.setTopics(topics)
	}
	joined, left := setDiff(old, s.subs.ClientSet(p))
	s.membersChangedLocked(p, joined, left)
	s.pres.mu.Unlock()
	if changed {
		s.notifyAnnounce()
	}
	p.log.Debug("subscribed", "topics", len(topics))
}

// publicTopics drops the topics starting with $ (the servers' own, such as
// presence reports), each answered with an ERROR_SUBSCRIPTION_DENIED.
func (p *peer) publicTopics(topics []string) []string {
	kept := topics[:0]
	for _, t := range topics {
		if t[0] == '$' {
			p.log.Debug("subscription to a server topic denied", "topic", t)
			p.sendError(protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED, t, "topics starting with $ are the servers' own")
			continue
		}
		kept = append(kept, t)
	}
	return kept
}

// allowedTopics asks the policy about each governed topic and returns the
// allowed ones; every denied topic gets the client an
// ERROR{ERROR_SUBSCRIPTION_DENIED} naming it.
func (p *peer) allowedTopics(topics []string) []string {
	s := p.s
	allowed := topics[:0]
	for _, topic := range topics {
		if s.policy.Governs(topic) {
			if ok, reason := s.policy.OnSubscribe(p.policyPeer(), topic); !ok {
				p.log.Debug("subscription denied by policy", "topic", topic, "reason", reason)
				p.sendError(protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED, topic, reason)
				continue
			}
		}
		allowed = append(allowed, topic)
	}
	return allowed
}

// decodeTopics turns a SUBSCRIPTION's topics field into the topic set. A
// GZIP set is inflated through a reader limited to maxSize+1 bytes, so a
// compression bomb costs at most that much memory before it is refused.
func decodeTopics(format protocol.Format, raw []byte, maxSize int) ([]string, error) {
	var data []byte
	switch format {
	case protocol.Format_PLAIN:
		data = raw
	case protocol.Format_GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip topics: %w", errMalformed, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, int64(maxSize)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip topics: %w", errMalformed, err)
		}
	default:
		return nil, fmt.Errorf("%w, got %v", errBadFormat, format)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("%w (%d bytes)", errTopicsTooLarge, maxSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: topics are not UTF-8", errMalformed)
	}
	return strings.Fields(string(data)), nil
}

// gzipAbove is the size from which an announcement is compressed.
const gzipAbove = 1024

// encodeSubscription builds the SUBSCRIPTION announcing topics in one
// message: PLAIN, or GZIP when the set is large.
func encodeSubscription(set string) ([]byte, error) { return encodePart(set, false) }

// partHeadroom is what a part's encoding may add to its plain topics: the
// SUBSCRIPTION's fields, and gzip's header, trailer and stored-block
// headers when the topics do not compress.
const partHeadroom = 256

// encodeAnnouncement builds the SUBSCRIPTION messages announcing set to a
// server link: one when it fits maxSize (the 2019 form), else parts (every
// one but the last with more set), each at most maxSize bytes, split between
// topics. Parts are cut by plain size so that each fits even if its topics
// do not compress. A topic too long for any part is left out and returned in
// skipped.
func encodeAnnouncement(set string, maxSize int) (msgs [][]byte, skipped []string, err error) {
	msg, err := encodePart(set, false)
	if err != nil {
		return nil, nil, err
	}
	if len(msg) <= maxSize {
		return [][]byte{msg}, nil, nil
	}
	budget := max(maxSize-partHeadroom, 1)
	var parts []string
	var part strings.Builder
	for _, topic := range strings.Fields(set) {
		if len(topic) > budget {
			skipped = append(skipped, topic)
			continue
		}
		if part.Len() > 0 && part.Len()+1+len(topic) > budget {
			parts = append(parts, part.String())
			part.Reset()
		}
		if part.Len() > 0 {
			part.WriteByte(' ')
		}
		part.WriteString(topic)
	}
	parts = append(parts, part.String())
	for i, p := range parts {
		msg, err := encodePart(p, i < len(parts)-1)
		if err != nil {
			return nil, skipped, err
		}
		msgs = append(msgs, msg)
	}
	return msgs, skipped, nil
}

// encodePart builds one SUBSCRIPTION carrying set, GZIP when it is large.
func encodePart(set string, more bool) ([]byte, error) {
	m := &protocol.SubscriptionMessage{
		Type:   protocol.MessageType_SUBSCRIPTION,
		Format: protocol.Format_PLAIN,
		Topics: []byte(set),
		More:   more,
	}
	if len(set) > gzipAbove {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := io.WriteString(zw, set); err != nil {
			return nil, fmt.Errorf("gzip topics: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip topics: %w", err)
		}
		m.Format, m.Topics = protocol.Format_GZIP, b.Bytes()
	}
	out, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode SUBSCRIPTION: %w", err)
	}
	return out, nil
}
