// Package luahost runs the per-topic Lua packet policies of a communication
// server: sandboxed gopher-lua states from a pool, scripts compiled once, hot
// reload of the scripts directory. It implements policy.Policy. The script
// API is documented in scripts/README.md.
package luahost

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	lua "github.com/yuin/gopher-lua"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// Options configure a Host.
type Options struct {
	Dir         string // the scripts directory (scripts.dir)
	Logger      *slog.Logger
	Registerer  prometheus.Registerer // nil: metrics are kept but not exported
	ServerAlias func() uint64         // the server's current alias, shown to hooks

	// DefaultTimeout bounds each hook call of a script that declares no
	// timeout_ms. Default 5ms.
	DefaultTimeout time.Duration
	// PoolSize is the most Lua states one script keeps. Default
	// 2×GOMAXPROCS, at least 4.
	PoolSize int
	// Clock is what broker.now and broker.rate_limit read. Default time.Now;
	// the rule tester sets a virtual clock.
	Clock func() time.Time
	// NoWatch turns off fsnotify; ReloadOnSignal still works.
	NoWatch bool

	// only, when set, restricts loading to these file names (rule tester).
	only map[string]bool
}

// Host is the Lua policy host. Its policy.Policy methods are safe for
// concurrent use and never block on a reload.
type Host struct {
	opts           Options
	log            *slog.Logger
	clock          func() time.Time
	defaultTimeout time.Duration
	poolSize       int
	metrics        *metrics
	mem            *memWatch // nil for the rule tester's hosts: they measure on instruction counts only

	// snap is the scripts in force. Calls load it once and finish on it;
	// reload swaps in a new immutable one.
	snap atomic.Pointer[snapshot]

	reloadMu sync.Mutex        // serialises reload (fsnotify, SIGHUP, tests)
	stores   map[string]*store // by file name; guarded by reloadMu

	// ctx ends the host's goroutines (watcher, signal handler): New's ctx
	// being done, or Close. wg waits for them.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ policy.Policy = (*Host)(nil)

// snapshot is one immutable set of scripts in file-name order, with the
// topic cache that belongs to it (a new snapshot starts with an empty cache,
// which is how a reload invalidates it).
type snapshot struct {
	scripts    []*script
	connect    []*script // those with on_connect
	disconnect []*script // those with on_disconnect
	cache      atomic.Pointer[topicCache]
	// prefixes, when not nil, are the literal starts of every pattern (the
	// part before any `*`): a topic that starts with none of them is not
	// governed, which a few comparisons tell faster than the cache.
	// firstByte holds their first bytes, the cheapest test of all.
	prefixes  []string
	firstByte [256]bool
}

// maxPrefixes is how many literal prefixes are still cheaper to compare
// than one cache lookup.
const maxPrefixes = 8

func newSnapshot(scripts []*script) *snapshot {
	sn := &snapshot{scripts: scripts, prefixes: literalPrefixes(scripts)}
	for _, p := range sn.prefixes {
		sn.firstByte[p[0]] = true
	}
	for _, s := range scripts {
		if s.hooks[hookConnect] {
			sn.connect = append(sn.connect, s)
		}
		if s.hooks[hookDisconnect] {
			sn.disconnect = append(sn.disconnect, s)
		}
	}
	sn.cache.Store(&topicCache{})
	return sn
}

// New loads every script in opts.Dir and, unless opts.NoWatch, reloads on
// changes until ctx is done or Close is called. A script that does not load
// fails New: starting without a rule the operator wrote would fail open.
func New(ctx context.Context, opts Options) (*Host, error) {
	h, err := newHost(opts)
	if err != nil {
		return nil, err
	}
	// The memory watch runs before the first load: top levels are measured too.
	h.ctx, h.stop = context.WithCancel(ctx)
	h.mem = &memWatch{}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.mem.run(h.ctx)
	}()
	// Watch before the first load, so that no change slips between them.
	var w *fsnotify.Watcher
	if !opts.NoWatch {
		if w, err = h.newWatcher(); err != nil {
			h.Close()
			h.metrics.unregister()
			return nil, err
		}
	}
	if err := h.reload(); err != nil {
		if w != nil {
			w.Close()
		}
		h.Close()
		h.retireAll()
		h.metrics.unregister()
		return nil, fmt.Errorf("lua host: %w", err)
	}
	if w != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.watch(h.ctx, w)
		}()
	}
	return h, nil
}

// ReloadOnSignal reloads the scripts whenever the process receives one of
// sigs (the server passes SIGHUP) until the host is closed.
func (h *Host) ReloadOnSignal(sigs ...os.Signal) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer signal.Stop(ch)
		for {
			select {
			case <-h.ctx.Done():
				return
			case sig := <-ch:
				h.log.Info("reloading policy scripts", "signal", sig.String())
				_ = h.reload() // each failure is logged by reload
			}
		}
	}()
}

