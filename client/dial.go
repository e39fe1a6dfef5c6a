package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/backoff"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Dial connects to a communication server through the coordinator: it gets
// an alias and the server list from the coordinator, asks the first server
// (or Config.Server) to connect, answers its offer, waits for both data
// channels and writes AUTH. It returns once AUTH is written; there is no
// acknowledgement, but the server handles a channel's messages in order, so
// a later Subscribe (which waits for a PING echo) fails if the AUTH did.
// The first connection is not retried: Dial returns its error.
//
// The coordinator socket is closed once connected: the WebRTC link does not
// need it, and the client keeps working while the coordinator is away. It
// is dialled again only to reconnect.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	targets, err := cfg.connectURLs()
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	api, err := rtc.NewAPI(cfg.WebRTC)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := newClient(cfg, api, targets)
	c.setState(StateEvent{State: StateConnecting})
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	l, err := c.connect(ctx, func(offered []uint64) (uint64, bool) {
		if cfg.Server != 0 {
			return cfg.Server, true
		}
		return pickServer(offered, nil)
	})
	if err != nil {
		c.finish(err)
		return nil, err
	}
	c.up(l)
	c.setState(StateEvent{State: StateConnected, Server: l.server, Alias: l.alias})
	c.log.Debug("client connected", "alias", l.alias, "server", l.server)
	go c.supervise(l)
	return c, nil
}

// pickServer takes the first offered server not in avoid, or the first
// offered one when all are avoided (the one that failed may be back).
func pickServer(offered []uint64, avoid map[uint64]bool) (uint64, bool) {
	for _, s := range offered {
		if !avoid[s] {
			return s, true
		}
	}
	if len(offered) > 0 {
		return offered[0], true
	}
	return 0, false
}

// connect runs the signaling with the coordinator until both channels of a
// new link are open and AUTH is written, then starts the link's read loops.
// choose picks the server from the WELCOME's list.
func (c *Client) connect(ctx context.Context, choose func(offered []uint64) (uint64, bool)) (*link, error) {
	l := newLink()
	if err := c.handshake(ctx, l, choose); err != nil {
		l.release(c.log)
		return nil, err
	}
	l.startLoops(func(ch *dataChannel, b []byte, topics topicCache) { c.deliver(l, ch, b, topics) })
	return l, nil
}

func (c *Client) handshake(ctx context.Context, l *link, choose func([]uint64) (uint64, bool)) error {
	sig, err := c.dialCoordinator(ctx)
	if err != nil {
		return err
	}
	defer sig.close()

	welcome, err := sig.welcome(ctx)
	if err != nil {
		return err
	}
	l.alias = welcome.GetAlias()
	server, ok := choose(welcome.GetAvailableServers())
	if !ok {
		return fmt.Errorf("dial: alias %d: %w", l.alias, ErrNoServers)
	}
	l.server = server
	sig.server = server

	// The WELCOME's ICE servers (TURN credentials minted for this client)
	// come after the configured ones; a 2019 coordinator sends none.
	pc, err := c.api.NewPeerConnectionWith(rtc.FromProto(welcome.GetIceServers()))
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	l.pc = pc // before any callback can run: release closes it

	opened := make(chan *dataChannel, 2)
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != rtc.LabelReliable && dc.Label() != rtc.LabelUnreliable {
			c.log.Warn("ignoring unexpected data channel", "server", server, "label", dc.Label())
			return
		}
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			if err != nil {
				l.fail(fmt.Errorf("dial: detach %s: %w", dc.Label(), err))
				return
			}
			select {
			case opened <- newDataChannel(dc, rw):
			default: // a third channel: the server broke the protocol
				l.fail(fmt.Errorf("dial: server %d opened channel %q twice", server, dc.Label()))
			}
		})
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			sig.sendCandidate(cand.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s != webrtc.PeerConnectionStateFailed && s != webrtc.PeerConnectionStateClosed {
			return
		}
		// The read loops usually notice first and say more; give them
		// linkGrace, as they give each other (bounded: never outlives it).
		go func() {
			grace := time.NewTimer(linkGrace)
			defer grace.Stop()
			select {
			case <-l.lost:
			case <-grace.C:
				l.fail(l.linkErr(fmt.Errorf("peer connection %s", s)))
			}
		}()
	})

	connect := func() error {
		return sig.send(&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: server})
	}
	if err := connect(); err != nil {
		return err
	}
	// Remote candidates that arrive before the offer wait here: pion cannot
	// add a candidate before the remote description is set.
	var early []webrtc.ICECandidateInit
	// A server busy setting up other clients refuses with a retry hint:
	// the CONNECT goes again on this socket after the reconnection backoff
	// (from the hint, jittered, doubling), within ctx, the connect deadline.
	var busy *backoff.Backoff
	var retry <-chan time.Time
	var retryTimer *time.Timer
	defer func() {
		if retryTimer != nil {
			retryTimer.Stop()
		}
	}()
	for l.reliable == nil || l.unreliable == nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("dial: server %d: %w", server, ctx.Err())
		case <-l.lost:
			return l.err
		case err := <-sig.errs:
			return err
		case ch := <-opened:
			slot := &l.unreliable
			if ch.kind == Reliable {
				slot = &l.reliable
			}
			if *slot != nil {
				// Two channels with one label: the server broke the
				// protocol (as the browser SDK sees it, by label).
				_ = ch.rw.Close()
				return fmt.Errorf("dial: server %d opened channel %q twice: %w", server, ch.label, errUnexpected)
			}
			*slot = ch
		case <-retry:
			retry = nil
			if err := connect(); err != nil {
				return err
			}
		case in := <-sig.in:
			if in.typ == protocol.MessageType_CONNECTION_REFUSED && in.retryAfter > 0 && in.from == server {
				if retry != nil {
					continue // a retry is already due
				}
				if busy == nil {
					// Capped at a few setups: a slot freed while everyone
					// waits the full MaxDelay would stand empty.
					busy = &backoff.Backoff{Min: in.retryAfter, Max: min(max(c.cfg.Reconnect.MaxDelay, in.retryAfter), busyRetrySteps*in.retryAfter)}
				}
				wait := busy.Next()
				c.log.Debug("server busy: CONNECT again", "server", server, "alias", l.alias, "wait", wait, "reason", string(in.data))
				if retryTimer == nil {
					retryTimer = time.NewTimer(wait)
				} else {
					retryTimer.Reset(wait)
				}
				retry = retryTimer.C
				continue
			}
			if err := c.handleSignal(l, in, sig, &early); err != nil {
				return err
			}
		}
	}
	if c.cfg.skipAuth {
		return nil
	}
	err = l.write(l.reliable, func(b []byte) []byte { return appendAuth(b, c.cfg) })
	if err != nil {
		return fmt.Errorf("dial: server %d: auth: %w", server, err)
	}
	return nil
}

