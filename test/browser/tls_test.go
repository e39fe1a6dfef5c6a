package browser

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// trusting is Chromium's flag that trusts exactly the coordinator's test
// certificate (by its key's hash), more precise than ignoring every
// certificate error: the page's trust store, as a browser SDK has no CA
// option of its own.
func trusting(cl *cluster.Cluster) chromedp.ExecAllocatorOption {
	return chromedp.Flag("ignore-certificate-errors-spki-list", cl.TLS().SPKIHash())
}

// TestTLSPageConnectsOverWSS: the demo page loaded over https from a
// coordinator serving a certificate made in the test connects to wss:// on
// its own origin (allowed_origins empty: same origin only) and exchanges
// chat with a Go client that dialed wss:// through the CA.
func TestTLSPageConnectsOverWSS(t *testing.T) {
	cl := demoCluster(t, cluster.Options{TLS: true})
	carol := cl.Client(t, logged(t, "carol"))
	if err := carol.Subscribe(eventCtx(t), chatTopic); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t, trusting(cl))
	alice := openDemo(t, browser, cl, url.Values{"name": {"alice"}})
	if got := eval[string](alice, "location.protocol"); got != "https:" {
		t.Fatalf("page loaded over %s, want https:", got)
	}
	alice.say("over wss")
	recv(t, carol, "the page's chat line", func(m client.Message) bool {
		return m.Topic == chatTopic && strings.Contains(string(m.Body), "over wss")
	})
	if err := carol.PublishIdentity(chatTopic, []byte("hello page"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(`demo.chat.some(c => c.text === "hello page")`, "chat from the Go client")

	// The README's example, as written, works on an https page too.
	ex := newTab(t, browser, "example")
	if err := chromedp.Do(ex, chromedp.Navigate(pageOrigin(cl)+"/demo/example.html")); err != nil {
		t.Fatal(err)
	}
	recv(t, carol, "the README example's chat line", func(m client.Message) bool {
		return m.Topic == chatTopic && string(m.Body) == "hello from the README"
	})
}

// TestTLSPageWithoutTrustIsRefused: without the test certificate's key in
// its trust list, Chromium refuses the coordinator: the trust store decides.
func TestTLSPageWithoutTrustIsRefused(t *testing.T) {
	cl := demoCluster(t, cluster.Options{TLS: true})
	ctx := newTab(t, newBrowser(t), "untrusted")
	err := chromedp.Do(ctx, chromedp.Navigate(pageOrigin(cl)+"/demo/"))
	if err == nil || !strings.Contains(err.Error(), "ERR_CERT") {
		t.Fatalf("opening the page with an untrusted certificate: %v, want a certificate error", err)
	}
}

// otherSite serves, on another origin, a page that opens a WebSocket to
// the coordinator's /connect and records whether it opened.
func otherSite(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><script>
window.socket = new Promise(resolve => {
  const ws = new WebSocket(new URLSearchParams(location.search).get("coord") + "/connect");
  ws.onopen = () => { ws.close(); resolve("open"); };
  ws.onerror = () => resolve("refused");
});
</script>`))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestTLSOriginPolicyInTheBrowser: with TLS on, a page of another origin
// cannot open /connect unless allowed_origins lists it; the Origin header
// is the browser's own.
func TestTLSOriginPolicyInTheBrowser(t *testing.T) {
	site := otherSite(t)
	for _, c := range []struct {
		name    string
		allowed []string
		want    string
	}{
		{"same origin only", nil, "refused"},
		{"listed", []string{site}, "open"},
		{"another listed", []string{"https://app.example.com"}, "refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := startCluster(t, cluster.Options{TLS: true, Coordinator: func(cfg *coordinator.Config) {
				cfg.AllowedOrigins = c.allowed
			}})
			ctx := newTab(t, newBrowser(t, trusting(cl)), "other-site")
			p := &page{t: t, ctx: ctx, name: "other-site"}
			if err := chromedp.Do(ctx, chromedp.Navigate(site+"/?coord="+url.QueryEscape(cl.URL()))); err != nil {
				t.Fatalf("open %s: %v", site, err)
			}
			if got := eval[string](p, "window.socket"); got != c.want {
				t.Fatalf("a page of %s with allowed_origins %v: socket %s, want %s", site, c.allowed, got, c.want)
			}
		})
	}
}
