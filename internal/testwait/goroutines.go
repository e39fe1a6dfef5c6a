package testwait

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Goroutines returns the stacks of the running goroutines with a line that
// contains one of marks (a function, "pkg.(*Type)", or a path such as
// "github.com/pion/"). The tests' own goroutines, those running a test
// function under testing.tRunner, are left out: they are still running by
// definition, and an internal test's name would match its package.
func Goroutines(marks ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var matched []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner(") {
			continue
		}
		for _, m := range marks {
			if strings.Contains(g, m) {
				matched = append(matched, g)
				break
			}
		}
	}
	return matched
}

// GoroutinesEnd waits until no goroutine matches marks (see Goroutines), and
// fails the test with the stacks of those still running after timeout. A
// leak check that matches stacks, unlike one that counts goroutines against
// a baseline, is not fooled by unrelated goroutines starting or ending
// meanwhile, and its failure names the culprits.
func GoroutinesEnd(t testing.TB, timeout time.Duration, what string, marks ...string) {
	t.Helper()
	var left []string
	ForReport(t, timeout, func() bool {
		left = Goroutines(marks...)
		return len(left) == 0
	}, func() string {
		return "for " + what + ": still running:\n\n" + strings.Join(left, "\n\n")
	})
}
