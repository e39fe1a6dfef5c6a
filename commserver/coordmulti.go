package commserver

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/coordurl"
)

// Several coordinators. A cluster may have several coordinators so that
// none is a single point of failure (README, "Several coordinators"). The
// server keeps one link to each URL of coordinator_url, each with its own
// reconnect loop (coordlink.go), and registers at every one under the same
// alias: the first coordinator to WELCOME it draws the alias, and every
// other link proposes it (/discover?alias=), which the coordinators accept
// because their alias spaces are partitioned (coordinator.id): an alias one
// of them drew no other ever draws. A link that is welcomed under another
// alias (it registered before the first WELCOME was in) registers again at
// once, proposing the server's.
//
// One alias everywhere is what keeps a mesh from doubling: whichever
// coordinator lists a server, it is the same alias, so the dial loops,
// pending CONNECTs and crossed CONNECTs (onConnect) of the one-coordinator
// design apply unchanged, and the DTLS fingerprint check stays the backstop.
//
// Each peer is signaled over one link, its via: the link its CONNECT came in
// on (a client, which is on that coordinator only; a server that dialed
// us), or the one this server sent its CONNECT on. Signaling for a peer that
// arrives on another link is dropped, so each peer's signaling state stays
// owned by one link's read goroutine. A link going down touches no peer:
// data channels do not depend on the coordinator.
//
// At start the links other than the first wait for the server's first
// WELCOME, at most firstTryWait, so that normally every coordinator sees the
// server under its alias from the start, never briefly under another (the
// first link retries quickly if its coordinator is not up yet).
//
// With one URL nothing is proposed: a coordinator restart gives the server
// a new alias, as it always did, and coordinators of any version work.

// firstTryWait bounds how long the other links wait for the first one at
// start: a coordinator that does not answer must not keep the server from
// the others for a whole dial time-out.
const firstTryWait = 2 * time.Second

// awaitFirstTry holds back l, unless it is the first link, until the server
// has its alias (a WELCOME on any link) or firstTryWait has passed. It
// reports false if ctx ended meanwhile.
func (s *Server) awaitFirstTry(ctx context.Context, l *coordLink) bool {
	if l == s.links[0] {
		return true
	}
	t := time.NewTimer(firstTryWait)
	defer t.Stop()
	select {
	case <-s.firstTry:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// endFirstTry lets the other links start (awaitFirstTry).
func (s *Server) endFirstTry() { s.firstTryOnce.Do(func() { close(s.firstTry) }) }

// defaultCoordinatorURL is coordinator_url's default.
const defaultCoordinatorURL = "ws://127.0.0.1:9090"

// coordLink is the link to one coordinator, across its sessions.
type coordLink struct {
	url string
	// conn is the current session, nil while the coordinator is away.
	conn atomic.Pointer[coordConn]
	// welcomed: the current session is registered.
	welcomed atomic.Bool
	// listed holds the servers this coordinator's latest WELCOME listed;
	// Server.mu guards it.
	listed map[uint64]bool
}

// coordinatorURLs is coordinator_url, or the single URL of a Config literal,
// or the default, trimmed and without duplicates.
func coordinatorURLs(list []string, single string) ([]string, error) {
	if len(list) == 0 && single != "" {
		list = []string{single}
	}
	var out []string
	for _, u := range list {
		u = strings.TrimSpace(u)
		if u == "" || slices.Contains(out, u) {
			continue
		}
		d, err := coordurl.URL(u, "/discover", nil)
		if err != nil {
			return nil, fmt.Errorf("coordinator_url: %w: %w", errBadCoordinatorURL, err)
		}
		if parsed, err := url.Parse(d); err != nil || parsed.Host == "" {
			return nil, fmt.Errorf("coordinator_url %q: %w", u, errBadCoordinatorURL)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		out = []string{defaultCoordinatorURL}
	}
	return out, nil
}

// multiCoordinator reports whether the server has several coordinators, and
// so keeps one alias at all of them.
func (s *Server) multiCoordinator() bool { return len(s.links) > 1 }

// signalAll sends m to every coordinator the server is registered with
// (load reports, DRAIN: each coordinator offers the server to its own
// clients). It fails only if none took it.
func (s *Server) signalAll(m proto.Message) error {
	err := errCoordinatorDown
	sent := false
	for _, l := range s.links {
		if !l.welcomed.Load() {
			continue
		}
		if e := s.signalVia(l, m); e != nil {
			err = e
			continue
		}
		sent = true
	}
	if sent {
		return nil
	}
	return err
}

// coordinatorsUp counts the coordinators this server is registered with.
func (s *Server) coordinatorsUp() int {
	n := 0
	for _, l := range s.links {
		if l.welcomed.Load() {
			n++
		}
	}
	return n
}

// linkForLocked picks the link to send d's CONNECT on: an up link whose
// coordinator listed the server, else any up link (it registered after our
// WELCOME), skipping links whose coordinator said it does not have it. nil:
// no link can carry it now. Server.mu held on entry.
func (s *Server) linkForLocked(d *dialTarget) *coordLink {
	var fallback *coordLink
	for _, l := range s.links {
		if !l.welcomed.Load() || d.gone[l] {
			continue
		}
		if l.listed[d.alias] {
			return l
		}
		if fallback == nil {
			fallback = l
		}
	}
	return fallback
}

// refusedByLocked records that the coordinator of l refused a CONNECT to
// alias (it does not have that server, or the server refused) and reports
// whether another welcomed link may still reach it. Server.mu held on entry.
func (s *Server) refusedByLocked(l *coordLink, alias uint64) bool {
	delete(l.listed, alias)
	d := s.dialing[alias]
	if d == nil {
		return false
	}
	if d.gone == nil {
		d.gone = map[*coordLink]bool{}
	}
	d.gone[l] = true
	return s.linkForLocked(d) != nil
}

// listedLocked reports whether any coordinator's latest WELCOME lists
// alias. Server.mu held on entry.
func (s *Server) listedLocked(alias uint64) bool {
	for _, l := range s.links {
		if l.listed[alias] {
			return true
		}
	}
	return false
}
