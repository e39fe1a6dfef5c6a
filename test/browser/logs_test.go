package browser

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// A browser test that fails once in many CI runs must say, in that run's
// output, what every side did: each test keeps the debug logs of its
// coordinator, servers and Go clients and the console of its pages in
// memory, and prints them only when it fails. On success they cost a
// buffer. BROKER_TEST_LOG=1 still sends everything to stderr as it goes.

// maxTestLog bounds one test's kept log; the start of a connection is what
// a failure needs, so later lines are counted, not kept.
const maxTestLog = 8 << 20

// testLog is one test's log lines, in the order they were written.
type testLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len()+len(b) > maxTestLog {
		l.dropped++
		return len(b), nil
	}
	return l.buf.Write(b)
}

// printf adds a line of the test's own (a page's console); with
// BROKER_TEST_LOG=1 it goes to stderr too, with the components' lines.
func (l *testLog) printf(format string, args ...any) {
	line := fmt.Sprintf(time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
	if os.Getenv("BROKER_TEST_LOG") == "1" {
		_, _ = os.Stderr.WriteString(line)
	}
	_, _ = l.Write([]byte(line))
}

var (
	testLogsMu sync.Mutex
	testLogs   = map[testing.TB]*testLog{}
)

// logOf returns t's log, made on first use: t.Cleanup prints it if t
// failed. Called before cluster.Start, the print comes after the cluster
// has stopped, so the shutdown is in it too.
func logOf(t testing.TB) *testLog {
	testLogsMu.Lock()
	defer testLogsMu.Unlock()
	if l := testLogs[t]; l != nil {
		return l
	}
	l := &testLog{}
	testLogs[t] = l
	t.Cleanup(func() {
		testLogsMu.Lock()
		delete(testLogs, t)
		testLogsMu.Unlock()
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Logf("debug log of the cluster, its Go clients and the pages (%d bytes, %d writes dropped past %d bytes):\n%s",
			l.buf.Len(), l.dropped, maxTestLog, l.buf.String())
	})
	return l
}

// loggerFor is component's logger in t's log, at debug level.
func loggerFor(t testing.TB, component string) *slog.Logger {
	if os.Getenv("BROKER_TEST_LOG") == "1" {
		return cluster.Logger(component)
	}
	return slog.New(slog.NewTextHandler(logOf(t), &slog.HandlerOptions{Level: slog.LevelDebug})).
		With("component", component)
}

// startCluster is cluster.Start with every component logging to t's log.
func startCluster(t testing.TB, o cluster.Options) *cluster.Cluster {
	t.Helper()
	coordOpts, serverOpts := o.CoordinatorOptions, o.ServerOptions
	o.CoordinatorOptions = func(co *coordinator.Options) {
		co.Logger = loggerFor(t, "coordinator")
		if coordOpts != nil {
			coordOpts(co)
		}
	}
	o.ServerOptions = func(i int, so *commserver.Options) {
		so.Logger = loggerFor(t, fmt.Sprintf("server%d", i))
		if serverOpts != nil {
			serverOpts(i, so)
		}
	}
	return cluster.Start(t, o)
}

// logged is a cluster.Client option: the Go client logs to t's log as
// component.
func logged(t testing.TB, component string) func(*client.Config) {
	return func(cfg *client.Config) { cfg.Logger = loggerFor(t, component) }
}

// newTab opens a tab of browser whose console lines and uncaught exceptions
// go to t's log under name. t.Cleanup closes it.
func newTab(t testing.TB, browser context.Context, name string) context.Context {
	l := logOf(t)
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			args := make([]string, 0, len(ev.Args))
			for _, a := range ev.Args {
				args = append(args, remoteText(a))
			}
			l.printf("page=%s console.%s %s", name, ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + remoteText(d.Exception)
			}
			l.printf("page=%s uncaught exception at %s:%d: %s", name, d.URL, d.LineNumber, text)
		}
	}))
	t.Cleanup(cancel)
	return ctx
}

// remoteText is a console argument as the console shows it.
func remoteText(o *runtime.RemoteObject) string {
	switch {
	case o.Description != "":
		return o.Description
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Value != nil:
		return strings.Trim(string(o.Value), `"`)
	}
	return string(o.Type)
}
