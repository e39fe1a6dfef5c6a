package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/core/spatial"
)

// World is the shared-world scenario (issue 14): clients move at random in
// a square world and publish their state, with their position, at a fixed
// rate. It runs in two phases, one after the other on the same clients:
// "off", everyone on one ordinary topic (every state to every client), and
// "on", the same on a world topic, where the servers relay by distance
// (their worlds config must declare the topic with the geometry given here).
// The report sets the two side by side: deliveries per second, each
// client's downstream, and the servers' CPU.
const World Scenario = "world"

// WorldConfig describes one world run.
type WorldConfig struct {
	CoordinatorURL string
	Clients        int
	Rate           float64 // state updates per second per client
	BodySize       int
	Duration       time.Duration // each phase's measured window
	Warmup         time.Duration // each phase's load before its window
	// Size is the side of the world (W x W); Speed how far a client moves
	// per second; Cell, Radius and Every the servers' geometry of Topic, to
	// count what each phase should deliver.
	Size, Speed  float64
	Cell, Radius float64
	Every        [3]int
	// Topic is the world topic ("on"); FlatTopic the ordinary one ("off").
	Topic, FlatTopic string
	// Phases is which phases run, in order: "off", "on"; empty: both.
	Phases []string

	Query     url.Values
	Header    http.Header
	AuthBody  []byte
	WebRTC    rtcconfig.Config
	TLSConfig *tls.Config
	PIDs      []int
	PIDNames  []string
	Logger    *slog.Logger
	Seed      uint64
}

// WorldReport is one world run's result, a phase per entry.
type WorldReport struct {
	Clients   int          `json:"clients"`
	Connected int          `json:"connected"`
	Rate      float64      `json:"rate"`
	Size      float64      `json:"size"`
	Radius    float64      `json:"radius"`
	Cell      float64      `json:"cell"`
	Phases    []WorldPhase `json:"phases"`
}

