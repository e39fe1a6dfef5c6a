package luahost

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/topicpattern"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

const (
	defaultTimeout = 5 * time.Millisecond
	maxTimeout     = time.Second
	maxScriptBytes = 1 << 20
)

// hook names one of the functions a script may define.
type hook uint8

const (
	hookSubscribe hook = iota
	hookPublish
	hookConnect
	hookDisconnect
	numHooks
)

var hookNames = [numHooks]string{"on_subscribe", "on_publish", "on_connect", "on_disconnect"}

// script is one compiled version of one file. It is immutable once built
// (its pool, store, metrics and failure log are safe for concurrent use); a
// reload that changes the file builds a new script and retires this one.
type script struct {
	host     *Host
	name     string // the file's base name, also the Lua chunk name
	path     string
	src      []byte // to tell an edited file from a touched one
	proto    *lua.FunctionProto
	patterns []topicpattern.Pattern
	failOpen bool
	timeout  time.Duration
	hooks    [numHooks]bool

	store *store // shared with the other versions of this file name
	pool  *pool
	m     scriptMetrics
	fails failureLog
	brk   breaker
}

// compileScript compiles src once, runs its top level in a first sandboxed
// state to read the declaration, and keeps that state as the first of the
// pool. Any error is a *LoadError naming the file and, when known, the line.
func compileScript(h *Host, path string, src []byte, st *store) (*script, error) {
	name := filepath.Base(path)
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		le := loadError(path, name, err)
		if le.Line == 0 {
			// gopher-lua has no position for an error at the end of the
			// file; the last line is where an editor should go.
			le.Line = bytes.Count(src, []byte{'\n'})
			if len(src) > 0 && src[len(src)-1] != '\n' {
				le.Line++
			}
		}
		return nil, le
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, loadError(path, name, err)
	}
	s := &script{host: h, name: name, path: path, src: src, proto: proto, store: st, timeout: h.defaultTimeout}
	first, err := s.newState()
	if err != nil {
		return nil, err
	}
	if err := s.declare(first); err != nil {
		first.close()
		return nil, &LoadError{File: path, Msg: err.Error()}
	}
	s.pool = newPool(h.poolSize, s.newState)
	s.pool.add(first)
	// Fill the pool now, on the load path, rather than in the publishers'
	// read loops: making a state runs the script's top level (milliseconds),
	// and callers that wait on it past their time-out would fail closed.
	// Measured under dense load: "all Lua states busy" drops in the first
	// second without this, none with it.
	for i := 1; i < h.poolSize; i++ {
		st, ok, err := s.pool.reserve()
		if !ok || err != nil {
			break // the pool still makes states on demand
		}
		s.pool.put(st)
	}
	s.m = h.metrics.forScript(name, s.hooks)
	return s, nil
}

// newState makes one sandboxed state of s and runs the script's top level in
// it, which defines the hooks.
func (s *script) newState() (*lstate, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    callStackSize,
		RegistrySize:     registrySize,
		RegistryMaxSize:  registryMaxSize,
		RegistryGrowStep: registryGrowStep,
	})
	openSandbox(L, s)
	st := newLState(L, s.host.memEpoch())
	L.Push(L.NewFunctionFromProto(s.proto))
	expired, err := st.run(0, 0, loadTimeout, time.Now())
	if err == nil && !expired {
		// Whatever the top level keeps is copied into every pooled state.
		if merr := st.checkMemory(false); merr != nil {
			st.dl.cause, err = merr, merr
		}
	}
	if err != nil || expired {
		st.close()
		if st.dl.cause != nil {
			s.host.metrics.memory.WithLabelValues(s.name, "top_level").Inc()
			le := loadError(s.path, s.name, err)
			le.Msg = "top level: " + st.dl.cause.Error()
			return nil, le
		}
		if expired {
			return nil, &LoadError{File: s.path, Msg: fmt.Sprintf("top level ran over %v", loadTimeout)}
		}
		return nil, loadError(s.path, s.name, err)
	}
	for h, slot := range []*lua.LValue{&st.onSubscribe, &st.onPublish, &st.onConnect, &st.onDisconnect} {
		v := L.GetGlobal(hookNames[h])
		switch v.(type) {
		case *lua.LFunction, *lua.LNilType:
			*slot = v
		default:
			st.close()
			return nil, &LoadError{File: s.path, Msg: fmt.Sprintf("%s must be a function, not a %s", hookNames[h], v.Type())}
		}
	}
	return st, nil
}

// declare reads the global `policy` table the top level left in st:
//
//	policy = { topics = {"chat.**"}, failure = "closed", timeout_ms = 5 }
//
// and which hooks exist. Unknown keys are errors, so a typo does not silently
// leave a default in force.
func (s *script) declare(st *lstate) error {
	t, ok := st.L.GetGlobal("policy").(*lua.LTable)
	if !ok {
		return fmt.Errorf(`no policy declaration: set policy = { topics = {"chat.*"} } at top level`)
	}
	var err error
	seenTopics := false
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		switch key := k.String(); key {
		case "topics":
			seenTopics = true
			err = s.declareTopics(v)
		case "failure":
			switch v.String() {
			case "closed":
				s.failOpen = false
			case "open":
				s.failOpen = true
			default:
				err = fmt.Errorf(`policy.failure must be "closed" or "open", not %q`, v.String())
			}
		case "timeout_ms":
			n, ok := v.(lua.LNumber)
			ms := float64(n)
			if !ok || math.IsNaN(ms) || ms <= 0 || time.Duration(ms*float64(time.Millisecond)) > maxTimeout {
				err = fmt.Errorf("policy.timeout_ms must be a number in (0, %d]", maxTimeout.Milliseconds())
				return
			}
			s.timeout = time.Duration(ms * float64(time.Millisecond))
		default:
			err = fmt.Errorf("policy has an unknown key %q (known: topics, failure, timeout_ms)", key)
		}
	})
	if err != nil {
		return err
	}
	if !seenTopics {
		return fmt.Errorf("policy.topics is missing: the list of topic patterns the script governs")
	}
	for h, v := range []lua.LValue{st.onSubscribe, st.onPublish, st.onConnect, st.onDisconnect} {
		s.hooks[h] = v != lua.LNil
	}
	if s.hooks == [numHooks]bool{} {
		return fmt.Errorf("defines none of the hooks %s", strings.Join(hookNames[:], ", "))
	}
	return nil
}

func (s *script) declareTopics(v lua.LValue) error {
	t, ok := v.(*lua.LTable)
	if !ok || t.Len() == 0 {
		return fmt.Errorf(`policy.topics must be a non-empty list of patterns, e.g. {"chat.*"}`)
	}
	for i := 1; i <= t.Len(); i++ {
		str, ok := t.RawGetInt(i).(lua.LString)
		if !ok {
			return fmt.Errorf("policy.topics[%d] must be a string", i)
		}
		p, err := topicpattern.Parse(string(str))
		if err != nil {
			return fmt.Errorf("policy.topics[%d]: %w", i, err)
		}
		s.patterns = append(s.patterns, p)
	}
	return nil
}

func (s *script) governs(topic string) bool {
	for i := range s.patterns {
		if s.patterns[i].Match(topic) {
			return true
		}
	}
	return false
}

func (s *script) failureMode() string {
	if s.failOpen {
		return "open"
	}
	return "closed"
}

// retire is called once a reload has swapped in a snapshot without this
// version. Calls in flight finish on it.
func (s *script) retire() { s.pool.drain() }
