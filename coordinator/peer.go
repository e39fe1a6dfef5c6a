package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// peer is one WebSocket to the coordinator: a client on /connect or a
// communication server on /discover.
//
// Ownership: reads on conn, bad, signaled and limit belong to the read loop
// (the HTTP handler goroutine); data writes on conn belong to out's writer
// (outbound.Queue.Run, started by writeLoop), the socket's only one; pings
// and the close frame go through WriteControl, which gorilla allows from any
// goroutine; out is safe for every goroutine and is how other peers' read
// loops hand this peer messages. cause is written once, inside closeOnce,
// before done is closed, and read only after done is closed.
type peer struct {
	alias  uint64
	role   protocol.Role
	conn   *websocket.Conn
	log    *slog.Logger
	out    *outbound.Queue
	timing timing

	done      chan struct{}
	closeOnce sync.Once
	cause     closeCause

	bad      int                 // bad messages so far (read loop)
	signaled map[uint64]struct{} // servers this client has sent CONNECT to (read loop)
	limit    *signalLimit        // what this peer may still relay (read loop)
	// transport is a server's cluster.transport as /discover said
	// (transportMesh or transportNATS); mesh for clients.
	transport string
	// room is the room a client named (/connect?room=), for selector
	// affinity; empty for none.
	room string

	identity []byte   // what authentication attached (names a client's TURN credentials)
	turn     []string // a server's embedded TURN URLs (turncred.Header)
}

// timing is the part of the config the socket loops use.
type timing struct {
	pingInterval time.Duration
	pongWait     time.Duration
	writeTimeout time.Duration
	readLimit    int64
}

// closeCause is why a peer's socket closed: the first reason wins.
type closeCause struct {
	level  slog.Level
	reason string
	err    error
	// code, when non-zero, is sent to the peer in a close frame.
	code int
	// kind is the reason label of coordinator_disconnects_total.
	kind string
}

// Kinds of disconnect (label values of coordinator_disconnects_total).
const (
	reasonClosed       = "closed"        // the peer closed the socket
	reasonAbrupt       = "abrupt"        // the socket failed: EOF, reset, 1006
	reasonKeepalive    = "keepalive"     // no pong in time
	reasonReadLimit    = "read_limit"    // a message over max_message_size
	reasonInvalidUTF8  = "invalid_utf8"  // a text frame that is not UTF-8
	reasonBadMessages  = "bad_messages"  // maxBadMessages bad messages
	reasonSignalFlood  = "signal_flood"  // sustained signaling over the limits
	reasonSlowConsumer = "slow_consumer" // a client that does not read its socket
	reasonWriteFailed  = "write_failed"  // a write or ping failed
	reasonShutdown     = "shutdown"      // the coordinator is stopping
	reasonReplaced     = "replaced"      // the same server registered again (same alias)
)

var disconnectReasons = []string{reasonClosed, reasonAbrupt, reasonKeepalive, reasonReadLimit, reasonInvalidUTF8,
	reasonBadMessages, reasonSignalFlood, reasonSlowConsumer, reasonWriteFailed, reasonShutdown, reasonReplaced}

func newPeer(conn *websocket.Conn, role protocol.Role, alias uint64, t timing, queueLimit int, limit *signalLimit, log *slog.Logger) *peer {
	return &peer{
		alias:    alias,
		role:     role,
		conn:     conn,
		log:      log,
		out:      outbound.NewReliable(queueLimit),
		timing:   t,
		done:     make(chan struct{}),
		signaled: map[uint64]struct{}{},
		limit:    limit,
	}
}

func (p *peer) isServer() bool { return p.role != protocol.Role_CLIENT }

// close ends the peer's socket for cause; later calls do nothing. It never
// blocks: the write loop sends the close frame and closes the connection.
func (p *peer) close(cause closeCause) {
	p.closeOnce.Do(func() {
		p.cause = cause
		close(p.done)
	})
}

// send queues msg for the write loop and returns its ticket (see
// signalLimit). A full queue refuses msg (outbound.ErrSlowConsumer). A client
// whose queue is full is closed as a slow consumer: only servers write to a
// client, so it is the client that does not keep up. A server is never closed
// for it: what fills a server's queue is what others address to it, and the
// relay drops the message and holds the sender to account instead.
func (p *peer) send(msg []byte) (outbound.Ticket, error) {
	t, err := p.out.PushTicket(msg)
	if errors.Is(err, outbound.ErrSlowConsumer) && !p.isServer() {
		p.close(closeCause{level: slog.LevelWarn, reason: "slow consumer", err: err,
			code: websocket.CloseTryAgainLater, kind: reasonSlowConsumer})
	}
	return t, err
}