// WorldPhase is what one phase measured over its window.
type WorldPhase struct {
	Name             string  `json:"name"` // "off" or "on"
	Topic            string  `json:"topic"`
	WindowSeconds    float64 `json:"window_seconds"`
	SentPerSec       float64 `json:"sent_per_sec"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// ExpectedPerSec is what the geometry says the phase should deliver:
	// every other client for off; for on, each client within the radius at
	// its band's rate (1, 1/2, 1/4 of the states by default).
	ExpectedPerSec float64 `json:"expected_per_sec"`
	// Per client, downstream: data-channel payload bytes (the encoded
	// TOPIC_FW, position included) and messages per second.
	BytesPerClientPerSec float64     `json:"bytes_per_client_per_sec"`
	MsgsPerClientPerSec  float64     `json:"msgs_per_client_per_sec"`
	Servers              []ProcUsage `json:"servers,omitempty"`
	ServerCPUSeconds     float64     `json:"server_cpu_seconds"`
	// ServerCPUPct is the servers' CPU over the window, in percent of one core.
	ServerCPUPct float64 `json:"server_cpu_pct"`
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
}

func (cfg WorldConfig) withDefaults() (WorldConfig, error) {
	switch {
	case cfg.Clients < 2:
		return cfg, fmt.Errorf("clients %d: the world scenario needs at least 2", cfg.Clients)
	case cfg.Rate <= 0:
		return cfg, fmt.Errorf("rate %v: must be positive", cfg.Rate)
	case cfg.BodySize < MinBodySize:
		return cfg, fmt.Errorf("body size %d: at least %d bytes carry the send time and sequence", cfg.BodySize, MinBodySize)
	case !(cfg.Size > 0):
		return cfg, fmt.Errorf("world size %v: must be positive", cfg.Size)
	}
	if cfg.Every == [3]int{} {
		cfg.Every = spatial.DefaultEvery
	}
	geo := spatial.Config{Cell: cfg.Cell, Radius: cfg.Radius, Every: cfg.Every}
	if err := geo.Check(); err != nil {
		return cfg, fmt.Errorf("world geometry (must be the servers'): %w", err)
	}
	if cfg.Topic == "" {
		cfg.Topic = "world.load"
	}
	if cfg.FlatTopic == "" {
		cfg.FlatTopic = "load.flat"
	}
	if len(cfg.Phases) == 0 {
		cfg.Phases = []string{"off", "on"}
	}
	for _, p := range cfg.Phases {
		if p != "off" && p != "on" {
			return cfg, fmt.Errorf("phase %q: want off or on", p)
		}
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logging.Discard()
	}
	return cfg, nil
}

// walker is one simulated client: its link, its place (x, y as float32
// bits, written by its scheduler, read by every sender's expected count),
// and what it received in the current window.
type walker struct {
	c        *client.Client
	w        *client.World
	pos      atomic.Uint64
	heading  float64 // the scheduler's alone
	msgs     atomic.Int64
	bytes    atomic.Int64
	latency  latencySampler
	counting atomic.Bool
}

func (wk *walker) at() relay.Position {
	v := wk.pos.Load()
	return relay.Position{X: math.Float32frombits(uint32(v >> 32)), Y: math.Float32frombits(uint32(v))}
}

func (wk *walker) place(p relay.Position) {
	wk.pos.Store(uint64(math.Float32bits(p.X))<<32 | uint64(math.Float32bits(p.Y)))
}

// RunWorld runs the world scenario as cfg says.
func RunWorld(ctx context.Context, cfg WorldConfig) (*WorldReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	epoch := time.Now()
	walkers := make([]*walker, cfg.Clients)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Clients)
	sem := make(chan struct{}, 16)
	for i := range walkers {
		wk := &walker{heading: rng.Float64() * 2 * math.Pi}
		wk.place(relay.Position{X: float32(rng.Float64() * cfg.Size), Y: float32(rng.Float64() * cfg.Size)})
		walkers[i] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = dialWalker(ctx, cfg, wk, epoch)
		}()
	}
	wg.Wait()
	rep := &WorldReport{Clients: cfg.Clients, Rate: cfg.Rate, Size: cfg.Size, Radius: cfg.Radius, Cell: cfg.Cell}
	var live []*walker
	for i, wk := range walkers {
		if errs[i] == nil {
			live = append(live, wk)
		}
	}
	defer func() {
		for _, wk := range live {
			_ = wk.c.Close()
		}
	}()
	rep.Connected = len(live)
	if len(live) < 2 {
		return nil, fmt.Errorf("%d clients connected: %w", len(live), errors.Join(errs...))
	}
	servers := NewProcSampler(cfg.PIDs, cfg.PIDNames)
	for _, name := range cfg.Phases {
		ph, err := runPhase(ctx, cfg, name, live, servers, epoch)
		if err != nil {
			return rep, err
		}
		rep.Phases = append(rep.Phases, ph)
	}
	return rep, nil
}

func dialWalker(ctx context.Context, cfg WorldConfig, wk *walker, epoch time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		CoordinatorURL: cfg.CoordinatorURL, Query: cfg.Query, Header: cfg.Header, AuthBody: cfg.AuthBody,
		WebRTC: cfg.WebRTC, TLSConfig: cfg.TLSConfig, Logger: cfg.Logger,
		Reconnect: client.Reconnect{Disabled: true},
		OnMessage: func(m client.Message) {
			if !wk.counting.Load() {
				return
			}
			size := relay.SizeTopicFW(m.FromAlias, m.Topic, m.Body)
			if m.HasPosition {
				size = relay.SizeTopicFWAt(m.FromAlias, m.Topic, m.Body, m.Position)
			}
			wk.msgs.Add(1)
			wk.bytes.Add(int64(size))
			if st, err := DecodeStamp(m.Body); err == nil {
				wk.latency.add(time.Duration(int64(time.Since(epoch)) - st.SentNs))
			}
		},
	})
	if err != nil {
		return err
	}
	wk.c, wk.w = c, c.World(cfg.Topic)
	return nil
}

// runPhase subscribes every walker to the phase's topic, loads for the
// warm-up, then measures for the window.
func runPhase(ctx context.Context, cfg WorldConfig, name string, live []*walker, servers *ProcSampler, epoch time.Time) (WorldPhase, error) {
	on := name == "on"
	topic := cfg.FlatTopic
	if on {
		topic = cfg.Topic
	}
	for _, wk := range live {
		if err := wk.c.Subscribe(ctx, topic); err != nil {
			return WorldPhase{}, fmt.Errorf("phase %s: subscribe: %w", name, err)
		}
		if on {
			if err := wk.w.SetPosition(wk.at()); err != nil {
				return WorldPhase{}, fmt.Errorf("phase %s: position: %w", name, err)
			}
		}
	}
	geo := spatial.Config{Cell: cfg.Cell, Radius: cfg.Radius, Every: cfg.Every}
	var sent atomic.Int64
	var expected atomic.Uint64 // in 1/840ths of a delivery (840 = lcm of 1..8), so rates add up exactly
	var counting atomic.Bool
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for s := range min(schedulers, len(live)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worldSchedule(pctx, cfg, geo, on, topic, live, s, epoch, &sent, &expected, &counting)
		}()
	}
	wait := func(d time.Duration) bool { return holdFor(ctx, d) }
	ok := wait(cfg.Warmup)
	for _, wk := range live {
		wk.msgs.Store(0)
		wk.bytes.Store(0)
		wk.latency.reset()
		wk.counting.Store(true)
	}
	sent.Store(0)
	expected.Store(0)
	counting.Store(true)
	servers.Mark()
	start := time.Now()
	if ok {
		wait(cfg.Duration)
	}
	window := time.Since(start).Seconds()
	usage := servers.Usage()
	counting.Store(false)
	stop()
	wg.Wait()
	// What was sent in the window may still be in flight: a short grace.
	wait(300 * time.Millisecond)
	ph := WorldPhase{Name: name, Topic: topic, WindowSeconds: window, Servers: usage}
	var msgs, bytes int64
	var lat latencySampler
	for _, wk := range live {
		wk.counting.Store(false)
		msgs += wk.msgs.Load()
		bytes += wk.bytes.Load()
		lat.merge(&wk.latency)
	}
	if window > 0 {
		n := float64(len(live))
		ph.SentPerSec = float64(sent.Load()) / window
		ph.DeliveriesPerSec = float64(msgs) / window
		ph.ExpectedPerSec = float64(expected.Load()) / 840 / window
		ph.BytesPerClientPerSec = float64(bytes) / n / window
		ph.MsgsPerClientPerSec = float64(msgs) / n / window
		for _, u := range usage {
			ph.ServerCPUSeconds += u.CPUSeconds
		}
		ph.ServerCPUPct = 100 * ph.ServerCPUSeconds / window
	}
	ph.LatencyP50Ms, ph.LatencyP99Ms = lat.quantileMs(0.5), lat.quantileMs(0.99)
	return ph, nil
}

// worldSchedule moves and publishes for every schedulers-th walker from s,
// each at cfg.Rate, phases spread over one period.
func worldSchedule(ctx context.Context, cfg WorldConfig, geo spatial.Config, on bool, topic string, live []*walker, s int,
	epoch time.Time, sent *atomic.Int64, expected *atomic.Uint64, counting *atomic.Bool) {
	period := time.Duration(float64(time.Second) / cfg.Rate)
	step := cfg.Speed / cfg.Rate
	type slot struct {
		i    int
		next time.Time
		seq  uint64
		body []byte
	}
	var mine []*slot
	now := time.Now()
	for i := s; i < len(live); i += schedulers {
		body, _ := NewBody(cfg.BodySize)
		mine = append(mine, &slot{i: i, next: now.Add(period * time.Duration(i) / time.Duration(len(live))), body: body})
	}
	rng := rand.New(rand.NewPCG(uint64(s), cfg.Seed))
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		now := time.Now()
		for _, sl := range mine {
			for !sl.next.After(now) {
				sl.next = sl.next.Add(period)
				wk := live[sl.i]
				p := walk(wk, step, cfg.Size, rng)
				sl.seq++
				EncodeStamp(sl.body, Stamp{Sender: uint32(sl.i), Seq: sl.seq, SentNs: int64(time.Since(epoch))})
				var err error
				if on {
					err = wk.w.PublishAt(p, sl.body, client.Unreliable)
				} else {
					err = wk.c.Publish(topic, sl.body, client.Unreliable)
				}
				if err != nil || !counting.Load() {
					continue
				}
				sent.Add(1)
				expected.Add(expectedFrom(geo, on, p, sl.i, live))
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// walk moves wk one step along its heading, turning a little at random and
// bouncing off the world's edges, and returns its new place.
func walk(wk *walker, step, size float64, rng *rand.Rand) relay.Position {
	p := wk.at()
	wk.heading += (rng.Float64() - 0.5) * 0.6
	x, y := float64(p.X)+step*math.Cos(wk.heading), float64(p.Y)+step*math.Sin(wk.heading)
	if x < 0 || x > size {
		wk.heading = math.Pi - wk.heading
		x = math.Min(math.Max(x, 0), size)
	}
	if y < 0 || y > size {
		wk.heading = -wk.heading
		y = math.Min(math.Max(y, 0), size)
	}
	np := relay.Position{X: float32(x), Y: float32(y)}
	wk.place(np)
	return np
}

// expectedFrom is what one state of sender i at p should be delivered, in
// 840ths: every other client off; on, the geometry's rate for each.
func expectedFrom(geo spatial.Config, on bool, p relay.Position, i int, live []*walker) uint64 {
	if !on {
		return 840 * uint64(len(live)-1)
	}
	var n uint64
	for j, wk := range live {
		if j == i {
			continue
		}
		if r := geo.Rate(p, wk.at()); r > 0 {
			n += 840 / uint64(r)
		}
	}
	return n
}
