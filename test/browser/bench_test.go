package browser

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// The README's browser figures: go test -run XXX -bench . -benchtime 2000x ./test/browser/
// One server on loopback; the page is the demo (its 20 positions a second
// run beside the measurement, as they would in use).

func benchDemo(b *testing.B) (*page, *cluster.Cluster) {
	b.Helper()
	cl := demoCluster(b, cluster.Options{})
	return openDemo(b, newBrowser(b), cl, nil), cl
}

func BenchmarkPingGo(b *testing.B) {
	cl := cluster.Start(b, cluster.Options{})
	c := cl.Client(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Ping(ctx, client.Reliable); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPingChromium(b *testing.B) {
	p, _ := benchDemo(b)
	b.ResetTimer()
	start := time.Now()
	eval[bool](p, fmt.Sprintf(`(async () => { for (let i = 0; i < %d; i++) await demo.client.ping(); return true })()`, b.N))
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/ping")
}

// BenchmarkPageMessages: a page publishes b.N reliable 64-byte messages
// as fast as it can; a Go client on the same server counts them.
func BenchmarkPageMessages(b *testing.B) {
	p, cl := benchDemo(b)
	rx := cl.Client(b)
	if err := rx.Subscribe(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	eval[bool](p, fmt.Sprintf(`(async () => {
		const body = new Uint8Array(64);
		for (let i = 0; i < %d; i++) {
			while (demo.client.bufferedAmount > (1 << 20)) await new Promise(r => setTimeout(r, 1));
			demo.client.publish("bench", body, {reliable: true});
		}
		return true })()`, b.N))
	for got := 0; got < b.N; got++ {
		select {
		case m := <-rx.Messages():
			if m.Topic != "bench" {
				got--
			}
		case <-time.After(cluster.EventTimeout):
			b.Fatalf("got %d of %d messages", got, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
