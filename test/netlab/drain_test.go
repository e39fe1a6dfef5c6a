package netlab

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The drain tests: real binaries on lab hosts, servers stopped with
// SIGTERM as an init system or Kubernetes stops them.

// drainTimeout bounds a server's drain and exit after SIGTERM: its default
// shutdown.grace (30s) and then some. A drain that works ends much sooner,
// as soon as its clients have moved.
const drainTimeout = 45 * time.Second

// startMovingClient runs a labclient that lets the SDK reconnect and move
// on DRAIN (state events on stdout), on a server the coordinator chooses,
// and waits until it is subscribed.
func (b *broker) startMovingClient(t *testing.T, h *Host, name string) *labClient {
	t.Helper()
	c := &labClient{name: name, proc: h.Start(t, filepath.Join(bin, "labclient"),
		"--coordinator", b.url, "--name", name, "--sdk-reconnect")}
	e := c.await(t, 0, startTimeout, "ready", func(e event) bool { return e.Ev == "ready" })
	c.alias, c.server = e.Alias, e.Server
	return c
}

// drained is the server log line that ends a drain.
func drained(line string) (ok, clean bool) {
	l, parsed := parseLog(line)
	switch {
	case !parsed:
		return false, false
	case l.Msg == "drained: no client left":
		return true, true
	case l.Msg == "drain grace over: closing the clients left":
		return true, false
	}
	return false, false
}

// roll stops server i with SIGTERM, checks that every client left it before
// its grace ended and that it exited 0, starts it again on its host and
// waits until it is registered and linked to the other servers.
func (b *broker) roll(t *testing.T, i int) {
	t.Helper()
	s := b.servers[i]
	marks := make([]int, len(b.servers))
	for j, o := range b.servers {
		marks[j] = o.proc.Len()
	}
	if err := s.proc.Terminate(); err != nil {
		t.Fatal(err)
	}
	var clean bool
	if _, _, err := s.proc.Await(marks[i], drainTimeout, func(l string) bool {
		ok, c := drained(l)
		clean = c
		return ok
	}); err != nil {
		t.Fatalf("server on %s: the end of its drain: %v", s.host.Name(), err)
	}
	if !clean {
		t.Errorf("server on %s: clients were still there when shutdown.grace ended", s.host.Name())
	}
	if err := s.proc.WaitExit(drainTimeout); err != nil {
		t.Fatalf("server on %s: exit after SIGTERM: %v", s.host.Name(), err)
	}
	s.proc = s.host.Start(t, filepath.Join(bin, "commserver"), s.args...)
	s.alias = s.registered(t, 0)
	// The new server links to every other, and they to it.
	for j, o := range b.servers {
		from := marks[j]
		if j == i {
			from = 0
		}
		want := len(b.servers) - 1
		if j != i {
			want = 1 // the new one
		}
		peers := map[uint64]bool{}
		if _, _, err := o.proc.Await(from, meshTimeout, func(line string) bool {
			l, ok := parseLog(line)
			if ok && l.Msg == "peer established" && !strings.Contains(l.Role, "CLIENT") {
				peers[l.Peer] = true
			}
			return len(peers) >= want
		}); err != nil {
			t.Fatalf("server on %s after %s restarted: server links %d of %d: %v", o.host.Name(), s.host.Name(), len(peers), want, err)
		}
	}
}

// TestRollingRestart: three servers are drained (SIGTERM) and restarted one
// after another while 20 clients publish reliably to each other. Every
// client moves off each draining server before its grace ends (make-before-
// break) and ends connected, and every reliable message arrives exactly
// once and in order per sender.
func TestRollingRestart(t *testing.T) {
	const clients, rate = 20, 20.0
	lab := New(t)
	b := startBroker(t, lab, 3, "selector=least-loaded")
	cs := make([]*labClient, clients)
	for i := range cs {
		cs[i] = b.startMovingClient(t, lab.Host(fmt.Sprintf("c%d", i%4+1)), fmt.Sprintf("m%02d", i))
	}
	on := map[uint64]int{}
	for _, c := range cs {
		on[c.server]++
	}
	t.Logf("clients per server before the restarts: %v", on)
	// Every route is in force: one publisher on each server, heard by all.
	var warm []*labClient
	for _, s := range b.servers {
		for _, c := range cs {
			if c.server == s.alias {
				warm = append(warm, c)
				break
			}
		}
	}
	complete(t, exchange(t, "warm", 1, 10, true, 10*time.Second, warm, cs))

	froms := make([]int, len(cs))
	for i, c := range cs {
		froms[i] = c.proc.Len()
		c.send(t, fmt.Sprintf("pub roll 0 %g reliable", rate))
	}
	for i := range b.servers {
		b.roll(t, i)
		t.Logf("server %d rolled", i+1)
	}
	sent := map[string]int{}
	for i, c := range cs {
		c.send(t, "stop roll")
		e := c.await(t, froms[i], startTimeout, "published", func(e event) bool { return e.Ev == "published" && e.Run == "roll" })
		if e.Failed != 0 {
			t.Errorf("%s: %d of %d reliable publishes failed", c.name, e.Failed, e.N)
		}
		sent[c.name] = e.N
	}
	t.Logf("published per client: %v", sent)
	for _, c := range cs {
		for _, p := range cs {
			if p != c {
				c.send(t, fmt.Sprintf("await %s roll reliable %d 20s", p.name, sent[p.name]))
			}
		}
	}
	var reports []event
	for i, c := range cs {
		for _, p := range cs {
			if p == c {
				continue
			}
			r := c.await(t, froms[i], startTimeout+20*time.Second, "report of "+p.name, func(e event) bool {
				return e.Ev == "report" && e.Src == p.name && e.Run == "roll"
			})
			r.To = c.name
			reports = append(reports, r)
		}
	}
	complete(t, reports)

	// Every client is connected, to one of the restarted servers.
	var aliases []uint64
	for _, s := range b.servers {
		aliases = append(aliases, s.alias)
	}
	for _, c := range cs {
		last, moves := lastState(c)
		if last.Ev == "" || last.Err != "" || !slices.Contains(aliases, last.Server) {
			t.Errorf("%s: last state event %+v, want connected to one of %v", c.name, last, aliases)
		}
		t.Logf("%s: %d moves, now on %d", c.name, moves, last.Server)
	}
}

