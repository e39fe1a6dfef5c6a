package netlab

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The deployment tests of issue 10 item 5: one UDP port for every peer, a
// port range, and a server behind a one-to-one NAT advertising its public
// address. Each puts the coordinator, the server and the clients on hosts of
// their own, loopback_only off everywhere.

// swarmTimeout bounds the set-up of a swarm's clients, which dial a few at
// a time on a small, shared machine.
const swarmTimeout = 3 * time.Minute

// startCoordinator starts a coordinator on host "coord", with no servers
// yet: add them with startServer.
func startCoordinator(t *testing.T, lab *Lab, coordSets ...string) *broker {
	t.Helper()
	b := &broker{lab: lab, coordHost: lab.Host("coord")}
	addr := b.coordHost.IP().String() + ":9090"
	b.url = "ws://" + addr
	args := append([]string{"listen=" + addr, "log.format=json"}, secretSets()...)
	b.coord = b.coordHost.Start(t, filepath.Join(bin, "coordinator"), sets(append(args, coordSets...))...)
	b.coord.WaitLine(t, 0, startTimeout, "coordinator listening")
	return b
}

func secretSets() []string {
	if clusterSecret == "" {
		return nil
	}
	return []string{"cluster.secret=" + clusterSecret}
}

// startServer starts a communication server on h with extra --set pairs
// and waits for its registration. It logs at debug level, in JSON, so the
// tests can read its local candidates; debug lines stay out of the test log.
func (b *broker) startServer(t *testing.T, h *Host, extra ...string) *server {
	t.Helper()
	args := append([]string{
		"coordinator_url=" + b.url,
		"webrtc.networks=" + Subnet,
		"log.format=json",
		"log.level=debug",
	}, secretSets()...)
	s := &server{host: h}
	s.proc = h.start(t, isDebugLine, filepath.Join(bin, "commserver"), sets(append(args, extra...))...)
	s.alias = s.registered(t, 0)
	b.servers = append(b.servers, s)
	return s
}

func isDebugLine(line string) bool { return strings.Contains(line, `"level":"DEBUG"`) }

// candidate is a server's "local candidate" log line.
type candidate struct {
	Peer    uint64 `json:"peer"`
	Role    string `json:"role"`
	Type    string `json:"type"`
	Address string `json:"address"`
	Port    int    `json:"port"`
}

// localCandidates returns the candidates the server offered its clients so
// far.
func (s *server) localCandidates(t *testing.T) []candidate {
	t.Helper()
	var cs []candidate
	for _, line := range s.proc.linesFrom(0) {
		if !strings.Contains(line, `"msg":"local candidate"`) {
			continue
		}
		var c candidate
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("server on %s: bad candidate line %q: %v", s.host.Name(), line, err)
		}
		if c.Role == "CLIENT" {
			cs = append(cs, c)
		}
	}
	return cs
}

// candidatesPerPeer fails the test unless every one of want clients was
// offered at least one candidate, and returns them all.
func (s *server) candidatesPerPeer(t *testing.T, want int) []candidate {
	t.Helper()
	cs := s.localCandidates(t)
	peers := map[uint64]bool{}
	for _, c := range cs {
		peers[c.Peer] = true
	}
	if len(peers) != want {
		t.Fatalf("server on %s: local candidates logged for %d clients, want %d", s.host.Name(), len(peers), want)
	}
	return cs
}

// swarm is a labswarm process: n clients in one host.
type swarm struct {
	proc    *Proc
	servers map[string]int // server alias -> clients on it
}

// swarmEvent is one JSON line of a labswarm.
type swarmEvent struct {
	Ev         string         `json:"ev"`
	Err        string         `json:"err"`
	Name       string         `json:"name"`
	Clients    int            `json:"clients"`
	Servers    map[string]int `json:"servers"`
	Run        string         `json:"run"`
	Want       int            `json:"want"`
	Recv       int            `json:"recv"`
	Dup        int            `json:"dup"`
	OutOfOrder int            `json:"out_of_order"`
	Failed     int            `json:"failed"`
	Short      []string       `json:"short"`
}

// startClients runs n SDK clients in one process on h, subscribed to one
// topic and spread over srvs in turn, and waits until they are.
func (b *broker) startClients(t *testing.T, h *Host, n int, srvs ...*server) *swarm {
	t.Helper()
	aliases := make([]string, len(srvs))
	for i, s := range srvs {
		aliases[i] = fmt.Sprint(s.alias)
	}
	w := &swarm{proc: h.Start(t, filepath.Join(bin, "labswarm"),
		"--coordinator", b.url, "--server", strings.Join(aliases, ","), "--clients", fmt.Sprint(n))}
	e := w.await(t, 0, swarmTimeout, "ready", func(e swarmEvent) bool { return e.Ev == "ready" })
	w.servers = e.Servers
	for i, a := range aliases {
		if got, want := w.servers[a], (n-i+len(srvs)-1)/len(srvs); got != want {
			t.Fatalf("clients on %s: %d on server %s, want %d: %v", h.Name(), got, a, want, w.servers)
		}
	}
	return w
}

