package ceiling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
)

// dropAbove is the send-buffer level over which the relay skips an
// unreliable write instead of queueing it: the same 1 MiB the client SDK
// waits at.
const dropAbove = 1 << 20

// relayPeer is one peer connection of the relay and its chosen channel.
type relayPeer struct {
	pc *webrtc.PeerConnection
	dc *webrtc.DataChannel
	rw datachannel.ReadWriteCloser
}

// ServeRelay is the relay process: it answers the parent's signals on in and
// out, relays every message from peer 0 to peers 1..N until the parent says
// stop (or closes in, or ctx ends), then reports and returns.
func ServeRelay(ctx context.Context, in io.Reader, out io.Writer) error {
	w := newWire(in, out)
	err := serveRelay(ctx, w)
	if err != nil {
		_ = w.send(signal{Type: msgError, Error: err.Error()})
	}
	return err
}

// rawPion is the ceiling's pion: loopback only, and otherwise what pion
// does out of the box, so none of the server's own settings (the SCTP zero
// checksum, which pion leaves off, the single port and its batched writes)
// are in the ceiling it is compared with.
var rawPion = rtcconfig.Config{LoopbackOnly: true, SCTPZeroChecksum: new(bool)}

func serveRelay(ctx context.Context, w *wire) error {
	api, err := rtc.NewAPI(rawPion)
	if err != nil {
		return err
	}
	defer api.Close()
	if err := w.send(signal{Type: msgHello, Goroutines: runtime.NumGoroutine()}); err != nil {
		return err
	}
	setup, err := w.recv()
	if err != nil {
		return err
	}
	if setup.Type != msgSetup || setup.Receivers < 1 {
		return fmt.Errorf("relay: want setup with receivers, got %+v", setup)
	}
	label := rtc.LabelUnreliable
	if setup.Reliable {
		label = rtc.LabelReliable
	}

	// peers is written by this goroutine before each offer is sent and read by
	// the signal reader once the answer to that offer is back; mu orders the two.
	var mu sync.Mutex
	peers := make([]*relayPeer, setup.Receivers+1)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range peers {
			if p != nil {
				_ = p.pc.Close()
			}
		}
	}()
	opened := make(chan error, len(peers))

	// The signal reader answers offers, and ends the run on stop or EOF.
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(stop)
		for {
			s, err := w.recv()
			if err != nil {
				readErr <- err
				return
			}
			switch s.Type {
			case msgAnswer:
				mu.Lock()
				var p *relayPeer
				if s.Peer >= 0 && s.Peer < len(peers) {
					p = peers[s.Peer]
				}
				mu.Unlock()
				if p == nil || s.SDP == nil {
					readErr <- fmt.Errorf("relay: answer for unknown peer %d", s.Peer)
					return
				}
				if err := p.pc.SetRemoteDescription(*s.SDP); err != nil {
					readErr <- fmt.Errorf("relay: peer %d: %w", s.Peer, err)
					return
				}
			case msgStop:
				readErr <- nil
				return
			}
		}
	}()

	for k := range peers {
		p, offer, err := newRelayPeer(api, label, opened)
		if err != nil {
			return fmt.Errorf("relay: peer %d: %w", k, err)
		}
		mu.Lock()
		peers[k] = p
		mu.Unlock()
		if err := w.send(signal{Type: msgOffer, Peer: k, SDP: offer}); err != nil {
			return err
		}
	}
	for range peers {
		select {
		case err := <-opened:
			if err != nil {
				return err
			}
		case <-stop:
			return errors.Join(errors.New("relay: stopped before every channel opened"), <-readErr)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := w.send(signal{Type: msgReady, Goroutines: runtime.NumGoroutine()}); err != nil {
		return err
	}

	var dropped atomic.Uint64
	relayed := make(chan error, 1)
	go func() { relayed <- relay(peers, setup.Reliable, &dropped) }()
	select {
	case <-stop:
		if err := <-readErr; err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	case err := <-relayed:
		return fmt.Errorf("relay: publisher channel: %w", err)
	case <-ctx.Done():
	}
	return w.send(signal{Type: msgStats, Dropped: dropped.Load()})
}

// newRelayPeer creates a peer connection with both of the broker's channels,
// and its complete offer; the chosen channel is detached into the peer when
// it opens, and opened gets one value then.
func newRelayPeer(api *rtc.API, label string, opened chan<- error) (*relayPeer, *webrtc.SessionDescription, error) {
	pc, err := api.NewPeerConnection()
	if err != nil {
		return nil, nil, err
	}
	p := &relayPeer{pc: pc}
	// OnOpen sets p.rw, then sends on opened; the relay loop starts only
	// after every peer's value was received, so it sees p.rw set.
	rel, unrel := rtc.ChannelInits()
	for _, ch := range []struct {
		label string
		init  *webrtc.DataChannelInit
	}{{rtc.LabelReliable, rel}, {rtc.LabelUnreliable, unrel}} {
		dc, err := pc.CreateDataChannel(ch.label, ch.init)
		if err != nil {
			_ = pc.Close()
			return nil, nil, fmt.Errorf("create channel %s: %w", ch.label, err)
		}
		if ch.label != label {
			continue
		}
		p.dc = dc
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			if err != nil {
				opened <- fmt.Errorf("detach %s: %w", ch.label, err)
				return
			}
			p.rw = rw
			opened <- nil
		})
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		_ = pc.Close()
		return nil, nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		_ = pc.Close()
		return nil, nil, fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		_ = pc.Close()
		return nil, nil, errors.New("ICE gathering did not complete in 10s")
	}
	return p, pc.LocalDescription(), nil
}

// relay is the whole "broker" of the ceiling: read a message from the
// publisher, write it to every receiver, in one goroutine. Unreliable writes
// are skipped while a receiver's send buffer is over dropAbove.
func relay(peers []*relayPeer, reliable bool, dropped *atomic.Uint64) error {
	src, dsts := peers[0], peers[1:]
	buf := make([]byte, 65536)
	for {
		n, err := src.rw.Read(buf)
		if err != nil {
			return err
		}
		for _, d := range dsts {
			if !reliable && d.dc.BufferedAmount() > dropAbove {
				dropped.Add(1)
				continue
			}
			if _, err := d.rw.Write(buf[:n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
}
