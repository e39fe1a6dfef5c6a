package netlab

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
)

// Time-outs of the lab's events. They bound waits, they are not expected
// durations: every wait ends at its event.
const (
	startTimeout = 30 * time.Second
	meshTimeout  = 45 * time.Second
)

// broker is a coordinator on host "coord" and communication servers on
// hosts "s1", "s2", ...
type broker struct {
	lab       *Lab
	coordHost *Host
	coord     *Proc
	url       string
	servers   []*server
	// clientArgs are given to every labclient (the coordinator's CA).
	clientArgs []string
	// cert is the coordinator's certificate with brokerSpec.tls.
	cert *testtls.Leaf
}

type server struct {
	host  *Host
	proc  *Proc
	alias uint64
	args  []string // the command line it was started with (restarts reuse it)
}

// brokerSpec is what startBrokerSpec starts: servers communication
// servers; coordSets and serverSets are extra --set key=value pairs; with
// tls the coordinator serves wss:// with a certificate for its lab address
// made in the test, which servers and clients trust through its CA.
type brokerSpec struct {
	servers               int
	coordSets, serverSets []string
	tls                   bool
}

// startBroker starts a coordinator and n servers and waits until every
// server is registered and linked to every other.
func startBroker(t *testing.T, lab *Lab, n int, coordSets ...string) *broker {
	t.Helper()
	return startBrokerSpec(t, lab, brokerSpec{servers: n, coordSets: coordSets})
}

func startBrokerSpec(t *testing.T, lab *Lab, spec brokerSpec) *broker {
	t.Helper()
	b := &broker{lab: lab, coordHost: lab.Host("coord")}
	addr := b.coordHost.IP().String() + ":9090"
	b.url = "ws://" + addr
	var common []string
	if clusterSecret != "" {
		common = append(common, "cluster.secret="+clusterSecret)
	}
	coordSets := append([]string{"listen=" + addr, "log.format=json"}, common...)
	serverSets := append([]string(nil), spec.serverSets...)
	if spec.tls {
		leaf := testtls.NewCA(t, "lab").Leaf(t, "coord", b.coordHost.IP().String())
		b.url, b.cert = "wss://"+addr, leaf
		coordSets = append(coordSets, "tls.cert="+leaf.CertFile, "tls.key="+leaf.KeyFile)
		serverSets = append(serverSets, "coordinator_ca="+leaf.CA.File)
		b.clientArgs = append(b.clientArgs, "--coordinator-ca", leaf.CA.File)
	}
	b.coord = b.coordHost.Start(t, filepath.Join(bin, "coordinator"), sets(append(coordSets, spec.coordSets...))...)
	b.coord.WaitLine(t, 0, startTimeout, "coordinator listening")
	for i := range spec.servers {
		s := &server{host: lab.Host(fmt.Sprintf("s%d", i+1))}
		s.args = sets(append(append([]string{
			"coordinator_url=" + b.url,
			"webrtc.networks=" + Subnet, // and mDNS stays off: webrtc.mdns defaults to false
			"log.format=json",
		}, common...), serverSets...))
		s.proc = s.host.Start(t, filepath.Join(bin, "commserver"), s.args...)
		b.servers = append(b.servers, s)
	}
	for _, s := range b.servers {
		s.alias = s.registered(t, 0)
	}
	b.waitMesh(t, 0)
	return b
}

func sets(kvs []string) []string {
	var args []string
	for _, kv := range kvs {
		args = append(args, "--set", kv)
	}
	return args
}

// logLine is the part of a server's JSON log line the tests read.
type logLine struct {
	Msg   string `json:"msg"`
	Alias uint64 `json:"alias"`
	Peer  uint64 `json:"peer"`
	Role  string `json:"role"`
}

func parseLog(line string) (logLine, bool) {
	var l logLine
	err := json.Unmarshal([]byte(line), &l)
	return l, err == nil
}

// registered waits for the server's registration from output line from on
// and returns its alias.
func (s *server) registered(t *testing.T, from int) uint64 {
	t.Helper()
	var alias uint64
	_, _, err := s.proc.Await(from, startTimeout, func(line string) bool {
		l, ok := parseLog(line)
		if ok && l.Msg == "registered with the coordinator" {
			alias = l.Alias
			return true
		}
		return false
	})
	if err != nil {
		t.Fatalf("server on %s: registration: %v", s.host.Name(), err)
	}
	return alias
}

// waitMesh waits until every server has logged a server link established
// with every other server, counting server log lines from index from on.
func (b *broker) waitMesh(t *testing.T, from int) {
	t.Helper()
	for _, s := range b.servers {
		peers := map[uint64]bool{}
		_, _, err := s.proc.Await(from, meshTimeout, func(line string) bool {
			l, ok := parseLog(line)
			if ok && l.Msg == "peer established" && !strings.Contains(l.Role, "CLIENT") {
				peers[l.Peer] = true
			}
			return len(peers) >= len(b.servers)-1
		})
		if err != nil {
			t.Fatalf("server on %s: links to the other servers: %d of %d: %v", s.host.Name(), len(peers), len(b.servers)-1, err)
		}
	}
}

// waitRelinked waits until every server has established a server link
// again after its output line marks[i].
func (b *broker) waitRelinked(t *testing.T, marks []int) {
	t.Helper()
	for i, s := range b.servers {
		if _, _, err := s.proc.Await(marks[i], meshTimeout, func(line string) bool {
			l, ok := parseLog(line)
			return ok && (l.Msg == "server link restored" ||
				l.Msg == "peer established" && !strings.Contains(l.Role, "CLIENT"))
		}); err != nil {
			t.Fatalf("server on %s: a server link back: %v", s.host.Name(), err)
		}
	}
}

