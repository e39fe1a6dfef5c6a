package commserver_test

import (
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2ELinkMetricsCountWhatCrossesTheLink: over a real server link, the
// link series count each message of a burst that crossed it on the channel
// it was sent on, in fewer data-channel messages than messages (the link
// batches), and nothing of it on the other channel.
func TestE2ELinkMetricsCountWhatCrossesTheLink(t *testing.T) {
	const (
		n        = 50
		messages = "commserver_link_messages_written_total"
		writes   = "commserver_link_writes_total"
	)
	cl := cluster.Start(t, cluster.Options{Servers: 2, Server: coalesced})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, a, "link")
	subscribe(t, b, "link")
	reach(t, a, b, "link", client.Reliable)
	rel := map[string]string{"channel": "reliable"}
	unrel := map[string]string{"channel": "unreliable"}
	msgsBefore, writesBefore := cl.Counter(t, 0, messages, rel), cl.Counter(t, 0, writes, rel)
	unrelBefore := cl.Counter(t, 0, messages, unrel)

	receiveAll(t, b, "link", burst(t, a, "link", "m", n, client.Reliable))

	msgs := cl.Counter(t, 0, messages, rel) - msgsBefore
	w := cl.Counter(t, 0, writes, rel) - writesBefore
	if msgs < n || w < 1 || w >= msgs {
		t.Fatalf("server 0's link: %v reliable messages in %v data-channel messages for a burst of %d; want at least %d in fewer writes",
			msgs, w, n, n)
	}
	if got := cl.Counter(t, 0, messages, unrel) - unrelBefore; got != 0 {
		t.Fatalf("%v messages counted on the link's unreliable channel for a reliable burst", got)
	}
}
