package commserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// notifyAnnounce asks the announcer to bring every server link up to date.
// It never blocks: requests made while one is pending merge into it.
func (s *Server) notifyAnnounce() {
	select {
	case s.announce <- struct{}{}:
	default:
	}
}

// announceLoop is the only goroutine that sends SUBSCRIPTION announcements,
// so they leave in the order the sets were computed and the last one wins.
// Each server link gets the set it is owed (a server: the union of its
// clients' topics; a hub: that plus the other servers' topics) whenever it
// differs from what the link was last sent, and once at least when the link
// is authenticated. An announcement queued before the channel opens waits
// in the outbound queue.
func (s *Server) announceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.announce:
		}
		// Topics carried for the server's own sake: history streams and
		// followed presence (history.go, presence.go).
		own := append(s.hist.topics(), s.followedTopics()...)
		if s.bus != nil {
			// No server links: the bus subscribes to the union instead,
			// then the newly followed presence is asked for (presence_bus.go).
			s.bus.SetTopics(withOwn(s.subs.ClientTopics(), s.busTopics(own)))
			s.queryNewlyFollowed()
			continue
		}
		var shared string
		sharedDone := false
		for _, l := range s.serverLinks() {
			var set string
			if s.hub {
				set = strings.Join(withOwn(s.subs.TopicsExcept(l), own), " ")
			} else {
				if !sharedDone {
					shared, sharedDone = strings.Join(withOwn(s.subs.ClientTopics(), own), " "), true
				}
				set = shared
			}
			if l.ann.announcedOnce && l.ann.announced == set {
				continue
			}
			msgs, skipped, err := encodeAnnouncement(set, s.cfg.MaxMessageSize)
			if err != nil {
				l.log.Error("announce topics", "err", err)
				continue
			}
			if len(skipped) > 0 {
				l.log.Warn("topics too long for a SUBSCRIPTION left out of the announcement",
					"topics", len(skipped), "max_message_size", s.cfg.MaxMessageSize)
			}
			if !l.sendAll(msgs) {
				continue
			}
			l.ann.announced, l.ann.announcedOnce = set, true
			l.log.Log(ctx, slog.LevelDebug, "topics announced", "bytes", len(set), "parts", len(msgs))
		}
	}
}

// sendAll queues an announcement's parts on the reliable channel, in order;
// false if the link refused one (it is closing).
func (p *peer) sendAll(msgs [][]byte) bool {
	for _, msg := range msgs {
		if !p.send(reliable, msg) {
			return false
		}
		p.s.m.sent(protocol.MessageType_SUBSCRIPTION, 1, len(msg))
	}
	return true
}

// applyAnnouncement applies a server link's SUBSCRIPTION: its whole topic set, or a
// part of it (SubscriptionMessage.more). Parts gather until the last one, so
// the set in force is never half an announcement; all together they may
// inflate to max_server_topics_size, since a server announces the union of
// its clients' sets and a client's cap would split the cluster.
func (p *peer) applyAnnouncement(kind chanKind, m *protocol.SubscriptionMessage) {
	s := p.s
	if m.More && kind != reliable {
		p.violate(kind, protocol.MessageType_SUBSCRIPTION, errUnreliableParts)
		return
	}
	// The parts are the reliable read loop's alone; a whole set on the
	// unreliable channel leaves them be.
	var gathered []string
	var size int
	if kind == reliable {
		gathered, size = p.rd.parts, p.rd.partsSize
		p.rd.parts, p.rd.partsSize = nil, 0
	}
	limit := s.cfg.MaxServerTopicsSize
	topics, err := decodeTopics(m.Format, m.Topics, limit-size)
	if errors.Is(err, errTopicsTooLarge) {
		err = fmt.Errorf("%w (%d bytes)", errServerTopicsTooLarge, limit)
	}
	if err != nil {
		p.violate(kind, protocol.MessageType_SUBSCRIPTION, err)
		return
	}
	if m.More {
		for _, t := range topics {
			size += len(t) + 1
		}
		p.rd.parts, p.rd.partsSize = append(gathered, topics...), size
		return
	}
	topics = append(gathered, topics...)
	// A hub announces the other servers' topics too, so a change here
	// changes what it owes them.
	changed := s.subs.SetServer(p, topics)
	if changed && s.hub {
		s.notifyAnnounce()
	}
	if changed {
		s.presenceInterest(p)
	}
	p.log.Debug("server announced its topics", "topics", len(topics))
}

// serverLinks returns the live, authenticated links to other servers.
func (s *Server) serverLinks() []*peer {
	var links []*peer
	for _, p := range s.snapshotPeers() {
		if p.isServerLink() && p.ctx.Err() == nil {
			links = append(links, p)
		}
	}
	return links
}

// withOwn returns the sorted union of topics (sorted) and own.
func withOwn(topics, own []string) []string {
	if len(own) == 0 {
		return topics
	}
	out := append(topics, own...)
	slices.Sort(out)
	return slices.Compact(out)
}
