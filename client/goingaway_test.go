package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// TestACoordinatorGoingAwayIsRetried: a coordinator that shuts down closes
// its sockets with 1001 (going away). A connection attempt that meets it
// fails with that close, not with ErrAuthFailed, so the reconnection loop
// (reconnect.go, which gives up on ErrAuthFailed only) waits its backoff and
// tries again.
func TestACoordinatorGoingAwayIsRetried(t *testing.T) {
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "coordinator shutting down"),
			time.Now().Add(time.Second))
		_ = ws.Close()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, Config{CoordinatorURL: "ws" + strings.TrimPrefix(srv.URL, "http"), WebRTC: rtcconfig.Config{LoopbackOnly: true}})
	if err == nil {
		t.Fatal("Dial succeeded against a coordinator going away")
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("Dial: %v, want the 1001 close", err)
	}
	if errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Dial: %v: a going-away close is not an auth failure (the client would give up)", err)
	}
}
