package browser

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

const (
	chatTopic      = "demo/chat"
	positionsTopic = "demo/positions"
)

func withDemo(o *cluster.Options) {
	o.Coordinator = func(c *coordinator.Config) { c.Demo.Enabled = true }
}

func demoCluster(t testing.TB, o cluster.Options) *cluster.Cluster {
	t.Helper()
	withDemo(&o)
	return startCluster(t, o)
}

// onServer places a page on server i for its first connection.
func onServer(cl *cluster.Cluster, i int, name string) url.Values {
	return url.Values{"name": {name}, "server": {strconv.FormatUint(cl.Server(i).Alias(), 10)}}
}

func eventCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), cluster.EventTimeout)
	t.Cleanup(cancel)
	return ctx
}

// goMover publishes the Go client's position as the demo pages do, on the
// unreliable channel, until the test ends.
func goMover(t *testing.T, c *client.Client, name string) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = c.Publish(positionsTopic, fmt.Appendf(nil, `{"x":100,"y":100,"name":%q,"hue":200}`, name), client.Unreliable)
			}
		}
	}()
}

// TestPageLoopbackCandidates checks the premise of every other test: with
// the flags newBrowser passes, Chromium gathers a 127.0.0.1 host candidate
// (not an mDNS name), which is all a loopback_only server accepts.
func TestPageLoopbackCandidates(t *testing.T) {
	cl := demoCluster(t, cluster.Options{})
	p := openDemo(t, newBrowser(t), cl, url.Values{"name": {"solo"}})
	addrs := eval[[]string](p, `(async () => {
		const pc = new RTCPeerConnection({iceServers: []});
		pc.createDataChannel("x");
		const addrs = [];
		const done = new Promise(r => pc.onicecandidate = e => e.candidate ? addrs.push(e.candidate.address) : r());
		await pc.setLocalDescription(await pc.createOffer());
		await done;
		pc.close();
		return addrs;
	})()`)
	t.Logf("Chromium host candidates: %v", addrs)
	if !slices.Contains(addrs, "127.0.0.1") {
		t.Fatalf("candidates %v have no 127.0.0.1", addrs)
	}
	for _, a := range addrs {
		if strings.HasSuffix(a, ".local") {
			t.Fatalf("candidate %s is an mDNS name: WebRtcHideLocalIpsWithMdns is not off", a)
		}
	}
	if got := eval[string](p, `demo.state`); got != "connected" {
		t.Fatalf("state %s, want connected", got)
	}
}

// recv waits for a message of c that matches, quietly dropping the others
// (the demo's positions stream is too busy to log).
func recv(t testing.TB, c *client.Client, what string, match func(client.Message) bool) client.Message {
	t.Helper()
	deadline := time.NewTimer(cluster.EventTimeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-c.Messages():
			if match(m) {
				return m
			}
		case <-deadline.C:
			t.Fatalf("client %d: no %s within %s", c.Alias(), what, cluster.EventTimeout)
		}
	}
}

func clusterOf(servers int) cluster.Options { return cluster.Options{Servers: servers} }
