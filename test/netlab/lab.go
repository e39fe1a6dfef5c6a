// Package netlab is a network lab for fault tests: hosts are network
// namespaces joined by veth pairs to a bridge in a namespace of its own, so a
// test can cut, degrade and heal the links between broker processes. Nothing
// in the namespace the test runs in is created or changed apart from the
// netns mounts under /run/netns. Links can lose packets (Loss), wait
// (Delay) or be cut (Partition), and a host can sit in a site behind a NAT
// router whose firewall blocks UDP (Site, nat.go). Linux only; it needs root, iproute2,
// nftables and iptables, and fails the test (never skips it) without them,
// since CI runs as root.
package netlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// prefix starts every namespace name of a lab, followed by the owner's PID,
// so New can tell a lab left by an interrupted run from a parallel one.
const prefix = "netlab-"

// Subnet holds every host address: 198.18.0.0/15 is reserved for network
// benchmarks, so it clashes with no real network.
const Subnet = "198.18.0.0/15"

// Lab is one isolated network: a bridge and the hosts attached to it.
type Lab struct {
	t      testing.TB
	id     string // prefix + pid + random: every namespace name starts with it
	bridge string // the bridge's namespace

	mu    sync.Mutex // guards hosts and sites
	hosts []*Host
	sites int // NAT sites made so far (nat.go)
}

// Host is a network namespace with one link (eth0) to the lab's bridge.
type Host struct {
	lab  *Lab
	name string
	ns   string
	port string // the bridge-side end of its veth
	ip   netip.Addr

	mu                 sync.Mutex // guards the impairment state
	lossPerTenThousand int
	delay              time.Duration
	delayer            *delayer // serves the delay queue while delay > 0
	queued             bool     // the iptables rules to the queue are in
	partitioned        bool
}

// New creates an empty lab that t's cleanup removes, after first removing
// namespaces that earlier, interrupted runs left behind.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("netlab: needs root (network namespaces, veth, nftables); run the tests as root, as CI does")
	}
	for _, tool := range []string{"ip", "nft", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("netlab: %s not found (install iproute2, nftables and iptables): %v", tool, err)
		}
	}
	sweepStale(t)
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	l := &Lab{t: t, id: fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(r[:]))}
	l.bridge = l.id + "-br"
	t.Cleanup(l.remove)
	l.must(addNamespace(l.bridge))
	l.must(ip("-n", l.bridge, "link", "add", "br0", "type", "bridge"))
	l.must(ip("-n", l.bridge, "link", "set", "br0", "up"))
	return l
}

// Host returns the host called name, creating it (namespace, link, address)
// on first use.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.name == name {
			return h
		}
	}
	n := len(l.hosts) + 1
	if n > 250 {
		l.t.Fatal("netlab: more than 250 hosts")
	}
	h := &Host{
		lab: l, name: name, ns: l.id + "-" + name,
		port: fmt.Sprintf("p%d", n), ip: netip.AddrFrom4([4]byte{198, 18, 0, byte(n)}),
	}
	l.hosts = append(l.hosts, h) // first, so cleanup removes it whatever fails next
	l.must(addNamespace(h.ns))
	// Both ends are made in the bridge's namespace and the host's end moved
	// straight into the host: no interface ever exists in the test's own.
	l.must(ip("-n", l.bridge, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.ns))
	l.must(ip("-n", l.bridge, "link", "set", h.port, "master", "br0", "up"))
	l.must(ip("-n", h.ns, "addr", "add", h.ip.String()+"/24", "dev", "eth0"))
	l.must(ip("-n", h.ns, "link", "set", "eth0", "up"))
	l.must(h.applyRules())
	return h
}

// Name is the host's name in the lab; Namespace is its netns name.
func (h *Host) Name() string      { return h.name }
func (h *Host) Namespace() string { return h.ns }

// IP is the host's address on the lab network.
func (h *Host) IP() netip.Addr { return h.ip }

// Impairment is a degradation of a host's link.
type Impairment func(*Host)

// Loss drops percent of the packets on the link, in each direction on its
// own (a path through two impaired links loses 1-(1-p)² of its packets).
// Resolution is 0.01 %.
func Loss(percent float64) Impairment {
	return func(h *Host) { h.lossPerTenThousand = int(percent*100 + 0.5) }
}

// Impair applies impairments to h's link; Loss(0) and Delay(0) clear them.
func (l *Lab) Impair(h *Host, imps ...Impairment) {
	l.t.Helper()
	h.mu.Lock()
	for _, imp := range imps {
		imp(h)
	}
	h.mu.Unlock()
	l.must(h.applyRules())
}

