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
	"sync/atomic"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Client is a connection to the broker: one link to a communication server
// at a time, replaced when it is lost (see Config.Reconnect). Its methods
// are safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger
	api *rtc.API
	// targets are the coordinators' /connect URLs with the credentials;
	// firstTarget is the one to dial first, the last that answered.
	targets     []string
	firstTarget atomic.Int32

	// ctx is cancelled by Close and when the client gives up: it stops the
	// supervisor, the reconnection attempts and every waiting call.
	ctx    context.Context
	cancel context.CancelFunc

	msgs chan Message      // closed by finish, after every read loop stopped
	errs chan *ServerError // likewise

	// live is the link publishes write to: set once a link is authenticated,
	// re-subscribed and has sent the queue; nil while the client is down.
	live atomic.Pointer[link]
	// mu guards link, upCh and carry, and makes "not live, so queue" atomic
	// with the hand-over from queue to live link.
	mu    sync.Mutex
	link  *link         // the current link, live or being restored; nil while down
	upCh  chan struct{} // closed when a link goes live; replaced when it is lost
	queue *outbound.Queue
	carry [][]byte // queued messages a failed flush could not write, sent first

	alias, server atomic.Uint64

	// ho is the handover of a move in progress (drain.go), nil otherwise.
	ho atomic.Pointer[handover]

	subMu sync.Mutex // serializes sending the topic set, on Subscribe and on restore
	sub   []byte     // the last SUBSCRIPTION, encoded; nil before the first Subscribe
	// subTopics is sub's topic set, and presence the last PRESENCE_REQUEST
	// (nil before the first FollowPresence); guarded by subMu.
	subTopics []string
	presence  []byte
	// streams tracks history topics' positions (recovery.go).
	streams streams

	state atomic.Int32

	worldMu sync.Mutex        // guards worlds
	worlds  map[string]*World // the World handles, by topic (world.go)

	pingMu   sync.Mutex               // guards pings and lastPing
	pings    map[uint64]chan struct{} // pending Ping calls by the bits of their time value
	lastPing float64

	finishOnce sync.Once
	err        error         // why the client is closed; written once, before done closes
	done       chan struct{} // closed by finish once everything is released
}

func newClient(cfg Config, api *rtc.API, targets []string) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		api:     api,
		targets: targets,
		ctx:     ctx,
		cancel:  cancel,
		msgs:    make(chan Message, messagesBuffer),
		errs:    make(chan *ServerError, errorsBuffer),
		upCh:    make(chan struct{}),
		queue:   outbound.NewReliable(cfg.Reconnect.QueueBytes),
		pings:   make(map[uint64]chan struct{}),
		done:    make(chan struct{}),
	}
}

// Alias is the alias the coordinator gave this client; it changes on every
// reconnection.
func (c *Client) Alias() uint64 { return c.alias.Load() }

// ServerAlias is the alias of the communication server this client is (or
// was last) connected to.
func (c *Client) ServerAlias() uint64 { return c.server.Load() }

// Messages returns the received topic messages when Config.OnMessage is
// nil. It is closed once the client is closed. If nobody drains it, the read
// loops wait, which slows the server down rather than dropping messages.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Errors returns the ERRORs the server sends when Config.OnError is nil.
// It holds the latest 64 unread; past that, errors are logged and dropped,
// so an application that never reads it is not stalled. It is closed once
// the client is closed.
func (c *Client) Errors() <-chan *ServerError { return c.errs }

// Done is closed when the client is closed: Close was called, or it gave up
// (reconnection disabled and the link lost, or the credentials refused).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why Done is closed: nil while the client is open, ErrClosed after
// Close, an error wrapping ErrDisconnected or ErrAuthFailed when it gave up.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the link and waits until the read loops have stopped, so
// OnMessage is not called after it returns (do not call Close from
// OnMessage, OnError or OnState). Reliable publishes still queued for a
// reconnection are discarded. It is safe to call more than once.
func (c *Client) Close() error {
	c.cancel()
	// Failing the current link ends whatever the supervisor waits for on it
	// (flow control, a PING echo while restoring).
	c.mu.Lock()
	l := c.link
	c.mu.Unlock()
	if l != nil {
		l.fail(fmt.Errorf("%w: server %d", ErrClosed, l.server))
	}
	<-c.done
	return nil
}

