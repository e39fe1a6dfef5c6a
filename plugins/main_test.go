package plugins_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/plugins"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// bin holds the plugin binaries TestMain builds: name -> path.
var bin = map[string]string{}

// pluginPackages are built once for every test in this package.
var pluginPackages = map[string]string{
	"allowall": "./allowall",
	"token":    "./token",
	"scripted": "./internal/testplugins/scripted",
}

func TestMain(m *testing.M) {
	if os.Getenv(hostModeEnv) != "" {
		runAsHost() // the orphan test's child: never returns
	}
	dir, err := os.MkdirTemp("", "plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range pluginPackages {
			out := filepath.Join(dir, name)
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
				return 1
			}
			bin[name] = out
		}
		return m.Run()
	}()
	os.Exit(code)
}

// start runs a plugin through the host with cfg's defaults filled in, and
// closes it when the test ends.
func start(t testing.TB, name string, cfg auth.Config) (auth.Authenticator, *recorder, *prometheus.Registry) {
	t.Helper()
	cfg.Plugin = bin[name]
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	a, err := plugins.NewAuthenticator(ctx, cfg, slog.New(rec), reg)
	if err != nil {
		t.Fatalf("NewAuthenticator(%s): %v", name, err)
	}
	t.Cleanup(func() { a.Close() })
	return a, rec, reg
}

// body is an AUTH-message request, the scripted plugin's instruction.
func body(role protocol.Role, s string) auth.Request {
	return auth.Request{Role: role, Body: []byte(s)}
}

// metricValue is the value of the counter or gauge name with labels on reg,
// 0 when absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	return testmetrics.Sum(t, reg, name, labels)
}

// recorder is a slog.Handler that keeps every record, so tests can wait for
// a log line.
type recorder struct {
	attrs []slog.Attr
	s     *recordStore
}

type recordStore struct {
	mu      sync.Mutex // guards lines and changed
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

func newRecorder() *recorder {
	return &recorder{s: &recordStore{changed: make(chan struct{})}}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.s.mu.Lock()
	r.s.lines = append(r.s.lines, b.String())
	close(r.s.changed)
	r.s.changed = make(chan struct{})
	r.s.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorder{attrs: append(slices.Clip(r.attrs), attrs...), s: r.s}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// line returns the first log line containing every one of parts, failing the
// test if none arrives within d.
func (r *recorder) line(t *testing.T, d time.Duration, parts ...string) string {
	t.Helper()
	timeout := time.After(d)
	seen := 0
	for {
		r.s.mu.Lock()
		lines, changed := r.s.lines, r.s.changed
		r.s.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if containsAll(lines[seen], parts) {
				return lines[seen]
			}
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no log line with %q within %s; got:\n%s", parts, d, strings.Join(lines, "\n"))
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
