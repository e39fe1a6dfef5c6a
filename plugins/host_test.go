package plugins_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/plugins"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const client = protocol.Role_CLIENT

func TestHostAllowsAndDeniesWhatThePluginSays(t *testing.T) {
	a, _, reg := start(t, "scripted", auth.Config{})
	tests := []struct {
		name      string
		req       auth.Request
		allow     bool
		identity  string // prefix
		reason    string
		room      string
		wantError bool
	}{
		{name: "allow by AUTH body", req: body(client, "let me in"), allow: true, identity: "pid:"},
		{name: "allow by coordinator request", req: auth.Request{Role: client, HTTP: &auth.HTTPRequest{
			URL: "http://127.0.0.1:9090/connect?do=allow", Header: map[string][]string{"X-A": {"b"}}, RemoteAddr: "127.0.0.1:5000"}},
			allow: true, identity: "pid:"},
		{name: "allow with a room", req: auth.Request{Role: client, HTTP: &auth.HTTPRequest{
			URL: "http://127.0.0.1:9090/connect?do=allow&room_hint=lobby"}}, allow: true, identity: "pid:", room: "lobby"},
		{name: "deny with the plugin's reason", req: body(client, "deny"), reason: "asked to deny"},
		{name: "deny by coordinator request", req: auth.Request{Role: client, HTTP: &auth.HTTPRequest{URL: "http://x/connect?do=deny"}},
			reason: "asked to deny"},
		{name: "a plugin error denies", req: body(client, "error"), reason: "authentication unavailable", wantError: true},
		{name: "a plugin panic denies", req: body(client, "panic"), reason: "authentication unavailable", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := a.Authenticate(t.Context(), tt.req)
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, want error: %v", err, tt.wantError)
			}
			if res.Allow != tt.allow || !strings.HasPrefix(string(res.Identity), tt.identity) || res.Reason != tt.reason || res.Room != tt.room {
				t.Fatalf("got %+v, want allow=%v identity=%q... reason=%q room=%q", res, tt.allow, tt.identity, tt.reason, tt.room)
			}
		})
	}
	// The panic and the error did not take the plugin down.
	if res, err := a.Authenticate(t.Context(), body(client, "still there?")); err != nil || !res.Allow {
		t.Fatalf("after a panic: %+v, %v", res, err)
	}
	if got := metricValue(t, reg, "broker_auth_plugin_fail_closed_total", map[string]string{"reason": "error"}); got != 2 {
		t.Errorf("fail_closed{reason=error} = %v, want 2", got)
	}
}

// NewAuthenticator returns a host that is ready: a call made at once is
// answered, never failed closed as if the plugin were down.
func TestFirstCallAfterStartIsAnswered(t *testing.T) {
	for i := range 10 {
		a, _, _ := start(t, "scripted", auth.Config{})
		if res, err := a.Authenticate(t.Context(), body(client, "first")); err != nil || !res.Allow {
			t.Fatalf("start %d: first call: %+v, %v", i, res, err)
		}
		a.Close()
	}
}

func TestHostPassesCredentialsThrough(t *testing.T) {
	a, _, _ := start(t, "scripted", auth.Config{})
	c, err := a.Credentials(t.Context(), protocol.Role_COMMUNICATION_SERVER, auth.TargetCoordinator)
	if err != nil || c.Query.Get("do") != "allow" || c.Body != nil {
		t.Fatalf("to coordinator: %+v, %v", c, err)
	}
	c, err = a.Credentials(t.Context(), protocol.Role_COMMUNICATION_SERVER, auth.TargetServer)
	if err != nil || string(c.Body) != "server-credentials" || c.Query != nil {
		t.Fatalf("to server: %+v, %v", c, err)
	}
}

