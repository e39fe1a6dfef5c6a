package browser

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/plugins"
	"github.com/webrtc-broker/webrtc-broker/plugins/token/tokens"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

const tokenSecret = "browser-token-secret-0123456789"

// tokenCluster is a two-server mesh, every component authenticating with
// the token plugin as real subprocesses (as commserver/e2e_auth_test.go).
func tokenCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "token")
	if b, err := exec.Command("go", "build", "-o", bin, "github.com/webrtc-broker/webrtc-broker/plugins/token").CombinedOutput(); err != nil {
		t.Fatalf("go build token plugin: %v\n%s", err, b)
	}
	cfg := map[string]any{"secret": tokenSecret, "ttl": "1m"}
	start := func() auth.Authenticator {
		ctx, cancel := context.WithTimeout(context.Background(), cluster.ReadyTimeout)
		defer cancel()
		a, err := plugins.NewAuthenticator(ctx, auth.Config{Plugin: bin, Config: cfg, Timeout: 5 * time.Second},
			cluster.Logger("auth"), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	coordAuth := start()
	serverAuth := []auth.Authenticator{start(), start()}
	return demoCluster(t, cluster.Options{
		Servers:            2,
		CoordinatorOptions: func(o *coordinator.Options) { o.Auth = coordAuth },
		ServerOptions:      func(i int, o *commserver.Options) { o.Auth = serverAuth[i] },
	})
}

func mint(t *testing.T, identity string) string {
	t.Helper()
	tok, err := tokens.Mint([]byte(tokenSecret), tokens.Claims{Identity: identity, Role: protocol.Role_CLIENT, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Two demo pages on different servers of a mesh and a Go client see each
// other's dots and chat, each chat line with the sender's identity from its
// token.
func TestTwoPagesAndAGoClientChatThroughAMesh(t *testing.T) {
	cl := tokenCluster(t)
	browser := newBrowser(t)

	carolTok := mint(t, "carol")
	carol := cl.Client(t, cl.On(0), logged(t, "carol"), func(c *client.Config) {
		c.Query = url.Values{"token": {carolTok}}
		c.AuthBody = []byte(carolTok)
	})
	if err := carol.Subscribe(eventCtx(t), chatTopic, positionsTopic); err != nil {
		t.Fatal(err)
	}
	goMover(t, carol, "carol")

	qa := onServer(cl, 0, "alice")
	qa.Set("token", mint(t, "alice"))
	alice := openDemo(t, browser, cl, qa)
	qb := onServer(cl, 1, "bob")
	qb.Set("token", mint(t, "bob"))
	bob := openDemo(t, browser, cl, qb)
	aliceAlias, bobAlias := eval[string](alice, "demo.alias"), eval[string](bob, "demo.alias")
	carolAlias := strconv.FormatUint(carol.Alias(), 10)

	// Positions flow all ways: each page draws the two others.
	for _, p := range []struct {
		pg     *page
		others []string
	}{{alice, []string{bobAlias, carolAlias}}, {bob, []string{aliceAlias, carolAlias}}} {
		for _, o := range p.others {
			p.pg.waitFor(`demo.drawn.includes("`+o+`")`, "the dot of alias "+o)
		}
	}
	fromPage := map[uint64]bool{}
	recv(t, carol, "positions from both pages", func(m client.Message) bool {
		if m.Topic == positionsTopic && m.Channel == client.Unreliable {
			fromPage[m.FromAlias] = true
		}
		return len(fromPage) == 2
	})

	alice.say("hello from alice")
	bob.say("hello from bob")
	if err := carol.PublishIdentity(chatTopic, []byte("hello from carol"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		pg         *page
		from, line string
	}{
		{alice, "bob", "hello from bob"}, {alice, "carol", "hello from carol"},
		{bob, "alice", "hello from alice"}, {bob, "carol", "hello from carol"},
	} {
		w.pg.waitFor(`demo.chat.some(c => c.from === "`+w.from+`" && c.text === "`+w.line+`")`, w.line+" from "+w.from)
	}
	for _, who := range []string{"alice", "bob"} {
		m := recv(t, carol, "chat from "+who, cluster.Body(chatTopic, "hello from "+who))
		if string(m.Identity) != who || m.Role != protocol.Role_CLIENT || m.Channel != client.Reliable {
			t.Fatalf("carol got %q with identity %q role %s reliable %t, want identity %s, CLIENT, reliable",
				m.Body, m.Identity, m.Role, m.Channel == client.Reliable, who)
		}
	}
}
