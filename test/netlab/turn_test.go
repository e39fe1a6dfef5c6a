package netlab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The TURN tests of issue 10: a client in a site behind a NAT whose router
// lets no direct UDP through to the servers reaches its server only through
// a TURN relay, first coturn (what most operators run), then the server's
// embedded TURN over TLS with UDP blocked altogether. Each client of the
// exchange publishes and receives: the relayed one and one on the server's
// host.

// turnSecret is what the coordinator mints TURN credentials with and what
// the TURN servers check them with.
const turnSecret = "netlab-turn-secret-0123456789"

// startTURNBroker is startBroker for one server whose extra settings are
// serverSets; the server logs at debug, where it logs its candidate pairs.
func startTURNBroker(t *testing.T, lab *Lab, coordSets, serverSets []string) *broker {
	t.Helper()
	b := &broker{lab: lab, coordHost: lab.Host("coord")}
	addr := b.coordHost.IP().String() + ":9090"
	b.url = "ws://" + addr
	var common []string
	if clusterSecret != "" {
		common = append(common, "cluster.secret="+clusterSecret)
	}
	b.coord = b.coordHost.Start(t, filepath.Join(bin, "coordinator"),
		sets(append(append([]string{"listen=" + addr, "log.format=json"}, common...), coordSets...))...)
	b.coord.WaitLine(t, 0, startTimeout, "coordinator listening")
	s := &server{host: lab.Host("s1")}
	s.proc = s.host.Start(t, filepath.Join(bin, "commserver"), sets(append(append([]string{
		"coordinator_url=" + b.url,
		"webrtc.networks=" + Subnet,
		"log.format=json",
		"log.level=debug",
	}, common...), serverSets...))...)
	b.servers = append(b.servers, s)
	s.alias = s.registered(t, 0)
	return b
}

// startClientEnv is startClient with environment variables for the
// labclient (SSL_CERT_FILE: the CA its TURN-over-TLS dial trusts).
func (b *broker) startClientEnv(t *testing.T, h *Host, name string, srv *server, env []string) *labClient {
	t.Helper()
	args := append(append([]string{}, env...), filepath.Join(bin, "labclient"),
		"--coordinator", b.url, "--name", name, "--server", fmt.Sprint(srv.alias))
	c := &labClient{name: name, proc: h.Start(t, "/usr/bin/env", args...)}
	e := c.await(t, 0, startTimeout, "ready", func(e event) bool { return e.Ev == "ready" })
	c.alias, c.server = e.Alias, e.Server
	return c
}

// pairLine is the server's log line for a selected ICE candidate pair.
type pairLine struct {
	Msg        string `json:"msg"`
	Peer       uint64 `json:"peer"`
	LocalType  string `json:"local_type"`
	Local      string `json:"local"`
	RemoteType string `json:"remote_type"`
	Remote     string `json:"remote"`
}

// waitRelayPair waits for the server to log the pair it selected for
// client c and fails unless the remote end is a relay on relayIP: a relay
// candidate, or a peer-reflexive one (the relay's checks arrived before its
// candidate was signaled) from relayIP, where the client does not live.
func waitRelayPair(t *testing.T, s *server, c *labClient, relayIP netip.Addr) {
	t.Helper()
	var got pairLine
	_, _, err := s.proc.Await(0, startTimeout, func(line string) bool {
		var p pairLine
		if json.Unmarshal([]byte(line), &p) != nil || p.Msg != "ICE candidate pair selected" || p.Peer != c.alias {
			return false
		}
		got = p
		return true
	})
	if err != nil {
		t.Fatalf("server: selected pair of %s (alias %d): %v", c.name, c.alias, err)
	}
	t.Logf("server's pair for %s: local %s %s, remote %s %s", c.name, got.LocalType, got.Local, got.RemoteType, got.Remote)
	host, _, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimSuffix(got.Remote, "/udp"), "/tcp"))
	if (got.RemoteType != "relay" && got.RemoteType != "prflx") || host != relayIP.String() {
		t.Errorf("%s's link is not relayed: remote %s %s, want a relay on %s", c.name, got.RemoteType, got.Remote, relayIP)
	}
}

// exchangeBoth runs a reliable and an unreliable exchange between the
// clients: every reliable message arrives in order, and unreliable ones
// arrive too (the lab loses nothing, but unreliable promises nothing, so
// most is enough) without duplicates.
func exchangeBoth(t *testing.T, cs []*labClient) {
	t.Helper()
	complete(t, exchange(t, "r", 200, 100, true, reliableIdle, cs, cs))
	for _, r := range exchange(t, "u", 200, 100, false, 3*time.Second, cs, cs) {
		t.Logf("unreliable %s -> %s: %d of %d", r.Src, r.To, r.Recv, r.Want)
		if r.Recv < r.Want/2 || r.Dup != 0 {
			t.Errorf("unreliable %s -> %s: %d of %d arrived, %d duplicates", r.Src, r.To, r.Recv, r.Want, r.Dup)
		}
	}
}

