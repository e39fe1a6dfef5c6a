package browser

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestPageUnpacksBatches: the browser SDK lists FEATURE_BATCH, so a burst of
// chat lines from a Go client reaches the page in BATCHes (the server's
// coalesce window makes sure several are queued together), and the page
// shows every line, in order, as if each had come alone.
func TestPageUnpacksBatches(t *testing.T) {
	const lines = 50
	cl := demoCluster(t, cluster.Options{Server: func(_ int, c *commserver.Config) { c.Outbound.Coalesce = 500 * time.Millisecond }})
	browser := newBrowser(t)
	pg := openDemo(t, browser, cl, nil)
	// The Go client follows the chat only, so that the page is the only
	// receiver of anything the server could batch.
	carol := cl.Client(t, logged(t, "carol"))
	if err := carol.Subscribe(eventCtx(t), chatTopic); err != nil {
		t.Fatal(err)
	}
	// The page measures its round-trip time only once its subscription is
	// in force (demo.js awaits subscribe first); then one line goes out.
	pg.waitFor(`demo.rtt !== null`, "the page subscribed")
	pg.say("ready")
	recv(t, carol, "the page's line", cluster.Body(chatTopic, "ready"))
	before := cl.Counter(t, 0, "commserver_batches_sent_total", nil)

	var want []string
	for i := range lines {
		line := fmt.Sprintf("burst-%02d", i)
		want = append(want, `"`+line+`"`)
		if err := carol.PublishIdentity(chatTopic, []byte(line), client.Reliable); err != nil {
			t.Fatal(err)
		}
	}
	pg.waitFor(`JSON.stringify(demo.chat.filter(c => c.text.startsWith("burst-")).map(c => c.text)) === '[`+strings.Join(want, ",")+`]'`,
		fmt.Sprintf("all %d lines, in order", lines))
	if after := cl.Counter(t, 0, "commserver_batches_sent_total", nil); after <= before {
		t.Fatalf("%v batches sent during the burst, want some: the page got no BATCH", after-before)
	}
}
