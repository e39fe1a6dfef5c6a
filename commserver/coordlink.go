package commserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/backoff"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/core/coordurl"
	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/core/turncred"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Coordinator socket settings. The coordinator pings every 10s by default;
// this side pings too, so that either end notices a dead link whatever the
// other's settings.
const (
	coordDialTimeout   = 10 * time.Second
	coordWriteTimeout  = 5 * time.Second
	coordPingInterval  = 15 * time.Second
	coordReadTimeout   = 45 * time.Second
	coordReadLimit     = 1 << 20 // SDPs are a few KiB
	coordCloseDeadline = time.Second
	// coordQueueBytes bounds what waits for the coordinator socket: SDPs are
	// a few KiB and candidates a few hundred bytes, so this holds a join
	// storm of a thousand peers; past it the socket is not keeping up.
	coordQueueBytes = 8 << 20
)

// coordTuning is the coordinator link's settings, the constants above
// unless a test changes them before Run.
type coordTuning struct {
	queueBytes   int
	writeTimeout time.Duration
	pingInterval time.Duration
	// netDial, when set, dials the TCP connection (tests shrink its buffers).
	netDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func defaultCoordTuning() coordTuning {
	return coordTuning{queueBytes: coordQueueBytes, writeTimeout: coordWriteTimeout, pingInterval: coordPingInterval}
}

// coordConn is one WebSocket session to the coordinator. Signaling queues
// its messages on q and one writer goroutine (core/outbound) drains it into
// the socket, so that a coordinator that reads slowly or not at all never
// blocks pion's callbacks or the read loop, which handles every peer's
// signaling; a queue over its bound restarts the link instead. Control
// frames need no lock.
type coordConn struct {
	conn    *websocket.Conn
	q       *outbound.Queue
	timeout time.Duration // per write
	// proposed is the alias this session asked to keep (0: none).
	proposed uint64
	// failed holds why the link was ended from this side (the queue went
	// over its bound or a write failed), for the read loop to report.
	failed atomic.Pointer[error]
}

// Write sends one queued message; the writer goroutine is its only caller.
func (c *coordConn) Write(msg []byte) (int, error) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if err := c.conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		return 0, err
	}
	return len(msg), nil
}

// Buffered is 0: the socket has no buffer the writer should wait on, so
// core/outbound's high-water wait never applies.
func (c *coordConn) Buffered() uint64 { return 0 }

// fail ends the session: the read loop sees the closed socket and returns
// err, and the reconnect loop takes over. The first cause wins; fail
// reports whether err was it.
func (c *coordConn) fail(err error) bool {
	if !c.failed.CompareAndSwap(nil, &err) {
		return false
	}
	c.q.Close()
	_ = c.conn.Close()
	return true
}

