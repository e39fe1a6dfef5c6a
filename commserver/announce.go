package commserver

import (
	"context"
	"log/slog"
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
		var shared string
		sharedDone := false
		for _, l := range s.serverLinks() {
			var set string
			if s.hub {
				set = strings.Join(s.subs.TopicsExcept(l), " ")
			} else {
				if !sharedDone {
					shared, sharedDone = strings.Join(s.subs.ClientTopics(), " "), true
				}
				set = shared
			}
			if l.announcedOnce && l.announced == set {
				continue
			}
			msg, err := encodeSubscription(set)
			if err != nil {
				s.log.Error("announce topics", "peer", l.alias, "err", err)
				continue
			}
			if !l.send(reliable, msg) {
				continue
			}
			l.announced, l.announcedOnce = set, true
			s.m.sent(protocol.MessageType_SUBSCRIPTION, 1, len(msg))
			l.log.Log(ctx, slog.LevelDebug, "topics announced", "bytes", len(set))
		}
	}
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
