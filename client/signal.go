package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const (
	signalReadLimit    = 1 << 20
	signalWriteTimeout = 5 * time.Second
)

// signal is one decoded coordinator message.
type signal struct {
	typ    protocol.MessageType
	from   uint64
	data   []byte
	reason protocol.ConnectionRefusedReason
	// retryAfter is a CONNECTION_REFUSED's retry_after_ms: non-zero when
	// the server is only busy and the CONNECT should be sent again.
	retryAfter time.Duration
	welcome    *protocol.WelcomeMessage
}

// signaling is Dial's conversation with the coordinator. It lives only as
// long as Dial: one goroutine reads the socket into in; writes come from Dial
// and from pion's candidate callback, serialized by mu.
type signaling struct {
	ws     *websocket.Conn
	log    *slog.Logger
	server uint64 // set before the peer connection exists, read-only after

	in   chan signal
	errs chan error    // the reader's final error, capacity 1
	stop chan struct{} // closed by close: the reader gives up sending
	wg   sync.WaitGroup

	mu       sync.Mutex // serializes writes; guards answered, pending, closed
	answered bool       // the answer went out: local candidates may follow it
	pending  []webrtc.ICECandidateInit
	closed   bool
}

func dialSignaling(ctx context.Context, target string, header http.Header, tlsConf *tls.Config, log *slog.Logger) (*signaling, error) {
	d := websocket.Dialer{HandshakeTimeout: signalWriteTimeout, TLSClientConfig: tlsConf} // the dialer clones it
	ws, resp, err := d.DialContext(ctx, target, header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, errHTTPStatus(resp, untrusted(target, err))
	}
	ws.SetReadLimit(signalReadLimit)
	s := &signaling{
		ws:   ws,
		log:  log,
		in:   make(chan signal),
		errs: make(chan error, 1),
		stop: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.readLoop()
	return s, nil
}

func (s *signaling) readLoop() {
	defer s.wg.Done()
	for {
		_, b, err := s.ws.ReadMessage()
		if err != nil {
			s.errs <- fmt.Errorf("dial: coordinator connection: %w", err)
			return
		}
		sig, err := decodeSignal(b)
		if err != nil {
			s.log.Debug("ignoring undecodable coordinator message", "err", err)
			continue
		}
		select {
		case s.in <- sig:
		case <-s.stop:
			return
		}
	}
}

// welcome waits for the coordinator's first message, which must be WELCOME.
func (s *signaling) welcome(ctx context.Context) (*protocol.WelcomeMessage, error) {
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("dial: waiting for WELCOME: %w", ctx.Err())
	case err := <-s.errs:
		return nil, err
	case sig := <-s.in:
		if sig.typ != protocol.MessageType_WELCOME {
			return nil, fmt.Errorf("dial: coordinator sent %s before WELCOME: %w", sig.typ, errUnexpected)
		}
		return sig.welcome, nil
	}
}

func (s *signaling) send(m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("dial: encode %T: %w", m, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b)
}

func (s *signaling) writeLocked(b []byte) error {
	if s.closed {
		return nil // Dial is over: late candidates are not needed
	}
	if err := s.ws.SetWriteDeadline(time.Now().Add(signalWriteTimeout)); err != nil {
		return fmt.Errorf("dial: coordinator connection: %w", err)
	}
	if err := s.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return fmt.Errorf("dial: coordinator connection: %w", err)
	}
	return nil
}

// sendAnswer writes the answer, then the local candidates gathered while it
// was being made: a candidate must not overtake the answer.
func (s *signaling) sendAnswer(sdp []byte) error {
	b, err := proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ANSWER, ToAlias: s.server, Data: sdp})
	if err != nil {
		return fmt.Errorf("dial: encode answer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeLocked(b); err != nil {
		return err
	}
	s.answered = true
	for _, cand := range s.pending {
		if err := s.writeLocked(candidateMessage(s.server, cand)); err != nil {
			return err
		}
	}
	s.pending = nil
	return nil
}

// sendCandidate runs in pion's callback; a write error shows up on the
// reader too, so it is only logged here.
func (s *signaling) sendCandidate(cand webrtc.ICECandidateInit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.answered {
		s.pending = append(s.pending, cand)
		return
	}
	if err := s.writeLocked(candidateMessage(s.server, cand)); err != nil {
		s.log.Debug("send ICE candidate", "server", s.server, "err", err)
	}
}

func candidateMessage(to uint64, cand webrtc.ICECandidateInit) []byte {
	data, _ := json.Marshal(cand) // a struct of strings and numbers always encodes
	b, _ := proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, ToAlias: to, Data: data})
	return b
}

// close ends the conversation and waits for the reader.
func (s *signaling) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	_ = s.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "connected"), time.Now().Add(time.Second))
	_ = s.ws.Close()
	s.wg.Wait()
}

func decodeSignal(b []byte) (signal, error) {
	var h protocol.CoordinatorMessage
	if err := proto.Unmarshal(b, &h); err != nil {
		return signal{}, fmt.Errorf("decode header: %w", err)
	}
	sig := signal{typ: h.GetType()}
	switch sig.typ {
	case protocol.MessageType_WELCOME:
		var m protocol.WelcomeMessage
		if err := proto.Unmarshal(b, &m); err != nil {
			return signal{}, fmt.Errorf("decode WELCOME: %w", err)
		}
		sig.welcome = &m
	case protocol.MessageType_WEBRTC_OFFER, protocol.MessageType_WEBRTC_ANSWER, protocol.MessageType_WEBRTC_ICE_CANDIDATE:
		var m protocol.WebRtcMessage
		if err := proto.Unmarshal(b, &m); err != nil {
			return signal{}, fmt.Errorf("decode %s: %w", sig.typ, err)
		}
		sig.from, sig.data = m.GetFromAlias(), m.GetData()
	case protocol.MessageType_CONNECTION_REFUSED:
		var m protocol.ConnectionRefusedMessage
		if err := proto.Unmarshal(b, &m); err != nil {
			return signal{}, fmt.Errorf("decode %s: %w", sig.typ, err)
		}
		sig.from, sig.data, sig.reason = m.GetFromAlias(), m.GetData(), m.GetReason()
		sig.retryAfter = time.Duration(m.GetRetryAfterMs()) * time.Millisecond
	case protocol.MessageType_CONNECT:
		var m protocol.ConnectMessage
		if err := proto.Unmarshal(b, &m); err != nil {
			return signal{}, fmt.Errorf("decode %s: %w", sig.typ, err)
		}
		sig.from = m.GetFromAlias()
	}
	return sig, nil
}

// untrusted says which coordinator's certificate failed verification and
// where trust comes from; the URL is shown without its query, which may
// hold a token.
func untrusted(target string, err error) error {
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &verify) {
		return err
	}
	where := target
	if u, perr := url.Parse(target); perr == nil {
		where = u.Scheme + "://" + u.Host + u.Path
	}
	return fmt.Errorf("%s: the coordinator's certificate is not trusted (Config.TLSConfig.RootCAs, or the system roots when nil): %w", where, err)
}