// cause is why fail ended the session, or nil.
func (c *coordConn) cause() error {
	if p := c.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// signalVia queues one signaling message for l's coordinator, if it is
// there. It never waits for the socket.
func (s *Server) signalVia(l *coordLink, m proto.Message) error {
	if l == nil {
		return errCoordinatorDown
	}
	c := l.conn.Load()
	if c == nil {
		return errCoordinatorDown
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode signaling message: %w", err)
	}
	switch err := c.q.Push(b); {
	case err == nil:
		return nil
	case errors.Is(err, outbound.ErrSlowConsumer):
		msgs, bytes := c.q.Len()
		err = fmt.Errorf("%w: %d messages, %d bytes queued, bound %d", errCoordinatorBacklog, msgs, bytes, s.coordTune.queueBytes)
		if c.fail(err) {
			s.m.coordOverflows.Inc()
			s.log.Warn("coordinator link over its queue bound: restarting it", "err", err,
				"coordinator", l.url, "type", messageType(m), "size", len(b),
				"queued_messages", msgs, "queued_bytes", bytes)
		}
		return err
	default: // outbound.ErrClosed: the session is ending
		return fmt.Errorf("%w: %w", errCoordinatorDown, err)
	}
}

// messageType names a signaling message's type for the log.
func messageType(m proto.Message) string {
	if t, ok := m.(interface{ GetType() protocol.MessageType }); ok {
		return t.GetType().String()
	}
	return fmt.Sprintf("%T", m)
}

// writeCoordinator drains c's queue into the socket until the session ends;
// a failed write ends the session.
func (s *Server) writeCoordinator(ctx context.Context, c *coordConn) {
	if err := c.q.Run(ctx, c, 0, nil); err != nil {
		c.fail(fmt.Errorf("write to coordinator: %w", err))
	}
}

// runCoordinatorLink keeps the link to l's coordinator up until ctx is
// done: reconnecting forever with capped, jittered exponential backoff,
// reset after every WELCOME. Peers are not touched while the link is away.
func (s *Server) runCoordinatorLink(ctx context.Context, l *coordLink) {
	b := backoff.Backoff{Min: s.cfg.Reconnect.Min, Max: s.cfg.Reconnect.Max}
	if !s.awaitFirstTry(ctx, l) {
		return
	}
	for {
		welcomed, err := s.coordinatorSession(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if welcomed {
			b.Reset()
		}
		wait := b.Next()
		if errors.Is(err, errOtherAlias) {
			// Registered before the server's alias was known (links start
			// together): again at once, proposing it.
			s.log.Info("registering again under this server's alias", "coordinator", l.url, "alias", s.alias.Load(), "err", err)
			continue
		}
		s.m.coordReconnects.Inc()
		s.log.Warn("coordinator link down, reconnecting", "coordinator", l.url, "err", err, "retry_in", wait.Round(time.Millisecond))
		if !backoff.Wait(ctx.Done(), wait) {
			return
		}
	}
}

// coordinatorSession dials l's coordinator and serves the socket until it
// fails or ctx is done. welcomed reports whether a WELCOME arrived.
func (s *Server) coordinatorSession(ctx context.Context, l *coordLink) (welcomed bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Auth.Timeout)
	creds, err := s.auth.Credentials(cctx, s.role, auth.TargetCoordinator)
	cancel()
	if err != nil {
		return false, fmt.Errorf("credentials for the coordinator: %w", err)
	}
	var proposed uint64
	if s.multiCoordinator() {
		proposed = s.alias.Load()
	}
	u, err := discoverURL(l.url, s.role, s.cfg.Cluster.Transport, proposed, creds.Query)
	if err != nil {
		return false, err
	}
	header := creds.Header.Clone()
	if s.cfg.Cluster.Secret != "" {
		if header == nil {
			header = http.Header{}
		}
		header.Set(clusterauth.Header, clusterauth.DiscoverToken(s.cfg.Cluster.Secret, s.role, time.Now()))
	}
	if urls := s.turnURLs(); len(urls) > 0 {
		if header == nil {
			header = http.Header{}
		}
		header.Set(turncred.Header, strings.Join(urls, ","))
	}
	dctx, cancel := context.WithTimeout(ctx, coordDialTimeout)
	dialer := websocket.Dialer{HandshakeTimeout: coordDialTimeout, NetDialContext: s.coordTune.netDial, TLSClientConfig: s.coordTLS}
	conn, resp, err := dialer.DialContext(dctx, u, header)
	cancel()
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("dial %s: %s: %w", l.url, resp.Status, err)
		}
		return false, fmt.Errorf("dial %s: %w", l.url, s.dialError(err))
	}
	c := &coordConn{conn: conn, q: outbound.NewReliable(s.coordTune.queueBytes), timeout: s.coordTune.writeTimeout, proposed: proposed}
	done := make(chan struct{})
	defer func() {
		close(done)
		l.conn.CompareAndSwap(c, nil)
		c.q.Close() // ends the writer
		l.welcomed.Store(false)
		s.m.coordConnected.Set(float64(s.coordinatorsUp()))
		_ = conn.Close()
	}()

	conn.SetReadLimit(coordReadLimit)
	extend := func() { _ = conn.SetReadDeadline(time.Now().Add(coordReadTimeout)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	// A control frame waits for the data frame being written, so the pong
	// is the keepalive's to send, not the read loop's: a stuck writer must
	// not stop signaling. One pending pong is enough; the next ping's
	// replaces a lost one.
	pongs := make(chan string, 1)
	conn.SetPingHandler(func(data string) error {
		extend()
		select {
		case pongs <- data:
		default:
		}
		return nil
	})
	s.routines.Go(func() { s.coordinatorKeepalive(ctx, c, pongs, done) })
	s.routines.Go(func() { s.writeCoordinator(ctx, c) })
	l.conn.Store(c)

	bad := 0
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return welcomed, nil
			}
			if cause := c.cause(); cause != nil {
				return welcomed, cause
			}
			return welcomed, fmt.Errorf("read from coordinator: %w", err)
		}
		extend()
		if err := s.handleSignal(l, data, &welcomed); err != nil {
			if errors.Is(err, errOtherAlias) {
				msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "registering again under this server's alias")
				_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(coordCloseDeadline))
				return false, err
			}
			bad++
			s.m.coordBadMessages.Inc()
			level := slog.LevelDebug
			if bad == 1 {
				level = slog.LevelWarn
			}
			s.log.Log(ctx, level, "bad message from the coordinator dropped", "err", err, "bad_messages", bad)
		}
	}
}

