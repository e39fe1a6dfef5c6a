// Command labclient is a broker client for the netlab fault tests: it runs
// inside a lab host (the test process cannot reach the lab), connects with
// the Go SDK, and takes commands on stdin, answering with one JSON event per
// line on stdout.
//
// Commands:
//
//	pub RUN N RATE reliable|unreliable [identity]
//	    publish N numbered messages at RATE/s (with identity: PublishIdentity;
//	    N 0: until "stop RUN", and the published event says how many)
//	stop RUN
//	    end an open-ended pub
//	await SRC RUN reliable|unreliable N IDLE
//	    report stream (SRC, RUN) once N messages of it arrived or none for IDLE
//
// Events: ready (connected and subscribed), published, report (identified
// counts the messages that carried the sender's role; dups describes the
// first duplicates), disconnected (the SDK's Done), lost (with --reconnect:
// pings failed), error, state (with --sdk-reconnect: every SDK state event,
// moves on DRAIN included; the SDK's own log lines go to stderr).
//
// The SDK does not reconnect by itself yet; with --reconnect this helper
// does: it watches the link with reliable pings and, when the link is gone,
// dials the coordinator again and lets it choose a server.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const topic = "lab"

// Liveness: a reliable ping every pingEvery, a link whose pings fail
// pingFailures times in a row (each bounded by pingTimeout) is lost.
const (
	pingEvery    = 250 * time.Millisecond
	pingTimeout  = 750 * time.Millisecond
	pingFailures = 2
)

func main() {
	coord := flag.String("coordinator", "", "coordinator URL")
	name := flag.String("name", "", "this client's name, carried in every body")
	server := flag.Uint64("server", 0, "alias of the server to connect to first (0: the coordinator's choice)")
	networks := flag.String("networks", "198.18.0.0/15", "webrtc.networks")
	reconnect := flag.Bool("reconnect", false, "dial again when the link is lost")
	coordCA := flag.String("coordinator-ca", "", "PEM file of the CA a wss:// coordinator is verified against")
	sdkReconnect := flag.Bool("sdk-reconnect", false, "let the SDK reconnect (and move on DRAIN), reporting its state events")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &labClient{name: *name, streams: map[streamKey]*stream{}, stops: map[string]chan struct{}{}, out: json.NewEncoder(os.Stdout)}
	c.cfg = client.Config{
		CoordinatorURL: *coord,
		Server:         *server,
		WebRTC:         rtcconfig.Config{Networks: []string{*networks}},
		ConnectTimeout: 5 * time.Second,
		OnMessage:      c.receive,
		// The lab's own watch loop reconnects (with -reconnect) and reports
		// each step; the SDK's reconnection would do it silently.
		Reconnect: client.Reconnect{Disabled: true},
	}
	if *coordCA != "" {
		tlsConf, err := caConfig(*coordCA)
		if err != nil {
			c.emit(map[string]any{"ev": "error", "err": err.Error()})
			os.Exit(1)
		}
		c.cfg.TLSConfig = tlsConf
	}
	if *sdkReconnect {
		c.cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil)) // the SDK's info lines: moves
		c.cfg.Reconnect = client.Reconnect{MinDelay: 50 * time.Millisecond, MaxDelay: time.Second}
		c.cfg.OnState = func(ev client.StateEvent) {
			e := map[string]any{"ev": "state", "state": ev.State.String(), "server": ev.Server, "alias": ev.Alias, "attempt": ev.Attempt}
			if ev.Err != nil {
				e["err"] = ev.Err.Error()
			}
			c.emit(e)
		}
	}
	if err := c.connect(ctx, false); err != nil {
		c.emit(map[string]any{"ev": "error", "err": err.Error()})
		os.Exit(1)
	}
	if *reconnect {
		go c.watch(ctx)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			c.current().Close()
			return
		case line, ok := <-lines:
			if !ok {
				c.current().Close()
				return
			}
			go c.command(ctx, line)
		}
	}
}

type streamKey struct {
	src, run string
	reliable bool
}

