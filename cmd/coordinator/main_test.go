package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// syncBuffer is a bytes.Buffer that the program and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		environ []string
		want    int
		output  string // expected in stdout+stderr
	}{
		{"print config", []string{"--print-config"}, nil, 0, "selector: random"},
		{"env shows in printed config", []string{"--print-config"}, []string{"BROKER_SELECTOR=star"}, 0, "selector: star"},
		{"unknown key", []string{"--set", "no_such_key=1"}, nil, 1, "no_such_key"},
		{"--help", []string{"--help"}, nil, 0, "-print-config"},
		{"-h", []string{"-h"}, nil, 0, "-set key=value"},
		{"unknown flag", []string{"--no-such-flag"}, nil, 2, "no-such-flag"},
		{"unknown flag shows the usage", []string{"--no-such-flag"}, nil, 2, "-print-config"},
		{"stray argument", []string{"serve"}, nil, 2, `unexpected argument "serve"`},
		{"unknown selector", []string{"--set", "selector=round-robin", "--set", "listen=127.0.0.1:0"}, nil, 1, "unknown selector"},
		{"bad log level", []string{"--set", "log.level=loud"}, nil, 1, "log.level"},
		{"unusable listen address", []string{"--set", "listen=256.0.0.1:1"}, nil, 1, "listen on"},
		{"tls.cert without tls.key", []string{"--set", "tls.cert=/nonexistent.pem", "--set", "listen=127.0.0.1:0"}, nil, 1, "set both or neither"},
		{"unreadable tls.cert", []string{"--set", "tls.cert=/nonexistent.pem", "--set", "tls.key=/nonexistent-key.pem", "--set", "listen=127.0.0.1:0"}, nil, 1, "/nonexistent.pem"},
		{"bad allowed_origins", []string{"--set", "allowed_origins=https://ok.example,app.example.com", "--set", "listen=127.0.0.1:0"}, nil, 1, `allowed_origins \"app.example.com\"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			if got := run(context.Background(), c.args, c.environ, &out, &out); got != c.want {
				t.Fatalf("exit code %d, want %d; output:\n%s", got, c.want, out.String())
			}
			if !strings.Contains(out.String(), c.output) {
				t.Fatalf("output lacks %q:\n%s", c.output, out.String())
			}
		})
	}
}

func TestServesUntilCancelledThenExitsZero(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--set", "listen=127.0.0.1:0", "--set", "log.level=debug"}, nil, &out, &out)
	}()

	addrRE := regexp.MustCompile(`"coordinator listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	testwait.For(t, 10*time.Second, "the listening line", func() bool {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
		}
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit code %d after cancel, want 0; output:\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after cancel")
	}
	if !strings.Contains(out.String(), "no auth plugin configured") {
		t.Errorf("no warning about the missing auth plugin:\n%s", out.String())
	}
}

// TestSIGHUPReloadsTheCertificate runs the real binary on wss://: SIGHUP
// makes it present a new certificate from the next handshake on while the
// socket opened before is still served, and a bad pair on a later SIGHUP
// is logged and leaves the current one in place.
func TestSIGHUPReloadsTheCertificate(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "coordinator")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ca := testtls.NewCA(t, "sighup")
	leaf := ca.Leaf(t, "coord", "127.0.0.1")
	var out syncBuffer
	cmd := exec.Command(bin, "--set", "listen=127.0.0.1:0", "--set", "ping_interval=100ms",
		"--set", "tls.cert="+leaf.CertFile, "--set", "tls.key="+leaf.KeyFile)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addrRE := regexp.MustCompile(`"coordinator listening" addr=(127\.0\.0\.1:\d+) tls=true`)
	var addr string
	testwait.For(t, 10*time.Second, "the listening line", func() bool {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	dialer := &websocket.Dialer{TLSClientConfig: ca.ClientConfig(), HandshakeTimeout: 10 * time.Second}
	// dial opens /connect and returns the socket and the serial of the
	// certificate it was served with.
	dial := func() (*websocket.Conn, string) {
		t.Helper()
		conn, _, err := dialer.Dial("wss://"+addr+"/connect", nil)
		if err != nil {
			t.Fatalf("dial: %v\n%s", err, out.String())
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn, conn.NetConn().(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	old, before := dial()
	// The handler answers as gorilla's default one does: a socket that does
	// not pong is closed by the coordinator after 2x ping_interval (200 ms
	// here), and then it gets no pings for a reason other than the reload.
	pings := make(chan struct{}, 1)
	old.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		err := old.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	go func() { // reads the socket, so that its ping handler runs
		for {
			if _, _, err := old.ReadMessage(); err != nil {
				return
			}
		}
	}()

	next := ca.Leaf(t, "coord-next", "127.0.0.1")
	next.InstallAt(t, leaf.CertFile, leaf.KeyFile)
	hangup := func(line string) {
		t.Helper()
		n := strings.Count(out.String(), line)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, "log line "+line, func() bool { return strings.Count(out.String(), line) > n })
	}
	hangup("TLS certificate reloaded")
	if _, after := dial(); after != next.Cert.SerialNumber.String() || after == before {
		t.Fatalf("after SIGHUP the coordinator presents serial %s, want %s (before: %s)", after, next.Cert.SerialNumber, before)
	}
	// The socket opened before the reload is still served: it gets pings.
	for range 3 { // one may have been sent before the reload
		select {
		case <-pings:
		case <-time.After(10 * time.Second):
			t.Fatalf("the socket opened before the reload gets no pings:\n%s", out.String())
		}
	}

	if err := os.WriteFile(leaf.CertFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangup("TLS certificate reload failed, keeping the current one")
	if _, got := dial(); got != next.Cert.SerialNumber.String() {
		t.Fatalf("after a failed reload the coordinator presents serial %s, want %s", got, next.Cert.SerialNumber)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after SIGTERM")
	}
}
