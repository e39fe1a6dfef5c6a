package commserver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End-to-end tests of the Lua topic policies: the shipped rules of scripts/
// (and a few written here) loaded by a real Lua host into a real server,
// with real WebRTC clients.

// identityAuth admits everyone and gives a client the identity its AUTH body
// names, as an auth plugin would after checking a token.
type identityAuth struct{ auth.AllowAll }

func (identityAuth) Authenticate(_ context.Context, r auth.Request) (auth.Result, error) {
	return auth.Result{Allow: true, Identity: append([]byte{}, r.Body...)}, nil
}

// policyCluster is one server whose Lua host loads a scripts directory
// holding the named shipped rules and the extra files given.
type policyCluster struct {
	*cluster.Cluster
	dir  string
	host *luahost.Host
}

func startPolicyCluster(t *testing.T, shipped []string, extra map[string]string) *policyCluster {
	t.Helper()
	pc := &policyCluster{dir: t.TempDir()}
	for _, name := range shipped {
		src, err := os.ReadFile(filepath.Join("..", "scripts", name))
		if err != nil {
			t.Fatal(err)
		}
		pc.write(t, name, string(src))
	}
	for name, src := range extra {
		pc.write(t, name, src)
	}
	pc.Cluster = cluster.Start(t, cluster.Options{
		ServerOptions: func(_ int, o *commserver.Options) {
			h, err := luahost.New(context.Background(), luahost.Options{
				Dir:        pc.dir,
				Logger:     cluster.Logger("luahost"),
				Registerer: o.Registry,
				// The machine running -race tests is slow; a shipped rule
				// must not time out for that. The loop test declares its own.
				DefaultTimeout: time.Second,
			})
			if err != nil {
				t.Fatalf("lua host: %v", err)
			}
			t.Cleanup(func() { h.Close() })
			pc.host = h
			o.Policy = h
			o.Auth = identityAuth{}
		},
	})
	return pc
}

