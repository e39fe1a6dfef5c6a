package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// levelRecorder is a slog handler that keeps the level of every "peer
// disconnected" line by role and forwards everything to the test's log.
type levelRecorder struct {
	slog.Handler
	mu     *sync.Mutex
	levels map[string][]slog.Level // by role
	attrs  []slog.Attr
}

func newLevelRecorder(t *testing.T) *levelRecorder {
	return &levelRecorder{Handler: testLogger(t).Handler(), mu: &sync.Mutex{}, levels: map[string][]slog.Level{}}
}

func (h *levelRecorder) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "peer disconnected" {
		role := ""
		for _, a := range h.attrs {
			if a.Key == "role" {
				role = a.Value.String()
			}
		}
		h.mu.Lock()
		h.levels[role] = append(h.levels[role], r.Level)
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h *levelRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelRecorder{Handler: h.Handler.WithAttrs(attrs), mu: h.mu, levels: h.levels,
		attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *levelRecorder) disconnects(role string) []slog.Level {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Level(nil), h.levels[role]...)
}

// TestAbruptClientDisconnectsAreChurn is issue 12 defect 9: every client that
// went away without a close frame was a WARN line (2,000 lines for 2,000
// clients). A client's is a debug line, counted by reason; a server's stays a
// warning.
func TestAbruptClientDisconnectsAreChurn(t *testing.T) {
	rec := newLevelRecorder(t)
	tc := startCoordinator(t, Config{}, Options{Logger: slog.New(rec)}, nil)
	const clients = 5
	for range clients {
		c := dialClient(t, tc)
		c.welcome()
		_ = c.conn.NetConn().Close() // no close frame: a closed tab, a lost network
	}
	server := dialServer(t, tc)
	server.welcome()
	_ = server.conn.NetConn().Close()

	testwait.For(t, waitTimeout, "every abrupt disconnect counted", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_disconnects_total", "role", "CLIENT", "reason", reasonAbrupt) == clients &&
			metricValue(t, tc.Coordinator, "coordinator_disconnects_total", "role", "COMMUNICATION_SERVER", "reason", reasonAbrupt) == 1
	})
	testwait.For(t, waitTimeout, "every disconnect logged", func() bool {
		return len(rec.disconnects("CLIENT")) == clients && len(rec.disconnects("COMMUNICATION_SERVER")) == 1
	})
	for _, l := range rec.disconnects("CLIENT") {
		if l > slog.LevelInfo {
			t.Errorf("an abrupt client disconnect logged at %s, want debug or info", l)
		}
	}
	if l := rec.disconnects("COMMUNICATION_SERVER")[0]; l != slog.LevelWarn {
		t.Errorf("an abrupt server disconnect logged at %s, want %s", l, slog.LevelWarn)
	}
}

// TestInvalidUTF8InATextFrameGets1007 is issue 12 defect 9: RFC 6455 8.1
// says a text frame that is not UTF-8 fails the connection with 1007.
func TestInvalidUTF8InATextFrameGets1007(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	bad, other, server := dialClient(t, tc), dialClient(t, tc), dialServer(t, tc)
	bad.welcome()
	otherAlias, serverAlias := other.welcome().GetAlias(), server.welcome().GetAlias()

	if err := bad.conn.WriteMessage(websocket.TextMessage, []byte{'o', 'k', 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	err := bad.waitClosed()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("closed with %v, want close code %d", err, websocket.CloseInvalidFramePayloadData)
	}
	testwait.For(t, waitTimeout, "the disconnect counted", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_disconnects_total", "role", "CLIENT", "reason", reasonInvalidUTF8) == 1
	})
	expectRelay(t, other, otherAlias, server, serverAlias)
}
