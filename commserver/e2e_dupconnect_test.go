package commserver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EDuplicateConnectGetsOneOffer: a client's CONNECT sent twice, back to
// back (a retry, or a duplicated relay), gets one offer: the second finds
// the first peer being set up and is ignored. A second offer would make a
// browser renegotiate and open two more channels with the same labels (it
// was a suspect of the TestTLSPageConnectsOverWSS flake; its logs showed one
// CONNECT and one offer). The server's "ignored" line is the event waited
// for; an offer counted past it is the defect.
func TestE2EDuplicateConnectGetsOneOffer(t *testing.T) {
	srvLog := newJSONLog()
	cl := cluster.Start(t, cluster.Options{
		ServerOptions: func(_ int, o *commserver.Options) { o.Logger = jsonLogger(t, srvLog) },
	})
	server := cl.Server(0).Alias()

	ws, resp, err := websocket.DefaultDialer.Dial(cl.URL()+"/connect", http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial the coordinator: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(cluster.EventTimeout))
	var welcome protocol.WelcomeMessage
	if _, b, err := ws.ReadMessage(); err != nil || proto.Unmarshal(b, &welcome) != nil || welcome.Type != protocol.MessageType_WELCOME {
		t.Fatalf("first message: %v %v, want WELCOME", welcome.Type, err)
	}
	alias := welcome.Alias

	connect := mustMarshal(t, &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: server})
	for range 2 {
		if err := ws.WriteMessage(websocket.BinaryMessage, connect); err != nil {
			t.Fatal(err)
		}
	}

	// The server handles one coordinator link's messages in order, and
	// says what it made of each CONNECT: the second is either ignored or
	// offered for again (the defect).
	offering := 0
	srvLog.await(t, "about the second CONNECT", func(m map[string]any) bool {
		if peer, _ := m["peer"].(float64); uint64(peer) != alias {
			return false
		}
		switch m["msg"] {
		case "CONNECT received, offering":
			offering++
			return offering == 2
		case "CONNECT for a live peer ignored":
			return true
		}
		return false
	})
	if offering != 1 {
		t.Fatalf("the server offered %d times for one CONNECT sent twice, want once", offering)
	}
	var offer protocol.WebRtcMessage
	if _, b, err := ws.ReadMessage(); err != nil || proto.Unmarshal(b, &offer) != nil ||
		offer.Type != protocol.MessageType_WEBRTC_OFFER || offer.FromAlias != server {
		t.Fatalf("after CONNECT: %v from %d (%v), want the server's WEBRTC_OFFER", offer.Type, offer.FromAlias, err)
	}
}