// write replaces a script the way deployment tools do: a new file renamed
// over the old one, so the watcher never reads half of it.
func (pc *policyCluster) write(t *testing.T, name, src string) {
	t.Helper()
	tmp := filepath.Join(pc.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(pc.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// as dials a client whose identity is identity.
func (pc *policyCluster) as(t *testing.T, identity string) *client.Client {
	t.Helper()
	return pc.Client(t, func(c *client.Config) { c.AuthBody = []byte(identity) })
}

func (pc *policyCluster) hookCalls(t *testing.T, script, outcome string) float64 {
	t.Helper()
	return pc.Counter(t, 0, "broker_policy_hook_calls_total", map[string]string{"script": script, "outcome": outcome})
}

// policyError waits for the ERROR cl gets for topic, skipping anything else.
func policyError(t *testing.T, cl *client.Client, code protocol.ErrorCode, topic string) *client.ServerError {
	t.Helper()
	return cluster.ReceiveError(t, cl, eventTimeout, cluster.ErrorCode(code, topic))
}

// stillConnected fails if any of the clients has lost its link.
func stillConnected(t *testing.T, cls ...*client.Client) {
	t.Helper()
	for _, cl := range cls {
		select {
		case <-cl.Done():
			t.Fatalf("client %d was disconnected: %v", cl.Alias(), cl.Err())
		default:
		}
	}
}

// TestPolicyDropsOversizePublish: size_cap.lua drops a body over 1024 bytes,
// tells the sender, and lets smaller ones through.
func TestPolicyDropsOversizePublish(t *testing.T) {
	pc := startPolicyCluster(t, []string{"size_cap.lua"}, nil)
	alice, bob := pc.as(t, "user:alice"), pc.as(t, "user:bob")
	subscribe(t, bob, "chat.lobby")

	publish(t, alice, "chat.lobby", strings.Repeat("x", 2000), client.Reliable)
	e := policyError(t, alice, protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "chat.lobby")
	if e.Reason != "body over 1024 bytes" {
		t.Errorf("reason %q", e.Reason)
	}
	publish(t, alice, "chat.lobby", "small", client.Reliable)
	// The oversize message, sent first on the same ordered channel, would
	// arrive before this one.
	next(t, bob, "chat.lobby", "small")
	publish(t, alice, "chat.lobby", strings.Repeat("y", 1024), client.Reliable)
	next(t, bob, "chat.lobby", strings.Repeat("y", 1024))
	if n := pc.hookCalls(t, "size_cap.lua", "drop"); n != 1 {
		t.Errorf("drops counted: %v, want 1", n)
	}
}

// TestPolicyRateLimitsAFlood: rate_limit.lua (10/s, bursts of 20) caps one
// client's flood, while another client's messages all pass.
func TestPolicyRateLimitsAFlood(t *testing.T) {
	pc := startPolicyCluster(t, []string{"rate_limit.lua"}, nil)
	flooder, calm, watcher := pc.as(t, "user:f"), pc.as(t, "user:c"), pc.as(t, "user:w")
	subscribe(t, watcher, "game.pos")

	const flood = 100
	start := time.Now()
	for i := range flood {
		publish(t, flooder, "game.pos", fmt.Sprint("flood-", i), client.Reliable)
	}
	// The echo of a PING sent after the flood means the server has handled
	// all of it: what it let through is already queued for the watcher.
	ping(t, flooder, client.Reliable)
	elapsed := time.Since(start)
	for i := range 5 {
		publish(t, calm, "game.pos", fmt.Sprint("calm-", i), client.Reliable)
	}
	publish(t, calm, "game.pos", "end", client.Reliable)

	fromFlooder, fromCalm := 0, 0
	for {
		m := cluster.Next(t, watcher, eventTimeout)
		if string(m.Body) == "end" {
			break
		}
		switch {
		case strings.HasPrefix(string(m.Body), "flood-"):
			fromFlooder++
		case strings.HasPrefix(string(m.Body), "calm-"):
			fromCalm++
		}
	}
	// 20 at once, then 10 a second for as long as the flood lasted.
	most := 20 + int(10*elapsed.Seconds()) + 1
	if fromFlooder < 20 || fromFlooder > most {
		t.Errorf("the flooder got %d of %d messages through in %v, want 20..%d", fromFlooder, flood, elapsed, most)
	}
	if fromCalm != 5 {
		t.Errorf("the calm client got %d of 5 messages through", fromCalm)
	}
	e := policyError(t, flooder, protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "game.pos")
	if e.Reason != "rate limit exceeded" {
		t.Errorf("reason %q", e.Reason)
	}
	stillConnected(t, flooder, calm, watcher)
}

// TestPolicyDeniesSubscription: announce_acl.lua keeps a user out of
// announce.internal.*; the client gets an ERROR naming the topic and the
// rest of its set is subscribed.
func TestPolicyDeniesSubscription(t *testing.T) {
	pc := startPolicyCluster(t, []string{"announce_acl.lua"}, nil)
	staff, user := pc.as(t, "staff:carol"), pc.as(t, "user:dave")

	subscribe(t, user, "announce.internal.ops", "announce.news", "lobby")
	e := policyError(t, user, protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED, "announce.internal.ops")
	if e.Reason != "only staff may subscribe to announce.internal.ops" {
		t.Errorf("reason %q", e.Reason)
	}
	publish(t, staff, "announce.internal.ops", "secret", client.Reliable)
	publish(t, staff, "announce.news", "public", client.Reliable)
	next(t, user, "announce.news", "public")
	publish(t, staff, "lobby", "hi", client.Reliable)
	next(t, user, "lobby", "hi")

	// Staff are let in, and the user may not publish announcements.
	ops := pc.as(t, "staff:erin")
	subscribe(t, ops, "announce.internal.ops")
	publish(t, user, "announce.internal.ops", "fake", client.Reliable)
	policyError(t, user, protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "announce.internal.ops")
	publish(t, staff, "announce.internal.ops", "real", client.Reliable)
	next(t, ops, "announce.internal.ops", "real")
	stillConnected(t, staff, user, ops)
}

// TestPolicyHotReload: an edited rule takes effect within a second, nobody
// is disconnected, and a broken edit leaves the rule in force.
func TestPolicyHotReload(t *testing.T) {
	pc := startPolicyCluster(t, []string{"size_cap.lua"}, nil)
	alice, bob := pc.as(t, "user:alice"), pc.as(t, "user:bob")
	subscribe(t, bob, "chat.lobby")
	big := strings.Repeat("x", 2000)
	publish(t, alice, "chat.lobby", big, client.Reliable)
	policyError(t, alice, protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "chat.lobby")

	src, err := os.ReadFile(filepath.Join(pc.dir, "size_cap.lua"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(src), "MAX_BYTES = 1024", "MAX_BYTES = 4096", 1)
	if edited == string(src) {
		t.Fatal("size_cap.lua no longer sets MAX_BYTES = 1024")
	}
	alicePeer := func() bool {
		// What the server will decide for alice's next big message.
		p := policy.Peer{Alias: alice.Alias(), Identity: []byte("user:alice"), Role: protocol.Role_CLIENT}
		return pc.host.OnPublish(p, "chat.lobby", []byte(big), true).Verdict == policy.Allow
	}
	saved := time.Now()
	pc.write(t, "size_cap.lua", edited)
	testwait.For(t, time.Second, "the edit in force within a second", alicePeer)
	t.Logf("the edit took effect after %v", time.Since(saved))
	publish(t, alice, "chat.lobby", big, client.Reliable)
	next(t, bob, "chat.lobby", big)
	stillConnected(t, alice, bob)

	loadErrors := pc.Counter(t, 0, "broker_policy_script_loads_total", map[string]string{"result": "error"})
	pc.write(t, "size_cap.lua", "policy = { topics = { \"chat.**\" } }\nfunction on_publish(topic, body)\n  return \"drop\" ,, \"all\"\nend\n")
	testwait.For(t, eventTimeout, "the broken edit rejected", func() bool {
		return pc.Counter(t, 0, "broker_policy_script_loads_total", map[string]string{"result": "error"}) > loadErrors
	})
	publish(t, alice, "chat.lobby", big+"!", client.Reliable)
	next(t, bob, "chat.lobby", big+"!")
	publish(t, alice, "chat.lobby", strings.Repeat("z", 5000), client.Reliable)
	policyError(t, alice, protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "chat.lobby")
	stillConnected(t, alice, bob)
}

// TestPolicyEndlessLoopTimesOut: a hook that never returns is cut at its
// time limit, the publish fails closed, and the server keeps relaying.
func TestPolicyEndlessLoopTimesOut(t *testing.T) {
	pc := startPolicyCluster(t, []string{"size_cap.lua"}, map[string]string{"spin.lua": `
policy = { topics = { "spin.**" }, timeout_ms = 50 }
function on_publish(topic, body)
  while true do end
end
`})
	alice, bob := pc.as(t, "user:alice"), pc.as(t, "user:bob")
	subscribe(t, bob, "spin.x", "chat.lobby", "lobby")
	for i := range 3 {
		publish(t, alice, "spin.x", fmt.Sprint("spin-", i), client.Reliable)
	}
	e := policyError(t, alice, protocol.ErrorCode_ERROR_PUBLISH_DROPPED, "spin.x")
	if e.Reason != "policy failure" {
		t.Errorf("reason %q", e.Reason)
	}
	publish(t, alice, "chat.lobby", "still relaying", client.Reliable)
	next(t, bob, "chat.lobby", "still relaying")
	publish(t, alice, "lobby", "ungoverned too", client.Reliable)
	next(t, bob, "lobby", "ungoverned too")
	if n := pc.hookCalls(t, "spin.lua", "timeout"); n != 3 {
		t.Errorf("time-outs counted: %v, want 3", n)
	}
	stillConnected(t, alice, bob)
}

// BenchmarkPolicyRelay is the relay rate through one server, one publisher
// to one subscriber, 100-byte reliable messages: with no policy host, with
// the shipped rules loaded but the topic ungoverned, and on a topic
// size_cap.lua governs. ns/op is per relayed message.
func BenchmarkPolicyRelay(b *testing.B) {
	for _, bc := range []struct {
		name, topic string
		policy      bool
	}{
		{"off", "chat.lobby", false},
		{"ungoverned", "lobby", true},
		{"governed", "chat.lobby", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var opts cluster.Options
			if bc.policy {
				dir := b.TempDir()
				for _, name := range []string{"size_cap.lua", "rate_limit.lua", "announce_acl.lua", "stamp_time.lua"} {
					src, err := os.ReadFile(filepath.Join("..", "scripts", name))
					if err != nil {
						b.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				h, err := luahost.New(b.Context(), luahost.Options{Dir: dir, NoWatch: true})
				if err != nil {
					b.Fatal(err)
				}
				opts.ServerOptions = func(_ int, o *commserver.Options) { o.Policy = h }
			}
			c := cluster.Start(b, opts)
			pub, sub := c.Client(b), c.Client(b)
			ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
			defer cancel()
			if err := sub.Subscribe(ctx, bc.topic); err != nil {
				b.Fatal(err)
			}
			body := []byte(strings.Repeat("x", 100))
			// At most window messages in flight, so the subscriber is never
			// a slow consumer: this measures the relay, not queue overflow.
			const window, ack = 256, 64
			acks := make(chan struct{}, b.N/ack+1)
			go func() {
				n := 0
				for range sub.Messages() {
					if n++; n%ack == 0 || n == b.N {
						acks <- struct{}{}
					}
					if n == b.N {
						return
					}
				}
			}()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			acked := 0
			for i := range b.N {
				for i-acked >= window {
					select {
					case <-acks:
						acked += ack
					case <-time.After(eventTimeout):
						b.Fatalf("relay stalled at %d of %d", acked, b.N)
					}
				}
				if err := pub.Publish(bc.topic, body, client.Reliable); err != nil {
					b.Fatal(err)
				}
			}
			for acked < b.N {
				select {
				case <-acks:
					acked += ack
				case <-time.After(eventTimeout):
					b.Fatalf("relay stalled at %d of %d", acked, b.N)
				}
			}
		})
	}
}
