package ceiling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
	"github.com/webrtc-broker/webrtc-broker/core/backoff"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
)

// settle is how long the peers stay idle before the relay's memory is read:
// long enough for the handshakes' garbage to be collected.
const settle = time.Second

// Run starts the relay process, connects a publisher and cfg.Receivers
// receivers to it, runs the load and returns what it measured. The relay is
// killed when Run returns.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.RelayCommand) == 0 || cfg.Receivers < 1 || cfg.Rate <= 0 {
		return nil, fmt.Errorf("ceiling: need a relay command, receivers >= 1 and a positive rate (got %d, %v)", cfg.Receivers, cfg.Rate)
	}
	if cfg.BodySize < loadgen.MinBodySize {
		return nil, fmt.Errorf("ceiling: body size %d: at least %d", cfg.BodySize, loadgen.MinBodySize)
	}
	cfg.Burst = max(cfg.Burst, 1)
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 60 * time.Second
	}

	cmd := exec.Command(cfg.RelayCommand[0], cfg.RelayCommand[1:]...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), cfg.RelayEnv...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ceiling: start relay: %w", err)
	}
	// The relay dies with the run whatever happens; Wait reaps it.
	defer func() {
		_ = stdin.Close()
		waited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	}()

	api, err := rtc.NewAPI(rawPion)
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	defer api.Close()
	p := &parent{cfg: cfg, api: api, w: newWire(stdout, stdin), pid: cmd.Process.Pid}
	defer p.close()
	return p.run(ctx)
}

// parent is the publisher and receiver side of a run.
type parent struct {
	cfg Config
	api *rtc.API
	w   *wire
	pid int

	// peers[k] is written by the goroutine that answers offer k, and read only
	// after every channel has opened (opened carries the happens-before).
	mu    sync.Mutex
	peers []*webrtc.PeerConnection
	rws   []datachannel.ReadWriteCloser
}

func (p *parent) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.peers {
		if pc != nil {
			_ = pc.Close()
		}
	}
}

func (p *parent) run(ctx context.Context) (*Result, error) {
	cfg := p.cfg
	res := &Result{Receivers: cfg.Receivers, Rate: cfg.Rate, Burst: cfg.Burst, BodySize: cfg.BodySize, Channel: "unreliable"}
	label := rtc.LabelUnreliable
	if cfg.Reliable {
		res.Channel, label = "reliable", rtc.LabelReliable
	}
	hello, err := p.expect(msgHello)
	if err != nil {
		return nil, err
	}
	relay := loadgen.NewProcSampler([]int{p.pid}, []string{"relay"})
	relay.Mark()
	if err := p.w.send(signal{Type: msgSetup, Receivers: cfg.Receivers, Reliable: cfg.Reliable}); err != nil {
		return nil, err
	}

	n := cfg.Receivers + 1
	p.peers = make([]*webrtc.PeerConnection, n)
	p.rws = make([]datachannel.ReadWriteCloser, n)
	opened := make(chan error, n)
	connectCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var ready signal
	for {
		s, err := p.w.recv()
		if err != nil {
			return nil, fmt.Errorf("ceiling: relay: %w", err)
		}
		if s.Type == msgReady {
			ready = s
			break
		}
		if s.Type == msgError {
			return nil, fmt.Errorf("ceiling: relay: %s", s.Error)
		}
		if s.Type != msgOffer || s.SDP == nil || s.Peer < 0 || s.Peer >= n {
			return nil, fmt.Errorf("ceiling: unexpected signal %q from the relay", s.Type)
		}
		if err := p.answer(s.Peer, *s.SDP, label, opened); err != nil {
			return nil, err
		}
	}
	for range n {
		select {
		case err := <-opened:
			if err != nil {
				return nil, err
			}
		case <-connectCtx.Done():
			return nil, fmt.Errorf("ceiling: channels did not open: %w", connectCtx.Err())
		}
	}

	// Memory of idle peers, once the handshakes' garbage had time to go.
	if !backoff.Wait(ctx.Done(), settle) {
		return nil, ctx.Err()
	}
	idle := relay.Usage()[0]
	res.IdleRSSPerPeerKB = (float64(idle.RSSEndKB) - float64(idle.RSSStartKB)) / float64(n)
	res.IdleGoroutinesPerPeer = float64(ready.Goroutines-hello.Goroutines) / float64(n)

	return p.load(ctx, res, relay)
}

