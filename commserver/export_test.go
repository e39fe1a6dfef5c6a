package commserver

import (
	"log/slog"

	dto "github.com/prometheus/client_model/go"
)

// CloseServerLinksForTest closes every authenticated server link of s from
// s's side, as a protocol violation, a write error or an ICE failure would,
// and returns how many it closed: the seam of the link-healing tests.
func CloseServerLinksForTest(s *Server) int {
	n := 0
	for _, p := range s.serverLinks() {
		p.close(slog.LevelWarn, "closed: by the test", nil)
		n++
	}
	return n
}

// SetLinkSecretForTest makes s prove secret on its server links from now on
// (it still registers with, and checks others' proofs against,
// cluster.secret): a server that passed /discover but cannot prove the
// secret to the servers it links with.
func SetLinkSecretForTest(s *Server, secret string) {
	s.mu.Lock()
	s.proofSecret = secret
	s.mu.Unlock()
}

// WorldPlacedForTest counts the members of the world topic on s that have
// published a position.
func WorldPlacedForTest(s *Server, topic string) int {
	w := s.worlds.get(topic)
	if w == nil {
		return 0
	}
	n := 0
	for _, p := range s.snapshotPeers() {
		if _, ok := w.grid.Pos(p); ok {
			n++
		}
	}
	return n
}

// LinksMissingForTest returns the topics no server link of s subscribes to.
func LinksMissingForTest(s *Server, topics []string) []string {
	var missing []string
	for _, t := range topics {
		if subs, ok := s.subs.Lookup([]byte(t)); !ok || len(subs.Servers) == 0 {
			missing = append(missing, t)
		}
	}
	return missing
}

// RefusedBusyForTest counts the CONNECTs s refused as busy (max_half_open),
// with a retry hint.
func RefusedBusyForTest(s *Server) int {
	m := &dto.Metric{}
	if err := s.m.refusedBusy.Write(m); err != nil {
		return -1
	}
	return int(m.GetCounter().GetValue())
}
