package testwait

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf ends only the goroutine that called
// it, so that a test can check that a helper fails, and how.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls f with r in a goroutine and returns the Fatalf message, if any.
func (r *recorder) run(f func(testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func TestFor(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	if msg := r.run(func(tb testing.TB) { For(tb, time.Second, "n to reach 3", func() bool { n++; return n == 3 }) }); msg != "" {
		t.Fatalf("For failed: %s", msg)
	}
	r = &recorder{TB: t}
	msg := r.run(func(tb testing.TB) { For(tb, 20*time.Millisecond, "the impossible", func() bool { return false }) })
	if !strings.Contains(msg, "the impossible") {
		t.Fatalf("For's failure %q does not say what it waited for", msg)
	}
}
