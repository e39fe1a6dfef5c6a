package commserver

import (
	"context"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/commserver/natsbus"
	"github.com/webrtc-broker/webrtc-broker/core/presence"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Presence and history over cluster.transport=nats, where there are no
// server links to announce interest on or to lose (natsrelay.go).
//
// History: a reliable message on a history topic from NATS is numbered and
// stored like one from a link (deliverStream).
//
// Presence is soft state: every server subscribes to presence.QueryTopic.
// A server that starts following topic T's presence (its bus subscribes to
// "$presence.T" in the same announce step) publishes T's name there; a
// server with members of T answers with its report on "$presence.T" and,
// for busWanted after, publishes a report on every change of its members of
// T. Followers ask again every busRefresh, and forget a server's report
// not renewed for busExpire: a server that went away stops answering.

const (
	busRefresh = 10 * time.Second
	busWanted  = 3 * busRefresh
	busExpire  = 3 * busRefresh
)

// fromBusSpecial handles what deliverFromBus must not treat as a plain
// message: presence queries and reports, and history topics. It reports
// whether it took e.
func (s *Server) fromBusSpecial(e natsbus.Envelope) bool {
	m := e.Msg
	if len(m.Topic) > 0 && m.Topic[0] == '$' {
		switch topic := string(m.Topic); {
		case topic == presence.QueryTopic:
			s.answerQuery(string(m.Body))
		case strings.HasPrefix(topic, presence.TopicPrefix):
			s.applyReport(nil, topic[len(presence.TopicPrefix):], m.From, m.Body)
		}
		return true
	}
	if s.hist == nil || !e.Reliable {
		return false
	}
	st := s.hist.lookup(m.Topic)
	if st == nil {
		return false
	}
	identified := m.Type == protocol.MessageType_TOPIC_IDENTITY
	if relayedSize(identified, m.From, st.topic, m.Identity, m.Role, m.Body)+streamOverhead > s.cfg.MaxMessageSize {
		s.log.Debug("message from NATS over max_message_size dropped", "topic", st.topic)
		return true
	}
	s.deliverStream(st, nil, identified, m.From, m.Identity, m.Role, m.Body)
	return true
}

// busTopics is what the bus subscribes to besides the clients' topics.
func (s *Server) busTopics(own []string) []string {
	return append(own, presence.QueryTopic)
}

// queryNewlyFollowed asks for the reports of the topics followed since the
// last call (after the bus subscribed to their "$presence." topics).
func (s *Server) queryNewlyFollowed() {
	ps := s.pres
	ps.mu.Lock()
	var ask []string
	for t := range ps.announced {
		if !ps.queried[t] {
			ps.queried[t] = true
			ask = append(ask, t)
		}
	}
	for t := range ps.queried {
		if !ps.announced[t] {
			delete(ps.queried, t)
		}
	}
	ps.mu.Unlock()
	for _, t := range ask {
		s.publishQuery(t)
	}
}

func (s *Server) publishQuery(topic string) {
	_ = s.bus.Publish(true, false, s.originID, presence.QueryTopic, nil, 0, []byte(topic))
}

// answerQuery answers another server's query for topic's reports.
func (s *Server) answerQuery(topic string) {
	if topic == "" || strings.ContainsAny(topic, " ") || topic[0] == '$' {
		return
	}
	ps := s.pres
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.wanted[topic] = time.Now()
	if local := s.localForReport(topic); local.n > 0 {
		s.reportToBus(topic, local)
	}
}

// reportToBusIfWanted publishes this server's report on topic when some
// server asked for it lately. presences.mu held.
func (s *Server) reportToBusIfWantedLocked(topic string) {
	at, ok := s.pres.wanted[topic]
	if !ok {
		return
	}
	if time.Since(at) > busWanted {
		delete(s.pres.wanted, topic)
		return
	}
	s.reportToBus(topic, s.localForReport(topic))
}

// reportToBus publishes this server's members of topic on "$presence.T".
func (s *Server) reportToBus(topic string, local localSet) {
	maxMembers := s.cfg.Presence.MaxMembers
	body, err := local.encode(topic, maxMembers)
	if err == nil && len(body) > s.cfg.MaxMessageSize-len(topic)-64 {
		body, err = local.encode(topic, -1)
	}
	if err != nil {
		s.log.Error("encode presence report", "topic", topic, "err", err)
		return
	}
	_ = s.bus.Publish(true, false, s.originID, presence.TopicPrefix+topic, nil, 0, body)
}

// refreshBusPresence asks again for the followed topics' reports and
// forgets those not renewed, until ctx ends.
func (s *Server) refreshBusPresence(ctx context.Context) {
	tick := time.NewTicker(busRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			ps := s.pres
			ps.mu.Lock()
			for _, t := range ps.table.ExpireBefore(now.Add(-busExpire)) {
				if len(ps.followers[t]) > 0 {
					if ev, changed := s.presenceChangesLocked(t); changed {
						s.tellFollowers(t, ev)
					}
				}
			}
			var ask []string
			for t := range ps.announced {
				ask = append(ask, t)
			}
			for t, at := range ps.wanted {
				if now.Sub(at) > busWanted {
					delete(ps.wanted, t)
				}
			}
			ps.mu.Unlock()
			for _, t := range ask {
				s.publishQuery(t)
			}
		}
	}
}

// busReconnected runs when the NATS connection is back after a loss: the
// history streams may have missed messages (a new epoch each), and the
// followed presence is asked for again.
func (s *Server) busReconnected() {
	if s.hist != nil {
		s.hist.restartAll()
	}
	s.pres.mu.Lock()
	clear(s.pres.queried)
	s.pres.mu.Unlock()
	s.notifyAnnounce() // the announce loop asks again (queryNewlyFollowed)
}
