package commserver_test

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/internal/clienthooks"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EGarbage: random bytes and truncated or nonsensical protobufs, on
// the coordinator WebSocket (as a client and as a server, including
// signaling addressed to the real servers) and on both data channels,
// leave every server serving: registered, meshed, relaying.
func TestE2EGarbage(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, a, "alive")
	subscribe(t, b, "alive")
	reach(t, a, b, "alive", client.Reliable)
	aliases := []uint64{cl.Server(0).Stats().Alias, cl.Server(1).Stats().Alias}
	rng := rand.New(rand.NewPCG(2019, 2026)) // fixed seed: a failure replays
	samples := garbage(t, rng)

	stillServing := func(t *testing.T, round string) {
		t.Helper()
		for i := range 2 {
			st := cl.Server(i).Stats()
			if !st.CoordinatorConnected || st.Alias != aliases[i] || st.Servers != 1 {
				t.Fatalf("after %s, server %d: coordinator connected %v, alias %d (was %d), %d server links",
					round, i, st.CoordinatorConnected, st.Alias, aliases[i], st.Servers)
			}
		}
		publish(t, a, "alive", "a after "+round, client.Reliable)
		expectFrom(t, receive(t, b, "alive", "a after "+round), a)
		publish(t, b, "alive", "b after "+round, client.Unreliable)
		expectFrom(t, receive(t, a, "alive", "b after "+round), b)
		for i := range 2 {
			ping(t, cl.Client(t, cl.On(i)), client.Reliable)
		}
	}

	t.Run("coordinator websocket", func(t *testing.T) {
		for _, endpoint := range []string{"/connect", "/discover?role=COMMUNICATION_SERVER"} {
			msgs := append([][]byte{}, samples...)
			msgs = append(msgs, signalingGarbage(t, rng, aliases)...)
			sent := sendOnWebSocket(t, cl.URL()+endpoint, cl.Secret(), msgs)
			t.Logf("%s: %d of %d garbage messages sent", endpoint, sent, len(msgs))
		}
		stillServing(t, "coordinator garbage")
	})

	t.Run("data channels", func(t *testing.T) {
		for _, reliable := range []bool{true, false} {
			for i := range 2 {
				bad := cl.Client(t, cl.On(i))
				sent := 0
				for _, m := range samples {
					if clienthooks.SendRaw(bad, reliable, m) != nil {
						break // the server closed the offender
					}
					sent++
				}
				t.Logf("server %d, reliable=%v: %d of %d garbage messages sent", i, reliable, sent, len(samples))
				// Every sample is a protocol violation or harmless; there
				// are enough violations to get the sender closed.
				waitDown(t, bad, "a stream of garbage")
			}
		}
		stillServing(t, "data-channel garbage")
	})
}

// garbage returns what a broken or hostile peer might send: random bytes,
// every message type truncated, headers of unknown types, wrong wire types,
// absurd lengths, and subscriptions that are malformed or inflate too far.
func garbage(t *testing.T, rng *rand.Rand) [][]byte {
	t.Helper()
	var out [][]byte
	out = append(out, []byte{}, []byte{0})
	for range 20 {
		b := make([]byte, 1+rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		out = append(out, b)
	}
	valid := []proto.Message{
		&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: 1, AvailableServers: []uint64{2, 3}},
		&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: 1, ToAlias: 2},
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER, ToAlias: 2, Data: []byte(`{"type":"offer","sdp":"v=0"}`)},
		&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 12345.678},
		&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN, Topics: []byte("a b c")},
		&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT, Body: []byte("again")},
		&protocol.TopicMessage{Type: protocol.MessageType_TOPIC, FromAlias: 9, Topic: "alive", Body: bytes.Repeat([]byte("t"), 40)},
		&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 9, Body: []byte("fw"), Topic: "alive"},
		&protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, Topic: "alive", Identity: []byte("i"), Role: 3, Body: []byte("b")},
		&protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, Identity: []byte("i"), Body: []byte("b"), Topic: "alive"},
		&protocol.ConnectionRefusedMessage{Type: protocol.MessageType_CONNECTION_REFUSED, ToAlias: 2, Reason: 1},
		&protocol.ErrorMessage{Type: protocol.MessageType_ERROR, Code: 4, Reason: "from a client"},
	}
	for _, m := range valid {
		full := mustMarshal(t, m)
		// Cut inside the last field and inside the first one.
		out = append(out, full[:len(full)-1], full[:1+rng.IntN(len(full)-1)])
		if _, ok := m.(*protocol.TopicFWMessage); ok {
			out = append(out, full) // server-to-client types from a client
		}
	}
	for typ := range uint64(20) { // a header alone, every type and beyond
		out = append(out, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), typ))
	}
	out = append(out,
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1<<40),
		protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("x")),
		// A TOPIC whose body claims a gigabyte.
		protowire.AppendVarint(protowire.AppendTag(
			protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 9), 4, protowire.BytesType), 1<<30),
		mustMarshal(t, &protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: 7, Topics: []byte("a")}),
		mustMarshal(t, &protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_GZIP, Topics: []byte("not gzip")}),
		mustMarshal(t, &protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_GZIP, Topics: gzipBomb(t)}),
		mustMarshal(t, &protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN, Topics: []byte{0xff, 0xfe}}),
	)
	return out
}

