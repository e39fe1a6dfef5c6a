package testwait

import (
	"strings"
	"testing"
	"time"
)

// parkedForTest is a function name no other goroutine has in its stack.
func parkedForTest(stop <-chan struct{}, parked chan<- struct{}) {
	close(parked)
	<-stop
}

func TestGoroutinesMatchesStacks(t *testing.T) {
	stop, parked := make(chan struct{}), make(chan struct{})
	go parkedForTest(stop, parked)
	<-parked
	if g := Goroutines("testwait.parkedForTest"); len(g) != 1 || !strings.Contains(g[0], "parkedForTest") {
		t.Fatalf("Goroutines found %d stacks, want the one parked goroutine: %q", len(g), g)
	}
	close(stop)
	GoroutinesEnd(t, 10*time.Second, "the parked goroutine to end", "testwait.parkedForTest")
	// Once the goroutine it started is gone, nothing but the test itself
	// has the test's name in its stack, and the test does not count.
	if g := Goroutines("testwait.TestGoroutinesMatchesStacks"); len(g) != 0 {
		t.Fatalf("the test's own goroutine matched: %q", g)
	}
}

func TestGoroutinesEndReportsTheStacks(t *testing.T) {
	stop, parked := make(chan struct{}), make(chan struct{})
	defer close(stop)
	go parkedForTest(stop, parked)
	<-parked
	msg := (&recorder{TB: t}).run(func(tb testing.TB) {
		GoroutinesEnd(tb, 20*time.Millisecond, "the impossible", "testwait.parkedForTest")
	})
	if !strings.Contains(msg, "parkedForTest") || !strings.Contains(msg, "the impossible") {
		t.Fatalf("failure message %q names neither what was awaited nor the goroutine left", msg)
	}
}
