package browser

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"syscall"
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
	// Now and then Chromium dies of SIGSEGV while it starts, before it
	// answers on its pipe (5 of some 300 launches on a loaded 2-core
	// machine; "start chromium (signal: segmentation fault)"). Nothing of
	// the test has run in it yet, so such a launch is made again, said in
	// the test's log; any other failure fails the test.
	const maxLaunches = 3
	for attempt := 1; ; attempt++ {
		bctx, exit, crashed, err := launch(t, opts)
		if err == nil {
			return bctx
		}
		if !crashed || attempt == maxLaunches {
			t.Fatalf("start chromium, attempt %d (%s): %v", attempt, exit, err)
		}
		t.Logf("start chromium, attempt %d (%s): %v; launching again", attempt, exit, err)
	}
}

// launch starts one Chromium with a fresh profile. On failure it says how
// the process ended (chromedp's error has only its output) and whether a
// signal ended it; the process has been waited for by then.
func launch(t testing.TB, opts []chromedp.ExecAllocatorOption) (_ context.Context, exit string, crashed bool, _ error) {
	var cmd *exec.Cmd
	opts = append(opts[:len(opts):len(opts)], chromedp.UserDataDir(t.TempDir()),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) { cmd = c }))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
	}
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		stop()
		exit = "not started"
		if cmd != nil && cmd.ProcessState != nil {
			exit = cmd.ProcessState.String()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			crashed = ok && ws.Signaled()
		}
		return nil, exit, crashed, err
	}
	t.Cleanup(stop)
	return bctx, "", false, nil
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
