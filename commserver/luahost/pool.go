package luahost

import (
	"context"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Bounds of every Lua state. A script that recurses or builds values past
// them gets a Lua error, which its failure mode handles.
const (
	callStackSize   = 200
	registrySize    = 4 << 10
	registryMaxSize = 64 << 10
	// registryGrowStep: gopher-lua's default step (32 slots) makes growing
	// to the cap quadratic, seconds of copying inside one uninterruptible
	// unpack(); 4096 makes it a dozen copies.
	registryGrowStep = 4 << 10
)

// loadTimeout bounds a script's top level, run once per state. A variable
// only so that a test of another limit (memory) can take CPU speed out of
// the race between the two.
var loadTimeout = time.Second

// lstate is one Lua state of a script with the hooks its top level defined.
// It is used by one goroutine at a time: whoever took it from the pool.
type lstate struct {
	L            *lua.LState
	onSubscribe  lua.LValue // *lua.LFunction or LNil
	onPublish    lua.LValue
	onConnect    lua.LValue
	onDisconnect lua.LValue

	dl    deadline
	mem   memBudget
	trial bool // this call is the breaker's half-open trial
}

// newLState wraps L, whose calls will be measured against the memory
// budget; watch is the host's memWatch epoch, nil when none runs.
func newLState(L *lua.LState, watch *atomic.Uint64) *lstate {
	st := &lstate{L: L}
	st.dl.init(st)
	st.mem.watch = watch
	st.mem.trigger, st.mem.epochs = memCheckEvery, 1
	if watch != nil {
		st.mem.seen = watch.Load()
	}
	return st
}

// deadline is the context a state runs every call under. A fresh
// context.WithTimeout per call would cost several allocations; instead each
// state owns one done channel and one reusable timer that closes it. Once it
// has fired the state is discarded, so the channel never needs reopening.
//
// gopher-lua asks Done before every instruction, which makes it the one
// place a running call can be measured: when the state's memory check is
// due, Done runs it, and a state over budget gets its channel closed like a
// time-out, with cause saying why.
type deadline struct {
	done  chan struct{}
	fired atomic.Bool
	at    time.Time // set by arm, read only by the goroutine that armed it
	timer *time.Timer
	st    *lstate
	cause error // set (before fired) by the goroutine running the call
}

var _ context.Context = (*deadline)(nil)

func (d *deadline) init(st *lstate) {
	d.st = st
	d.done = make(chan struct{})
	d.timer = time.AfterFunc(time.Hour, d.expire)
	d.timer.Stop()
}

func (d *deadline) expire() {
	if d.fired.CompareAndSwap(false, true) {
		close(d.done)
	}
}

func (d *deadline) Deadline() (time.Time, bool) { return d.at, true }
func (d *deadline) Value(any) any               { return nil }

func (d *deadline) Done() <-chan struct{} {
	m := &d.st.mem
	m.growth += bytesPerInstruction
	if m.due() && !d.fired.Load() {
		if err := d.st.checkMemory(true); err != nil {
			d.cause = err
			d.expire()
		}
	}
	return d.done
}

func (d *deadline) Err() error {
	if d.cause != nil {
		return d.cause
	}
	if d.fired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// run calls fn (already pushed with its nargs arguments) under a deadline of
// timeout. It reports whether the deadline fired: then the state must not be
// reused, even if the call finished, because its done channel is closed or
// about to be. A state over its memory budget, during the call or after it,
// counts as fired, with st.dl.cause set.
func (st *lstate) run(nargs, nret int, timeout time.Duration, start time.Time) (expired bool, err error) {
	st.dl.at = start.Add(timeout)
	st.dl.timer.Reset(timeout)
	st.L.SetContext(&st.dl)
	err = st.L.PCall(nargs, nret, nil)
	st.L.RemoveContext()
	// Stop reports false when the timer already started expire: the state is
	// then (or is about to be) cancelled, whatever the call's outcome.
	if !st.dl.timer.Stop() || st.dl.fired.Load() {
		return true, err
	}
	// The last instructions (or a Go function) may have grown it unseen.
	if st.mem.due() {
		if merr := st.checkMemory(false); merr != nil {
			st.dl.cause = merr
			st.dl.expire()
			return true, merr
		}
	}
	return false, err
}

func (st *lstate) close() {
	st.dl.timer.Stop()
	st.L.Close()
}

// pool holds at most max states of one script. None is created per message:
// states are made on demand up to max and then reused; a caller that finds
// all busy waits for one up to its time-out.
type pool struct {
	free chan *lstate
	room chan struct{} // a discard tells one waiter it may make a state
	live atomic.Int32  // states in existence, free or busy
	max  int32
	make func() (*lstate, error)
}

func newPool(size int, mk func() (*lstate, error)) *pool {
	return &pool{free: make(chan *lstate, size), room: make(chan struct{}, 1), max: int32(size), make: mk}
}

// reserve makes a new state if the pool has room for one; ok is false when
// it is full.
func (p *pool) reserve() (st *lstate, ok bool, err error) {
	if p.live.Add(1) > p.max {
		p.live.Add(-1)
		return nil, false, nil
	}
	st, err = p.make()
	if err != nil {
		p.live.Add(-1)
		return nil, true, err
	}
	return st, true, nil
}

func (p *pool) get(timeout time.Duration) (*lstate, error) {
	select {
	case st := <-p.free:
		return st, nil
	default:
	}
	if st, ok, err := p.reserve(); ok {
		return st, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case st := <-p.free:
			return st, nil
		case <-p.room:
			if st, ok, err := p.reserve(); ok {
				return st, err
			}
		case <-t.C:
			return nil, errBusy
		}
	}
}

// add puts a state made outside get (the one that validated the script) into
// the pool.
func (p *pool) add(st *lstate) {
	p.live.Add(1)
	p.put(st)
}

func (p *pool) put(st *lstate) {
	select {
	case p.free <- st:
	default:
		p.discard(st)
	}
}

// discard drops a state that timed out (or is surplus); a new one will be
// made on demand.
func (p *pool) discard(st *lstate) {
	p.live.Add(-1)
	st.close()
	select {
	case p.room <- struct{}{}:
	default:
	}
}

// drain closes the idle states of a script that a reload retired. States
// busy in calls still in flight come back through put and are garbage once
// the retired script is unreachable.
func (p *pool) drain() {
	for {
		select {
		case st := <-p.free:
			p.discard(st)
		default:
			return
		}
	}
}