// lastState returns c's last "connected" state event (zero if a later event
// says it is not connected) and how many connected events followed Dial's.
func lastState(c *labClient) (event, int) {
	var last event
	moves := -1
	for _, line := range c.proc.linesFrom(0) {
		e, ok := parseEvent(line)
		if !ok || e.Ev != "state" {
			continue
		}
		st := stateOf(line)
		switch st {
		case "connected":
			if e.Err == "" {
				last = e
				moves++
			}
		case "reconnecting", "closed":
			last = event{}
		}
	}
	return last, moves
}

// stateOf reads the state field of a labclient state event.
func stateOf(line string) string {
	const key = `"state":"`
	i := strings.Index(line, key)
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestLeastLoadedSpread: least-loaded spreads 30 clients over 3 servers
// within one client of even, and once a server drains (SIGTERM) it is never
// offered: its clients move to the others and new clients go there too.
func TestLeastLoadedSpread(t *testing.T) {
	const clients = 30
	lab := New(t)
	b := startBroker(t, lab, 3, "selector=least-loaded")
	on := map[uint64]int{}
	var cs []*labClient
	for i := range clients {
		c := b.startMovingClient(t, lab.Host(fmt.Sprintf("c%d", i%5+1)), fmt.Sprintf("l%02d", i))
		cs = append(cs, c)
		on[c.server]++
	}
	counts := make([]int, len(b.servers))
	for i, s := range b.servers {
		counts[i] = on[s.alias]
	}
	t.Logf("clients per server: %v", counts)
	if slices.Max(counts)-slices.Min(counts) > 1 || counts[0]+counts[1]+counts[2] != clients {
		t.Fatalf("clients per server %v: want %d within one of even", counts, clients)
	}

	// Drain s3; its shutdown.grace (30s) gives the test time to look.
	leaving := b.servers[2]
	coordFrom := b.coord.Len()
	marks := make([]int, len(cs))
	for i, c := range cs {
		marks[i] = c.proc.Len()
	}
	if err := leaving.proc.Terminate(); err != nil {
		t.Fatal(err)
	}
	b.coord.WaitLine(t, coordFrom, startTimeout, "server draining")
	for i := range 3 {
		c := b.startMovingClient(t, lab.Host(fmt.Sprintf("c%d", i+1)), fmt.Sprintf("late%d", i))
		if c.server == leaving.alias {
			t.Errorf("%s was offered the draining server %d", c.name, leaving.alias)
		}
	}
	var clean bool
	if _, _, err := leaving.proc.Await(0, drainTimeout, func(l string) bool {
		ok, c := drained(l)
		clean = c
		return ok
	}); err != nil {
		t.Fatalf("the draining server: %v", err)
	}
	if !clean {
		t.Errorf("the draining server's clients did not all move before its grace ended")
	}
	for i, c := range cs {
		if c.server != leaving.alias {
			continue
		}
		var to uint64
		if _, _, err := c.proc.Await(marks[i], startTimeout, func(line string) bool {
			e, ok := parseEvent(line)
			if ok && e.Ev == "state" && stateOf(line) == "connected" && e.Err == "" {
				to = e.Server
				return true
			}
			return false
		}); err != nil {
			t.Fatalf("%s did not move off the draining server: %v", c.name, err)
		}
		if to == leaving.alias {
			t.Errorf("%s moved to the draining server", c.name)
		}
	}
}