// coordinatorKeepalive pings the coordinator and answers its pings until
// the session ends; when ctx is done it says goodbye and closes the socket,
// which ends the read loop.
func (s *Server) coordinatorKeepalive(ctx context.Context, c *coordConn, pongs <-chan string, done <-chan struct{}) {
	t := time.NewTicker(s.coordTune.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(coordCloseDeadline))
			_ = c.conn.Close()
			return
		case data := <-pongs:
			err := c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.coordTune.writeTimeout))
			if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
				c.fail(fmt.Errorf("pong to coordinator: %w", err))
				return
			}
		case <-t.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.coordTune.writeTimeout)); err != nil {
				c.fail(fmt.Errorf("ping to coordinator: %w", err))
				return
			}
		}
	}
}

// handleSignal dispatches one message of l's coordinator. It runs on l's
// read loop, which owns the signaling state of the peers signaled over l.
func (s *Server) handleSignal(l *coordLink, data []byte, welcomed *bool) error {
	t, err := relay.ReadType(data)
	if err != nil {
		return err
	}
	switch t {
	case protocol.MessageType_WELCOME:
		var m protocol.WelcomeMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("WELCOME: %w", err)
		}
		if err := s.onWelcome(l, &m); err != nil {
			return err
		}
		*welcomed = true
	case protocol.MessageType_CONNECT:
		var m protocol.ConnectMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("CONNECT: %w", err)
		}
		s.onConnect(l, m.FromAlias, m.FromRole)
	case protocol.MessageType_WEBRTC_OFFER, protocol.MessageType_WEBRTC_ANSWER, protocol.MessageType_WEBRTC_ICE_CANDIDATE:
		var m protocol.WebRtcMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%v: %w", t, err)
		}
		switch t {
		case protocol.MessageType_WEBRTC_OFFER:
			return s.onOffer(l, m.FromAlias, m.Data)
		case protocol.MessageType_WEBRTC_ANSWER:
			return s.onAnswer(l, m.FromAlias, m.Data)
		default:
			return s.onCandidate(l, m.FromAlias, m.Data)
		}
	case protocol.MessageType_CONNECTION_REFUSED:
		var m protocol.ConnectionRefusedMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("CONNECTION_REFUSED: %w", err)
		}
		s.onRefused(l, &m)
	default:
		return fmt.Errorf("%w: %v", errUnexpected, t)
	}
	return nil
}

// discoverURL is the coordinator URL with /discover as the default path,
// the role, the transport (only when it is not the default mesh, so that a
// mesh server's URL is the 2019 one), the alias this server holds at its
// other coordinators (when not 0), and the credentials' query merged in.
func discoverURL(base string, role protocol.Role, transport string, alias uint64, creds url.Values) (string, error) {
	q := url.Values{"role": {role.String()}}
	if transport != "" && transport != TransportMesh {
		q.Set("transport", transport)
	}
	if alias != 0 {
		q.Set("alias", strconv.FormatUint(alias, 10))
	}
	for k, vs := range creds {
		q[k] = append(q[k], vs...)
	}
	return coordurl.URL(base, "/discover", q)
}
