package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// labNamespaces lists the namespaces whose names start with id.
func labNamespaces(t *testing.T, id string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), id) {
			names = append(names, e.Name())
		}
	}
	return names
}

// failingT is a testing.TB whose Fatal ends only the goroutine it runs on
// and whose cleanups the test runs itself, so a lab can be seen failing.
type failingT struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (f *failingT) Helper() {}
func (f *failingT) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}
func (f *failingT) Logf(string, ...any)   {}
func (f *failingT) Errorf(string, ...any) { f.mu.Lock(); f.failed = true; f.mu.Unlock() }
func (f *failingT) Fatal(args ...any)     { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *failingT) Fatalf(string, ...any) {
	f.mu.Lock()
	f.failed = true
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *failingT) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestLabRemovedAfterFailure: a test that fails midway, with a host cut off
// and a process running in it, still leaves no namespace behind.
func TestLabRemovedAfterFailure(t *testing.T) {
	ft := &failingT{TB: t}
	var id string
	done := make(chan struct{})
	go func() {
		defer close(done)
		lab := New(ft)
		id = lab.id
		h := lab.Host("a")
		lab.Host("b")
		lab.Partition(h)
		h.Start(ft, "sleep", "60")
		ft.Fatal("the test fails here")
	}()
	<-done
	if !ft.failed {
		t.Fatal("the fake test did not fail")
	}
	if got := labNamespaces(t, id); len(got) != 3 {
		t.Fatalf("before cleanup: namespaces %v, want the bridge and two hosts", got)
	}
	ft.runCleanups()
	if got := labNamespaces(t, id); len(got) != 0 {
		t.Fatalf("after cleanup: namespaces left: %v", got)
	}
}

// TestLabSweepsStale: New removes the namespaces of a lab whose process is
// gone, and leaves a live process's alone.
func TestLabSweepsStale(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-00000000-br", prefix, dead.Process.Pid)
	live := fmt.Sprintf("%s%d-00000000-br", prefix, os.Getpid())
	for _, ns := range []string{stale, live} {
		if err := ip("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = ip("netns", "del", live) })
	New(t)
	if got := labNamespaces(t, stale); len(got) != 0 {
		t.Errorf("stale namespace %s not removed", stale)
	}
	if got := labNamespaces(t, live); len(got) != 1 {
		t.Errorf("a live process's namespace %s was removed", live)
	}
}
