package commserver

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/natsembed"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TestNATSServerMakesNoLinks: a NATS-mode server under a coordinator that
// lists it servers anyway (one that predates transport=nats) dials none of
// them, and refuses a server's CONNECT with CONNECTION_REFUSED.
func TestNATSServerMakesNoLinks(t *testing.T) {
	ns, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	fake := newStallingCoordinator(t) // it reads, here: the test does
	cfg := Config{CoordinatorURL: fake.url, WebRTC: rtcconfig.Config{LoopbackOnly: true}}
	cfg.Cluster.Transport = TransportNATS
	cfg.NATS.URL = []string{ns.ClientURL()}
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	ws := fake.accept(t, "at start")
	fake.welcome(t, ws, 1, 77)
	connect, err := proto.Marshal(&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: 55, ToAlias: 1,
		FromRole: protocol.Role_COMMUNICATION_SERVER})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, connect); err != nil {
		t.Fatal(err)
	}
	// The server's read loop handles the WELCOME, then the CONNECT: once
	// the refusal is here, the WELCOME's servers have been dealt with.
	deadline := time.Now().Add(stallTimeout)
	for {
		_ = ws.SetReadDeadline(deadline)
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no CONNECTION_REFUSED for a server's CONNECT: %v", err)
		}
		typ, err := relay.ReadType(b)
		if err != nil {
			continue
		}
		if typ == protocol.MessageType_CONNECT {
			t.Fatalf("the NATS server sent a CONNECT: it dials servers")
		}
		if typ != protocol.MessageType_CONNECTION_REFUSED {
			continue
		}
		var m protocol.ConnectionRefusedMessage
		if err := proto.Unmarshal(b, &m); err != nil || m.GetToAlias() != 55 {
			t.Fatalf("CONNECTION_REFUSED %v (%v), want one to 55", &m, err)
		}
		break
	}
	s.mu.Lock()
	dialing := len(s.dialing)
	s.mu.Unlock()
	if dialing != 0 {
		t.Fatalf("dialing %d servers after a WELCOME listing one", dialing)
	}
	testwait.For(t, stallTimeout, "the NATS connection", func() bool { return s.Stats().NATSConnected })
}