func TestLabTURNCoturn(t *testing.T) {
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Fatalf("coturn's turnserver not found (apt-get install coturn): %v", err)
	}
	lab := New(t)
	th := lab.Host("turn")
	turnAddr := netip.AddrPortFrom(th.IP(), 3478)
	dir := t.TempDir()
	// coturn with REST credentials, on its lab address only, UDP only: no
	// TCP, TLS or DTLS listener, no CLI, nothing written outside dir.
	coturn := th.Start(t, "turnserver", "-n", "-v", "--log-file=stdout", "--simple-log",
		"--listening-ip="+th.IP().String(), "--relay-ip="+th.IP().String(), "--listening-port=3478",
		"--min-port=49152", "--max-port=65535",
		"--use-auth-secret", "--static-auth-secret="+turnSecret, "--realm=netlab",
		"--no-cli", "--no-tcp", "--no-tls", "--no-dtls", "--no-tcp-relay", "--no-multicast-peers",
		"--pidfile="+filepath.Join(dir, "turnserver.pid"), "--userdb="+filepath.Join(dir, "turndb"))
	coturn.WaitLine(t, 0, startTimeout, "listener opened on")

	b := startTURNBroker(t, lab, []string{
		"turn.urls=turn:" + turnAddr.String() + "?transport=udp",
		"turn.secret=" + turnSecret,
		"log.level=debug", // it logs client connections at debug
	}, nil)
	s1 := b.servers[0]
	site := lab.Site("rtr")
	site.BlockUDP(turnAddr) // only UDP to coturn's port leaves the site
	natted := b.startClient(t, site.Host("home"), "home", s1)
	direct := b.startClient(t, s1.host, "direct", s1)
	// The coordinator sees the site's client at the router's address: the
	// router masquerades.
	b.coord.WaitLine(t, 0, startTimeout, `"remote":"`+site.Router().IP().String()+`:`)
	waitRelayPair(t, s1, natted, th.IP())
	exchangeBoth(t, []*labClient{natted, direct})
	dropped, err := site.UDPDropped()
	if err != nil {
		t.Fatal(err)
	}
	// The client's host candidate pairs rank above the relay's, so their
	// checks went first: the router must have dropped some.
	t.Logf("the site's router dropped %d direct UDP packets", dropped)
	if dropped == 0 {
		t.Error("the site's router dropped no UDP: the direct path was never tried, so the test proves nothing")
	}
	natted.noDisconnect(t)
}

func TestLabTURNEmbeddedTLS(t *testing.T) {
	lab := New(t)
	s1h := lab.Host("s1") // first, so its address is known for the certificate
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir, s1h.IP())
	tlsAddr := netip.AddrPortFrom(s1h.IP(), 443)
	b := startTURNBroker(t, lab, []string{"turn.secret=" + turnSecret}, []string{
		"turn.enabled=true",
		"turn.listen_udp=off",
		"turn.listen_tls=" + tlsAddr.String(),
		"turn.cert=" + certFile,
		"turn.key=" + keyFile,
		"turn.relay_ip=" + s1h.IP().String(),
		"turn.relay_port_min=50000",
		"turn.relay_port_max=50999",
		"turn.secret=" + turnSecret,
	})
	s1 := b.servers[0]
	site := lab.Site("rtr")
	site.BlockUDP() // no UDP leaves the site at all: TLS over TCP is the only way
	// Go's TLS trusts SSL_CERT_FILE's certificates as the system's: the
	// labclient, like a browser of the site, trusts the server's CA.
	natted := b.startClientEnv(t, site.Host("office"), "office", s1, []string{"SSL_CERT_FILE=" + certFile})
	direct := b.startClient(t, s1.host, "direct", s1)
	waitRelayPair(t, s1, natted, s1h.IP())
	exchangeBoth(t, []*labClient{natted, direct})
	dropped, err := site.UDPDropped()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the site's router dropped %d UDP packets", dropped)
	if dropped == 0 {
		t.Error("the site's router dropped no UDP: the direct path was never tried, so the test proves nothing")
	}
	natted.noDisconnect(t)
}

// selfSigned writes a self-signed certificate for ip (its own CA) and its
// key, and returns their paths.
func selfSigned(t *testing.T, dir string, ip netip.Addr) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "netlab TURN " + ip.String()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{ip.AsSlice()},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "turn.crt"), filepath.Join(dir, "turn.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
