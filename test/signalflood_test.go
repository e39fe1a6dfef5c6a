package test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestClientsFloodingSignalingCannotKnockAServerOff is issue 12 defect 3
// end to end, with a real communication server: four /connect sockets
// flooding 8 KiB ICE candidates at it used to get its coordinator link
// closed, so that it re-registered under a new alias again and again and
// new clients failed meanwhile. The flooders must be cut, the server must
// keep its link and alias, and a new client must connect (WELCOME, CONNECT
// relayed, WebRTC up) once the flood is over.
func TestClientsFloodingSignalingCannotKnockAServerOff(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := cluster.Start(t, cluster.Options{CoordinatorOptions: func(o *coordinator.Options) { o.Registry = reg }})
	srv := c.Server(0)
	alias := srv.Stats().Alias

	const flooders, messages = 4, 4000
	candidate, err := proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE,
		ToAlias: alias, Data: bytes.Repeat([]byte("c"), 8<<10)})
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*websocket.Conn, flooders)
	for i := range conns {
		conn, _, err := websocket.DefaultDialer.Dial(c.URL()+"/connect", nil)
		if err != nil {
			t.Fatalf("flooder %d: dial: %v", i, err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if _, _, err := conn.ReadMessage(); err != nil {
			t.Fatalf("flooder %d: WELCOME: %v", i, err)
		}
		conns[i] = conn
	}
	var flood sync.WaitGroup
	for _, conn := range conns {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for range messages {
				if conn.WriteMessage(websocket.BinaryMessage, candidate) != nil {
					return // cut
				}
			}
		}()
	}
	flood.Wait()

	// The marker: a client that connects after the flood.
	cl := c.Client(t)
	if st := srv.Stats(); st.Alias != alias || !st.CoordinatorConnected {
		t.Fatalf("after the flood the server has alias %d (connected %v), want %d and connected: its coordinator link was closed",
			st.Alias, st.CoordinatorConnected, alias)
	}
	if got := cl.ServerAlias(); got != alias {
		t.Fatalf("new client on server %d, want %d", got, alias)
	}
	testwait.For(t, cluster.EventTimeout, "every flooder cut", func() bool {
		return counter(t, reg, "coordinator_disconnects_total", "reason", "signal_flood") == flooders
	})
}

// counter is the sum of the series of name on reg with label name=value.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	return testmetrics.Sum(t, reg, name, map[string]string{label: value})
}