// handleSignal applies one coordinator message during the handshake.
func (c *Client) handleSignal(l *link, in signal, sig *signaling, early *[]webrtc.ICECandidateInit) error {
	if in.from != l.server {
		c.log.Debug("ignoring signal from another alias", "type", in.typ, "from", in.from, "server", l.server)
		return nil
	}
	switch in.typ {
	case protocol.MessageType_CONNECTION_REFUSED:
		return refusal(l.server, in.reason, in.data)
	case protocol.MessageType_WEBRTC_OFFER:
		if l.pc.RemoteDescription() != nil {
			// A server offers once per CONNECT. Answering a second offer
			// would renegotiate the link being set up and add two more
			// channels with the same labels: refuse it (as client/js does).
			return fmt.Errorf("dial: server %d sent a second offer: %w", l.server, errUnexpected)
		}
		offer, err := rtc.DecodeSDP(in.data)
		if err != nil {
			return fmt.Errorf("dial: server %d offer: %w", l.server, err)
		}
		if err := l.pc.SetRemoteDescription(offer); err != nil {
			return fmt.Errorf("dial: server %d offer: %w", l.server, err)
		}
		for _, cand := range *early {
			if err := l.pc.AddICECandidate(cand); err != nil {
				c.log.Debug("add ICE candidate", "server", l.server, "err", err)
			}
		}
		*early = nil
		answer, err := l.pc.CreateAnswer(nil)
		if err != nil {
			return fmt.Errorf("dial: server %d answer: %w", l.server, err)
		}
		if err := l.pc.SetLocalDescription(answer); err != nil {
			return fmt.Errorf("dial: server %d answer: %w", l.server, err)
		}
		data, err := json.Marshal(answer)
		if err != nil {
			return fmt.Errorf("dial: encode answer: %w", err)
		}
		return sig.sendAnswer(data)
	case protocol.MessageType_WEBRTC_ICE_CANDIDATE:
		cand, err := rtc.DecodeCandidate(in.data)
		if err != nil {
			c.log.Debug("ignoring undecodable candidate", "server", l.server, "err", err)
			return nil
		}
		if !c.api.AcceptCandidate(cand) {
			c.log.Debug("ignoring non-loopback candidate", "server", l.server, "candidate", cand.Candidate)
			return nil
		}
		if l.pc.RemoteDescription() == nil {
			*early = append(*early, cand)
			return nil
		}
		if err := l.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("add ICE candidate", "server", l.server, "err", err)
		}
	default:
		c.log.Debug("ignoring coordinator message", "type", in.typ, "server", l.server)
	}
	return nil
}

func refusal(server uint64, reason protocol.ConnectionRefusedReason, data []byte) error {
	var sentinel error
	switch reason {
	case protocol.ConnectionRefusedReason_SERVER_FULL:
		sentinel = ErrServerFull
	case protocol.ConnectionRefusedReason_AUTH_FAILED:
		sentinel = ErrAuthFailed
	default:
		sentinel = ErrRefused
	}
	if len(data) > 0 {
		return fmt.Errorf("dial: server %d: %w: %s", server, sentinel, data)
	}
	return fmt.Errorf("dial: server %d: %w", server, sentinel)
}

// dialCoordinator opens the signaling socket to the first coordinator that
// answers, starting from the last that did (Config.CoordinatorURLs).
func (c *Client) dialCoordinator(ctx context.Context) (*signaling, error) {
	start := int(c.firstTarget.Load())
	var errs []error
	for i := range c.targets {
		k := (start + i) % len(c.targets)
		sig, err := dialSignaling(ctx, c.targets[k], c.cfg.Header, c.cfg.TLSConfig, c.log)
		if err == nil {
			c.firstTarget.Store(int32(k))
			return sig, nil
		}
		if len(c.targets) == 1 || errors.Is(err, ErrAuthFailed) || ctx.Err() != nil {
			return nil, err
		}
		c.log.Debug("coordinator unreachable, trying the next", "coordinator", k, "err", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("every coordinator: %w", errors.Join(errs...))
}

// errHTTPStatus turns a refused WebSocket upgrade into ErrAuthFailed when the
// status says so.
func errHTTPStatus(resp *http.Response, err error) error {
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("dial coordinator: %s: %w", resp.Status, ErrAuthFailed)
	}
	if resp != nil {
		return fmt.Errorf("dial coordinator: %s: %w", resp.Status, err)
	}
	return fmt.Errorf("dial coordinator: %w", err)
}

var errUnexpected = errors.New("unexpected message")

// busyRetrySteps caps the backoff of CONNECTs a busy server refused at this
// many times its hint (retry_after_ms, about one client's setup there).
const busyRetrySteps = 4
