// Package natsbus carries a communication server's topic messages to the
// other servers through NATS (cluster.transport=nats), instead of WebRTC
// links between servers.
//
// Who owns what: commserver decides what to subscribe to (the union of its
// local clients' topics, handed to SetTopics by its one announcing
// goroutine), runs the topic policies where a message enters the cluster,
// calls Publish once per client message, and delivers what Deliver hands it
// to its local clients. This package owns the NATS connection (URLs,
// credentials, TLS, reconnecting forever with nats.go's own buffer for
// publishes made while reconnecting), the topic-to-subject mapping
// (subject.go), the envelope (envelope.go, protocol/nats-envelope.md), one
// NATS subscription per topic with its pending limit, slow-consumer
// reporting, and the commserver_nats_* metrics.
//
// NATS core delivers at most once: a message is lost if no subscription
// for it exists when it reaches the NATS server, if a subscriber's
// connection is down, or if a subscriber is a slow consumer (over
// nats.pending_limit). Order is kept per publisher and subject, so one
// client's messages on one topic arrive in order.
package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Options are a Bus's collaborators.
type Options struct {
	Logger   *slog.Logger          // nil = slog.Default()
	Registry prometheus.Registerer // nil = not registered
	// Deliver gets every envelope from another server on a subscribed
	// topic, on nats.go's goroutine for that topic's subscription (so one
	// topic's messages come one at a time, in order). The envelope's
	// slices are valid during the call only; Deliver must not block for
	// long, or the topic's pending messages grow to the limit.
	Deliver func(Envelope)
	// Name is the connection's name, as NATS monitoring shows it.
	Name string
	// ReconnectMin and ReconnectMax bound the delay between reconnect
	// rounds (doubling, jittered); zero = 100ms and 10s.
	ReconnectMin, ReconnectMax time.Duration
	// OnReconnect, when set, is called (on nats.go's goroutine) each time
	// the connection is back after a loss: what was published meanwhile
	// never arrived, and history streams must say so.
	OnReconnect func()
}

// Bus is one server's connection to NATS.
type Bus struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	deliver func(Envelope)
	origin  uint64
	nc      *nats.Conn // set by Connect, under mu
	conn    atomic.Pointer[nats.Conn]
	m       *metrics
	closed  chan struct{} // closed by nats.go's ClosedHandler

	// mu serializes SetTopics and Close; subs is theirs.
	mu   sync.Mutex
	subs map[string]*nats.Subscription // by topic
	// subjects is topic -> subject for the subscribed topics, replaced
	// whole by SetTopics, so Publish reads it without a lock.
	subjects atomic.Pointer[map[string]string]
	bufs     sync.Pool // *[]byte envelopes being published

	lastPubErr atomic.Int64 // unix nanos of the last publish error logged
	closing    atomic.Bool  // set by Close, so that its disconnect is not a warning
	failing    atomic.Bool  // connection attempts failing since the last success
}

// New validates cfg and builds a Bus, its metrics registered, not yet
// connected: Connect does that.
func New(cfg Config, o Options) (*Bus, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if o.Deliver == nil {
		return nil, errors.New("natsbus: Options.Deliver is required")
	}
	b := &Bus{
		cfg: cfg, log: o.Logger, deliver: o.Deliver, opts: o,
		subs:   map[string]*nats.Subscription{},
		closed: make(chan struct{}),
		bufs:   sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }},
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.origin = newOrigin()
	b.subjects.Store(&map[string]string{})
	var err error
	if b.m, err = newMetrics(o.Registry, b); err != nil {
		return nil, fmt.Errorf("natsbus metrics: %w", err)
	}
	return b, nil
}