// readLoop reads messages and hands each to handle until the socket fails or
// the peer is closed. The read deadline is the keepalive: it is pushed back
// by every pong, so a peer that stops answering pings times out.
func (p *peer) readLoop(handle func(*peer, []byte)) {
	p.conn.SetReadLimit(p.timing.readLimit)
	_ = p.conn.SetReadDeadline(time.Now().Add(p.timing.pongWait))
	p.conn.SetPongHandler(func(string) error {
		return p.conn.SetReadDeadline(time.Now().Add(p.timing.pongWait))
	})
	for {
		typ, data, err := p.conn.ReadMessage()
		if err != nil {
			p.close(p.readFailure(err))
			return
		}
		if typ == websocket.TextMessage && !utf8.Valid(data) {
			// RFC 6455 8.1: a text frame must be UTF-8. gorilla leaves the
			// check to us; the broker's messages travel as binary frames.
			p.close(closeCause{level: slog.LevelWarn, reason: "invalid UTF-8 in a text frame",
				code: websocket.CloseInvalidFramePayloadData, kind: reasonInvalidUTF8})
			return
		}
		select {
		case <-p.done:
			return
		default:
		}
		handle(p, data)
	}
}

// readFailure classifies a read error. Clients come and go by the thousand,
// often without a goodbye (a closed tab, a lost network), so their
// disconnects are debug lines, counted by reason; a server's abrupt loss is
// worth a warning.
func (p *peer) readFailure(err error) closeCause {
	churn := slog.LevelDebug
	if p.isServer() {
		churn = slog.LevelWarn
	}
	var ne net.Error
	switch {
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		return closeCause{level: slog.LevelDebug, reason: "peer closed the socket", err: err, kind: reasonClosed}
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent close code 1009 (message too big).
		return closeCause{level: slog.LevelWarn, reason: fmt.Sprintf("message over the read limit (max_message_size=%d)", p.timing.readLimit), err: err,
			kind: reasonReadLimit}
	case errors.As(err, &ne) && ne.Timeout():
		return closeCause{level: churn, reason: fmt.Sprintf("keepalive: no pong within %s", p.timing.pongWait), err: err, kind: reasonKeepalive}
	default:
		return closeCause{level: churn, reason: "socket failed", err: err, kind: reasonAbrupt}
	}
}

// writeLoop runs the socket's only data writer (out's Run) and pings every
// pingInterval, until the peer is closed, ctx is done or a write fails; then
// it sends the close frame, if any, and closes the connection, which also
// ends the read loop and the writer.
func (p *peer) writeLoop(ctx context.Context) {
	ping := time.NewTicker(p.timing.pingInterval)
	defer ping.Stop()
	written := make(chan error, 1)
	go func() { written <- p.out.Run(ctx, wsSink{p}, 0, nil) }()
	defer func() {
		p.finish()
		if written != nil {
			<-written // the closed connection fails a write in progress
		}
	}()
	for {
		select {
		case <-p.done:
			return
		case <-ctx.Done():
			p.close(closeCause{level: slog.LevelDebug, reason: "coordinator shutting down",
				code: websocket.CloseGoingAway, kind: reasonShutdown})
			return
		case err := <-written:
			written = nil
			if err != nil {
				p.close(closeCause{level: slog.LevelWarn, reason: "write failed", err: err, kind: reasonWriteFailed})
			} else {
				// Run stops by itself only when ctx is done (the queue is
				// closed after this loop).
				p.close(closeCause{level: slog.LevelDebug, reason: "coordinator shutting down",
					code: websocket.CloseGoingAway, kind: reasonShutdown})
			}
			return
		case <-ping.C:
			if err := p.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(p.timing.writeTimeout)); err != nil {
				p.close(closeCause{level: slog.LevelWarn, reason: "ping failed", err: err, kind: reasonWriteFailed})
				return
			}
		}
	}
}

// wsSink is the peer's socket as out's writer sees it. A WebSocket write
// blocks until TCP takes it (bounded by the write timeout), so there is no
// buffer beyond the queue to watch: Buffered is always 0.
type wsSink struct{ p *peer }

func (s wsSink) Write(msg []byte) (int, error) {
	_ = s.p.conn.SetWriteDeadline(time.Now().Add(s.p.timing.writeTimeout))
	if err := s.p.conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		return 0, err
	}
	return len(msg), nil
}

func (wsSink) Buffered() uint64 { return 0 }

// finish runs once the write loop stops: what is still queued is dropped,
// the peer is told why (best effort, bounded by the write timeout) and the
// connection is closed.
func (p *peer) finish() {
	p.out.Close()
	if p.cause.code != 0 {
		msg := websocket.FormatCloseMessage(p.cause.code, p.cause.reason)
		_ = p.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(p.timing.writeTimeout))
	}
	_ = p.conn.Close()
}

// logClose writes the one line that says why the peer left.
func (p *peer) logClose() {
	attrs := []any{"reason", p.cause.reason}
	if p.cause.err != nil {
		attrs = append(attrs, "err", p.cause.err)
	}
	p.log.Log(context.Background(), p.cause.level, "peer disconnected", attrs...)
}
