package browser

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// A subscription that the shipped announce ACL denies (the page is not
// staff) reaches the page's error handler with its code and topic; the
// rest of the set stays in force.
func TestDeniedSubscriptionReachesThePage(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "scripts", "announce_acl.lua"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "announce_acl.lua"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cl := demoCluster(t, cluster.Options{ServerOptions: func(_ int, o *commserver.Options) {
		h, err := luahost.New(context.Background(), luahost.Options{
			Dir: dir, Logger: cluster.Logger("luahost"), Registerer: o.Registry, DefaultTimeout: time.Second,
		})
		if err != nil {
			t.Fatalf("lua host: %v", err)
		}
		t.Cleanup(func() { h.Close() })
		o.Policy = h
	}})
	p := openDemo(t, newBrowser(t), cl, nil)
	eval[bool](p, `demo.client.subscribe(["demo/chat", "demo/positions", "announce.internal.pay"]).then(() => true)`)
	p.waitFor(`demo.errors.some(e => e.code === "ERROR_SUBSCRIPTION_DENIED" && e.topic === "announce.internal.pay")`,
		"the denied subscription's error")
	if s := eval[string](p, "demo.state"); s != "connected" {
		t.Fatalf("state %s after a denied subscription, want connected", s)
	}
	// The error is shown, not mixed into the message stream.
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](
		`document.querySelector("#chat .err")?.textContent.includes("ERROR_SUBSCRIPTION_DENIED")`,
		chromedp.WithPollingTimeout(cluster.EventTimeout))); err != nil {
		t.Fatalf("the error line is not shown: %v", err)
	}
}
