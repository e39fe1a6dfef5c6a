package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// A client that subscribes to a topic, publishes on it reliably and prints
// what the other subscribers send, the server's errors and its own state
// changes. (Not run: it needs a cluster.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		CoordinatorURL: "ws://127.0.0.1:9090",
		Token:          "a token the coordinator's auth plugin accepts",
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
		OnState: func(ev client.StateEvent) {
			fmt.Println("state:", ev.State, ev.Err) // reconnections are automatic
		},
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
	if err := c.Publish("chat", []byte("hello"), client.Reliable); err != nil {
		fmt.Println(err)
		return
	}
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				fmt.Println("closed:", c.Err())
				return
			}
			fmt.Printf("%d on %s: %s\n", m.FromAlias, m.Topic, m.Body)
		case e := <-c.Errors():
			fmt.Println("server error:", e)
		case <-ctx.Done():
			return
		}
	}
}