func newHost(opts Options) (*Host, error) {
	if opts.Dir == "" {
		return nil, errNoDir
	}
	if fi, err := os.Stat(opts.Dir); err != nil {
		return nil, fmt.Errorf("lua host: scripts directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("lua host: scripts directory %s is not a directory", opts.Dir)
	}
	h := &Host{opts: opts, log: opts.Logger, clock: opts.Clock, defaultTimeout: opts.DefaultTimeout,
		poolSize: opts.PoolSize, stores: make(map[string]*store)}
	if h.log == nil {
		h.log = logging.Discard()
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	if h.defaultTimeout <= 0 {
		h.defaultTimeout = defaultTimeout
	}
	if h.poolSize <= 0 {
		h.poolSize = max(4, 2*runtime.GOMAXPROCS(0))
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	h.metrics = m
	h.snap.Store(newSnapshot(nil))
	return h, nil
}

// Close stops watching the directory and signals, and waits for that. The
// scripts stay in force.
func (h *Host) Close() error {
	if h.stop != nil {
		h.stop()
	}
	h.wg.Wait()
	return nil
}

// memEpoch is what the states' memory budgets watch, nil without a watch.
func (h *Host) memEpoch() *atomic.Uint64 {
	if h.mem == nil {
		return nil
	}
	return &h.mem.epoch
}

func (h *Host) retireAll() {
	for _, s := range h.snap.Load().scripts {
		s.retire()
	}
}

// Governs reports whether any script governs topic. It is on the hot path of
// every message: a cached lookup that does not allocate.
func (h *Host) Governs(topic string) bool {
	return h.snap.Load().lookup(topic) != nil
}

// literalPrefixes returns the distinct literal prefixes of the scripts'
// patterns, or nil when some pattern starts with a wildcard or there are
// too many to beat the cache.
func literalPrefixes(scripts []*script) []string {
	var out []string
	for _, s := range scripts {
		for _, p := range s.patterns {
			lit := p.String()
			if i := strings.IndexByte(lit, '*'); i >= 0 {
				lit = lit[:i]
			}
			if lit == "" {
				return nil
			}
			if !slices.Contains(out, lit) {
				out = append(out, lit)
			}
		}
	}
	if len(out) > maxPrefixes {
		return nil
	}
	return out
}

// lookup returns what governs topic, nil for nothing.
func (sn *snapshot) lookup(topic string) *governed {
	if len(sn.scripts) == 0 {
		return nil
	}
	if sn.prefixes != nil && (topic == "" || !sn.firstByte[topic[0]] || !hasAnyPrefix(topic, sn.prefixes)) {
		return nil
	}
	c := sn.cache.Load()
	if v, ok := c.m.Load(topic); ok {
		return v.(*governed)
	}
	g := sn.resolve(topic)
	if c.n.Add(1) > maxCachedTopics {
		fresh := &topicCache{}
		sn.cache.CompareAndSwap(c, fresh)
		c = sn.cache.Load()
		c.n.Add(1)
	}
	c.m.Store(strings.Clone(topic), g)
	return g
}

func hasAnyPrefix(topic string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

func (sn *snapshot) resolve(topic string) *governed {
	var g *governed
	for _, s := range sn.scripts {
		if !s.governs(topic) {
			continue
		}
		if g == nil {
			g = &governed{topic: lua.LString(strings.Clone(topic))}
		}
		if s.hooks[hookSubscribe] {
			g.subscribe = append(g.subscribe, s)
		}
		if s.hooks[hookPublish] {
			g.publish = append(g.publish, s)
		}
	}
	return g
}

// OnSubscribe runs the on_subscribe hooks of the scripts governing topic in
// file-name order; the first deny wins.
func (h *Host) OnSubscribe(p policy.Peer, topic string) (allow bool, reason string) {
	g := h.snap.Load().lookup(topic)
	if g == nil || len(g.subscribe) == 0 {
		return true, ""
	}
	pa := newPeerArgs(p)
	for _, s := range g.subscribe {
		if ok, reason := s.subscribe(g.topic, &pa); !ok {
			return false, reason
		}
	}
	return true, ""
}

// OnPublish runs the on_publish hooks of the scripts governing topic in
// file-name order: the first drop wins, a replaced body is what the next
// script sees, and one "conflate" makes the message latest-wins.
func (h *Host) OnPublish(p policy.Peer, topic string, body []byte, reliable bool) policy.Decision {
	g := h.snap.Load().lookup(topic)
	if g == nil || len(g.publish) == 0 {
		return policy.Decision{Verdict: policy.Allow}
	}
	pa := newPeerArgs(p)
	cur := lua.LValue(lua.LString(body))
	replaced, conflate := false, false
	for _, s := range g.publish {
		v, out, reason, latest := s.publish(g.topic, cur, &pa, reliable)
		switch v {
		case policy.Drop:
			return policy.Decision{Verdict: policy.Drop, Reason: reason}
		case policy.Replace:
			cur, replaced = out, true
		}
		conflate = conflate || latest
	}
	if replaced {
		return policy.Decision{Verdict: policy.Replace, Body: []byte(cur.(lua.LString)), Conflate: conflate}
	}
	return policy.Decision{Verdict: policy.Allow, Conflate: conflate}
}

// OnConnect runs every on_connect hook.
func (h *Host) OnConnect(p policy.Peer) {
	sn := h.snap.Load()
	if len(sn.connect) == 0 {
		return
	}
	pa := newPeerArgs(p)
	for _, s := range sn.connect {
		s.notify(hookConnect, &pa)
	}
}

// OnDisconnect runs every on_disconnect hook.
func (h *Host) OnDisconnect(p policy.Peer) {
	sn := h.snap.Load()
	if len(sn.disconnect) == 0 {
		return
	}
	pa := newPeerArgs(p)
	for _, s := range sn.disconnect {
		s.notify(hookDisconnect, &pa)
	}
}
