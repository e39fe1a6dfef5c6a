package commserver_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// suffixRule is a Lua rule that marks every publish it lets through and
// drops one body: a message that crossed NATS with the rule run once shows
// one mark, run on both servers two.
const suffixRule = `
policy = { topics = { "gov.**" } }

function on_publish(topic, body)
  if body == "forbidden" then
    return "drop", "not here"
  end
  return "replace", body .. "+lua"
end
`

// TestE2ENATSLuaPolicyRunsOnceWhereMessagesEnter: with the same Lua rule
// on both servers, a message crossing NATS is rewritten once, by the
// publisher's server, and one it drops never reaches NATS.
func TestE2ENATSLuaPolicyRunsOnceWhereMessagesEnter(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "suffix.lua"), []byte(suffixRule), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := natsCluster(t, 2, func(o *cluster.Options) {
		o.ServerOptions = func(_ int, so *commserver.Options) {
			h, err := luahost.New(context.Background(), luahost.Options{
				Dir: dir, Logger: cluster.Logger("luahost"), Registerer: so.Registry, DefaultTimeout: time.Second,
			})
			if err != nil {
				t.Fatalf("lua host: %v", err)
			}
			t.Cleanup(func() { h.Close() })
			so.Policy = h
		}
	})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, b, "gov.x", "fence")
	reach(t, a, b, "fence", client.Reliable)
	// Not reach on gov.x: the rule rewrites its sync message. NATS shows
	// the subscription instead.
	testwait.For(t, eventTimeout, "server 1 to subscribe gov.x's subject", func() bool {
		return cl.NATS().Interest(subject(t, "gov.x")) == 1
	})

	// A publish is counted once NATS has it, in the read loop that handled
	// it: a ping's answer proves the loop is past every earlier message
	// (the probes above included), so the count is read at rest.
	published := func() float64 { return cl.Counter(t, 0, "commserver_nats_published_total", nil) }
	ping(t, a, client.Reliable)
	before := published()
	publish(t, a, "gov.x", "forbidden", client.Reliable)
	cluster.ReceiveError(t, a, eventTimeout, cluster.ErrorCode(protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "gov.x"))
	publish(t, a, "gov.x", "hello", client.Reliable)
	next(t, b, "gov.x", "hello+lua")
	ping(t, a, client.Reliable)
	if got := published() - before; got != 1 {
		t.Fatalf("server 0 published %v messages to NATS for one dropped and one allowed, want 1", got)
	}
}
