package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// These tests run the client against a fake coordinator that is also a fake
// server: just enough of both, on loopback, to pin the client's side of the
// protocol without depending on the real coordinator and commserver (the
// end-to-end tests in commserver/ do that).

const (
	fakeClientAlias = 7
	fakeServerAlias = 1
)

type fakeMode int

const (
	fakeAccept fakeMode = iota
	fakeRefuseFull
	fakeNoServers
	fakeUnauthorized
	// fakeOfferTwice sends its offer twice, as a coordinator or server that
	// duplicated the signal would, and never applies the answer: only the
	// client's refusal of the second offer can end Dial before its timeout.
	fakeOfferTwice
)

// fakeServer is the server side of one client link. Its channels arrive on
// reliable/unreliable once open.
type fakeServer struct {
	url        string
	reliable   chan datachannel.ReadWriteCloser
	unreliable chan datachannel.ReadWriteCloser
	pcs        chan *webrtc.PeerConnection
	connect    chan *protocol.ConnectMessage
}

func startFake(t *testing.T, mode fakeMode) *fakeServer {
	t.Helper()
	f := &fakeServer{
		reliable:   make(chan datachannel.ReadWriteCloser, 1),
		unreliable: make(chan datachannel.ReadWriteCloser, 1),
		pcs:        make(chan *webrtc.PeerConnection, 1),
		connect:    make(chan *protocol.ConnectMessage, 1),
	}
	api, err := rtc.NewAPI(rtcconfig.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode == fakeUnauthorized {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		f.serve(ctx, t, ws, api, mode)
	}))
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		select {
		case pc := <-f.pcs:
			pc.Close()
		default:
		}
	})
	f.url = strings.Replace(srv.URL, "http://", "ws://", 1)
	return f
}

func (f *fakeServer) serve(ctx context.Context, t *testing.T, ws *websocket.Conn, api *rtc.API, mode fakeMode) {
	send := func(m proto.Message) {
		b, _ := proto.Marshal(m)
		_ = ws.WriteMessage(websocket.BinaryMessage, b)
	}
	servers := []uint64{fakeServerAlias}
	if mode == fakeNoServers {
		servers = nil
	}
	send(&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: fakeClientAlias, AvailableServers: servers})
	_, b, err := ws.ReadMessage()
	if err != nil {
		return
	}
	var connect protocol.ConnectMessage
	if err := proto.Unmarshal(b, &connect); err != nil || connect.Type != protocol.MessageType_CONNECT {
		t.Errorf("first client message: %v %v, want CONNECT", connect.Type, err)
		return
	}
	f.connect <- &connect
	if mode == fakeRefuseFull {
		send(&protocol.ConnectionRefusedMessage{Type: protocol.MessageType_CONNECTION_REFUSED,
			FromAlias: fakeServerAlias, ToAlias: fakeClientAlias, Reason: protocol.ConnectionRefusedReason_SERVER_FULL})
		<-ctx.Done()
		return
	}

	pc, err := api.NewPeerConnection()
	if err != nil {
		t.Error(err)
		return
	}
	f.pcs <- pc
	relInit, unrelInit := rtc.ChannelInits()
	for label, init := range map[string]*webrtc.DataChannelInit{rtc.LabelReliable: relInit, rtc.LabelUnreliable: unrelInit} {
		dc, err := pc.CreateDataChannel(label, init)
		if err != nil {
			t.Error(err)
			return
		}
		out := f.reliable
		if label == rtc.LabelUnreliable {
			out = f.unreliable
		}
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			if err != nil {
				t.Error(err)
				return
			}
			out <- rw
		})
	}
	// Candidates are sent from pion's goroutine while this one sends the
	// offer: a channel serializes the writes.
	writes := make(chan []byte, 64)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		data, _ := json.Marshal(c.ToJSON())
		b, _ := proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, FromAlias: fakeServerAlias, Data: data})
		writes <- b
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Error(err)
		return
	}
	data, _ := json.Marshal(offer)
	b, _ = proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER, FromAlias: fakeServerAlias, Data: data})
	writes <- b
	if mode == fakeOfferTwice {
		writes <- b
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Error(err)
		return
	}
	go func() {
		for {
			select {
			case b := <-writes:
				_ = ws.WriteMessage(websocket.BinaryMessage, b)
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return // the client closes the socket once connected
		}
		var m protocol.WebRtcMessage
		if err := proto.Unmarshal(b, &m); err != nil {
			t.Errorf("decode client signal: %v", err)
			return
		}
		if m.ToAlias != fakeServerAlias {
			t.Errorf("client sent %s to alias %d, want %d", m.Type, m.ToAlias, fakeServerAlias)
		}
		switch m.Type {
		case protocol.MessageType_WEBRTC_ANSWER:
			if mode == fakeOfferTwice {
				continue
			}
			sd, err := rtc.DecodeSDP(m.Data)
			if err == nil {
				err = pc.SetRemoteDescription(sd)
			}
			if err != nil {
				t.Errorf("answer: %v", err)
			}
		case protocol.MessageType_WEBRTC_ICE_CANDIDATE:
			if mode == fakeOfferTwice {
				continue
			}
			if pc.RemoteDescription() == nil {
				t.Error("the client sent a candidate before its answer")
			}
			c, err := rtc.DecodeCandidate(m.Data)
			if err == nil {
				err = pc.AddICECandidate(c)
			}
			if err != nil {
				t.Errorf("candidate: %v", err)
			}
		}
	}
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func readMessage(t *testing.T, rw datachannel.ReadWriteCloser) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		buf := make([]byte, readBufferSize)
		n, err := rw.Read(buf)
		got <- result{buf[:n], err}
	}()
	r := receive(t, got, "a message from the client")
	if r.err != nil {
		t.Fatalf("server read: %v", r.err)
	}
	return r.b
}

