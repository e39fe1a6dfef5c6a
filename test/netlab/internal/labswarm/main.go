// Command labswarm runs many broker clients in one process inside a lab
// host, for the netlab tests that need tens of clients on one server: one
// labclient process per client would cost tens of megabytes each. Every
// client connects with the Go SDK and subscribes to one topic; the process
// answers commands on stdin with one JSON event per line on stdout.
//
// Commands:
//
//	pub RUN K IDLE   every client publishes K numbered reliable messages; a
//	                 report follows once every client has every other
//	                 client's K, or nothing arrived for IDLE
//
// Events: ready (every client connected and subscribed; the servers they
// reached), report, disconnected (a client's link ended), error.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

const topic = "swarm"

// dialConcurrency bounds the handshakes in flight: the lab machine is small
// and a server sets up a bounded number of clients at once (max_half_open).
const dialConcurrency = 8

func main() {
	coord := flag.String("coordinator", "", "coordinator URL")
	server := flag.String("server", "0", "aliases of the servers, comma-separated: client i connects to the i-th modulo their number (0: the coordinator's choice)")
	n := flag.Int("clients", 10, "number of clients")
	networks := flag.String("networks", "198.18.0.0/15", "webrtc.networks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &swarm{out: json.NewEncoder(os.Stdout), changed: make(chan struct{})}
	var servers []uint64
	for _, f := range strings.Split(*server, ",") {
		a, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			s.emit(map[string]any{"ev": "error", "err": fmt.Sprintf("--server %q: %v", *server, err)})
			os.Exit(2)
		}
		servers = append(servers, a)
	}
	if err := s.dial(ctx, *n, servers, client.Config{
		CoordinatorURL: *coord,
		WebRTC:         rtcconfig.Config{Networks: []string{*networks}},
		ConnectTimeout: 20 * time.Second,
		Reconnect:      client.Reconnect{Disabled: true},
	}); err != nil {
		s.emit(map[string]any{"ev": "error", "err": err.Error()})
		s.close()
		os.Exit(1)
	}
	defer s.close()
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
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			go s.command(ctx, line)
		}
	}
}

// member is one client of the swarm and what it received, per sender and
// run: the next sequence number expected, duplicates and reorderings.
type member struct {
	name string
	cl   *client.Client
	// guarded by swarm.mu
	next map[string]int // "src run" -> next seq expected
	recv int
	dup  int
	ooo  int
}

type swarm struct {
	outMu sync.Mutex
	out   *json.Encoder

	mu      sync.Mutex
	members []*member
	changed chan struct{} // closed and replaced on every arrival
	last    time.Time
}

func (s *swarm) emit(ev map[string]any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	_ = s.out.Encode(ev)
}

// join dials and subscribes m; its Done is watched until ctx ends.
func (s *swarm) join(ctx, dialCtx context.Context, m *member, cfg client.Config) error {
	cfg.OnMessage = func(msg client.Message) { s.receive(m, msg) }
	cl, err := client.Dial(dialCtx, cfg)
	if err != nil {
		return fmt.Errorf("%s: dial: %w", m.name, err)
	}
	s.mu.Lock()
	m.cl = cl
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(dialCtx, 10*time.Second)
	defer cancel()
	if err := cl.Subscribe(sctx, topic); err != nil {
		return fmt.Errorf("%s: subscribe: %w", m.name, err)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-cl.Done():
			s.emit(map[string]any{"ev": "disconnected", "name": m.name, "err": fmt.Sprint(cl.Err())})
		}
	}()
	return nil
}

// dial connects n clients, dialConcurrency at a time, and emits ready.
func (s *swarm) dial(ctx context.Context, n int, servers []uint64, cfg client.Config) error {
	s.members = make([]*member, n)
	for i := range s.members {
		s.members[i] = &member{name: fmt.Sprintf("m%02d", i), next: map[string]int{}}
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, dialConcurrency)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, m := range s.members {
		cfg := cfg
		cfg.Server = servers[i%len(servers)]
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := s.join(ctx, gctx, m, cfg); err != nil {
				errs <- err
				cancel() // the first failure ends the other dials
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	on := map[uint64]int{}
	for _, m := range s.members {
		on[m.cl.ServerAlias()]++
	}
	s.emit(map[string]any{"ev": "ready", "clients": n, "servers": on})
	return nil
}

func (s *swarm) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.members {
		if m.cl != nil {
			m.cl.Close()
		}
	}
}

// receive counts a body "SRC RUN SEQ" arriving at m.
func (s *swarm) receive(m *member, msg client.Message) {
	f := strings.Fields(string(msg.Body))
	if len(f) != 3 || msg.Channel != client.Reliable {
		return
	}
	seq, err := strconv.Atoi(f[2])
	if err != nil {
		return
	}
	key := f[0] + " " + f[1]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch next := m.next[key]; {
	case seq == next:
		m.next[key] = seq + 1
		m.recv++
	case seq < next:
		m.dup++
	default: // a gap: reliable and ordered, so something was lost or reordered
		m.ooo++
		m.next[key] = seq + 1
		m.recv++
	}
	s.last = time.Now()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *swarm) command(ctx context.Context, line string) {
	f := strings.Fields(line)
	var err error
	if len(f) == 4 && f[0] == "pub" {
		err = s.publish(ctx, f[1], f[2], f[3])
	} else {
		err = fmt.Errorf("unknown command %q", line)
	}
	if err != nil {
		s.emit(map[string]any{"ev": "error", "cmd": line, "err": err.Error()})
	}
}

// publish has every member publish k messages of run, then waits until
// every member has every other's k, or for idle without an arrival.
func (s *swarm) publish(ctx context.Context, run, kText, idleText string) error {
	k, err := strconv.Atoi(kText)
	if err != nil {
		return err
	}
	idle, err := time.ParseDuration(idleText)
	if err != nil {
		return err
	}
	s.mu.Lock()
	members := append([]*member(nil), s.members...)
	base := 0
	for _, m := range members {
		base += m.recv
	}
	s.last = time.Now()
	s.mu.Unlock()
	failed := 0
	for i := range k {
		for _, m := range members {
			if err := m.cl.Publish(topic, fmt.Appendf(nil, "%s %s %d", m.name, run, i), client.Reliable); err != nil {
				failed++
			}
		}
	}
	want := len(members) * (len(members) - 1) * k
	for {
		s.mu.Lock()
		recv, dup, ooo := -base, 0, 0
		var short []string
		for _, m := range members {
			recv, dup, ooo = recv+m.recv, dup+m.dup, ooo+m.ooo
			for _, src := range members {
				if src != m && m.next[src.name+" "+run] < k {
					short = append(short, m.name)
					break
				}
			}
		}
		last, changed := s.last, s.changed
		s.mu.Unlock()
		if len(short) == 0 || time.Since(last) >= idle {
			s.emit(map[string]any{"ev": "report", "run": run, "want": want, "recv": recv, "dup": dup,
				"out_of_order": ooo, "failed": failed, "short": short})
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(time.Until(last.Add(idle))):
		}
	}
}
