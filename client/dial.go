package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Dial connects to a communication server through the coordinator: it gets
// an alias and the server list from the coordinator, asks the first server
// (or Config.Server) to connect, answers its offer, waits for both data
// channels and writes AUTH. It returns once AUTH is written; there is no
// acknowledgement, but the server handles a channel's messages in order, so
// a later Subscribe (which waits for a PING echo) fails if the AUTH did.
//
// The coordinator socket is closed before Dial returns: the WebRTC link does
// not need it, and the client keeps working while the coordinator is away.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()

	target, err := cfg.connectURL()
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	api, err := rtc.NewAPI(cfg.WebRTC)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := newClient(cfg, api)
	if err := c.handshake(ctx, target); err != nil {
		c.fail(err)
		<-c.closed
		return nil, err
	}
	c.log.Debug("client connected", "alias", c.alias, "server", c.server)
	return c, nil
}

// handshake runs the signaling with the coordinator until both channels are
// open and AUTH is written.
func (c *Client) handshake(ctx context.Context, target string) error {
	sig, err := dialSignaling(ctx, target, c.cfg.Header, c.log)
	if err != nil {
		return err
	}
	defer sig.close()

	welcome, err := sig.welcome(ctx)
	if err != nil {
		return err
	}
	c.alias = welcome.GetAlias()
	switch {
	case c.cfg.Server != 0:
		c.server = c.cfg.Server
	case len(welcome.GetAvailableServers()) > 0:
		c.server = welcome.GetAvailableServers()[0]
	default:
		return fmt.Errorf("dial: alias %d: %w", c.alias, ErrNoServers)
	}
	sig.server = c.server

	pc, err := c.api.NewPeerConnection()
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	c.pc = pc // before any callback can run: teardown closes it

	opened := make(chan *channel, 2)
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != rtc.LabelReliable && dc.Label() != rtc.LabelUnreliable {
			c.log.Warn("ignoring unexpected data channel", "server", c.server, "label", dc.Label())
			return
		}
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			if err != nil {
				c.fail(fmt.Errorf("dial: detach %s: %w", dc.Label(), err))
				return
			}
			select {
			case opened <- newChannel(dc, rw):
			default: // a third channel: the server broke the protocol
				c.fail(fmt.Errorf("dial: server %d opened channel %q twice", c.server, dc.Label()))
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
			case <-c.done:
			case <-grace.C:
				c.fail(c.linkErr(fmt.Errorf("peer connection %s", s)))
			}
		}()
	})

	if err := sig.send(&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: c.server}); err != nil {
		return err
	}
	// Remote candidates that arrive before the offer wait here: pion cannot
	// add a candidate before the remote description is set.
	var early []webrtc.ICECandidateInit
	for c.reliable == nil || c.unreliable == nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("dial: server %d: %w", c.server, ctx.Err())
		case <-c.done:
			return c.err
		case err := <-sig.errs:
			return err
		case ch := <-opened:
			if ch.reliable {
				c.reliable = ch
			} else {
				c.unreliable = ch
			}
		case in := <-sig.in:
			if err := c.handleSignal(in, sig, &early); err != nil {
				return err
			}
		}
	}
	if !c.cfg.SkipAuth {
		b, err := c.reliable.begin(c.done)
		if err != nil {
			return c.err
		}
		if err := c.reliable.commit(relay.AppendAuth(b, protocol.Role_CLIENT, c.cfg.AuthBody)); err != nil {
			return fmt.Errorf("dial: server %d: auth: %w", c.server, err)
		}
	}
	c.startLoops()
	return nil
}

// handleSignal applies one coordinator message during the handshake.
func (c *Client) handleSignal(in signal, sig *signaling, early *[]webrtc.ICECandidateInit) error {
	if in.from != c.server {
		c.log.Debug("ignoring signal from another alias", "type", in.typ, "from", in.from, "server", c.server)
		return nil
	}
	switch in.typ {
	case protocol.MessageType_CONNECTION_REFUSED:
		return refusal(c.server, in.reason, in.data)
	case protocol.MessageType_WEBRTC_OFFER:
		offer, err := rtc.DecodeSDP(in.data)
		if err != nil {
			return fmt.Errorf("dial: server %d offer: %w", c.server, err)
		}
		if err := c.pc.SetRemoteDescription(offer); err != nil {
			return fmt.Errorf("dial: server %d offer: %w", c.server, err)
		}
		for _, cand := range *early {
			if err := c.pc.AddICECandidate(cand); err != nil {
				c.log.Debug("add ICE candidate", "server", c.server, "err", err)
			}
		}
		*early = nil
		answer, err := c.pc.CreateAnswer(nil)
		if err != nil {
			return fmt.Errorf("dial: server %d answer: %w", c.server, err)
		}
		if err := c.pc.SetLocalDescription(answer); err != nil {
			return fmt.Errorf("dial: server %d answer: %w", c.server, err)
		}
		data, err := json.Marshal(answer)
		if err != nil {
			return fmt.Errorf("dial: encode answer: %w", err)
		}
		return sig.sendAnswer(data)
	case protocol.MessageType_WEBRTC_ICE_CANDIDATE:
		cand, err := rtc.DecodeCandidate(in.data)
		if err != nil {
			c.log.Debug("ignoring undecodable candidate", "server", c.server, "err", err)
			return nil
		}
		if !c.api.AcceptCandidate(cand) {
			c.log.Debug("ignoring non-loopback candidate", "server", c.server, "candidate", cand.Candidate)
			return nil
		}
		if c.pc.RemoteDescription() == nil {
			*early = append(*early, cand)
			return nil
		}
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("add ICE candidate", "server", c.server, "err", err)
		}
	default:
		c.log.Debug("ignoring coordinator message", "type", in.typ, "server", c.server)
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
