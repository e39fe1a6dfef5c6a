package browser

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
)

// A page whose server stops reconnects to the other server by itself:
// chat lines it publishes while reconnecting are queued and delivered, in
// order with those after, and it receives again (re-subscribed).
func TestPageReconnectsToTheOtherServer(t *testing.T) {
	cl := demoCluster(t, clusterOf(2))
	carol := cl.Client(t, cl.On(1), logged(t, "carol"))
	if err := carol.Subscribe(eventCtx(t), chatTopic, positionsTopic); err != nil {
		t.Fatal(err)
	}
	alice := openDemo(t, newBrowser(t), cl, onServer(cl, 0, "alice"))
	first := eval[string](alice, "demo.server")
	if first != strconv.FormatUint(cl.Server(0).Alias(), 10) {
		t.Fatalf("page on server %s, want server 0 (%d)", first, cl.Server(0).Alias())
	}
	// A position from the page proves server 0 has carol's subscription.
	recv(t, carol, "a position from the page", func(m client.Message) bool { return m.Topic == positionsTopic })

	publish := func(from, to int) {
		eval[bool](alice, fmt.Sprintf(`(() => { for (let i = %d; i <= %d; i++)
			demo.client.publishIdentity("demo/chat", "line " + i, {reliable: true}); return true })()`, from, to))
	}
	want := 0
	expect := func(upTo int) {
		t.Helper()
		for want < upTo {
			m := recv(t, carol, fmt.Sprintf("line %d", want+1), func(m client.Message) bool { return m.Topic == chatTopic })
			want++
			if got := string(m.Body); got != fmt.Sprintf("line %d", want) {
				t.Fatalf("carol got %q, want line %d: chat out of order or lost", got, want)
			}
		}
	}
	publish(1, 5)
	expect(5)

	cl.StopServer(t, 0)
	alice.waitFor(`demo.states.includes("reconnecting")`, "reconnecting")
	publish(6, 10) // queued while reconnecting (or sent, if it is back already)
	alice.waitFor(`demo.state === "connected" && demo.server === "`+strconv.FormatUint(cl.Server(1).Alias(), 10)+`"`,
		"connected to server 1")
	publish(11, 15)
	expect(15)

	if err := carol.PublishIdentity(chatTopic, []byte("welcome back"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(`demo.chat.some(c => c.text === "welcome back")`, "chat after reconnecting")
	t.Logf("page states: %s", eval[string](alice, `demo.states.join(" ")`))
}
