package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM at cleanup
// before it is killed.
const stopGrace = 5 * time.Second

// Proc is a process running in a host. Its stdout and stderr go to the test
// log line by line, prefixed with the host's name, and are kept so a test can
// wait for a line.
type Proc struct {
	host  *Host
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	cond   *sync.Cond // signalled on every line and on exit
	lines  []string
	exited bool
	err    error // Wait's result, once exited

	readers sync.WaitGroup
	waited  chan struct{}
	// quiet, when it accepts a line, keeps it out of the test log (chatty
	// JSON events the test reads anyway).
	quiet func(string) bool
}

// Start runs bin with args inside the host (ip netns exec) and stops it at
// t's cleanup: SIGTERM, then SIGKILL after a grace period.
func (h *Host) Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return h.start(t, nil, bin, args...)
}

func (h *Host) start(t testing.TB, quiet func(string) bool, bin string, args ...string) *Proc {
	t.Helper()
	name := bin[strings.LastIndexByte(bin, '/')+1:]
	p := &Proc{host: h, name: name, waited: make(chan struct{}), quiet: quiet}
	p.cond = sync.NewCond(&p.mu)
	// ip netns exec execs bin after entering the namespace, so the child is
	// bin itself and signals reach it directly.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", h.ns, bin}, args...)...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("netlab: %s: %v", name, err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatalf("netlab: %s: %v", name, err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("netlab: %s: %v", name, err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("netlab: start %s in %s: %v", name, h.name, err)
	}
	p.readers.Add(2)
	go p.read(t, stdout)
	go p.read(t, stderr)
	go func() {
		p.readers.Wait() // Wait closes the pipes: read them to the end first
		err := p.cmd.Wait()
		p.mu.Lock()
		p.exited, p.err = true, err
		p.cond.Broadcast()
		p.mu.Unlock()
		close(p.waited)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *Proc) read(t testing.TB, r io.Reader) {
	defer p.readers.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if p.quiet == nil || !p.quiet(line) {
			t.Logf("[%s %s] %s", p.host.name, p.name, line)
		}
		p.mu.Lock()
		p.lines = append(p.lines, line)
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// stop ends the process and waits for its output to be read, so no log call
// comes after the test.
func (p *Proc) stop() {
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.waited
	}
}

// Terminate sends SIGTERM, as an init system stopping a service does, and
// returns at once; WaitExit waits for the exit.
func (p *Proc) Terminate() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("%s in %s: SIGTERM: %w", p.name, p.host.name, err)
	}
	return nil
}

// WaitExit waits up to timeout for the process to exit and returns how it
// exited (nil: status 0).
func (p *Proc) WaitExit(timeout time.Duration) error {
	select {
	case <-p.waited:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s in %s: %w after %s", p.name, p.host.name, errTimeout, timeout)
	}
}

// Kill kills the process (SIGKILL) and waits for it to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.waited
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Send writes one line to the process's stdin.
func (p *Proc) Send(line string) error {
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return fmt.Errorf("%s in %s: stdin: %w", p.name, p.host.name, err)
	}
	return nil
}

// Len is the number of output lines so far: pass it as from to Wait for a
// line that comes after now.
func (p *Proc) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// linesFrom returns a copy of the output lines from index from on.
func (p *Proc) linesFrom(from int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if from >= len(p.lines) {
		return nil
	}
	return append([]string(nil), p.lines[from:]...)
}

// errTimeout and errExited are what Await reports when no line matched.
var (
	errTimeout = errors.New("timed out")
	errExited  = errors.New("process exited")
)

// Await returns the first output line from index from on that match
// accepts, and the index after it. It fails with errTimeout after timeout,
// or errExited when the process ended without such a line.
func (p *Proc) Await(from int, timeout time.Duration, match func(string) bool) (string, int, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; ; {
		for ; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				return p.lines[i], i + 1, nil
			}
		}
		switch {
		case p.exited:
			return "", i, fmt.Errorf("%s in %s: %w (%v)", p.name, p.host.name, errExited, p.err)
		case !time.Now().Before(deadline):
			return "", i, fmt.Errorf("%s in %s: %w after %s", p.name, p.host.name, errTimeout, timeout)
		}
		p.cond.Wait()
	}
}

// WaitLine is Await that fails the test, for a line containing substr.
func (p *Proc) WaitLine(t testing.TB, from int, timeout time.Duration, substr string) (string, int) {
	t.Helper()
	line, next, err := p.Await(from, timeout, func(l string) bool { return strings.Contains(l, substr) })
	if err != nil {
		t.Fatalf("waiting for %q: %v", substr, err)
	}
	return line, next
}