func (w *swarm) await(t *testing.T, from int, timeout time.Duration, what string, match func(swarmEvent) bool) swarmEvent {
	t.Helper()
	var got swarmEvent
	_, _, err := w.proc.Await(from, timeout, func(line string) bool {
		var e swarmEvent
		if json.Unmarshal([]byte(line), &e) != nil {
			return false
		}
		if e.Ev == "error" || e.Ev == "disconnected" {
			t.Errorf("clients: %s %s: %s", e.Ev, e.Name, e.Err)
		}
		if match(e) {
			got = e
			return true
		}
		return false
	})
	if err != nil {
		t.Fatalf("clients: waiting for %s: %v", what, err)
	}
	return got
}

// exchange has every client publish k reliable messages and fails the test
// unless every client got every other client's k, once each and in order.
func (w *swarm) exchange(t *testing.T, run string, k int) {
	t.Helper()
	from := w.proc.Len()
	if err := w.proc.Send(fmt.Sprintf("pub %s %d %s", run, k, reliableIdle)); err != nil {
		t.Fatal(err)
	}
	r := w.await(t, from, swarmTimeout, "report of "+run, func(e swarmEvent) bool { return e.Ev == "report" && e.Run == run })
	t.Logf("run %s: %d of %d reliable deliveries, %d duplicates, %d out of order", run, r.Recv, r.Want, r.Dup, r.OutOfOrder)
	if r.Recv != r.Want || r.Dup != 0 || r.OutOfOrder != 0 || r.Failed != 0 || len(r.Short) != 0 {
		t.Errorf("run %s: received %d of %d, %d duplicates, %d out of order, %d publishes failed; incomplete: %v",
			run, r.Recv, r.Want, r.Dup, r.OutOfOrder, r.Failed, r.Short)
	}
}

// serverUDPPorts returns the UDP ports the server's process holds.
func (s *server) udpPorts(t *testing.T) []int {
	t.Helper()
	ports, err := s.host.UDPPorts(s.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

func TestLabUDPMux50Clients(t *testing.T) {
	const clients, muxPort = 50, 50000
	lab := New(t)
	b := startCoordinator(t, lab)
	s := b.startServer(t, lab.Host("s1"), fmt.Sprintf("webrtc.udp_mux_port=%d", muxPort))
	w := b.startClients(t, lab.Host("clients"), clients, s)
	w.exchange(t, "r1", 5)

	if ports := s.udpPorts(t); !slices.Equal(ports, []int{muxPort}) {
		t.Errorf("server's UDP sockets on ports %v, want only the mux port %d", ports, muxPort)
	}
	for _, c := range s.candidatesPerPeer(t, clients) {
		if c.Port != muxPort || c.Address != s.host.IP().String() {
			t.Errorf("client %d offered candidate %s %s:%d, want %s:%d", c.Peer, c.Type, c.Address, c.Port, s.host.IP(), muxPort)
		}
	}
}

func TestLabUDPPortRange(t *testing.T) {
	const clients, lo, hi = 10, 40000, 40031
	lab := New(t)
	b := startCoordinator(t, lab)
	s := b.startServer(t, lab.Host("s1"), fmt.Sprintf("webrtc.udp_port_min=%d", lo), fmt.Sprintf("webrtc.udp_port_max=%d", hi))
	w := b.startClients(t, lab.Host("clients"), clients, s)
	w.exchange(t, "r1", 5)

	ports := s.udpPorts(t)
	if len(ports) < clients {
		t.Errorf("server's UDP sockets on ports %v: fewer than one per client (%d)", ports, clients)
	}
	for _, p := range ports {
		if p < lo || p > hi {
			t.Errorf("server holds UDP port %d, outside %d-%d", p, lo, hi)
		}
	}
	for _, c := range s.candidatesPerPeer(t, clients) {
		if c.Port < lo || c.Port > hi {
			t.Errorf("client %d offered candidate %s:%d, outside %d-%d", c.Peer, c.Address, c.Port, lo, hi)
		}
	}
}

func TestLabNAT1To1(t *testing.T) {
	const clients, muxPort = 10, 50000
	lab := New(t)
	b := startCoordinator(t, lab)
	h, router := lab.HostBehindNAT1To1("s1")
	public := router.IP().String()
	s := b.startServer(t, h, fmt.Sprintf("webrtc.udp_mux_port=%d", muxPort), "webrtc.nat_1to1_ips="+public)
	w := b.startClients(t, lab.Host("clients"), clients, s)
	w.exchange(t, "r1", 5)

	for _, c := range s.candidatesPerPeer(t, clients) {
		if c.Address != public || c.Port != muxPort {
			t.Errorf("client %d offered candidate %s %s:%d, want the public %s:%d (private address %s)",
				c.Peer, c.Type, c.Address, c.Port, public, muxPort, h.IP())
		}
	}
	// The private address has no route from the lab: what arrived came
	// through the translation.
	if n := lab.NATTranslatedIn(router); n == 0 {
		t.Errorf("the NAT translated no packet in to the server")
	} else {
		t.Logf("the NAT translated %d packets (new flows) in to the server", n)
	}
}
