package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// Config describes one load run.
type Config struct {
	CoordinatorURL string
	Scenario       Scenario
	Clients        int
	// Rate is the messages per second each client publishes.
	Rate     float64
	BodySize int
	Reliable bool
	// Duration is the measured window; for join-storm, the idle hold after
	// the storm, at whose end server memory is read.
	Duration time.Duration
	// Warmup runs the load before the window opens; it is not counted.
	Warmup time.Duration
	// Topics is the number of topics of the sparse scenario; 0 means one per
	// five clients.
	Topics int
	// Topic is the topic (the prefix of the topics, for sparse); empty means
	// "load.<scenario>".
	Topic string
	// ConnectConcurrency bounds the dials in flight; 0 means 16, and
	// join-storm dials every client at once unless it is set.
	ConnectConcurrency int
	// ConnectTimeout bounds one client's dial and subscribe; 0 means 30s.
	ConnectTimeout time.Duration
	// Drain bounds the wait for messages in flight after the window; 0
	// means 2s.
	Drain time.Duration
	// Unbatched client slots, the first ones, act as 2019 clients
	// (client.Config.DisableBatching); the others batch, as the SDK does by
	// default. 0: all batch. Between 0 and Clients the report splits what
	// each kind received (Report.Kinds).
	Unbatched int
	// Query, Header and AuthBody are every client's credentials.
	Query    url.Values
	Header   http.Header
	AuthBody []byte
	WebRTC   rtcconfig.Config
	// TLSConfig verifies a wss:// coordinator (client.Config.TLSConfig);
	// nil is the system roots.
	TLSConfig *tls.Config
	// PIDs are server processes whose CPU and RSS the report includes;
	// PIDNames labels them (optional).
	PIDs     []int
	PIDNames []string
	// Logger receives the clients' diagnostics; nil discards them.
	Logger *slog.Logger
	// Progress receives one line a second while the run goes on; nil for
	// none. ProgressInPlace rewrites one line (for a terminal).
	Progress        io.Writer
	ProgressInPlace bool

	// Churn is how many clients leave, and how many new ones join in their
	// place, each second of the load (warm-up and window); see roster for
	// how loss is counted then.
	Churn int
	// Slow clients stop reading SlowAfter into the window (0: a third of
	// it), so that their server cuts them as slow consumers; the report
	// splits everyone else's latency into before, while and after.
	Slow      int
	SlowAfter time.Duration
	// SampleEvery, when set, adds a timeline to the report: every interval,
	// the servers' RSS, open files and goroutines (from MetricsURLs, one per
	// PID, in order; empty entries skip it) and the loss so far.
	SampleEvery time.Duration
	MetricsURLs []string
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Clients < 1 {
		return cfg, fmt.Errorf("clients %d: need at least 1", cfg.Clients)
	}
	if cfg.Scenario == "" {
		cfg.Scenario = Dense
	}
	if _, err := ParseScenario(string(cfg.Scenario)); err != nil {
		return cfg, err
	}
	if cfg.Scenario == World {
		return cfg, errors.New("the world scenario runs with RunWorld")
	}
	if cfg.Unbatched < 0 {
		return cfg, fmt.Errorf("unbatched %d: must not be negative", cfg.Unbatched)
	}
	if cfg.Scenario != JoinStorm && cfg.Rate <= 0 {
		return cfg, fmt.Errorf("rate %v: must be positive", cfg.Rate)
	}
	if cfg.BodySize < MinBodySize {
		return cfg, fmt.Errorf("body size %d: at least %d bytes carry the send time and sequence", cfg.BodySize, MinBodySize)
	}
	if cfg.Topic == "" {
		cfg.Topic = cfg.Scenario.defaultTopic()
	}
	if cfg.Topics <= 0 {
		cfg.Topics = max(cfg.Clients/5, 1)
	}
	if cfg.Scenario != Sparse {
		cfg.Topics = 1
	}
	if cfg.ConnectConcurrency <= 0 {
		cfg.ConnectConcurrency = 16
		if cfg.Scenario == JoinStorm {
			cfg.ConnectConcurrency = cfg.Clients
		}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logging.Discard()
	}
	if err := cfg.checkExtras(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// schedulers is how many goroutines publish for all the clients; each owns
// every schedulers-th client. More than one, so that one client's publish
// waiting on flow control does not stall every other client.
const schedulers = 4

// tick is how often a scheduler publishes what is due.
const tick = 2 * time.Millisecond

// engine runs one load: the clients and what they have done.
type engine struct {
	cfg  Config
	plan plan
	rec  *Recorder
	// channel is cfg.Reliable as the SDK takes it.
	channel client.Channel

	// clients[i] is written once by the connect worker that dials client i,
	// before connectAll returns; read-only afterwards. slots[i] is who
	// publishes as sender i now: that client, then (--churn) the ones that
	// replace it; nil while nobody does.
	clients []*client.Client
	slots   []atomic.Pointer[member]
	roster  *roster
	// later holds the clients that joined after connectAll (--churn).
	later laterClients
	// slowMembers are the --slow clients; set before the load starts.
	slowMembers []*member
	slowCut     atomic.Int64

	connected    atomic.Int64
	rawSent      atomic.Uint64 // every publish, warm-up included: the progress line
	publishFails atomic.Uint64
	phase        atomic.Value // string: what the progress line says is going on
}

// Run runs one load as cfg says and returns its report. It returns an error
// only when the run could not take place (bad config, no client connected);
// a cancelled ctx ends the window early and the report says so.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &engine{
		cfg:     cfg,
		plan:    newPlan(cfg.Scenario, cfg.Clients, cfg.Topics, cfg.Topic),
		rec:     NewRecorder(time.Now(), cfg.Clients+cfg.churnCapacity(), cfg.Clients),
		clients: make([]*client.Client, cfg.Clients),
		slots:   make([]atomic.Pointer[member], cfg.Clients),
	}
	e.channel = client.Unreliable
	if cfg.Reliable {
		e.channel = client.Reliable
	}
	if cfg.Unbatched > 0 && cfg.Unbatched < cfg.Clients {
		e.rec.kinds.Store(newKindRec(len(e.rec.spans)))
	}
	e.roster = newRoster(e.rec)
	e.later.next = cfg.Clients
	e.phase.Store("connecting")

	servers := NewProcSampler(cfg.PIDs, cfg.PIDNames)
	self := NewProcSampler([]int{os.Getpid()}, []string{"generator"})
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stopSampling()
	servers.Mark()
	self.Mark()
	bg.Add(2)
	go func() { defer bg.Done(); servers.Run(sampleCtx, time.Second) }()
	go func() { defer bg.Done(); self.Run(sampleCtx, time.Second) }()
	if cfg.Progress != nil {
		bg.Add(1)
		go func() { defer bg.Done(); e.progress(sampleCtx) }()
	}

	rep := &Report{
		Scenario: cfg.Scenario, Channel: channelName(cfg.Reliable), Clients: cfg.Clients,
		Rate: cfg.Rate, BodySize: cfg.BodySize, Topics: cfg.Topics,
		ClientsPerServer: map[string]int{},
	}
	defer e.closeAll()
	times := e.connectAll(ctx, rep)
	if rep.Connected == 0 {
		return nil, fmt.Errorf("no client connected: %s", firstOr(rep.ConnectErrors, "no error recorded"))
	}
	aliases := make([]uint64, len(e.clients))
	for i, c := range e.clients {
		if c != nil {
			aliases[i] = c.ServerAlias()
			rep.ClientsPerServer[strconv.FormatUint(aliases[i], 10)]++
		}
	}
	if k := newHopRec(aliases); k != nil && cfg.Scenario != JoinStorm {
		e.rec.hops.Store(k)
	}

	if cfg.Scenario == JoinStorm {
		e.joinStorm(ctx, rep, times, servers)
	} else {
		e.load(ctx, rep, servers, self)
	}
	for _, c := range e.clients {
		if c != nil && c.Err() != nil && !errors.Is(c.Err(), client.ErrClosed) {
			rep.Disconnected++
		}
	}
	if rep.Generator.PID == 0 { // join-storm: the whole run
		rep.Generator = self.Usage()[0]
	}
	for _, s := range rep.Servers {
		rep.ServerCPUSeconds += s.CPUSeconds
	}
	if rep.Delivered > 0 {
		rep.ServerCPUPerDeliveryUs = rep.ServerCPUSeconds * 1e6 / float64(rep.Delivered)
	}
	rep.Unbatched = min(cfg.Unbatched, cfg.Clients)
	if k := e.rec.kinds.Load(); k != nil && cfg.Scenario != JoinStorm {
		rep.Kinds = k.result(cfg.Unbatched, cfg.Clients)
	}
	if k := e.rec.hops.Load(); k != nil {
		rep.Hops = k.result()
	}
	return rep, nil
}

