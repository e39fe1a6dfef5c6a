package commserver

import "log/slog"

// ClosePeerForTest closes the peer linked under alias from the server's
// side, as a failed link would, and reports whether there was one: the
// seam that cuts one client off while the server and the others go on.
func ClosePeerForTest(s *Server, alias uint64) bool {
	s.mu.Lock()
	p := s.peers[alias]
	s.mu.Unlock()
	if p == nil {
		return false
	}
	p.close(slog.LevelInfo, "closed: by the test", nil)
	return true
}