func TestNoPluginIsAllowAllWithAWarning(t *testing.T) {
	rec := newRecorder()
	a, err := plugins.NewAuthenticator(t.Context(), auth.Config{}, slog.New(rec), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(auth.AllowAll); !ok {
		t.Fatalf("got %T, want auth.AllowAll", a)
	}
	rec.line(t, time.Second, "WARN", "no auth plugin configured")
}

func TestChecksum(t *testing.T) {
	sum := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	right, wrong := sum(bin["allowall"]), sum(bin["token"])

	t.Run("the right checksum starts, also as sha256sum prints it", func(t *testing.T) {
		for _, pin := range []string{right, strings.ToUpper(right), right + "  " + bin["allowall"] + "\n"} {
			start(t, "allowall", auth.Config{SHA256: pin})
		}
	})
	t.Run("a mismatch refuses to start and names the file and both sums", func(t *testing.T) {
		_, err := plugins.NewAuthenticator(t.Context(), auth.Config{Plugin: bin["allowall"], SHA256: wrong},
			slog.New(newRecorder()), prometheus.NewRegistry())
		if !errors.Is(err, plugins.ErrChecksumMismatch) {
			t.Fatalf("err = %v, want ErrChecksumMismatch", err)
		}
		for _, part := range []string{bin["allowall"], right, wrong} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not name %q", err, part)
			}
		}
	})
	t.Run("a malformed pin is refused", func(t *testing.T) {
		_, err := plugins.NewAuthenticator(t.Context(), auth.Config{Plugin: bin["allowall"], SHA256: "abc"},
			slog.New(newRecorder()), prometheus.NewRegistry())
		if err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Fatalf("err = %v, want a malformed-checksum error", err)
		}
	})
}

func TestStartRefusals(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"missing binary", auth.Config{Plugin: "/nonexistent/plugin"}, "no such file"},
		{"not a plugin", auth.Config{Plugin: "/bin/true"}, "handshake"},
		{"config rejected", auth.Config{Config: map[string]any{"reject": true}}, "rejected auth.config"},
		{"config not JSON", auth.Config{Config: map[string]any{"f": func() {}}}, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Plugin == "" {
				tt.cfg.Plugin = bin["scripted"]
			}
			a, err := plugins.NewAuthenticator(t.Context(), tt.cfg, slog.New(newRecorder()), prometheus.NewRegistry())
			if err == nil {
				a.Close()
				t.Fatal("started; want a refusal")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestPluginKilledMidRunFailsClosedThenRecovers(t *testing.T) {
	a, rec, reg := start(t, "scripted", auth.Config{})
	oldPID := pidOf(t, a)

	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Until the death is noticed a call may still reach the dying process;
	// after it, calls deny with ErrPluginDown, never allow.
	var downErr error
	testwait.For(t, 5*time.Second, "a call denied because the plugin is down", func() bool {
		res, err := a.Authenticate(t.Context(), body(client, "hello"))
		if err == nil && string(res.Identity) != "pid:"+strconv.Itoa(oldPID) {
			t.Fatalf("allowed by %q while the plugin was down", res.Identity)
		}
		if res.Allow && err != nil {
			t.Fatalf("allowed with an error: %v", err)
		}
		downErr = err
		return errors.Is(err, plugins.ErrPluginDown)
	})
	rec.line(t, 5*time.Second, "ERROR", "denying every authentication", "plugin=scripted")

	// It comes back as a new process and allows again.
	var newPID int
	testwait.For(t, 10*time.Second, "the restarted plugin allows", func() bool {
		res, err := a.Authenticate(t.Context(), body(client, "hello"))
		if err != nil || !res.Allow {
			return false
		}
		newPID, _ = strconv.Atoi(strings.TrimPrefix(string(res.Identity), "pid:"))
		return true
	})
	if newPID == oldPID || newPID == 0 {
		t.Fatalf("pid after restart = %d, before = %d", newPID, oldPID)
	}
	rec.line(t, time.Second, "INFO", "auth plugin restarted", "plugin=scripted")
	if got := metricValue(t, reg, "broker_auth_plugin_restarts_total", nil); got != 1 {
		t.Errorf("restarts_total = %v, want 1", got)
	}
	if got := metricValue(t, reg, "broker_auth_plugin_fail_closed_total", map[string]string{"reason": "down"}); got < 1 {
		t.Errorf("fail_closed{reason=down} = %v, want >= 1", got)
	}
	if got := metricValue(t, reg, "broker_auth_plugin_up", nil); got != 1 {
		t.Errorf("up = %v, want 1", got)
	}
	// The new process got the config again: Credentials work.
	if _, err := a.Credentials(t.Context(), protocol.Role_COMMUNICATION_SERVER, auth.TargetServer); err != nil {
		t.Fatalf("credentials after restart: %v (while down it was: %v)", err, downErr)
	}
}

func TestHangingPluginTimesOutAndDenies(t *testing.T) {
	const timeout = 200 * time.Millisecond
	a, _, reg := start(t, "scripted", auth.Config{Timeout: timeout})

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			began := time.Now()
			res, err := a.Authenticate(t.Context(), body(client, "hang"))
			took := time.Since(began)
			if res.Allow || !errors.Is(err, plugins.ErrTimeout) {
				t.Errorf("hanging call: %+v, %v; want a deny with ErrTimeout", res, err)
			}
			if took < timeout || took > timeout+2*time.Second {
				t.Errorf("hanging call returned after %s, want about %s", took, timeout)
			}
		})
	}
	wg.Wait()
	if got := metricValue(t, reg, "broker_auth_plugin_fail_closed_total", map[string]string{"reason": "timeout"}); got != 5 {
		t.Errorf("fail_closed{reason=timeout} = %v, want 5", got)
	}
	// A plugin that is merely slow is not restarted: it still answers.
	if res, err := a.Authenticate(t.Context(), body(client, "quick")); err != nil || !res.Allow {
		t.Fatalf("after time-outs: %+v, %v", res, err)
	}
}

