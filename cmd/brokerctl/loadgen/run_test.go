package loadgen

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// A short real run through a cluster in this process: every message a client
// publishes on the reliable channel reaches the other clients, in order.
func TestLoadRunThroughACluster(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		CoordinatorURL: c.URL(),
		Scenario:       Dense,
		Clients:        3,
		Rate:           50,
		BodySize:       100,
		Reliable:       true,
		Warmup:         300 * time.Millisecond,
		Duration:       time.Second,
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
		// The servers run in this process: measure it as "the server".
		PIDs: []int{os.Getpid()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 3 || rep.Disconnected != 0 {
		t.Fatalf("%d connected, %d disconnected; want 3 and 0 (errors: %v)", rep.Connected, rep.Disconnected, rep.ConnectErrors)
	}
	if rep.Sent == 0 || rep.Expected != 2*rep.Sent {
		t.Fatalf("sent %d, expected %d: want two receivers per message", rep.Sent, rep.Expected)
	}
	if rep.Delivered != rep.Expected || rep.OutOfOrder != 0 || rep.Duplicates != 0 || rep.Stray != 0 {
		t.Fatalf("reliable: delivered %d of %d, %d out of order, %d duplicates, %d stray",
			rep.Delivered, rep.Expected, rep.OutOfOrder, rep.Duplicates, rep.Stray)
	}
	if rep.Latency.Count != int64(rep.Delivered) || rep.Latency.P50Us <= 0 {
		t.Fatalf("latency %+v for %d deliveries", rep.Latency, rep.Delivered)
	}
	if len(rep.Servers) != 1 || rep.Servers[0].Error != "" || rep.ServerCPUPerDeliveryUs <= 0 {
		t.Fatalf("server usage %+v, %.2f µs per delivery", rep.Servers, rep.ServerCPUPerDeliveryUs)
	}
}

// The join storm connects every client, then reads server memory after the
// idle hold.
func TestJoinStormThroughACluster(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		CoordinatorURL: c.URL(),
		Scenario:       JoinStorm,
		Clients:        5,
		BodySize:       100,
		Duration:       100 * time.Millisecond,
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
		PIDs:           []int{os.Getpid()},
	})
	if err != nil {
		t.Fatal(err)
	}
	js := rep.JoinStorm
	if rep.Connected != 5 || js == nil {
		t.Fatalf("%d connected, join storm %+v (errors: %v)", rep.Connected, js, rep.ConnectErrors)
	}
	if js.AllSubscribedMs < js.AllConnectedMs || js.AllConnectedMs <= 0 || js.Subscribed.Count != 5 {
		t.Fatalf("join storm times %+v", js)
	}
}

// A mixed run: 2019-style and batching clients on one topic, reliable, both
// get everything, and the split by kind adds up to the totals.
func TestMixedRunSplitsByKind(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		CoordinatorURL: c.URL(),
		Scenario:       Dense,
		Clients:        4,
		Unbatched:      2,
		Rate:           50,
		BodySize:       100,
		Reliable:       true,
		Warmup:         300 * time.Millisecond,
		Duration:       time.Second,
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	k := rep.Kinds
	if k == nil || k.Batching.Clients != 2 || k.Legacy.Clients != 2 {
		t.Fatalf("kinds %+v, want 2 and 2 clients", k)
	}
	if k.Batching.Expected+k.Legacy.Expected != rep.Expected || k.Batching.Delivered+k.Legacy.Delivered != rep.Delivered {
		t.Fatalf("split %d+%d expected, %d+%d delivered; totals %d, %d", k.Batching.Expected, k.Legacy.Expected,
			k.Batching.Delivered, k.Legacy.Delivered, rep.Expected, rep.Delivered)
	}
	for name, kr := range map[string]KindResult{"batching": k.Batching, "2019": k.Legacy} {
		if kr.Expected == 0 || kr.Delivered != kr.Expected || kr.Latency.Count != int64(kr.Delivered) {
			t.Fatalf("%s: delivered %d of %d, latency count %d", name, kr.Delivered, kr.Expected, kr.Latency.Count)
		}
	}
}
