package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
)

// member is one client incarnation: receiver r, publishing as the sender
// of the slot it holds.
type member struct {
	r   int
	gen uint64 // how many clients held the slot before this one
	c   *client.Client
	// stopped makes the client stop reading (a slow consumer): its
	// OnMessage waits for release, so SCTP back-pressures the server.
	stopped     atomic.Bool
	release     chan struct{}
	releaseOnce sync.Once
}

func (m *member) unblock() { m.releaseOnce.Do(func() { close(m.release) }) }

// laterClients are the clients that joined during the load, and the
// receiver numbers still free for them.
type laterClients struct {
	mu      sync.Mutex
	next    int // the next receiver number
	clients []*client.Client
	members []*member
}

func (l *laterClients) add(m *member) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clients = append(l.clients, m.c)
	l.members = append(l.members, m)
}

func (l *laterClients) all() []*client.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*client.Client(nil), l.clients...)
}

// receiver hands out the next receiver number; false when none is left.
func (l *laterClients) receiver(limit int) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next >= limit {
		return 0, false
	}
	l.next++
	return l.next - 1, true
}

// churnCapacity is how many receivers the joiners of a run may need: one a
// second per churned client for warm-up and window, with a margin.
func (cfg Config) churnCapacity() int {
	if cfg.Churn <= 0 {
		return 0
	}
	secs := math.Ceil((cfg.Warmup + cfg.Duration).Seconds())
	return cfg.Churn * (int(secs) + 5)
}

func (cfg Config) checkExtras() error {
	switch {
	case cfg.Churn < 0:
		return fmt.Errorf("churn %d: must not be negative", cfg.Churn)
	case cfg.Slow < 0 || cfg.Slow >= cfg.Clients && cfg.Slow > 0:
		return fmt.Errorf("slow %d: between 0 and clients-1 (%d)", cfg.Slow, cfg.Clients-1)
	case cfg.Churn+cfg.Slow >= cfg.Clients && cfg.Churn > 0:
		return fmt.Errorf("churn %d and slow %d: together fewer than the %d clients", cfg.Churn, cfg.Slow, cfg.Clients)
	case len(cfg.MetricsURLs) > 0 && len(cfg.MetricsURLs) != len(cfg.PIDs):
		return fmt.Errorf("%d metrics URLs for %d PIDs: give one per PID, in order", len(cfg.MetricsURLs), len(cfg.PIDs))
	case (cfg.Churn > 0 || cfg.Slow > 0) && (cfg.Scenario == JoinStorm):
		return errors.New("churn and slow need a publishing scenario")
	}
	return nil
}

// dialMember dials receiver r for slot i, subscribes it to slot i's topic
// and opens its account.
func (e *engine) dialMember(ctx context.Context, i, r int, start time.Time) (*member, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	m := &member{r: r, release: make(chan struct{})}
	unbatched := i < e.cfg.Unbatched
	if k := e.rec.kinds.Load(); k != nil {
		k.legacy[r].Store(unbatched) // before its account opens (roster.join)
	}
	c, err := client.Dial(ctx, client.Config{
		DisableBatching: unbatched,
		CoordinatorURL:  e.cfg.CoordinatorURL,
		Query:           e.cfg.Query,
		Header:          e.cfg.Header,
		AuthBody:        e.cfg.AuthBody,
		WebRTC:          e.cfg.WebRTC,
		TLSConfig:       e.cfg.TLSConfig,
		Logger:          e.cfg.Logger,
		ConnectTimeout:  e.cfg.ConnectTimeout,
		OnMessage:       e.onMessage(m),
		OnError: func(se *client.ServerError) {
			e.cfg.Logger.Debug("server error", "client", i, "receiver", r, "err", se)
		},
		// A lost client is a finding of the run (counted as disconnected),
		// not something to paper over by reconnecting; a slow consumer's
		// cut is final.
		Reconnect: client.Reconnect{Disabled: true},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("client %d: %w", i, err)
	}
	dialed := time.Since(start)
	if err := c.Subscribe(ctx, e.plan.publish[i]); err != nil {
		_ = c.Close()
		return nil, 0, fmt.Errorf("client %d (alias %d): %w", i, c.Alias(), err)
	}
	m.c = c
	e.roster.join(r, e.plan.publish[i])
	return m, dialed, nil
}

// ChurnResult is what --churn did.
type ChurnResult struct {
	PerSec int `json:"per_sec"`
	// Left and Joined count the clients that left and the new ones that
	// subscribed; JoinFailures the joins that did not.
	Left         int      `json:"left"`
	Joined       int      `json:"joined"`
	JoinFailures int      `json:"join_failures"`
	JoinErrors   []string `json:"join_errors,omitempty"`
}

// churn replaces cfg.Churn clients each second until to or ctx ends: each
// leaves (leave, lingering until runCtx ends at most) and a new client
// dials into its slot. Slots are taken in turn, skipping those of slow
// consumers and those whose replacement is still dialling.
func (e *engine) churn(ctx, runCtx context.Context, to int64, res *ChurnResult, wg *sync.WaitGroup) {
	var mu sync.Mutex // guards res from the joiners
	t := time.NewTicker(time.Second)
	defer t.Stop()
	limit := len(e.rec.spans)
	next := 0
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		if e.rec.Now() >= to {
			return
		}
		for range e.cfg.Churn {
			i, m := e.nextChurnSlot(&next)
			if m == nil {
				break
			}
			r, ok := e.later.receiver(limit)
			if !ok {
				return // the receivers sized for this run are used up
			}
			e.leave(runCtx, i, m, wg, false)
			mu.Lock()
			res.Left++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				nm, _, err := e.dialMember(ctx, i, r, time.Now())
				if nm != nil {
					nm.gen = m.gen + 1
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil && ctx.Err() != nil {
					return // the window ended while it dialled
				}
				if err != nil {
					res.JoinFailures++
					if len(res.JoinErrors) < 5 {
						res.JoinErrors = append(res.JoinErrors, err.Error())
					}
					return
				}
				res.Joined++
				e.later.add(nm)
				e.slots[i].Store(nm)
			}()
		}
	}
}

// nextChurnSlot returns the next slot, from *next on, that has a member
// that is not a slow consumer.
func (e *engine) nextChurnSlot(next *int) (int, *member) {
	n := len(e.slots)
	for range n {
		i := *next % n
		*next++
		if i >= n-e.cfg.Slow { // the slow consumers' slots (see slowDown)
			continue
		}
		if m := e.slots[i].Load(); m != nil {
			return i, m
		}
	}
	return 0, nil
}

// leave takes member m out of slot i: its account closes now, so nothing
// sent from now on is owed to it, and after cfg.Drain (for what was sent
// before to arrive) it closes, or with stopReading, stops reading instead.
func (e *engine) leave(ctx context.Context, i int, m *member, wg *sync.WaitGroup, stopReading bool) {
	e.slots[i].CompareAndSwap(m, nil)
	e.roster.leave(m.r, e.plan.publish[i])
	wg.Add(1)
	go func() {
		defer wg.Done()
		linger := time.NewTimer(e.cfg.Drain)
		defer linger.Stop()
		select {
		case <-linger.C:
		case <-ctx.Done():
		}
		if stopReading {
			m.stopped.Store(true)
			return
		}
		_ = m.c.Close()
	}()
}

// releaseAll lets every stopped reader go, so that Close can end its read
// loops.
func (e *engine) releaseAll() {
	for i := range e.slots {
		if m := e.slots[i].Load(); m != nil {
			m.unblock()
		}
	}
	for _, m := range e.slowMembers {
		m.unblock()
	}
}
