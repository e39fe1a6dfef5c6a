package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// peer is one WebSocket to the coordinator: a client on /connect or a
// communication server on /discover.
//
// Ownership: reads on conn, bad and signaled belong to the read loop (the
// HTTP handler goroutine); writes on conn belong to the write loop, except
// WriteControl, which gorilla allows from any goroutine; out is safe for
// every goroutine and is how other peers' read loops hand this peer
// messages. cause is written once, inside closeOnce, before done is closed,
// and read only after done is closed.
type peer struct {
	alias  uint64
	role   protocol.Role
	conn   *websocket.Conn
	log    *slog.Logger
	out    *sendQueue
	timing timing

	done      chan struct{}
	closeOnce sync.Once
	cause     closeCause

	bad      int                 // bad messages so far (read loop)
	signaled map[uint64]struct{} // servers this client has sent CONNECT to (read loop)
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
}

func newPeer(conn *websocket.Conn, role protocol.Role, alias uint64, t timing, queueLimit int, log *slog.Logger) *peer {
	return &peer{
		alias:    alias,
		role:     role,
		conn:     conn,
		log:      log,
		out:      newSendQueue(queueLimit),
		timing:   t,
		done:     make(chan struct{}),
		signaled: map[uint64]struct{}{},
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

// send queues msg for the write loop. A peer whose queue is full is closed as
// a slow consumer, so that it never stalls the peer relaying to it.
func (p *peer) send(msg []byte) error {
	err := p.out.push(msg)
	if errors.Is(err, errSlowConsumer) {
		p.close(closeCause{level: slog.LevelWarn, reason: "slow consumer", err: err,
			code: websocket.CloseTryAgainLater})
	}
	return err
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
		_, data, err := p.conn.ReadMessage()
		if err != nil {
			p.close(p.readFailure(err))
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

// readFailure classifies a read error: a peer that said goodbye is routine,
// anything else is worth a warning.
func (p *peer) readFailure(err error) closeCause {
	var ne net.Error
	switch {
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		return closeCause{level: slog.LevelDebug, reason: "peer closed the socket", err: err}
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent close code 1009 (message too big).
		return closeCause{level: slog.LevelWarn, reason: fmt.Sprintf("message over the read limit (max_message_size=%d)", p.timing.readLimit), err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return closeCause{level: slog.LevelWarn, reason: fmt.Sprintf("keepalive: no pong within %s", p.timing.pongWait), err: err}
	default:
		return closeCause{level: slog.LevelWarn, reason: "socket failed", err: err}
	}
}

// writeLoop is the socket's only data writer: it drains the send queue and
// pings every pingInterval, until the peer is closed or ctx is done; then it
// sends the close frame, if any, and closes the connection, which also ends
// the read loop.
func (p *peer) writeLoop(ctx context.Context) {
	ping := time.NewTicker(p.timing.pingInterval)
	defer ping.Stop()
	defer p.finish()
	var batch [][]byte
	for {
		select {
		case <-p.done:
			return
		case <-ctx.Done():
			p.close(closeCause{level: slog.LevelDebug, reason: "coordinator shutting down",
				code: websocket.CloseGoingAway})
			return
		case <-ping.C:
			if err := p.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(p.timing.writeTimeout)); err != nil {
				p.close(closeCause{level: slog.LevelWarn, reason: "ping failed", err: err})
				return
			}
		case <-p.out.ready:
			batch = p.out.drain(batch[:0])
			for i, msg := range batch {
				batch[i] = nil
				_ = p.conn.SetWriteDeadline(time.Now().Add(p.timing.writeTimeout))
				if err := p.conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					p.close(closeCause{level: slog.LevelWarn, reason: "write failed", err: err})
					return
				}
			}
		}
	}
}

// finish runs once the write loop stops: what is still queued is dropped,
// the peer is told why (best effort, bounded by the write timeout) and the
// connection is closed.
func (p *peer) finish() {
	p.out.close()
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