// Publish sends body on topic. Subscribers other than this client receive
// it on the same kind of channel. While the client is reconnecting, a
// reliable publish is queued (ErrQueueFull past Reconnect.QueueBytes) and an
// unreliable one fails with ErrNotConnected.
func (c *Client) Publish(topic string, body []byte, ch Channel) error {
	return c.publish(protocol.MessageType_TOPIC, topic, body, nil, ch)
}

// PublishIdentity is Publish with the identity and role that
// authentication gave this client: subscribers receive them in
// Message.Identity and Message.Role.
func (c *Client) PublishIdentity(topic string, body []byte, ch Channel) error {
	return c.publish(protocol.MessageType_TOPIC_IDENTITY, topic, body, nil, ch)
}

// publish sends a TOPIC or TOPIC_IDENTITY, with the sender's position when
// pos is not nil (world topics).
func (c *Client) publish(typ protocol.MessageType, topic string, body []byte, pos *Position, ch Channel) error {
	if !validTopic(topic) {
		return fmt.Errorf("publish %q: %w", topic, ErrInvalidTopic)
	}
	if !ch.valid() {
		return fmt.Errorf("publish %q: %w", topic, ErrInvalidChannel)
	}
	var stale *link // a link a write found lost, which the supervisor has not retired yet
	for {
		if l := c.live.Load(); l != nil && l != stale {
			err := l.write(l.channel(ch), func(b []byte) []byte { return appendPublish(b, typ, topic, body, pos) })
			if !errors.Is(err, errLinkLost) {
				return err
			}
			stale = l
			continue
		}
		c.mu.Lock()
		if l := c.live.Load(); l != nil && l != stale {
			c.mu.Unlock() // went live meanwhile: the queue is sent, write directly
			continue
		}
		err := c.enqueueLocked(typ, topic, body, pos, ch)
		c.mu.Unlock()
		if errors.Is(err, ErrClosed) {
			return c.closedErr()
		}
		return err
	}
}

