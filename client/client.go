package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Client is one connection to a communication server. Its methods are safe
// for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger
	api *rtc.API
	pc  *webrtc.PeerConnection

	// Set by Dial before it returns the client, read-only afterwards.
	alias, server        uint64
	reliable, unreliable *channel

	msgs chan Message // closed by teardown, after the read loops stopped

	pingMu   sync.Mutex               // guards pings and lastPing
	pings    map[uint64]chan struct{} // pending Ping calls by the bits of their time value
	lastPing float64

	authMu     sync.Mutex // guards authReason
	authReason string     // the reason of an ERROR_AUTH_FAILED, if one arrived

	failOnce sync.Once
	err      error         // why the client is done; written once, before done closes
	done     chan struct{} // closed by fail
	closed   chan struct{} // closed by teardown when everything is released
	loops    sync.WaitGroup
}

func newClient(cfg Config, api *rtc.API) *Client {
	return &Client{
		cfg:    cfg,
		log:    cfg.Logger,
		api:    api,
		msgs:   make(chan Message, messagesBuffer),
		pings:  make(map[uint64]chan struct{}),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
}

// Alias is the alias the coordinator gave this client.
func (c *Client) Alias() uint64 { return c.alias }

// ServerAlias is the alias of the communication server this client is
// connected to.
func (c *Client) ServerAlias() uint64 { return c.server }

// Messages returns the received messages, ERROR messages included, when
// Config.OnMessage is nil. It is closed once the client is done and its read
// loops have stopped. If nobody drains it, the read loops wait, which slows
// the server down rather than dropping messages.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Done is closed when the client stops: Close was called, or the link to the
// server was lost (the server closed the peer, a channel failed).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why Done is closed: nil while the client is up, ErrClosed after
// Close, an error wrapping ErrDisconnected (or ErrAuthFailed when the server
// refused the AUTH) when the link was lost.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the peer connection and waits until the read loops have
// stopped, so OnMessage is not called after it returns (do not call Close
// from OnMessage). It is safe to call more than once.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	<-c.closed
	return nil
}

// Publish sends body on topic. Subscribers other than this client receive
// it as TOPIC_FW, on the same kind of channel.
func (c *Client) Publish(topic string, body []byte, reliable bool) error {
	return c.publish(protocol.MessageType_TOPIC, topic, body, reliable)
}

// PublishIdentity sends body on topic as TOPIC_IDENTITY: subscribers receive
// it with the identity and role that authentication gave this client.
func (c *Client) PublishIdentity(topic string, body []byte, reliable bool) error {
	return c.publish(protocol.MessageType_TOPIC_IDENTITY, topic, body, reliable)
}

func (c *Client) publish(typ protocol.MessageType, topic string, body []byte, reliable bool) error {
	if !validTopic(topic) {
		return fmt.Errorf("publish %q: %w", topic, ErrInvalidTopic)
	}
	ch := c.channel(reliable)
	b, err := ch.begin(c.done)
	if err != nil {
		return c.closedErr()
	}
	var msg []byte
	if typ == protocol.MessageType_TOPIC_IDENTITY {
		// No alias, identity or role: the server stamps those and never
		// trusts a client's.
		msg = relay.AppendTopicIdentity(b, 0, topic, nil, 0, body)
	} else {
		msg = relay.AppendTopic(b, 0, topic, body)
	}
	if err := ch.commit(msg); err != nil {
		return c.writeErr(err)
	}
	return nil
}

// Subscribe replaces this client's whole topic set with topics (none
// unsubscribes from everything), then waits for a PING echo on the reliable
// channel: when it returns nil, the server has applied the new set.
func (c *Client) Subscribe(ctx context.Context, topics ...string) error {
	return c.subscribe(ctx, protocol.Format_PLAIN, topics)
}

// SubscribeGzip is Subscribe with the topic set sent gzip-compressed.
func (c *Client) SubscribeGzip(ctx context.Context, topics ...string) error {
	return c.subscribe(ctx, protocol.Format_GZIP, topics)
}

func (c *Client) subscribe(ctx context.Context, format protocol.Format, topics []string) error {
	for _, t := range topics {
		if !validTopic(t) {
			return fmt.Errorf("subscribe %q: %w", t, ErrInvalidTopic)
		}
	}
	set := []byte(strings.Join(topics, " "))
	if format == protocol.Format_GZIP {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(set); err != nil {
			return fmt.Errorf("subscribe: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("subscribe: gzip: %w", err)
		}
		set = buf.Bytes()
	}
	b, err := c.reliable.begin(c.done)
	if err != nil {
		return c.closedErr()
	}
	if err := c.reliable.commit(relay.AppendSubscription(b, format, set)); err != nil {
		return c.writeErr(err)
	}
	// The server handles a channel's messages in order, so the echo of a PING
	// sent after the SUBSCRIPTION proves the subscription was applied.
	if _, err := c.Ping(ctx, true); err != nil {
		return fmt.Errorf("subscribe: waiting for the server to apply it: %w", err)
	}
	return nil
}

// Ping sends a PING on the chosen channel and waits for its echo, returning
// the round-trip time. An unreliable PING may be lost: bound ctx.
func (c *Client) Ping(ctx context.Context, reliable bool) (time.Duration, error) {
	echoed := make(chan struct{})
	c.pingMu.Lock()
	// The time field is echoed unchanged: milliseconds since the epoch as the
	// 2019 protocol has it, nudged up so that every pending ping is unique.
	t := float64(time.Now().UnixMicro()) / 1000
	if t <= c.lastPing {
		t = math.Nextafter(c.lastPing, math.Inf(1))
	}
	c.lastPing = t
	key := math.Float64bits(t)
	c.pings[key] = echoed
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, key)
		c.pingMu.Unlock()
	}()

	start := time.Now()
	ch := c.channel(reliable)
	b, err := ch.begin(c.done)
	if err != nil {
		return 0, c.closedErr()
	}
	if err := ch.commit(relay.AppendPing(b, t)); err != nil {
		return 0, c.writeErr(err)
	}
	select {
	case <-echoed:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("ping on %s: %w", ch.label, ctx.Err())
	case <-c.done:
		return 0, c.closedErr()
	}
}