func channelName(reliable bool) string {
	if reliable {
		return "reliable"
	}
	return "unreliable"
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// connectTimes are each client's dial and subscribe completion times since
// the start of the connect phase (zero for a client that failed).
type connectTimes struct {
	dialed, subscribed []time.Duration
}

// connectAll dials and subscribes every client, ConnectConcurrency at a time.
func (e *engine) connectAll(ctx context.Context, rep *Report) connectTimes {
	n := e.cfg.Clients
	t := connectTimes{dialed: make([]time.Duration, n), subscribed: make([]time.Duration, n)}
	errs := make([]error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(e.cfg.ConnectConcurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t.dialed[i], t.subscribed[i], errs[i] = e.connect(ctx, i, start)
			}
		}()
	}
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			rep.Connected++
		} else if len(rep.ConnectErrors) < 5 {
			rep.ConnectErrors = append(rep.ConnectErrors, err.Error())
		}
	}
	return t
}

// connect dials client i and subscribes it to its topic: the first
// incarnation of slot i, receiver i.
func (e *engine) connect(ctx context.Context, i int, start time.Time) (dialed, subscribed time.Duration, err error) {
	m, dialed, err := e.dialMember(ctx, i, i, start)
	if err != nil {
		return 0, 0, err
	}
	e.clients[i] = m.c
	e.slots[i].Store(m)
	e.connected.Add(1)
	return dialed, time.Since(start), nil
}

// onMessage is receiver m's path: decode the stamp, count, record the
// latency. It runs on the client's read loops and must stay cheap; a slow
// consumer's blocks here (see member.stopReading).
func (e *engine) onMessage(m *member) func(client.Message) {
	return func(msg client.Message) {
		if m.stopped.Load() {
			<-m.release
			return
		}
		e.rec.Received(m.r, msg.Body, e.rec.Now())
	}
}

// closeAll closes every client, in parallel since each Close waits for its
// read loops.
func (e *engine) closeAll() {
	e.releaseAll()
	var wg sync.WaitGroup
	for _, c := range append(e.clients, e.later.all()...) {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Close() }()
	}
	wg.Wait()
}
