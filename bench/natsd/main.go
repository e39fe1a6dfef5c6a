// Command natsd runs the embedded NATS server of internal/natsembed as a
// process of its own, on 127.0.0.1, for the benchmark scripts: so that
// nats-server's CPU is measured apart from the communication servers'.
// It serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/webrtc-broker/webrtc-broker/internal/natsembed"
)

func main() {
	port := flag.Int("port", 4222, "client port on 127.0.0.1 (0: a free one)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ns, err := natsembed.Start(natsembed.Config{Port: *port, Name: "bench-natsd", Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ns.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ns.Shutdown()
}