// Connect connects, once. It does not wait for a NATS server: with none
// reachable yet the Bus keeps trying, forever, as after a lost connection;
// publishes meanwhile are buffered by nats.go (up to its 8 MiB
// ReconnectBufSize) and subscriptions are made on connect.
func (b *Bus) Connect() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc != nil {
		return errors.New("natsbus: Connect called twice")
	}
	o := b.opts
	minWait, maxWait := o.ReconnectMin, o.ReconnectMax
	if minWait <= 0 {
		minWait = 100 * time.Millisecond
	}
	maxWait = max(maxWait, minWait)
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		// A server's own publishes are never delivered back to it: its
		// clients had them from the local fan-out already.
		nats.NoEcho(),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			d := minWait << min(max(attempts-1, 0), 20)
			d = min(d, maxWait)
			return d/2 + mrand.N(d/2+1)
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.m.connected.Set(1)
			b.failing.Store(false)
			b.log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "nats_server", nc.ConnectedServerName())
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.m.connected.Set(1)
			b.failing.Store(false)
			b.m.reconnects.Inc()
			b.log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted(), "nats_server", nc.ConnectedServerName())
			if b.opts.OnReconnect != nil {
				b.opts.OnReconnect()
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.m.connected.Set(0)
			if b.closing.Load() {
				return // Close's own doing
			}
			b.log.Warn("NATS connection lost; reconnecting, publishes are buffered meanwhile", "err", err)
		}),
		// Every failed attempt (refused, unreachable, a bad token or
		// certificate): the first of a run at warn, the rest at debug.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			level := slog.LevelDebug
			if !b.failing.Swap(true) {
				level = slog.LevelWarn
			}
			b.log.Log(context.Background(), level, "NATS connection attempt failed; retrying forever", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			b.m.connected.Set(0)
			close(b.closed)
		}),
		nats.ErrorHandler(b.asyncError),
	}
	switch {
	case b.cfg.Token != "":
		opts = append(opts, nats.Token(b.cfg.Token))
	case b.cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(b.cfg.Creds))
	}
	if b.cfg.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(b.cfg.TLS.CA))
	}
	nc, err := nats.Connect(strings.Join(b.cfg.urls(), ","), opts...)
	if err != nil {
		return fmt.Errorf("natsbus: connect: %w", err)
	}
	if nc.IsConnected() {
		b.m.connected.Set(1)
	}
	b.nc = nc
	b.conn.Store(nc)
	return nil
}

// newOrigin returns a random non-zero instance id: it must differ between
// servers (and between runs of one server), which an alias would not across
// coordinators.
func newOrigin() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if o := binary.BigEndian.Uint64(b[:]); o != 0 {
			return o
		}
	}
}

// Origin is this server's instance id, as its envelopes carry it.
func (b *Bus) Origin() uint64 { return b.origin }

// Connected reports whether the connection to NATS is up right now.
func (b *Bus) Connected() bool {
	nc := b.conn.Load()
	return nc != nil && nc.IsConnected()
}

// SetTopics makes the subscriptions match topics (the union of the local
// clients' sets): a subscription for each new topic, an unsubscribe for
// each topic no longer in it. While reconnecting, nats.go records the
// change and sends it on reconnect.
func (b *Bus) SetTopics(topics []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc == nil || b.nc.IsClosed() {
		return
	}
	want := make(map[string]struct{}, len(topics))
	for _, t := range topics {
		want[t] = struct{}{}
	}
	changed := false
	for topic, sub := range b.subs {
		if _, ok := want[topic]; ok {
			continue
		}
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("NATS unsubscribe failed", "topic", topic, "subject", sub.Subject, "err", err)
		}
		delete(b.subs, topic)
		changed = true
	}
	for topic := range want {
		if _, ok := b.subs[topic]; ok {
			continue
		}
		subject, ok := SubjectFor(b.cfg.SubjectPrefix, topic)
		if !ok {
			continue
		}
		sub, err := b.nc.Subscribe(subject, b.handler(topic))
		if err != nil {
			b.log.Warn("NATS subscribe failed", "topic", topic, "subject", subject, "err", err)
			continue
		}
		if err := sub.SetPendingLimits(b.cfg.PendingLimit, pendingBytes); err != nil {
			b.log.Warn("NATS pending limit not set", "topic", topic, "err", err)
		}
		b.subs[topic] = sub
		changed = true
	}
	if !changed {
		return
	}
	subjects := make(map[string]string, len(b.subs))
	for topic, sub := range b.subs {
		subjects[topic] = sub.Subject
	}
	b.subjects.Store(&subjects)
	b.m.subscriptions.Set(float64(len(b.subs)))
	b.log.Debug("NATS subscriptions updated", "topics", len(b.subs))
}

