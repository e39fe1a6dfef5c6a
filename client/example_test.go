package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// A client that subscribes to a topic, publishes on it reliably and prints
// what the other subscribers send. (Not run: it needs a cluster.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		CoordinatorURL: "ws://127.0.0.1:9090",
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Subscribe(ctx, "chat"); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Publish("chat", []byte("hello"), true); err != nil {
		fmt.Println(err)
		return
	}
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				fmt.Println("disconnected:", c.Err())
				return
			}
			fmt.Printf("%d on %s: %s\n", m.FromAlias, m.Topic, m.Body)
		case <-ctx.Done():
			return
		}
	}
}
