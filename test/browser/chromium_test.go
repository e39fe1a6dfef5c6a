package browser

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// chromiumPath is Debian's chromium; BROKER_CHROMIUM overrides it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("BROKER_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("chromium not found at %s (apt-get install -y chromium, or set BROKER_CHROMIUM): %v", p, err)
	}
	return p
}

// newBrowser starts one headless Chromium with a fresh profile for the test;
// every page it opens is a tab of it. Loopback-only WebRTC: the servers
// accept only 127.0.0.1 candidates, which Chromium offers only with
// allow-loopback-in-peer-connection, mDNS host names off and (see below)
// every interface enumerated. extra adds flags (a TLS test's trusted key).
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		// Without camera/microphone permission Chromium gathers candidates
		// on the default-route interface only, which is not loopback on a
		// machine with a network; this flag grants the permission, so it
		// enumerates every interface, 127.0.0.1 included (allowed by
		// allow-loopback-in-peer-connection). See TestPageLoopbackCandidates.
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Pages in background tabs keep their timers: each demo tab
		// publishes 20 positions a second.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1000, 700),
	}
	opts = append(opts, extra...)
	// A browser that dies before it answers leaves only its output in
	// chromedp's error: its exit status says more (a signal, a code). The
	// process has been waited for when Allocate returns that error.
	var cmd *exec.Cmd
	opts = append(opts, chromedp.ModifyCmdFunc(func(c *exec.Cmd) { cmd = c }))

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		exit := "not started"
		if cmd != nil && cmd.ProcessState != nil {
			exit = cmd.ProcessState.String()
		}
		t.Fatalf("start chromium (%s): %v", exit, err)
	}
	return bctx
}

// page is one tab on the demo.
type page struct {
	t    testing.TB
	ctx  context.Context
	name string
}

// openDemo opens a tab on the cluster's /demo page and waits until it is
// connected and subscribed. query adds name, token, server.
func openDemo(t testing.TB, browser context.Context, cl *cluster.Cluster, query url.Values) *page {
	if query == nil {
		query = url.Values{"name": {"page"}}
	}
	t.Helper()
	p := &page{t: t, ctx: newTab(t, browser, query.Get("name")), name: query.Get("name")}
	u := pageOrigin(cl) + "/demo/?" + query.Encode()
	logOf(t).printf("page=%s open %s", p.name, u)
	if err := chromedp.Do(p.ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("page %s: open %s: %v", p.name, u, err)
	}
	p.waitFor("window.demo && window.demo.ready", "connected and subscribed")
	return p
}

// pageOrigin is where the cluster's coordinator serves pages: https with
// cluster.Options.TLS.
func pageOrigin(cl *cluster.Cluster) string {
	if cl.TLS() != nil {
		return "https://" + cl.Addr()
	}
	return "http://" + cl.Addr()
}

// waitFor waits, inside the page, until the JavaScript expression is truthy.
func (p *page) waitFor(expr, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, cluster.EventTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		state, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(window.demo ?
			{state: demo.state, server: demo.server, errors: demo.errors, chat: demo.chat, dots: Object.keys(demo.dots)} : null)`))
		p.t.Fatalf("page %s: waiting for %s (%s): %v; page state %s", p.name, what, expr, err, state)
	}
}

// eval runs JavaScript in the page, awaiting a promise, and decodes its value.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, cluster.EventTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("page %s: %s: %v", p.name, js, err)
	}
	return v
}

// say sends a chat line through the page's form, as a user would.
func (p *page) say(line string) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => { const l = document.getElementById("line"); l.value = %q;
		document.getElementById("say").requestSubmit(); return true })()`, line))
}
