package commserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testport"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EUDPMuxBatchedWrites runs real pion clients against a server whose
// single UDP port writes in batches (webrtc.udp_batch_writes): the
// handshakes, a fan-out of reliable messages (every one, in order, at every
// subscriber) and unreliable delivery all go through the batched socket.
func TestE2EUDPMuxBatchedWrites(t *testing.T) {
	port := testport.UDP(t)
	cl := cluster.Start(t, cluster.Options{Server: func(_ int, cfg *commserver.Config) {
		cfg.WebRTC.UDPMuxPort = port
		on := true
		cfg.WebRTC.UDPBatchWrites = &on
		cfg.WebRTC.UDPBatchSize = 8
		cfg.WebRTC.UDPBatchInterval = time.Millisecond
	}})

	pub := cl.Client(t)
	subs := make([]*client.Client, 3)
	for i := range subs {
		subs[i] = cl.Client(t)
		subscribe(t, subs[i], "batched")
	}
	const n = 200
	for i := range n {
		publish(t, pub, "batched", fmt.Sprintf("m%d", i), client.Reliable)
	}
	for _, s := range subs {
		for i := range n {
			m := next(t, s, "batched", fmt.Sprintf("m%d", i))
			expectFrom(t, m, pub)
		}
	}
	reach(t, pub, subs[0], "batched", client.Unreliable)
}