// Partition cuts h's link: every packet in or out of eth0 is dropped, as if
// the cable were pulled (connections are not reset; they time out). Traffic
// inside the host goes on.
func (l *Lab) Partition(h *Host) {
	l.t.Helper()
	h.mu.Lock()
	h.partitioned = true
	h.mu.Unlock()
	l.must(h.applyRules())
}

// Heal undoes Partition; impairments stay.
func (l *Lab) Heal(h *Host) {
	l.t.Helper()
	h.mu.Lock()
	h.partitioned = false
	h.mu.Unlock()
	l.must(h.applyRules())
}

// applyRules replaces the host's nftables table with one that says what its
// state says, in one transaction.
func (h *Host) applyRules() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rules []string
	if h.partitioned {
		rules = append(rules, "drop")
	}
	if h.lossPerTenThousand > 0 {
		rules = append(rules, fmt.Sprintf("numgen random mod 10000 < %d drop", h.lossPerTenThousand))
	}
	switch {
	case h.delay > 0 && h.delayer == nil:
		q, err := startDelayer(h.ns, h.delay)
		if err != nil {
			return err
		}
		h.delayer = q
	case h.delay > 0 && h.delayer.d != h.delay:
		h.delayer.close()
		q, err := startDelayer(h.ns, h.delay)
		h.delayer = q
		if err != nil {
			return err
		}
	case h.delay == 0 && h.delayer != nil:
		h.delayer.close()
		h.delayer = nil
	}
	if err := h.queueRules(h.delay > 0); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("table inet netlab\ndelete table inet netlab\ntable inet netlab {\n")
	for _, c := range []struct{ chain, hook, match string }{{"in", "input", "iifname"}, {"out", "output", "oifname"}} {
		fmt.Fprintf(&b, "  chain %s {\n    type filter hook %s priority -10; policy accept;\n", c.chain, c.hook)
		for _, r := range rules {
			fmt.Fprintf(&b, "    %s \"eth0\" %s\n", c.match, r)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	cmd := exec.Command("ip", "netns", "exec", h.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", h.ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// queueRules adds or removes the rules that send the link's packets to the
// delay queue. They are iptables rules: this kernel's nftables lacks the
// queue expression, while the xtables NFQUEUE target works. Their table
// hooks at priority 0, after the lab's loss and partition drops (-10).
// --queue-bypass: should nobody serve the queue, packets pass undelayed.
func (h *Host) queueRules(on bool) error {
	if on == h.queued {
		return nil
	}
	op := "-A"
	if !on {
		op = "-D"
	}
	for _, r := range [][]string{{"INPUT", "-i"}, {"OUTPUT", "-o"}} {
		out, err := exec.Command("ip", "netns", "exec", h.ns, "iptables", op, r[0], r[1], "eth0",
			"-j", "NFQUEUE", "--queue-num", fmt.Sprint(delayQueueNum), "--queue-bypass").CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables in %s: %w: %s", h.ns, err, bytes.TrimSpace(out))
		}
	}
	h.queued = on
	return nil
}

// remove deletes the lab's namespaces; their veths go with them. Processes
// started with Host.Start are stopped by their own cleanups, which run
// before this one.
func (l *Lab) remove() {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := []string{l.bridge}
	for _, h := range l.hosts {
		names = append(names, h.ns)
		h.mu.Lock()
		if h.delayer != nil {
			h.delayer.close()
			h.delayer = nil
		}
		h.mu.Unlock()
	}
	for _, ns := range names {
		if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
			continue // its creation failed
		}
		if err := ip("netns", "del", ns); err != nil {
			l.t.Errorf("netlab cleanup: %v", err)
		}
	}
}

func (l *Lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
}

// addNamespace creates a namespace with lo up and IPv6 off: the lab is an
// IPv4 network, and IPv6 would only add link-local chatter and candidates.
func addNamespace(ns string) error {
	if err := ip("netns", "add", ns); err != nil {
		return err
	}
	if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	// /proc/sys/net shows the namespace of the process reading it.
	out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c",
		"echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6").CombinedOutput()
	if err != nil {
		return fmt.Errorf("disable IPv6 in %s: %w: %s", ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// sweepStale deletes the namespaces of labs whose process is gone (a run
// killed before its cleanup). Labs of live processes are left alone, so
// parallel runs never remove each other's.
func sweepStale(t testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return // no namespaces at all yet
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := ip("netns", "del", name); err != nil {
			t.Logf("netlab: removing stale namespace %s: %v", name, err)
			continue
		}
		t.Logf("netlab: removed stale namespace %s", name)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