// gzipBomb inflates to 8 MiB of topic names from a few kilobytes.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	chunk := []byte(strings.Repeat("topic ", 1024))
	for range (8 << 20) / len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// signalingGarbage is signaling addressed to the real servers that makes no
// sense: offers and answers that are not SDP, candidates that are not
// candidates, a CONNECT followed by nonsense, refusals nobody asked for.
func signalingGarbage(t *testing.T, rng *rand.Rand, servers []uint64) [][]byte {
	t.Helper()
	var out [][]byte
	datas := [][]byte{nil, []byte("{"), []byte(`{"type":"answer","sdp":"v=0\r\nnonsense"}`),
		[]byte(`{"candidate":"candidate:1 1 udp 1 10.1.2.3 9 typ host"}`), []byte(`{"candidate":"garbage"}`)}
	for _, to := range servers {
		out = append(out, mustMarshal(t, &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: to, ToAlias: to}))
		for _, typ := range []protocol.MessageType{protocol.MessageType_WEBRTC_OFFER, protocol.MessageType_WEBRTC_ANSWER,
			protocol.MessageType_WEBRTC_ICE_CANDIDATE} {
			for _, d := range datas {
				out = append(out, mustMarshal(t, &protocol.WebRtcMessage{Type: typ, FromAlias: to, ToAlias: to, Data: d}))
			}
		}
		out = append(out,
			mustMarshal(t, &protocol.ConnectionRefusedMessage{Type: protocol.MessageType_CONNECTION_REFUSED, ToAlias: to, Reason: 99}),
			mustMarshal(t, &protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: to}),
			mustMarshal(t, &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: to}),
			mustMarshal(t, &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: to}), // twice
		)
	}
	out = append(out, mustMarshal(t, &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: rng.Uint64()}))
	return out
}

// sendOnWebSocket writes msgs on raw WebSocket connections to url, dialling
// again whenever the coordinator closes one (it does, after enough bad
// messages), and returns how many were written. A reader drains whatever the
// coordinator sends (WELCOME, relayed signaling). A server socket proves
// secret, the cluster's.
func sendOnWebSocket(t *testing.T, url, secret string, msgs [][]byte) int {
	t.Helper()
	sent, redials := 0, 0
	for sent < len(msgs) {
		// A server's socket is reached by a server: one that proves the
		// cluster's secret.
		var header http.Header
		if strings.Contains(url, "/discover") {
			header = http.Header{clusterauth.Header: {clusterauth.DiscoverToken(secret, protocol.Role_COMMUNICATION_SERVER, time.Now())}}
		}
		ws, resp, err := websocket.DefaultDialer.Dial(url, header)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("dial %s: %s", url, resp.Status)
			}
			t.Fatalf("dial %s: %v", url, err)
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		// Write until done or until the coordinator closes this socket; the
		// rest go on a new one.
		for sent < len(msgs) && !isClosed(drained) {
			_ = ws.SetWriteDeadline(time.Now().Add(eventTimeout))
			if err := ws.WriteMessage(websocket.BinaryMessage, msgs[sent]); err != nil {
				break
			}
			sent++
		}
		ws.Close()
		<-drained
		if redials++; redials > len(msgs) {
			t.Fatalf("the coordinator closed %d sockets in a row before a message got through", redials)
		}
	}
	return sent
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
