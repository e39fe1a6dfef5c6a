package luahost

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

var (
	alice = policy.Peer{Alias: 7, Identity: []byte("user:alice"), Role: protocol.Role_CLIENT}
	bob   = policy.Peer{Alias: 8, Identity: []byte("user:bob"), Role: protocol.Role_CLIENT}
)

// testHost is a Host on a temporary directory with what the tests inspect.
type testHost struct {
	*Host
	dir  string
	reg  *prometheus.Registry
	logs *syncBuffer
}

type hostOption func(*Options)

func watching(o *Options) { o.NoWatch = false }

// newTestHost writes files into a fresh directory and starts a Host on it.
// Hosts do not watch unless asked (tests call reload). The default call
// limit is generous so a loaded machine cannot turn a verdict into a
// time-out; the time-out tests declare their own timeout_ms.
func newTestHost(t *testing.T, files map[string]string, opts ...hostOption) *testHost {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		writeFile(t, dir, name, src)
	}
	th := &testHost{dir: dir, reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	o := Options{
		Dir:            dir,
		Logger:         slog.New(slog.NewTextHandler(th.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:     th.reg,
		ServerAlias:    func() uint64 { return 99 },
		DefaultTimeout: time.Second,
		NoWatch:        true,
	}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := New(ctx, o)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		h.Close()
	})
	th.Host = h
	return th
}

// writeFile replaces dir/name atomically (write then rename), as careful
// editors and deployment tools do, so a reload never reads half a file.
func writeFile(t *testing.T, dir, name, src string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// publish is OnPublish on the reliable channel with a string body.
func (th *testHost) publish(p policy.Peer, topic, body string) policy.Decision {
	return th.OnPublish(p, topic, []byte(body), true)
}

// counter returns the value of a counter series, 0 if absent.
func (th *testHost) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return testmetrics.Sum(t, th.reg, name, labels)
}

// gauge returns the value of a gauge series, -1 if absent.
func (th *testHost) gauge(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	r := testmetrics.Read(t, th.reg, name, labels)
	if r.Series == 0 {
		return -1
	}
	return r.Sum
}

// syncBuffer is a log sink that tests read while hooks write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) count(substr string) int {
	return strings.Count(b.String(), substr)
}
