// Package routines tracks the goroutines a server starts so that shutdown
// waits for every one of them: the communication server's loops and the
// coordinator's request handlers (http.Server.Shutdown does not wait for
// hijacked WebSocket connections).
package routines

import "sync"

// Group counts running goroutines and waits for them at shutdown. mu orders
// every wg.Add before the Wait: once StopAndWait has begun, nothing joins.
// The zero Group is ready to use.
type Group struct {
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// Go runs f on a new goroutine, unless StopAndWait has begun; it reports
// whether f was started.
func (g *Group) Go(f func()) bool {
	if !g.Enter() {
		return false
	}
	go func() {
		defer g.Leave()
		f()
	}()
	return true
}

// Enter counts the calling goroutine (one the Group did not start, such as
// an HTTP handler) until it calls Leave, unless StopAndWait has begun; it
// reports whether it was counted. Call Leave only after a true Enter.
func (g *Group) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	return true
}

// Leave ends what a successful Enter began.
func (g *Group) Leave() { g.wg.Done() }

// StopAndWait refuses new goroutines and waits for the running ones.
func (g *Group) StopAndWait() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}
