package commserver

import "log/slog"

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