// stream is what arrived of one sender's run: seq numbers start at 0.
type stream struct {
	seen     map[int]bool
	from     map[int]uint64    // the sender alias of each seq's first copy
	firstAt  map[int]time.Time // when it arrived
	dups     []string          // the first duplicates, described
	next     int               // the seq expected next in order
	recv     int
	dup      int
	outOfOrd int
	last     time.Time
	latency  []time.Duration // publish to arrival, in arrival order
	// identified counts the messages stamped with the sender's role (sent
	// with PublishIdentity).
	identified int
}

type labClient struct {
	name string
	cfg  client.Config
	out  *json.Encoder

	mu      sync.Mutex // guards below; outMu guards out
	cl      *client.Client
	streams map[streamKey]*stream
	stops   map[string]chan struct{} // open-ended pubs by run
	changed chan struct{}            // closed and replaced on every arrival
	outMu   sync.Mutex
}

func (c *labClient) emit(ev map[string]any) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	_ = c.out.Encode(ev)
}

func (c *labClient) current() *client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cl
}

// connect dials and subscribes; it emits ready.
func (c *labClient) connect(ctx context.Context, again bool) error {
	cl, err := client.Dial(ctx, c.cfg)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := cl.Subscribe(sctx, topic); err != nil {
		cl.Close()
		return err
	}
	c.mu.Lock()
	c.cl = cl
	c.mu.Unlock()
	c.emit(map[string]any{"ev": "ready", "alias": cl.Alias(), "server": cl.ServerAlias(), "reconnect": again})
	go func() {
		select {
		case <-ctx.Done():
		case <-cl.Done():
			c.emit(map[string]any{"ev": "disconnected", "server": cl.ServerAlias(), "err": fmt.Sprint(cl.Err())})
		}
	}()
	return nil
}

// watch pings the link and, once it is lost, dials until connected again.
func (c *labClient) watch(ctx context.Context) {
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cl := c.current()
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		_, err := cl.Ping(pctx, client.Reliable)
		cancel()
		if err == nil {
			failures = 0
			continue
		}
		if failures++; failures < pingFailures && !errors.Is(err, client.ErrDisconnected) {
			continue
		}
		lost := time.Now()
		c.emit(map[string]any{"ev": "lost", "server": cl.ServerAlias(), "err": err.Error()})
		cl.Close()
		c.cfg.Server = 0 // the coordinator picks one that is up
		for ctx.Err() == nil {
			err := c.connect(ctx, true)
			if err == nil {
				break
			}
			c.emit(map[string]any{"ev": "error", "err": err.Error(), "since_lost_ms": time.Since(lost).Milliseconds()})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		failures = 0
	}
}

// receive is the SDK's OnMessage: bodies are "SRC RUN SEQ SENT", SENT the
// publisher's clock in Unix nanoseconds: every lab process runs on one
// machine, so it is this process's clock too.
func (c *labClient) receive(m client.Message) {
	now := time.Now()
	f := strings.Fields(string(m.Body))
	if len(f) != 4 {
		return
	}
	seq, err1 := strconv.Atoi(f[2])
	sent, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := streamKey{f[0], f[1], m.Channel == client.Reliable}
	s := c.streams[k]
	if s == nil {
		s = &stream{seen: map[int]bool{}, from: map[int]uint64{}, firstAt: map[int]time.Time{}}
		c.streams[k] = s
	}
	s.last = now
	s.latency = append(s.latency, now.Sub(time.Unix(0, sent)))
	if m.Role != protocol.Role_UNKNOWN_ROLE {
		s.identified++
	}
	if s.seen[seq] {
		s.dup++
		if len(s.dups) < 5 { // what a failing test shows: which copy came from which sender alias, when
			s.dups = append(s.dups, fmt.Sprintf("seq %d from %d, first from %d %s before, expected next %d, server %d",
				seq, m.FromAlias, s.from[seq], now.Sub(s.firstAt[seq]).Round(time.Millisecond), s.next, c.cl.ServerAlias()))
		}
	} else {
		s.seen[seq] = true
		s.from[seq], s.firstAt[seq] = m.FromAlias, now
		s.recv++
	}
	if seq < s.next {
		s.outOfOrd++
	} else {
		s.next = seq + 1
	}
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

func (c *labClient) command(ctx context.Context, line string) {
	f := strings.Fields(line)
	var err error
	switch {
	case len(f) == 5 && f[0] == "pub":
		err = c.publish(ctx, f[1], f[2], f[3], f[4], false)
	case len(f) == 6 && f[0] == "pub" && f[5] == "identity":
		err = c.publish(ctx, f[1], f[2], f[3], f[4], true)
	case len(f) == 6 && f[0] == "await":
		err = c.await(ctx, f[1], f[2], f[3], f[4], f[5])
	case len(f) == 2 && f[0] == "stop":
		c.mu.Lock()
		if ch := c.stops[f[1]]; ch != nil {
			close(ch)
			delete(c.stops, f[1])
		} else {
			err = fmt.Errorf("no open-ended pub %q", f[1])
		}
		c.mu.Unlock()
	default:
		err = fmt.Errorf("unknown command %q", line)
	}
	if err != nil {
		c.emit(map[string]any{"ev": "error", "cmd": line, "err": err.Error()})
	}
}

// ms is quantile q of sorted durations, in milliseconds.
func ms(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1))]) / float64(time.Millisecond)
}

