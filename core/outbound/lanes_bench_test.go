package outbound

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Buffered() uint64            { return 0 }

// BenchmarkLanesCoalescedUnreliable: an unreliable lane under sustained
// traffic, gathering for its coalesce window and writing BATCHes, beside
// an idle reliable lane. The writer's pass (gather, take, frame) allocates
// nothing: allocs/op stays at 0 (the messages are the caller's).
func BenchmarkLanesCoalescedUnreliable(b *testing.B) {
	rel, unrel := NewReliable(1<<20), NewUnreliable(1024)
	unrel.SetCoalesce(50 * time.Microsecond)
	unrel.EnableBatching(1100, relay.BatchFramer{})
	l := NewLanes(rel, unrel)
	l.Attach(0, discard{}, 1<<20)
	l.Attach(1, discard{}, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	msg := relay.AppendTopic(nil, 0, "t", make([]byte, 100))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := unrel.Push(msg); err != nil {
			b.Fatal(err)
		}
		if i%8 == 7 {
			// About a coalesce window's worth per gather, as under fan-out.
			for n, _ := unrel.Len(); n > 0; n, _ = unrel.Len() {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(unrel.Written())/float64(max(unrel.Batches(), 1)), "msgs/batch")
}