// labClient drives a labclient process in a host.
type labClient struct {
	name   string
	proc   *Proc
	alias  uint64
	server uint64
}

// event is one JSON line of a labclient.
type event struct {
	Ev          string   `json:"ev"`
	Alias       uint64   `json:"alias"`
	Server      uint64   `json:"server"`
	Reconnect   bool     `json:"reconnect"`
	Err         string   `json:"err"`
	Src         string   `json:"src"`
	Run         string   `json:"run"`
	Reliable    bool     `json:"reliable"`
	Want        int      `json:"want"`
	Recv        int      `json:"recv"`
	Dup         int      `json:"dup"`
	OutOfOrder  int      `json:"out_of_order"`
	Identified  int      `json:"identified"`
	N           int      `json:"n"`
	Failed      int      `json:"failed"`
	SinceLostMS int64    `json:"since_lost_ms"`
	LatencyMin  float64  `json:"latency_min_ms"`
	LatencyP50  float64  `json:"latency_p50_ms"`
	LatencyP99  float64  `json:"latency_p99_ms"`
	Dups        []string `json:"dups"` // the first duplicates, described
	To          string   `json:"-"`    // the reporting client's name
}

func parseEvent(line string) (event, bool) {
	var e event
	err := json.Unmarshal([]byte(line), &e)
	return e, err == nil && e.Ev != ""
}

// startClient runs a labclient called name on h, connected to srv, and
// waits until it is subscribed.
func (b *broker) startClient(t *testing.T, h *Host, name string, srv *server, extra ...string) *labClient {
	t.Helper()
	args := append(append([]string{"--coordinator", b.url, "--name", name, "--server", fmt.Sprint(srv.alias)}, b.clientArgs...), extra...)
	c := &labClient{name: name, proc: h.Start(t, filepath.Join(bin, "labclient"), args...)}
	e := c.await(t, 0, startTimeout, "ready", func(e event) bool { return e.Ev == "ready" })
	c.alias, c.server = e.Alias, e.Server
	return c
}

// await waits for an event from output line from on; what names it in a
// failure.
func (c *labClient) await(t *testing.T, from int, timeout time.Duration, what string, match func(event) bool) event {
	t.Helper()
	var got event
	_, _, err := c.proc.Await(from, timeout, func(line string) bool {
		e, ok := parseEvent(line)
		if ok && e.Ev == "error" {
			t.Logf("%s: error event: %s", c.name, e.Err)
		}
		if ok && match(e) {
			got = e
			return true
		}
		return false
	})
	if err != nil {
		t.Fatalf("%s: waiting for %s: %v", c.name, what, err)
	}
	return got
}

func (c *labClient) send(t *testing.T, cmd string) {
	t.Helper()
	if err := c.proc.Send(cmd); err != nil {
		t.Fatal(err)
	}
}

// noDisconnect fails the test if c's link to its server ended so far.
func (c *labClient) noDisconnect(t *testing.T) {
	t.Helper()
	_, _, err := c.proc.Await(0, 0, func(line string) bool {
		e, ok := parseEvent(line)
		return ok && (e.Ev == "disconnected" || e.Ev == "lost")
	})
	if err == nil {
		t.Errorf("%s: its link to server %d ended", c.name, c.server)
	}
}

func kind(reliable bool) string {
	if reliable {
		return "reliable"
	}
	return "unreliable"
}

// exchange has every publisher publish n messages of run at rate per second
// and every subscriber report what it received of each other client's run
// (a subscriber's own messages are not relayed back to it). It returns the
// reports; a report is final once n arrived or none arrived for idle.
func exchange(t *testing.T, run string, n int, rate float64, reliable bool, idle time.Duration, pubs, subs []*labClient) []event {
	t.Helper()
	return exchangeAs(t, run, n, rate, reliable, false, idle, pubs, subs)
}

// exchangeAs is exchange with the publishers' identity on every message
// (PublishIdentity) when identity is set.
func exchangeAs(t *testing.T, run string, n int, rate float64, reliable, identity bool, idle time.Duration, pubs, subs []*labClient) []event {
	t.Helper()
	froms := make([]int, len(subs))
	for i, s := range subs {
		froms[i] = s.proc.Len()
	}
	pub := fmt.Sprintf("pub %s %d %g %s", run, n, rate, kind(reliable))
	if identity {
		pub += " identity"
	}
	for _, p := range pubs {
		p.send(t, pub)
	}
	for _, s := range subs {
		for _, p := range pubs {
			if p != s {
				s.send(t, fmt.Sprintf("await %s %s %s %d %s", p.name, run, kind(reliable), n, idle))
			}
		}
	}
	// Publishing takes n/rate; a stalled stream is reported after idle.
	timeout := time.Duration(float64(n)/rate*float64(time.Second)) + idle + startTimeout
	var reports []event
	for i, s := range subs {
		for _, p := range pubs {
			if p == s {
				continue
			}
			r := s.await(t, froms[i], timeout, "report of "+p.name+" "+run, func(e event) bool {
				return e.Ev == "report" && e.Src == p.name && e.Run == run && e.Reliable == reliable
			})
			r.To = s.name
			reports = append(reports, r)
		}
	}
	return reports
}

// complete fails the test unless every report has all n messages, in order
// and without duplicates.
func complete(t *testing.T, reports []event) {
	t.Helper()
	for _, r := range reports {
		if r.Recv != r.Want || r.Dup != 0 || r.OutOfOrder != 0 {
			t.Errorf("%s from %s, run %s (%s): received %d of %d, %d duplicates, %d out of order %v",
				r.To, r.Src, r.Run, kind(r.Reliable), r.Recv, r.Want, r.Dup, r.OutOfOrder, r.Dups)
		}
	}
}