// answer takes the relay's offer for peer k and sends the answer; the chosen
// channel is detached into p.rws[k] when it opens.
func (p *parent) answer(k int, offer webrtc.SessionDescription, label string, opened chan<- error) error {
	pc, err := p.api.NewPeerConnection()
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	p.mu.Lock()
	p.peers[k] = pc
	p.mu.Unlock()
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != label {
			return
		}
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			if err == nil {
				p.mu.Lock()
				p.rws[k] = rw
				p.mu.Unlock()
			}
			opened <- err
		})
	})
	if err := pc.SetRemoteDescription(offer); err != nil {
		return fmt.Errorf("ceiling: peer %d: %w", k, err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("ceiling: peer %d: %w", k, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("ceiling: peer %d: %w", k, err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("ceiling: peer %d: ICE gathering did not complete in 10s", k)
	}
	return p.w.send(signal{Type: msgAnswer, Peer: k, SDP: pc.LocalDescription()})
}

func (p *parent) expect(typ string) (signal, error) {
	s, err := p.w.recv()
	if err != nil {
		return s, fmt.Errorf("ceiling: relay: %w", err)
	}
	if s.Type == msgError {
		return s, fmt.Errorf("ceiling: relay: %s", s.Error)
	}
	if s.Type != typ {
		return s, fmt.Errorf("ceiling: want %s from the relay, got %s", typ, s.Type)
	}
	return s, nil
}

// load publishes from peer 0 and receives on peers 1..N through the window,
// then stops the relay and collects its count of drops.
func (p *parent) load(ctx context.Context, res *Result, relay *loadgen.ProcSampler) (*Result, error) {
	cfg := p.cfg
	rec := loadgen.NewRecorder(time.Now(), cfg.Receivers, 1)
	self := loadgen.NewProcSampler([]int{os.Getpid()}, []string{"generator"})

	var wg sync.WaitGroup
	defer wg.Wait()
	p.mu.Lock()
	rws := append([]datachannel.ReadWriteCloser(nil), p.rws...)
	p.mu.Unlock()
	for k := 1; k < len(rws); k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				n, err := rws[k].Read(buf)
				if err != nil {
					return // the peer closed at the end of the run
				}
				rec.Received(k-1, buf[:n], rec.Now())
			}
		}()
	}
	// The receivers' loops end when close() closes the peer connections.
	defer p.close()

	start := rec.Now()
	from := start + int64(cfg.Warmup)
	to := from + int64(cfg.Duration)
	rec.SetWindow(from, to)
	body, _ := loadgen.NewBody(cfg.BodySize) // size checked in Run
	period := float64(time.Second) * float64(cfg.Burst) / cfg.Rate
	var seq uint64
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	marked := false
	var udp0 loadgen.UDPStats
	var udpErr error
	var pubErr error
	for rounds := int64(0); pubErr == nil; {
		now := rec.Now()
		if !marked && now >= from {
			relay.Mark()
			self.Mark()
			udp0, udpErr = loadgen.ReadUDPStats()
			marked = true
		}
		if now >= to {
			break
		}
		for due := int64(float64(now-start)/period) + 1; rounds < due && pubErr == nil; rounds++ {
			for range cfg.Burst {
				seq++
				stamp := rec.Now()
				loadgen.EncodeStamp(body, loadgen.Stamp{Seq: seq, SentNs: stamp})
				if _, err := rws[0].Write(body); err != nil {
					pubErr = fmt.Errorf("ceiling: publish: %w", err)
					break
				}
				rec.Sent(stamp, cfg.Receivers)
			}
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if pubErr != nil {
		return nil, pubErr
	}
	res.Relay = relay.Usage()[0]
	res.Generator = self.Usage()[0]
	udp1, udpErr1 := loadgen.ReadUDPStats()
	drain(ctx, rec)

	if err := p.w.send(signal{Type: msgStop}); err != nil {
		return nil, err
	}
	stats, err := p.expect(msgStats)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	res.RelayDropped = stats.Dropped

	window := time.Duration(to - from)
	res.WindowSeconds = window.Seconds()
	res.Counts = rec.Counts()
	res.LossPct = res.Counts.LossPct()
	res.Latency = rec.Latency()
	res.ExpectedPerSec = float64(res.Expected) / window.Seconds()
	res.DeliveriesPerSec = float64(res.Delivered) / window.Seconds()
	if res.Delivered > 0 {
		res.CPUPerDeliveryUs = res.Relay.CPUSeconds * 1e6 / float64(res.Delivered)
	}
	if udpErr == nil && udpErr1 == nil {
		d := udp1.Sub(udp0)
		res.UDP = &d
		if res.Delivered > 0 {
			res.DatagramsPerDelivery = float64(d.OutDatagrams) / float64(res.Delivered)
		}
	}
	return res, nil
}

// drain waits until every expected delivery arrived or none did for a while.
func drain(ctx context.Context, rec *loadgen.Recorder) {
	deadline := time.Now().Add(2 * time.Second)
	last, lastChange := rec.Counts().Delivered, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c := rec.Counts()
		if c.Delivered >= c.Expected {
			return
		}
		if c.Delivered != last {
			last, lastChange = c.Delivered, time.Now()
		} else if time.Since(lastChange) > 300*time.Millisecond {
			return
		}
		backoff.Wait(ctx.Done(), 20*time.Millisecond)
	}
}
