// Command ceiling measures raw pion on this machine (see bench/internal/ceiling):
// a relay process forwarding one publisher's messages to N detached data
// channels, with no broker logic. `ceiling relay` is that relay process; the
// bench starts `ceiling` and it starts its own relay.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/webrtc-broker/webrtc-broker/bench/internal/ceiling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "relay" {
		code = relay(ctx)
	} else {
		code = run(ctx)
	}
	stop()
	os.Exit(code)
}

// relay is the relay process. CEILING_RELAY_CPUPROFILE=FILE profiles it, to
// compare with a communication server's profile under the same load.
func relay(ctx context.Context) int {
	if path := os.Getenv("CEILING_RELAY_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ceiling relay:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling relay:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := ceiling.ServeRelay(ctx, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling relay:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context) int {
	var cfg ceiling.Config
	flag.IntVar(&cfg.Receivers, "receivers", 49, "channels the relay writes each message to")
	flag.Float64Var(&cfg.Rate, "rate", 1000, "messages per second from the publisher")
	flag.IntVar(&cfg.Burst, "burst", 1, "messages sent back to back each time (several per packet)")
	flag.IntVar(&cfg.BodySize, "size", 100, "body size in bytes")
	flag.BoolVar(&cfg.Reliable, "reliable", false, "use the reliable (ordered) channel")
	flag.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load before the window, not counted")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile (the publisher and receivers) to a file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		return 1
	}
	cfg.RelayCommand = []string{exe, "relay"}
	res, err := ceiling.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			return 1
		}
		return 0
	}
	l := res.Latency
	fmt.Printf("raw pion relay, %s channel: 1 publisher x %.0f msg/s (burst %d) -> %d receivers, %d-byte bodies\n",
		res.Channel, res.Rate, res.Burst, res.Receivers, res.BodySize)
	fmt.Printf("deliveries %d of %d: %.0f/s, loss %.3f%%, relay dropped %d, %d out of order\n",
		res.Delivered, res.Expected, res.DeliveriesPerSec, res.LossPct, res.RelayDropped, res.OutOfOrder)
	fmt.Printf("latency p50 %dµs p90 %dµs p99 %dµs max %dµs\n", l.P50Us, l.P90Us, l.P99Us, l.MaxUs)
	fmt.Printf("relay CPU %.2fs = %.2f µs per delivery; peak RSS %d KiB\n", res.Relay.CPUSeconds, res.CPUPerDeliveryUs, res.Relay.PeakRSSKB)
	if res.UDP != nil {
		fmt.Printf("UDP on the machine: %d datagrams out (%.2f per delivery), %d dropped by full receive buffers\n",
			res.UDP.OutDatagrams, res.DatagramsPerDelivery, res.UDP.RcvbufErrors)
	}
	fmt.Printf("idle peer: %.0f KiB RSS, %.1f goroutines\n", res.IdleRSSPerPeerKB, res.IdleGoroutinesPerPeer)
	return 0
}