// SendRaw writes b unchanged on the chosen channel: for tests and fuzzing,
// to send what a well-behaved client never would.
func (c *Client) SendRaw(reliable bool, b []byte) error {
	ch := c.channel(reliable)
	buf, err := ch.begin(c.done)
	if err != nil {
		return c.closedErr()
	}
	if err := ch.commit(append(buf, b...)); err != nil {
		return c.writeErr(err)
	}
	return nil
}

func (c *Client) channel(reliable bool) *channel {
	if reliable {
		return c.reliable
	}
	return c.unreliable
}

// deliver handles one received message; the read loop of ch calls it, and b
// is that loop's buffer.
func (c *Client) deliver(ch *channel, b []byte, topics topicCache) {
	var m Message
	if err := decode(b, &m, topics.intern); err != nil {
		c.log.Warn("dropping undecodable message from server", "server", c.server, "channel", ch.label, "err", err)
		return
	}
	m.Reliable = ch.reliable
	switch m.Type {
	case protocol.MessageType_PING:
		c.pingMu.Lock()
		echoed, ok := c.pings[math.Float64bits(m.pingTime)]
		delete(c.pings, math.Float64bits(m.pingTime))
		c.pingMu.Unlock()
		if ok {
			close(echoed)
			return
		}
	case protocol.MessageType_ERROR:
		c.log.Debug("server sent an error", "server", c.server, "code", m.ErrorCode, "topic", m.Topic, "reason", m.Reason)
		if m.ErrorCode == protocol.ErrorCode_ERROR_AUTH_FAILED {
			c.authMu.Lock()
			c.authReason = m.Reason
			c.authMu.Unlock()
		}
	}
	if c.cfg.OnMessage != nil {
		c.cfg.OnMessage(m)
		return
	}
	select {
	case c.msgs <- m.clone():
	case <-c.done:
	}
}

// startLoops runs one read loop per channel. When one ends, the link is
// lost; the other is given linkGrace to end too, so that what it had
// already received (typically the server's ERROR on reliable, when the
// unreliable channel notices the close first) is delivered before Done.
func (c *Client) startLoops() {
	ended := make(chan error, 2)
	for _, ch := range []*channel{c.reliable, c.unreliable} {
		c.loops.Add(1)
		go func() {
			defer c.loops.Done()
			ended <- ch.readLoop(c.deliver)
		}()
	}
	c.loops.Add(1)
	go func() {
		defer c.loops.Done()
		first := <-ended // Close ends both loops too, through pc.Close
		grace := time.NewTimer(linkGrace)
		defer grace.Stop()
		select {
		case <-ended:
		case <-grace.C:
		}
		c.fail(c.linkErr(first))
	}()
}

// linkGrace is how long the second read loop may take to drain after the
// first ended.
const linkGrace = 250 * time.Millisecond

// linkErr wraps why the link was lost, preferring the server's own AUTH
// refusal when it sent one before closing.
func (c *Client) linkErr(cause error) error {
	c.authMu.Lock()
	reason := c.authReason
	c.authMu.Unlock()
	if reason != "" {
		return fmt.Errorf("%w: server %d: %s (%w)", ErrAuthFailed, c.server, reason, cause)
	}
	return fmt.Errorf("%w: server %d: %w", ErrDisconnected, c.server, cause)
}

// fail ends the client once with err and releases everything in the
// background; Close waits for that.
func (c *Client) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.done)
		if !errors.Is(err, ErrClosed) {
			c.log.Info("client disconnected", "alias", c.alias, "server", c.server, "err", err)
		}
		go c.teardown()
	})
}

func (c *Client) teardown() {
	if c.pc != nil {
		if err := c.pc.Close(); err != nil {
			c.log.Debug("close peer connection", "alias", c.alias, "err", err)
		}
	}
	c.loops.Wait()
	close(c.msgs)
	if err := c.api.Close(); err != nil {
		c.log.Debug("close webrtc api", "alias", c.alias, "err", err)
	}
	close(c.closed)
}

// closedErr is what calls on a done client return: ErrClosed, with the cause
// when the link was lost rather than closed.
func (c *Client) closedErr() error {
	<-c.done
	if errors.Is(c.err, ErrClosed) {
		return c.err
	}
	return fmt.Errorf("%w: %w", ErrClosed, c.err)
}

// writeErr reports a failed write as the client's end when the client is
// done (the write failed because the link went), as itself otherwise.
func (c *Client) writeErr(err error) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
		return err
	}
}

func validTopic(t string) bool {
	return t != "" && strings.IndexByte(t, ' ') < 0
}