// enqueueLocked holds a publish for the next link; mu is held, so a flush
// cannot hand over to a live link between the check and the push.
func (c *Client) enqueueLocked(typ protocol.MessageType, topic string, body []byte, pos *Position, ch Channel) error {
	switch {
	case c.ctx.Err() != nil:
		return ErrClosed
	case c.cfg.Reconnect.Disabled:
		return fmt.Errorf("publish %q: %w: the link was lost and reconnection is disabled", topic, ErrNotConnected)
	case ch == Unreliable:
		return fmt.Errorf("publish %q: %w", topic, ErrNotConnected)
	}
	if err := c.queue.Push(appendPublish(nil, typ, topic, body, pos)); err != nil {
		if errors.Is(err, outbound.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("publish %q: %d bytes queued: %w", topic, c.cfg.Reconnect.QueueBytes, ErrQueueFull)
	}
	return nil
}

// Subscribe replaces this client's whole topic set with topics (none
// unsubscribes from everything) and returns once the server has it in
// force: it waits for the echo of a PING sent after it on the reliable
// channel. A set longer than Config.GzipAbove bytes is sent compressed. The
// set is sent again after every reconnection. While reconnecting, Subscribe
// waits for the link, bounded by ctx.
func (c *Client) Subscribe(ctx context.Context, topics ...string) error {
	for _, t := range topics {
		if !validTopic(t) {
			return fmt.Errorf("subscribe %q: %w", t, ErrInvalidTopic)
		}
	}
	msg, err := c.encodeSubscription(topics)
	if err != nil {
		return err
	}
	c.subMu.Lock()
	c.sub = msg
	c.subTopics = append([]string(nil), topics...)
	c.mu.Lock()
	l := c.link
	c.mu.Unlock()
	if l != nil {
		// A lost link is fine: its successor is sent c.sub before it goes live.
		err = l.write(l.reliable, func(b []byte) []byte { return append(b, msg...) })
	}
	c.subMu.Unlock()
	if err != nil && !errors.Is(err, errLinkLost) {
		return fmt.Errorf("subscribe: %w", err)
	}
	// The server handles a channel's messages in order, so the echo of a PING
	// sent after the SUBSCRIPTION, on this link or a later one (which got the
	// set before going live), proves the set is in force.
	if _, err := c.Ping(ctx, Reliable); err != nil {
		return fmt.Errorf("subscribe: waiting for the server to apply it: %w", err)
	}
	return nil
}

func (c *Client) encodeSubscription(topics []string) ([]byte, error) {
	set := []byte(strings.Join(topics, " "))
	format := protocol.Format_PLAIN
	if c.cfg.GzipAbove >= 0 && len(set) > c.cfg.GzipAbove {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(set); err != nil {
			return nil, fmt.Errorf("subscribe: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("subscribe: gzip: %w", err)
		}
		set, format = buf.Bytes(), protocol.Format_GZIP
	}
	return relay.AppendSubscription(nil, format, set), nil
}

// Ping sends a PING on the chosen channel and waits for its echo, returning
// the round-trip time. While reconnecting it waits for the link, and a link
// lost during the ping is pinged again on the next; an unreliable PING may
// be lost, so bound ctx.
func (c *Client) Ping(ctx context.Context, ch Channel) (time.Duration, error) {
	if !ch.valid() {
		return 0, fmt.Errorf("ping: %w", ErrInvalidChannel)
	}
	for {
		l, err := c.waitLive(ctx)
		if err != nil {
			return 0, fmt.Errorf("ping on %s: %w", ch, err)
		}
		rtt, err := c.pingOn(ctx, l, ch)
		switch {
		case errors.Is(err, ErrClosed):
			return 0, c.closedErr()
		case !errors.Is(err, errLinkLost):
			return rtt, err
		}
	}
}

func (c *Client) pingOn(ctx context.Context, l *link, ch Channel) (time.Duration, error) {
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
	if err := l.write(l.channel(ch), func(b []byte) []byte { return relay.AppendPing(b, t) }); err != nil {
		return 0, fmt.Errorf("ping on %s: %w", ch, err)
	}
	select {
	case <-echoed:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("ping on %s: %w", ch, ctx.Err())
	case <-l.lost:
		return 0, fmt.Errorf("ping on %s: server %d: %w", ch, l.server, errLinkLost)
	case <-c.ctx.Done():
		// Not closedErr: the supervisor pings too (restore), and closedErr
		// waits for it.
		return 0, ErrClosed
	}
}

// waitLive returns the live link, waiting for one while reconnecting.
func (c *Client) waitLive(ctx context.Context) (*link, error) {
	for {
		c.mu.Lock()
		l, up := c.live.Load(), c.upCh
		c.mu.Unlock()
		var wait <-chan struct{} = up
		if l != nil {
			if !l.isLost() {
				return l, nil
			}
			wait = l.retired // lost, not yet retired: upCh is still the closed one
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, c.closedErr()
		}
	}
}

// sendRaw writes b unchanged on the live link: tests only (export_test.go,
// internal/clienthooks).
func (c *Client) sendRaw(ch Channel, b []byte) error {
	l := c.live.Load()
	if l == nil {
		if c.ctx.Err() != nil {
			return c.closedErr()
		}
		return ErrNotConnected
	}
	return l.write(l.channel(ch), func(buf []byte) []byte { return append(buf, b...) })
}

// deliver sorts one received message; the read loop of ch on l calls it,
// and b is that loop's buffer.
func (c *Client) deliver(l *link, ch *dataChannel, b []byte, topics topicCache) {
	if c.cfg.onFrame != nil {
		c.cfg.onFrame(ch.kind, b)
	}
	var f frame
	if err := decode(b, &f, topics.intern); err != nil {
		c.log.Warn("dropping undecodable message from server", "server", l.server, "channel", ch.label, "err", err)
		return
	}
	if f.Type == protocol.MessageType_BATCH && !c.cfg.DisableBatching {
		c.deliverBatch(l, ch, b, topics)
		return
	}
	c.deliverFrame(l, ch, &f)
}

// deliverFrame sorts one decoded message, alone or out of a batch.
func (c *Client) deliverFrame(l *link, ch *dataChannel, f *frame) {
	switch f.Type {
	case protocol.MessageType_TOPIC_FW, protocol.MessageType_TOPIC_IDENTITY_FW:
		if ch.kind == Reliable && !c.fresh(f) {
			return
		}
		m := Message{Topic: f.Topic, FromAlias: f.FromAlias, Body: f.Body, Identity: f.Identity, Role: f.Role, Channel: ch.kind,
			Position: f.Position, HasPosition: f.HasPosition}
		if h := c.ho.Load(); h != nil && c.take(h, l, m) {
			return
		}
		if l.muted.Load() {
			return // a link a move has left: the next one delivers
		}
		c.emit(m)
	case protocol.MessageType_DRAIN:
		l.drain(f.graceMs)
	case protocol.MessageType_RECOVERY:
		c.deliverRecovery(l, f.raw)
	case protocol.MessageType_PRESENCE:
		c.deliverPresence(l, f.raw)
	case protocol.MessageType_PING:
		c.pingMu.Lock()
		echoed, ok := c.pings[math.Float64bits(f.pingTime)]
		delete(c.pings, math.Float64bits(f.pingTime))
		c.pingMu.Unlock()
		if ok {
			close(echoed)
		}
	case protocol.MessageType_ERROR:
		e := &ServerError{Code: f.ErrorCode, Topic: f.Topic, Reason: f.Reason, Server: l.server, Channel: ch.kind}
		c.log.Debug("server sent an error", "server", l.server, "code", e.Code, "topic", e.Topic, "reason", e.Reason)
		if e.Code == protocol.ErrorCode_ERROR_AUTH_FAILED {
			l.authMu.Lock()
			l.authReason = e.Reason
			l.authMu.Unlock()
		}
		if c.cfg.OnError != nil {
			c.cfg.OnError(e)
			return
		}
		select {
		case c.errs <- e:
		default:
			c.log.Warn("dropping a server error: Errors() is full and nobody reads it", "server", l.server, "err", e)
		}
	default:
		c.log.Debug("ignoring message the server should not send a client", "server", l.server, "type", f.Type)
	}
}

// emit hands one message to the application.
func (c *Client) emit(m Message) {
	if c.cfg.OnMessage != nil {
		c.cfg.OnMessage(m)
		return
	}
	select {
	case c.msgs <- m.clone():
	case <-c.ctx.Done():
	}
}

// closedErr is what calls on a closed client return: ErrClosed, with the
// cause when the client gave up rather than was closed.
func (c *Client) closedErr() error {
	<-c.done
	if errors.Is(c.err, ErrClosed) {
		return c.err
	}
	return fmt.Errorf("%w: %w", ErrClosed, c.err)
}

// appendPublish encodes a TOPIC or TOPIC_IDENTITY as a client sends it: no
// alias, identity or role, because the server stamps those and never trusts
// a client's.
func appendPublish(b []byte, typ protocol.MessageType, topic string, body []byte, pos *Position) []byte {
	switch {
	case typ == protocol.MessageType_TOPIC_IDENTITY && pos != nil:
		return relay.AppendTopicIdentityAt(b, 0, topic, nil, 0, body, *pos)
	case typ == protocol.MessageType_TOPIC_IDENTITY:
		return relay.AppendTopicIdentity(b, 0, topic, nil, 0, body)
	case pos != nil:
		return relay.AppendTopicAt(b, 0, topic, body, *pos)
	}
	return relay.AppendTopic(b, 0, topic, body)
}

func validTopic(t string) bool {
	return t != "" && strings.IndexByte(t, ' ') < 0
}
