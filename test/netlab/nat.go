package netlab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// A Site is a private network behind a NAT router, as a home or an office
// is: its hosts have addresses in 198.19.N.0/24 (inside the lab's Subnet,
// on no lab link), their only route leads to the router, and the router
// masquerades what they send to the lab network behind its own lab address.
// Lab hosts have no route back into the site, so nothing reaches a site
// host unless it asked first (conntrack lets the replies in). BlockUDP
// turns the router into a firewall that lets only some UDP out, or none.
//
// The router is a lab host (eth0 on the bridge), with a second bridge, lan,
// that the site's hosts are linked to. Its rules live in a table of their
// own (ip netlab_site), apart from the inet netlab table that the router's
// own impairments rewrite. Everything goes with the lab's namespaces.
type Site struct {
	lab    *Lab
	router *Host
	n      int // the site's number: 198.19.n.0/24

	mu      sync.Mutex // guards hosts and allowUDP/blockUDP
	hosts   []*Host
	blocked bool
	allow   []netip.AddrPort
}

// Site creates a NAT router called name on the lab network, with an empty
// site behind it.
func (l *Lab) Site(name string) *Site {
	l.t.Helper()
	r := l.Host(name)
	l.mu.Lock()
	l.sites++
	n := l.sites
	l.mu.Unlock()
	if n > 250 {
		l.t.Fatal("netlab: more than 250 sites")
	}
	s := &Site{lab: l, router: r, n: n}
	l.must(ip("-n", r.ns, "link", "add", "lan", "type", "bridge"))
	l.must(ip("-n", r.ns, "addr", "add", s.routerIP().String()+"/24", "dev", "lan"))
	l.must(ip("-n", r.ns, "link", "set", "lan", "up"))
	l.must(inNS(r.ns, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward"))
	l.must(s.applyRules())
	return s
}

// Router is the site's NAT router, a host on the lab network.
func (s *Site) Router() *Host { return s.router }

// Subnet is the site's private network.
func (s *Site) Subnet() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(s.n), 0}), 24)
}

func (s *Site) routerIP() netip.Addr { return netip.AddrFrom4([4]byte{198, 19, byte(s.n), 1}) }

// Host returns the site host called name, creating it on first use. Its
// IP is its private address; the lab sees it as the router's.
func (s *Site) Host(name string) *Host {
	l := s.lab
	l.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hosts {
		if h.name == name {
			return h
		}
	}
	k := len(s.hosts) + 2
	if k > 250 {
		l.t.Fatal("netlab: more than 249 hosts in a site")
	}
	h := &Host{
		lab: l, name: name, ns: l.id + "-" + name,
		port: fmt.Sprintf("s%d", k), ip: netip.AddrFrom4([4]byte{198, 19, byte(s.n), byte(k)}),
	}
	l.mu.Lock()
	for _, o := range l.hosts {
		if o.name == name {
			l.mu.Unlock()
			l.t.Fatalf("netlab: host %s exists already", name)
		}
	}
	l.hosts = append(l.hosts, h) // first, so cleanup removes it whatever fails next
	l.mu.Unlock()
	s.hosts = append(s.hosts, h)
	l.must(addNamespace(h.ns))
	l.must(ip("-n", s.router.ns, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.ns))
	l.must(ip("-n", s.router.ns, "link", "set", h.port, "master", "lan", "up"))
	l.must(ip("-n", h.ns, "addr", "add", h.ip.String()+"/24", "dev", "eth0"))
	l.must(ip("-n", h.ns, "link", "set", "eth0", "up"))
	l.must(ip("-n", h.ns, "route", "add", "default", "via", s.routerIP().String()))
	l.must(h.applyRules())
	return h
}

// BlockUDP makes the router drop every UDP packet from the site to the lab
// network except those to the allowed addresses and ports (a TURN server's
// UDP port, say); with none allowed, all UDP is dropped and only TCP gets
// out. Calling it again replaces the allowed set.
func (s *Site) BlockUDP(allow ...netip.AddrPort) {
	s.lab.t.Helper()
	s.mu.Lock()
	s.blocked, s.allow = true, append([]netip.AddrPort(nil), allow...)
	s.mu.Unlock()
	s.lab.must(s.applyRules())
}

// OpenUDP undoes BlockUDP.
func (s *Site) OpenUDP() {
	s.lab.t.Helper()
	s.mu.Lock()
	s.blocked, s.allow = false, nil
	s.mu.Unlock()
	s.lab.must(s.applyRules())
}

// applyRules replaces the router's site table in one transaction. The drop
// rule counts, so a test can see that packets were dropped (UDPDropped).
func (s *Site) applyRules() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("table ip netlab_site\ndelete table ip netlab_site\ntable ip netlab_site {\n")
	fmt.Fprintf(&b, "  chain site_nat {\n    type nat hook postrouting priority 100; policy accept;\n"+
		"    ip saddr %s oifname \"eth0\" masquerade\n  }\n", s.Subnet())
	b.WriteString("  chain site_filter {\n    type filter hook forward priority 0; policy accept;\n")
	if s.blocked {
		for _, a := range s.allow {
			fmt.Fprintf(&b, "    iifname \"lan\" ip daddr %s udp dport %d accept\n", a.Addr(), a.Port())
		}
		b.WriteString("    iifname \"lan\" meta l4proto udp counter drop\n")
	}
	b.WriteString("  }\n}\n")
	cmd := exec.Command("ip", "netns", "exec", s.router.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", s.router.ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// UDPDropped is how many UDP packets from the site the router has dropped
// since the last BlockUDP or OpenUDP.
func (s *Site) UDPDropped() (int, error) {
	out, err := exec.Command("ip", "netns", "exec", s.router.ns, "nft", "list", "chain", "ip", "netlab_site", "site_filter").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nft list in %s: %w: %s", s.router.ns, err, bytes.TrimSpace(out))
	}
	// "... counter packets N bytes M drop"
	_, rest, ok := strings.Cut(string(out), "counter packets ")
	if !ok {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(rest, "%d", &n); err != nil {
		return 0, fmt.Errorf("nft counter: %w", err)
	}
	return n, nil
}

func inNS(ns string, args ...string) error {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("in %s: %s: %w: %s", ns, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
