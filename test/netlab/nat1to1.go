package netlab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// A host behind a one-to-one NAT, as a cloud VM sits behind its provider's
// public address: the host has a private address on a link of its own to a
// router, and the router, a host on the lab bridge, answers for its lab
// address (the public one) and translates it to the host's and back. No lab
// host has a route to the private network, so the host is reached only
// through the translation, never directly.

// natTable is the router's nftables table; natDNATChain counts what it
// translated in.
const (
	natTable     = "netlab_nat"
	natDNATChain = "pre"
)

// HostBehindNAT1To1 creates the host name behind a new router host
// name+"-nat". Every UDP packet to the router's lab address is translated
// (DNAT) to the host, every packet the host sends out is translated (SNAT)
// to the router's lab address, which is the host's public address:
// router.IP().
func (l *Lab) HostBehindNAT1To1(name string) (h, router *Host) {
	l.t.Helper()
	router = l.Host(name + "-nat")
	n := router.ip.As4()[3]
	subnet := fmt.Sprintf("198.19.%d.", n) // inside Subnet, off the bridge's /24
	gw := subnet + "1"
	h = &Host{lab: l, name: name, ns: l.id + "-" + name, ip: netip.MustParseAddr(subnet + "2")}
	l.mu.Lock()
	for _, o := range l.hosts {
		if o.name == name {
			l.mu.Unlock()
			l.t.Fatalf("netlab: host %s exists", name)
		}
	}
	l.hosts = append(l.hosts, h) // first, so cleanup removes it whatever fails next
	l.mu.Unlock()
	l.must(addNamespace(h.ns))
	l.must(ip("-n", router.ns, "link", "add", "in0", "type", "veth", "peer", "name", "eth0", "netns", h.ns))
	l.must(ip("-n", router.ns, "addr", "add", gw+"/24", "dev", "in0"))
	l.must(ip("-n", router.ns, "link", "set", "in0", "up"))
	l.must(ip("-n", h.ns, "addr", "add", h.ip.String()+"/24", "dev", "eth0"))
	l.must(ip("-n", h.ns, "link", "set", "eth0", "up"))
	l.must(ip("-n", h.ns, "route", "add", "default", "via", gw))
	l.must(h.applyRules())
	l.must(nsShell(router.ns, "echo 1 >/proc/sys/net/ipv4/ip_forward"))
	pub := router.ip.String()
	rules := fmt.Sprintf(`table ip %[1]s {
  chain %[2]s {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "eth0" ip daddr %[3]s meta l4proto udp counter dnat to %[4]s
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth0" ip saddr %[4]s snat to %[3]s
  }
}
`, natTable, natDNATChain, pub, h.ip)
	cmd := exec.Command("ip", "netns", "exec", router.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("netlab: NAT rules in %s: %v: %s", router.ns, err, bytes.TrimSpace(out))
	}
	return h, router
}

var counterPackets = regexp.MustCompile(`counter packets (\d+)`)

// NATTranslatedIn is how many packets router (made by HostBehindNAT1To1)
// has translated in to its host so far.
func (l *Lab) NATTranslatedIn(router *Host) int {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", router.ns, "nft", "list", "chain", "ip", natTable, natDNATChain).CombinedOutput()
	if err != nil {
		l.t.Fatalf("netlab: NAT counter in %s: %v: %s", router.ns, err, bytes.TrimSpace(out))
	}
	m := counterPackets.FindSubmatch(out)
	if m == nil {
		l.t.Fatalf("netlab: no counter in %s's NAT chain: %s", router.ns, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// UDPPorts lists the local UDP ports of the sockets that process pid holds
// in host h (ss -uanp in its namespace).
func (h *Host) UDPPorts(pid int) ([]int, error) {
	out, err := exec.Command("ip", "netns", "exec", h.ns, "ss", "-uanpH").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ss in %s: %w: %s", h.ns, err, bytes.TrimSpace(out))
	}
	var ports []int
	owner := fmt.Sprintf("pid=%d,", pid)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.Contains(line, owner) {
			continue
		}
		// State Recv-Q Send-Q Local:Port Peer:Port Process
		local := f[3]
		port, err := strconv.Atoi(local[strings.LastIndexByte(local, ':')+1:])
		if err != nil {
			return nil, fmt.Errorf("ss in %s: local address %q", h.ns, local)
		}
		ports = append(ports, port)
	}
	return ports, nil
}

func nsShell(ns, script string) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", script, ns, err, bytes.TrimSpace(out))
	}
	return nil
}
