package luahost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// caseEpoch is where each case's virtual clock starts, so bodies that carry
// broker.now() are reproducible: 2024-01-01T00:00:00Z, 1704067200000 ms.
var caseEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// testerTimeout replaces the 5ms default call limit in the tester, whose
// verdicts must not depend on how loaded the machine is; a script's own
// timeout_ms still applies.
const testerTimeout = time.Second

// RunCases is `brokerctl script test DIR`: it loads every script in dir (a
// failure is a failed case), then runs each *.cases.yaml file's cases, each
// on a fresh host built by the same code the server uses, and writes a
// PASS/FAIL line per case and a summary "N passed, M failed" to w. Scripts
// log to log (nil: nowhere). err is for a directory it cannot test at all.
func RunCases(ctx context.Context, dir string, w io.Writer, log *slog.Logger) (passed, failed int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("rule tester: %w", err)
	}
	var caseFiles []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".cases.yaml") || strings.HasSuffix(n, ".cases.yml") {
			caseFiles = append(caseFiles, n)
		}
	}
	if h, err := newTesterHost(dir, 1, nil, nil, log); err != nil {
		var le *LoadError
		for _, e := range unjoin(err) {
			if errors.As(e, &le) {
				fmt.Fprintf(w, "FAIL %s (does not load)\n", e)
				failed++
			}
		}
		if failed == 0 {
			return 0, 0, fmt.Errorf("rule tester: %w", err)
		}
	} else {
		h.retireAll()
	}
	for _, name := range caseFiles {
		if ctx.Err() != nil {
			return passed, failed, ctx.Err()
		}
		p, f := runCaseFile(dir, name, w, log)
		passed += p
		failed += f
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	if len(caseFiles) == 0 {
		return passed, failed, fmt.Errorf("rule tester: no *.cases.yaml files in %s", dir)
	}
	return passed, failed, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func runCaseFile(dir, name string, w io.Writer, log *slog.Logger) (passed, failed int) {
	cf, err := readCaseFile(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintf(w, "FAIL %v\n", err)
		return 0, 1
	}
	var only map[string]bool
	if len(cf.Scripts) > 0 {
		only = make(map[string]bool, len(cf.Scripts))
		for _, s := range cf.Scripts {
			if _, err := os.Stat(filepath.Join(dir, s)); err != nil || !isScript(s) {
				fmt.Fprintf(w, "FAIL %s: scripts: %s is not a script in %s\n", name, s, dir)
				return 0, 1
			}
			only[s] = true
		}
	}
	for i := range cf.Cases {
		c := &cf.Cases[i]
		if err := cf.run(dir, only, c, log); err != nil {
			fmt.Fprintf(w, "FAIL %s: %s\n     %v\n", name, c.Name, err)
			failed++
			continue
		}
		fmt.Fprintf(w, "PASS %s: %s\n", name, c.Name)
		passed++
	}
	return passed, failed
}

// virtualClock is a case's clock, moved only by advance_ms steps.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTesterHost(dir string, serverAlias uint64, only map[string]bool, clock func() time.Time, log *slog.Logger) (*Host, error) {
	h, err := newHost(Options{Dir: dir, NoWatch: true, DefaultTimeout: testerTimeout, Clock: clock, Logger: log,
		ServerAlias: func() uint64 { return serverAlias }, only: only})
	if err != nil {
		return nil, err
	}
	if err := h.reload(); err != nil {
		h.retireAll()
		return nil, err
	}
	return h, nil
}

func (cf *caseFile) run(dir string, only map[string]bool, c *testCase, log *slog.Logger) error {
	clock := &virtualClock{now: caseEpoch}
	h, err := newTesterHost(dir, cf.ServerAlias, only, clock.Now, log)
	if err != nil {
		return err
	}
	defer h.retireAll()
	if len(h.snap.Load().scripts) == 0 {
		return fmt.Errorf("no scripts loaded (scripts: %v)", cf.Scripts)
	}
	for i := range c.Steps {
		s := &c.Steps[i]
		for n := 1; n <= s.Repeat; n++ {
			if err := cf.runStep(h, clock, s); err != nil {
				at := fmt.Sprintf("step %d", i+1)
				if s.Repeat > 1 {
					at += fmt.Sprintf(" (repeat %d of %d)", n, s.Repeat)
				}
				return fmt.Errorf("%s: %w", at, err)
			}
		}
	}
	return nil
}

func (cf *caseFile) runStep(h *Host, clock *virtualClock, s *step) error {
	switch {
	case s.AdvanceMS != 0:
		clock.advance(time.Duration(s.AdvanceMS) * time.Millisecond)
		return nil
	case s.Connect != nil:
		p, _ := cf.peer(*s.Connect)
		h.OnConnect(p)
		return nil
	case s.Disconnect != nil:
		p, _ := cf.peer(*s.Disconnect)
		h.OnDisconnect(p)
		return nil
	}
	p, _ := cf.peer(s.Peer)
	if s.Subscribe != nil {
		allow, reason := h.OnSubscribe(p, *s.Subscribe)
		got := "allow"
		if !allow {
			got = "deny"
		}
		return compare(fmt.Sprintf("subscribe %s", *s.Subscribe), s, got, reason, nil)
	}
	d := h.OnPublish(p, *s.Publish, []byte(s.Body), !s.Unreliable)
	got := [...]string{policy.Allow: "allow", policy.Drop: "drop", policy.Replace: "replace"}[d.Verdict]
	return compare(fmt.Sprintf("publish %s", *s.Publish), s, got, d.Reason, d.Body)
}

func compare(what string, s *step, got, reason string, body []byte) error {
	describe := func() string {
		switch {
		case got == "replace":
			return fmt.Sprintf("replace with %q", body)
		case reason != "":
			return fmt.Sprintf("%s (%q)", got, reason)
		}
		return got
	}
	if got != s.Expect {
		return fmt.Errorf("%s: got %s, want %s", what, describe(), s.Expect)
	}
	if s.Reason != nil && reason != *s.Reason {
		return fmt.Errorf("%s: got reason %q, want %q", what, reason, *s.Reason)
	}
	if s.WantBody != nil && string(body) != *s.WantBody {
		return fmt.Errorf("%s: got body %q, want %q", what, body, *s.WantBody)
	}
	return nil
}

// Declaration is what a script declares, as `brokerctl script check` shows.
type Declaration struct {
	Topics  []string
	Hooks   []string
	Failure string // "closed" or "open"
	Timeout time.Duration
}

// Check compiles the script at path and runs its top level in the sandbox,
// as a reload would. A failure is a *LoadError with the file and line.
func Check(path string) (Declaration, error) {
	src, err := readScript(path)
	if err != nil {
		return Declaration{}, &LoadError{File: path, Msg: err.Error()}
	}
	h, err := newHost(Options{Dir: filepath.Dir(path), NoWatch: true})
	if err != nil {
		return Declaration{}, err
	}
	s, err := compileScript(h, path, src, newStore())
	if err != nil {
		return Declaration{}, loadError(path, filepath.Base(path), err)
	}
	defer s.retire()
	return Declaration{Topics: patternTexts(s.patterns), Hooks: s.hookList(), Failure: s.failureMode(), Timeout: s.timeout}, nil
}
