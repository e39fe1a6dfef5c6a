package luahost

import (
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// failureReason is what a client is told when a script failed closed; the
// details stay in the server log.
const failureReason = "policy failure"

// Role names as hooks see them, boxed once.
var (
	roleClient  lua.LValue = lua.LString("client")
	roleServer  lua.LValue = lua.LString("server")
	roleHub     lua.LValue = lua.LString("hub")
	roleUnknown lua.LValue = lua.LString("unknown")
	emptyString lua.LValue = lua.LString("")
)

func roleValue(r protocol.Role) lua.LValue {
	switch r {
	case protocol.Role_CLIENT:
		return roleClient
	case protocol.Role_COMMUNICATION_SERVER:
		return roleServer
	case protocol.Role_COMMUNICATION_SERVER_HUB:
		return roleHub
	}
	return roleUnknown
}

// peerArgs are the peer's hook arguments, boxed once per message and shared
// by every script in the chain.
type peerArgs struct {
	alias, identity, role lua.LValue
}

func newPeerArgs(p policy.Peer) peerArgs {
	a := peerArgs{alias: lua.LNumber(p.Alias), identity: emptyString, role: roleValue(p.Role)}
	if len(p.Identity) > 0 {
		a.identity = lua.LString(p.Identity)
	}
	return a
}

// begin takes a state for a call of hook h and returns it with the hook's
// function; the caller pushes the function and arguments and calls finish.
func (s *script) begin(h hook) (*lstate, lua.LValue, error) {
	trial, ok := s.brk.admit(s.host.clock)
	if !ok {
		return nil, nil, errTripped
	}
	st, err := s.pool.get(s.timeout)
	if err != nil {
		if trial {
			s.brk.abandonTrial()
		}
		return nil, nil, err
	}
	st.trial = trial
	fn := [numHooks]lua.LValue{st.onSubscribe, st.onPublish, st.onConnect, st.onDisconnect}[h]
	if fn == lua.LNil {
		// Top level defined the hook in the first state but not in this one.
		s.pool.put(st)
		return nil, nil, fmt.Errorf("%s is not defined in this state", hookNames[h])
	}
	return st, fn, nil
}

// finish runs the pushed call and classifies a failure. The state stays
// taken: the caller reads any results, then calls release.
func (s *script) finish(st *lstate, nargs, nret int, start time.Time) (expired bool, o outcome, err error) {
	expired, err = st.run(nargs, nret, s.timeout, start)
	s.brk.record(s, st.dl.cause != nil || (err != nil && expired), st.trial)
	st.trial = false
	switch {
	case st.dl.cause != nil:
		return true, outMemory, st.dl.cause
	case err != nil && expired:
		return true, outTimeout, fmt.Errorf("%w after %v: %v", errTimeout, s.timeout, err)
	case err != nil:
		return expired, outError, err
	}
	// A call that finished right at the deadline stands; its state goes.
	return expired, outAllow, nil
}

// release hands st back to the pool, or discards it when its deadline fired.
func (s *script) release(st *lstate, expired bool) {
	if expired {
		s.pool.discard(st)
		return
	}
	s.pool.put(st)
}

// failed counts and logs a failure and says whether the failure mode allows.
func (s *script) failed(h hook, o outcome, start time.Time, err error) bool {
	s.m.calls[h][o].Inc()
	if o == outMemory {
		s.m.memory[h].Inc()
	}
	s.m.duration[h].Observe(time.Since(start).Seconds())
	s.logFailure(h, o, err)
	return s.failOpen
}

// publish runs on_publish(topic, body, alias, identity, role, reliable),
// which returns nil/true/"allow", false/"drop" [, reason], "replace", body,
// or "conflate" (allow, latest-wins: conflate reports it).
func (s *script) publish(topic, body lua.LValue, pa *peerArgs, reliable bool) (v policy.Verdict, out lua.LValue, reason string, conflate bool) {
	start := time.Now()
	st, fn, err := s.begin(hookPublish)
	if err != nil {
		return s.failedPublish(outBusyOr(err), start, err)
	}
	L := st.L
	L.Push(fn)
	L.Push(topic)
	L.Push(body)
	L.Push(pa.alias)
	L.Push(pa.identity)
	L.Push(pa.role)
	L.Push(lua.LBool(reliable))
	expired, o, err := s.finish(st, 6, 2, start)
	if err != nil {
		s.release(st, expired)
		return s.failedPublish(o, start, err)
	}
	r1, r2 := L.Get(-2), L.Get(-1)
	L.Pop(2)
	s.release(st, expired)
	conflate = r1 == lua.LString("conflate")
	if conflate {
		r1 = lua.LString("allow")
	}
	v, out, reason, err = publishVerdict(r1, r2)
	if err != nil {
		return s.failedPublish(outError, start, err)
	}
	s.m.calls[hookPublish][verdictOutcomes[v]].Inc()
	s.m.duration[hookPublish].Observe(time.Since(start).Seconds())
	return v, out, reason, conflate
}

func (s *script) failedPublish(o outcome, start time.Time, err error) (policy.Verdict, lua.LValue, string, bool) {
	if s.failed(hookPublish, o, start, err) {
		return policy.Allow, nil, "", false
	}
	return policy.Drop, nil, failureReason, false
}

var verdictOutcomes = [...]outcome{policy.Allow: outAllow, policy.Drop: outDrop, policy.Replace: outReplace}

// outBusyOr classifies a failure to start a call: breaker open, all states
// busy, or a new state whose top level failed.
func outBusyOr(err error) outcome {
	switch {
	case errors.Is(err, errTripped):
		return outTripped
	case errors.Is(err, errBusy):
		return outBusy
	}
	return outError
}

func publishVerdict(r1, r2 lua.LValue) (policy.Verdict, lua.LValue, string, error) {
	switch r1 {
	case lua.LNil, lua.LTrue:
		return policy.Allow, nil, "", nil
	case lua.LFalse:
		return policy.Drop, nil, reasonOr(r2, "dropped by policy"), nil
	}
	if str, ok := r1.(lua.LString); ok {
		switch str {
		case "allow":
			return policy.Allow, nil, "", nil
		case "drop":
			return policy.Drop, nil, reasonOr(r2, "dropped by policy"), nil
		case "replace":
			if _, ok := r2.(lua.LString); ok {
				return policy.Replace, r2, "", nil
			}
			return 0, nil, "", fmt.Errorf(`%w: "replace" needs the new body (a string) as second value, got %s`, errBadReturn, r2.Type())
		}
	}
	return 0, nil, "", fmt.Errorf(`%w: on_publish returned %q; want "allow", "drop", "replace" or "conflate"`, errBadReturn, r1.String())
}

func reasonOr(v lua.LValue, def string) string {
	if str, ok := v.(lua.LString); ok && str != "" {
		return string(str)
	}
	return def
}

// subscribe runs on_subscribe(topic, alias, identity, role), which returns
// nil/true/"allow" or false/"deny" [, reason].
func (s *script) subscribe(topic lua.LValue, pa *peerArgs) (bool, string) {
	start := time.Now()
	st, fn, err := s.begin(hookSubscribe)
	if err != nil {
		return s.failedSubscribe(outBusyOr(err), start, err)
	}
	L := st.L
	L.Push(fn)
	L.Push(topic)
	L.Push(pa.alias)
	L.Push(pa.identity)
	L.Push(pa.role)
	expired, o, err := s.finish(st, 4, 2, start)
	if err != nil {
		s.release(st, expired)
		return s.failedSubscribe(o, start, err)
	}
	r1, r2 := L.Get(-2), L.Get(-1)
	L.Pop(2)
	s.release(st, expired)
	var allow bool
	switch {
	case r1 == lua.LNil || r1 == lua.LTrue || r1 == lua.LString("allow"):
		allow = true
	case r1 == lua.LFalse || r1 == lua.LString("deny"):
	default:
		return s.failedSubscribe(outError, start, fmt.Errorf(`%w: on_subscribe returned %q; want "allow" or "deny"`, errBadReturn, r1.String()))
	}
	s.m.duration[hookSubscribe].Observe(time.Since(start).Seconds())
	if allow {
		s.m.calls[hookSubscribe][outAllow].Inc()
		return true, ""
	}
	s.m.calls[hookSubscribe][outDeny].Inc()
	return false, reasonOr(r2, "subscription denied by policy")
}

func (s *script) failedSubscribe(o outcome, start time.Time, err error) (bool, string) {
	if s.failed(hookSubscribe, o, start, err) {
		return true, ""
	}
	return false, failureReason
}

// notify runs on_connect or on_disconnect(alias, identity, role); there is no
// verdict, so a failure is only counted and logged.
func (s *script) notify(h hook, pa *peerArgs) {
	start := time.Now()
	st, fn, err := s.begin(h)
	if err != nil {
		s.failed(h, outBusyOr(err), start, err)
		return
	}
	L := st.L
	L.Push(fn)
	L.Push(pa.alias)
	L.Push(pa.identity)
	L.Push(pa.role)
	expired, o, err := s.finish(st, 3, 0, start)
	s.release(st, expired)
	if err != nil {
		s.failed(h, o, start, err)
		return
	}
	s.m.calls[h][outAllow].Inc()
	s.m.duration[h].Observe(time.Since(start).Seconds())
}
