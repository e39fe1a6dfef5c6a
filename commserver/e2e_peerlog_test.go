package commserver_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/internal/clienthooks"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// jsonLog collects a logger's JSON lines (slog writes each record in one
// Write) and lets a test wait for one.
type jsonLog struct {
	mu      sync.Mutex
	lines   []map[string]any
	raw     []string
	changed chan struct{} // closed and replaced on every line
}

func newJSONLog() *jsonLog { return &jsonLog{changed: make(chan struct{})} }

func (l *jsonLog) Write(b []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("log line is not JSON: %w: %q", err, b)
	}
	l.mu.Lock()
	l.lines = append(l.lines, m)
	l.raw = append(l.raw, strings.TrimSpace(string(b)))
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return len(b), nil
}

// about returns the lines whose field key is alias, and the raw lines in
// which the alias appears at all (what a grep would show).
func (l *jsonLog) about(key string, alias uint64) (lines []map[string]any, grep []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, m := range l.lines {
		if v, ok := m[key].(float64); ok && uint64(v) == alias {
			lines = append(lines, m)
		}
		if strings.Contains(l.raw[i], fmt.Sprint(alias)) {
			grep = append(grep, l.raw[i])
		}
	}
	return lines, grep
}

// await waits until a line matches.
func (l *jsonLog) await(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(cluster.EventTimeout)
	for seen := 0; ; {
		l.mu.Lock()
		for ; seen < len(l.lines); seen++ {
			if match(l.lines[seen]) {
				m := l.lines[seen]
				l.mu.Unlock()
				return m
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line %s within %s", what, cluster.EventTimeout)
		}
	}
}

func jsonLogger(t *testing.T, w *jsonLog) *slog.Logger {
	t.Helper()
	lg, err := logging.New(logging.Config{Level: "debug", Format: "json"}, w)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

// TestE2EPeerLogFollowsOnePeer: with log.format=json, the lines of one
// client's alias tell its whole life, each with its alias and role, on the
// communication server (connect, AUTH, subscribe, a protocol violation, the
// close with its reason) and on the coordinator (connect, disconnect).
func TestE2EPeerLogFollowsOnePeer(t *testing.T) {
	srvLog, coordLog := newJSONLog(), newJSONLog()
	cl := cluster.Start(t, cluster.Options{
		ServerOptions:      func(_ int, o *commserver.Options) { o.Logger = jsonLogger(t, srvLog) },
		CoordinatorOptions: func(o *coordinator.Options) { o.Logger = jsonLogger(t, coordLog) },
	})
	c := cl.Client(t, cl.On(0))
	alias := c.Alias()
	ofPeer := func(m map[string]any) bool { v, ok := m["peer"].(float64); return ok && uint64(v) == alias }
	// The server establishes the peer once it has seen both channels open,
	// which may be after the client has (the server's OnOpen for the
	// unreliable channel runs when the client's DCEP ACK is handled): a
	// client closed before that is never established, so wait for it.
	// Under 8 concurrent copies it once came after the close.
	srvLog.await(t, "establishing the client", func(m map[string]any) bool {
		return ofPeer(m) && m["msg"] == "peer established"
	})
	subscribe(t, c, "followed")
	// Not a protobuf message: a violation, answered with an ERROR.
	if err := clienthooks.SendRaw(c, true, []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	cluster.ReceiveError(t, c, cluster.EventTimeout, cluster.ErrorCode(protocol.ErrorCode_ERROR_PROTOCOL_VIOLATION, ""))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	closed := srvLog.await(t, "closing the client", func(m map[string]any) bool {
		return ofPeer(m) && strings.HasPrefix(fmt.Sprint(m["msg"]), "closed: ")
	})
	coordLog.await(t, "of the client's disconnect", func(m map[string]any) bool {
		v, ok := m["alias"].(float64)
		return ok && uint64(v) == alias && m["msg"] == "peer disconnected"
	})
	t.Logf("the server closed the client: %v (%v)", closed["msg"], closed["err"])

	check := func(name, key string, log *jsonLog, stages map[string]func(msg string) bool) {
		lines, grep := log.about(key, alias)
		if len(grep) < len(lines) {
			t.Errorf("%s: a grep for %d finds %d lines, fewer than the %d that carry it", name, alias, len(grep), len(lines))
		}
		seen := map[string]bool{}
		for _, m := range lines {
			msg := fmt.Sprint(m["msg"])
			t.Logf("%s: %s (role %v)", name, msg, m["role"])
			if m["role"] != protocol.Role_CLIENT.String() {
				t.Errorf("%s: line %q about client %d has role %v, want %s", name, msg, alias, m["role"], protocol.Role_CLIENT)
			}
			for stage, is := range stages {
				if is(msg) {
					seen[stage] = true
				}
			}
		}
		for stage := range stages {
			if !seen[stage] {
				t.Errorf("%s: no line about client %d shows its %s", name, alias, stage)
			}
		}
	}
	is := func(want string) func(string) bool { return func(msg string) bool { return msg == want } }
	check("commserver", "peer", srvLog, map[string]func(string) bool{
		"connect":   is("CONNECT received, offering"),
		"ICE":       is("local candidate"),
		"auth":      is("authenticated"),
		"establish": is("peer established"),
		"subscribe": is("subscribed"),
		"violation": is("bad message dropped"),
		"close":     func(msg string) bool { return strings.HasPrefix(msg, "closed: ") },
	})
	check("coordinator", "alias", coordLog, map[string]func(string) bool{
		"connect":    is("peer connected"),
		"disconnect": is("peer disconnected"),
	})
	if reason := strings.TrimPrefix(fmt.Sprint(closed["msg"]), "closed: "); reason == "" {
		t.Errorf("the close line gives no reason: %v", closed)
	}
}
