package main

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// burn keeps a CPU busy in this package's code for d.
func burn(d time.Duration) int {
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range 10000 {
			x += i % 7
		}
	}
	return x
}

// A real CPU profile of this test's own busy loop: its time lands in the
// broker-code row, and the rows add up to the profile's total.
func TestProfileSharesOfARealProfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	if burn(400*time.Millisecond) < 0 { // kept, so the loop is not optimised away
		t.Fatal("burn overflowed")
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	shares, total, _, err := profileShares(path)
	if err != nil {
		t.Fatal(err)
	}
	if total <= 0 {
		t.Fatal("no CPU samples in 400ms of busy loop")
	}
	var sum, ours float64
	for _, s := range shares {
		sum += s.seconds
		if strings.HasPrefix(s.name, "broker code") {
			ours = s.seconds
		}
	}
	if d := sum - total; d > 1e-9 || d < -1e-9 {
		t.Fatalf("rows add up to %v s, total is %v s", sum, total)
	}
	if ours < total/2 {
		t.Fatalf("busy loop got %v of %v s: want most of it in the broker-code row", ours, total)
	}

	var b strings.Builder
	writeProfileSection(&b, dir, "x")
	if !strings.Contains(b.String(), "| broker code (relay, queues, writers) |") {
		t.Fatalf("section lacks the broker-code row:\n%s", b.String())
	}
}

func TestProfileSharesRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.cpu.pprof")
	if err := os.WriteFile(path, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := profileShares(path); err == nil {
		t.Fatal("garbage parsed as a profile")
	}
}