func dialFake(t *testing.T, f *fakeServer, mod func(*Config)) (*Client, error) {
	t.Helper()
	cfg := Config{CoordinatorURL: f.url, WebRTC: rtcconfig.Config{LoopbackOnly: true}, ConnectTimeout: 15 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := Dial(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestDialWritesAuthFirstAndExchangesMessages(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, func(cfg *Config) { cfg.AuthBody = []byte("creds") })
	if err != nil {
		t.Fatal(err)
	}
	if c.Alias() != fakeClientAlias || c.ServerAlias() != fakeServerAlias {
		t.Fatalf("aliases: client %d server %d, want %d and %d", c.Alias(), c.ServerAlias(), fakeClientAlias, fakeServerAlias)
	}
	if got := receive(t, f.connect, "CONNECT").ToAlias; got != fakeServerAlias {
		t.Fatalf("CONNECT to %d, want %d", got, fakeServerAlias)
	}
	rel := receive(t, f.reliable, "reliable channel")
	unrel := receive(t, f.unreliable, "unreliable channel")

	var auth protocol.AuthMessage
	if err := proto.Unmarshal(readMessage(t, rel), &auth); err != nil {
		t.Fatal(err)
	}
	if auth.Type != protocol.MessageType_AUTH || auth.Role != protocol.Role_CLIENT || string(auth.Body) != "creds" {
		t.Fatalf("first reliable message %v, want AUTH/CLIENT with the body", &auth)
	}

	if err := c.Publish("chat", []byte("hello"), Unreliable); err != nil {
		t.Fatal(err)
	}
	var topic protocol.TopicMessage
	if err := proto.Unmarshal(readMessage(t, unrel), &topic); err != nil {
		t.Fatal(err)
	}
	if topic.Type != protocol.MessageType_TOPIC || topic.Topic != "chat" || string(topic.Body) != "hello" {
		t.Fatalf("published %v", &topic)
	}

	// The fake server forwards a message and echoes a ping, as a real one does.
	fw, _ := proto.Marshal(&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 99, Body: []byte("hey"), Topic: "chat"})
	if _, err := rel.Write(fw); err != nil {
		t.Fatal(err)
	}
	m := receive(t, c.Messages(), "the forwarded message")
	if m.Role != protocol.Role_UNKNOWN_ROLE || m.FromAlias != 99 || m.Topic != "chat" || string(m.Body) != "hey" || m.Channel != Reliable {
		t.Fatalf("received %+v", m)
	}

	pingDone := make(chan error, 1)
	go func() {
		_, err := c.Ping(context.Background(), Reliable)
		pingDone <- err
	}()
	ping := readMessage(t, rel)
	if _, err := rel.Write(ping); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, pingDone, "the ping to return"); err != nil {
		t.Fatal(err)
	}
}

func TestDoneFiresWhenTheServerClosesWithoutReconnection(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, func(cfg *Config) { cfg.Reconnect.Disabled = true })
	if err != nil {
		t.Fatal(err)
	}
	pc := receive(t, f.pcs, "the server's peer connection")
	f.pcs <- pc // for the cleanup
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	receive(t, c.Done(), "Done after the server closed")
	if !errors.Is(c.Err(), ErrDisconnected) {
		t.Fatalf("Err() = %v, want ErrDisconnected", c.Err())
	}
	if err := c.Publish("chat", nil, Reliable); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after disconnect = %v, want ErrClosed", err)
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("Messages() delivered after the link was lost")
	}
}

func TestDialErrors(t *testing.T) {
	cases := []struct {
		name string
		mode fakeMode
		want error
	}{
		{"server full", fakeRefuseFull, ErrServerFull},
		{"no servers", fakeNoServers, ErrNoServers},
		{"coordinator refuses the credentials", fakeUnauthorized, ErrAuthFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, tc.mode)
			_, err := dialFake(t, f, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Dial = %v, want %v", err, tc.want)
			}
		})
	}
}

// A server offers once per CONNECT. A second offer on the link being set up
// (a duplicated signal) is refused with a clear error, not answered: the
// answer would renegotiate the link and add two more channels with the same
// labels. The browser SDK refuses it the same way (client/js/src/link.ts).
func TestDialRefusesASecondOffer(t *testing.T) {
	f := startFake(t, fakeOfferTwice)
	_, err := dialFake(t, f, nil)
	if err == nil || !errors.Is(err, errUnexpected) || !strings.Contains(err.Error(), "second offer") {
		t.Fatalf("Dial = %v, want the second offer refused (%v)", err, errUnexpected)
	}
}

func TestCloseIsIdempotentAndStopsCalls(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err() = %v, want ErrClosed", c.Err())
	}
	if _, err := c.Ping(context.Background(), Reliable); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
	if err := c.Subscribe(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// After Close, none of the client's own goroutines (read loops, link
// watcher, signaling reader, grace timers) is left.
func TestCloseLeavesNoClientGoroutine(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	marks := []string{"client.(*Client)", "client.(*link)", "client.(*signaling)", "client.(*dataChannel)"}
	if len(testwait.Goroutines(marks...)) == 0 {
		t.Fatal("no client goroutine found while connected: the check below would prove nothing")
	}
	c.Close()
	testwait.GoroutinesEnd(t, 10*time.Second, "client goroutines to end after Close", marks...)
}