func channel(reliable bool) client.Channel {
	if reliable {
		return client.Reliable
	}
	return client.Unreliable
}

func parseReliable(s string) (bool, error) {
	switch s {
	case "reliable":
		return true, nil
	case "unreliable":
		return false, nil
	}
	return false, fmt.Errorf("%q: want reliable or unreliable", s)
}

func (c *labClient) publish(ctx context.Context, run, nText, rateText, kind string, identity bool) error {
	n, err := strconv.Atoi(nText)
	if err != nil {
		return err
	}
	rate, err := strconv.ParseFloat(rateText, 64)
	if err != nil || rate <= 0 {
		return fmt.Errorf("rate %q", rateText)
	}
	reliable, err := parseReliable(kind)
	if err != nil {
		return err
	}
	var stop chan struct{} // nil: never, unless N is 0
	if n == 0 {
		stop = make(chan struct{})
		c.mu.Lock()
		c.stops[run] = stop
		c.mu.Unlock()
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	failed := 0
	i := 0
publishing:
	for ; n == 0 || i < n; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			break publishing
		case <-tick.C:
		}
		// A publish that fails while the link is down is counted, not
		// retried: the receivers' counts show what was lost.
		body := fmt.Appendf(nil, "%s %s %d %d", c.name, run, i, time.Now().UnixNano())
		pub := c.current().Publish
		if identity {
			pub = c.current().PublishIdentity
		}
		if err := pub(topic, body, channel(reliable)); err != nil {
			failed++
		}
	}
	c.emit(map[string]any{"ev": "published", "run": run, "n": i, "failed": failed, "reliable": reliable})
	return nil
}

func (c *labClient) await(ctx context.Context, src, run, kind, nText, idleText string) error {
	reliable, err := parseReliable(kind)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(nText)
	if err != nil {
		return err
	}
	idle, err := time.ParseDuration(idleText)
	if err != nil {
		return err
	}
	k := streamKey{src, run, reliable}
	start := time.Now()
	for {
		c.mu.Lock()
		s := c.streams[k]
		last := start
		done := false
		if s != nil {
			last = s.last
			done = s.recv >= n
		}
		if done || time.Since(last) >= idle {
			ev := map[string]any{"ev": "report", "src": src, "run": run, "reliable": reliable, "want": n}
			if s != nil {
				ev["recv"], ev["dup"], ev["out_of_order"], ev["identified"] = s.recv, s.dup, s.outOfOrd, s.identified
				if len(s.dups) > 0 {
					ev["dups"] = s.dups
				}
				lat := slices.Clone(s.latency)
				slices.Sort(lat)
				ev["latency_min_ms"], ev["latency_p50_ms"], ev["latency_p99_ms"] = ms(lat, 0), ms(lat, 0.5), ms(lat, 0.99)
			} else {
				ev["recv"], ev["dup"], ev["out_of_order"], ev["identified"] = 0, 0, 0, 0
			}
			c.mu.Unlock()
			c.emit(ev)
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(time.Until(last.Add(idle))):
		}
	}
}

// caConfig trusts only the CA certificates in the PEM file at path.
func caConfig(path string) (*tls.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coordinator CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("coordinator CA %s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
