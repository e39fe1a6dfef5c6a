package browser

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// The demo with two tabs: the first draws the other's dot beside its own
// and shows the other's chat line. Its screenshot is saved as a test
// artefact in $BROKER_TEST_ARTIFACTS (or the test's temp dir; the path is
// logged); the checks read the page's own state, not pixels.
func TestDemoScreenshot(t *testing.T) {
	cl := demoCluster(t, cluster.Options{})
	browser := newBrowser(t)
	alice := openDemo(t, browser, cl, url.Values{"name": {"alice"}})
	bob := openDemo(t, browser, cl, url.Values{"name": {"bob"}})
	bob.say("hi alice, this is bob")
	alice.waitFor(`demo.drawn.includes("`+eval[string](bob, "demo.alias")+`")`, "bob's dot")
	alice.waitFor(`document.getElementById("chat").textContent.includes("hi alice, this is bob")`, "bob's chat line")
	alice.waitFor(`document.getElementById("dotCount").textContent === "2"`, "two dots drawn")
	alice.waitFor(`demo.rtt !== null`, "a round-trip time")

	png, err := chromedp.Run(alice.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("BROKER_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "demo.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))

	// Closing a tab removes its dot for the others: its leave message, or
	// else the 2 s time-out of a dot that stopped moving.
	bobAlias := eval[string](bob, "demo.alias")
	if err := chromedp.Do(bob.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.Close, cdp.Empty{}) // runs beforeunload, as a user closing the tab
		return err
	})); err != nil {
		t.Fatalf("close bob's tab: %v", err)
	}
	alice.waitFor(`!demo.drawn.includes("`+bobAlias+`") && !("`+bobAlias+`" in demo.dots)`, "bob's dot gone")
}

// The README's browser example works as written: example.html holds it
// verbatim, and its chat line reaches a demo tab.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- browser example -->\n```js\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```js block after <!-- browser example -->")
	}
	html, err := os.ReadFile(filepath.Join("..", "..", "internal", "webdemo", "static", "example.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), string(m[1])) {
		t.Fatal("internal/webdemo/static/example.html does not hold README.md's browser example verbatim")
	}
	if n := strings.Count(string(m[1]), "\n"); n > 15 {
		t.Errorf("the README's example has %d lines, want at most 15", n)
	}

	cl := demoCluster(t, cluster.Options{})
	browser := newBrowser(t)
	watcher := openDemo(t, browser, cl, url.Values{"name": {"watcher"}})
	ex := &page{t: t, name: "example"}
	ex.ctx = newTab(t, browser, "example")
	if err := chromedp.Do(ex.ctx, chromedp.Navigate("http://"+cl.Addr()+"/demo/example.html")); err != nil {
		t.Fatal(err)
	}
	ex.waitFor(`window.broker && window.broker.state === "connected"`, "the example connected")
	watcher.waitFor(`demo.chat.some(c => c.text === "hello from the README")`, "the example's chat line")
}