func TestHangModeCredentialsTimeOut(t *testing.T) {
	a, _, _ := start(t, "scripted", auth.Config{Timeout: 100 * time.Millisecond, Config: map[string]any{"mode": "hang"}})
	res, err := a.Authenticate(t.Context(), body(client, "anything"))
	if res.Allow || !errors.Is(err, plugins.ErrTimeout) {
		t.Fatalf("hang mode: %+v, %v", res, err)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	a, _, _ := start(t, "scripted", auth.Config{})
	pid := pidOf(t, a)
	if !processAlive(pid) {
		t.Fatalf("plugin %d not running before Close", pid)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if processAlive(pid) {
		t.Fatalf("plugin %d still running after Close returned", pid)
	}
	res, err := a.Authenticate(t.Context(), body(client, "hello"))
	if res.Allow || !errors.Is(err, plugins.ErrClosed) {
		t.Fatalf("after Close: %+v, %v; want a deny with ErrClosed", res, err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseWhileHangingCallsInFlight(t *testing.T) {
	a, _, _ := start(t, "scripted", auth.Config{Timeout: 30 * time.Second})
	pid := pidOf(t, a)
	done := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), body(client, "hang"))
		done <- err
	}()
	a.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a call cut short by Close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call in flight did not end when its plugin was closed")
	}
	if processAlive(pid) {
		t.Fatalf("plugin %d still running after Close", pid)
	}
}

// Close ends a restart that hangs in Configure at once: the restart's
// context is the host's life, not its own start time-out (set far beyond the
// test's time-out here).
func TestCloseDuringAHangingRestart(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "hang")
	rec := newRecorder()
	cfg := auth.Config{Plugin: bin["scripted"], Timeout: 2 * time.Second, Config: map[string]any{"hang_configure_if": marker}}
	a, err := plugins.NewAuthenticatorWithStartTimeout(t.Context(), cfg, slog.New(rec), prometheus.NewRegistry(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// No deferred Close: on failure it would hang the test. A plugin left
	// behind dies with the test binary (orphanGuard).
	pid := pidOf(t, a)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec.line(t, 20*time.Second, "plugin stderr", "line=configure hanging")

	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while a restart hung (start time-out 1h)")
	}
}

func TestPluginStderrReachesTheHostLog(t *testing.T) {
	_, rec, _ := start(t, "scripted", auth.Config{Config: map[string]any{"say": "hello-from-plugin"}})
	rec.line(t, 5*time.Second, "INFO structured hello-from-plugin", "plugin=scripted", "pid=")
	rec.line(t, 5*time.Second, "plugin stderr", "line=raw hello-from-plugin", "plugin=scripted")
}

// pidOf asks the scripted plugin for its pid (its identity).
func pidOf(t *testing.T, a auth.Authenticator) int {
	t.Helper()
	res, err := a.Authenticate(t.Context(), body(client, "who are you"))
	if err != nil || !res.Allow {
		t.Fatalf("scripted plugin: %+v, %v", res, err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(string(res.Identity), "pid:"))
	if err != nil {
		t.Fatalf("identity %q: %v", res.Identity, err)
	}
	return pid
}

// processAlive reports whether pid is a running process (a zombie is dead:
// it only waits for whoever adopted it to reap it).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: best effort
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
