// Package client is the Go SDK of webrtc-broker: it connects to a
// communication server through the coordinator, over a WebRTC peer
// connection with two data channels (reliable and unreliable), and
// subscribes, publishes and receives topic messages.
//
// A client dials the coordinator's /connect endpoint, takes the first server
// its WELCOME lists, answers that server's offer, and writes AUTH on the
// reliable channel. From then on the coordinator is not needed: Dial closes
// the socket, and the client keeps working while the coordinator restarts.
// When the server link is lost the client reconnects by itself, to another
// server when one is offered, and re-subscribes (Config.Reconnect,
// Config.OnState). client/README.md is the design both SDKs follow.
//
//	c, err := client.Dial(ctx, client.Config{CoordinatorURL: "ws://127.0.0.1:9090"})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	if err := c.Subscribe(ctx, "chat"); err != nil { // returns once the server applied it
//		return err
//	}
//	if err := c.Publish("chat", []byte("hello"), client.Reliable); err != nil {
//		return err
//	}
//	for m := range c.Messages() {
//		fmt.Printf("%d on %s: %s\n", m.FromAlias, m.Topic, m.Body)
//	}
//
// The load generator runs hundreds of clients in one process, so the hot
// paths avoid allocation: a publish encodes into a reused buffer, and
// Config.OnMessage receives messages straight from the read buffer instead of
// through the Messages channel.
package client