// Publish sends one client message to the other servers: once, on its
// topic's subject, whoever subscribes. Call it only after Connect. The envelope is built in a pooled
// buffer, which nats.go copies before Publish returns.
func (b *Bus) Publish(reliable, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte) error {
	return b.publish(reliable, identified, from, topic, identity, role, body, nil)
}

// PublishAt is Publish of a world message, whose inner TOPIC carries the
// sender's position (on its cell topic: see commserver/world.go).
func (b *Bus) PublishAt(reliable, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos relay.Position) error {
	return b.publish(reliable, identified, from, topic, identity, role, body, &pos)
}

func (b *Bus) publish(reliable, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos *relay.Position) error {
	subject, ok := (*b.subjects.Load())[topic]
	if !ok {
		if subject, ok = SubjectFor(b.cfg.SubjectPrefix, topic); !ok {
			return nil
		}
	}
	bp := b.bufs.Get().(*[]byte)
	var buf []byte
	if pos != nil {
		buf = AppendEnvelopeAt((*bp)[:0], reliable, b.origin, identified, from, topic, identity, role, body, *pos)
	} else {
		buf = AppendEnvelope((*bp)[:0], reliable, b.origin, identified, from, topic, identity, role, body)
	}
	err := b.conn.Load().Publish(subject, buf)
	*bp = buf[:0]
	b.bufs.Put(bp)
	if err != nil {
		b.m.publishErrors.Inc()
		b.logPublishError(topic, err)
		return fmt.Errorf("natsbus: publish on %q: %w", topic, err)
	}
	b.m.published.Inc()
	return nil
}

// logPublishError logs a failed publish at most once a second (a full
// reconnect buffer fails every publish).
func (b *Bus) logPublishError(topic string, err error) {
	now := time.Now().UnixNano()
	last := b.lastPubErr.Load()
	if now-last < int64(time.Second) || !b.lastPubErr.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("NATS publish failed: message dropped", "topic", topic, "err", err)
}

// handler is topic's subscription callback.
func (b *Bus) handler(topic string) nats.MsgHandler {
	return func(msg *nats.Msg) {
		e, err := ParseEnvelope(msg.Data)
		if err == nil && string(e.Msg.Topic) != topic {
			err = fmt.Errorf("%w: topic %q on the subject of %q", errBadEnvelope, e.Msg.Topic, topic)
		}
		if err != nil {
			if b.m.badEnvelopes.Add(1) == 1 {
				b.log.Warn("bad NATS envelope dropped (later ones are counted in commserver_nats_bad_envelopes_total)",
					"topic", topic, "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
			}
			return
		}
		if e.Origin == b.origin {
			return // NoEcho makes this unlikely; the origin makes it certain
		}
		b.m.received.Inc()
		b.deliver(e)
	}
}

// asyncError is nats.go's ErrorHandler: slow consumers (a topic over
// nats.pending_limit, so NATS drops its messages) and protocol errors from
// the server. nats.go reports a subscription's slow-consumer state once
// until it catches up, so this logs once per episode.
func (b *Bus) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
		b.m.slowConsumers.Inc()
		pending, _, _ := sub.Pending()
		dropped, _ := sub.Dropped()
		topic, _ := TopicOf(b.cfg.SubjectPrefix, sub.Subject)
		b.log.Warn("NATS slow consumer: messages for this topic dropped", "topic", topic, "subject", sub.Subject,
			"pending", pending, "dropped", dropped, "pending_limit", b.cfg.PendingLimit)
		return
	}
	attrs := []any{"err", err}
	if sub != nil {
		attrs = append(attrs, "subject", sub.Subject)
	}
	b.log.Warn("NATS error", attrs...)
}

// Close drains the connection (pending publishes are flushed, subscribed
// handlers finish what they hold), bounded by ctx, then closes it.
// Calling it again is a no-op.
func (b *Bus) Close(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc == nil || b.nc.IsClosed() {
		return
	}
	b.closing.Store(true)
	if b.nc.IsConnected() {
		if err := b.nc.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-ctx.Done():
			}
		}
	}
	b.nc.Close()
	<-b.closed
}
