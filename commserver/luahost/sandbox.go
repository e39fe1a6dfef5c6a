package luahost

import (
	"context"
	"log/slog"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxRepBytes caps string.rep, the one standard function that turns a few
// bytes of script into gigabytes of memory inside a single Go call, where the
// time-out cannot cut it.
const maxRepBytes = 1 << 20

// removedGlobals are base-library functions a policy must not have: loading
// code (load*, dofile, require, module), reaching the collector or function
// environments, and gopher-lua's debugging aids.
var removedGlobals = []string{
	"dofile", "loadfile", "load", "loadstring", "require", "module",
	"collectgarbage", "getfenv", "setfenv", "newproxy", "_printregs",
}

// openSandbox opens the whitelisted libraries (base, table, string, math)
// into L, trims them, and installs the broker API of script s. Nothing else
// is reachable: no io, os, debug, package, coroutine or channel.
func openSandbox(L *lua.LState, s *script) {
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range removedGlobals {
		L.SetGlobal(name, lua.LNil)
	}
	if str, ok := L.GetGlobal(lua.StringLibName).(*lua.LTable); ok {
		str.RawSetString("dump", lua.LNil)
		str.RawSetString("rep", L.NewFunction(cappedRep))
	}
	if m, ok := L.GetGlobal(lua.MathLibName).(*lua.LTable); ok {
		// The generator is process-wide; one script must not reseed it.
		m.RawSetString("randomseed", lua.LNil)
	}
	L.SetGlobal("print", L.NewFunction(s.luaPrint))
	L.SetGlobal("broker", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"log":          s.luaLog,
		"now":          s.luaNow,
		"server_alias": s.luaServerAlias,
		"rate_limit":   s.luaRateLimit,
		"kv_get":       s.luaKVGet,
		"kv_set":       s.luaKVSet,
		"kv_incr":      s.luaKVIncr,
		"json_encode":  jsonEncode,
		"json_decode":  jsonDecode,
	}))
}

func cappedRep(L *lua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || str == "" {
		L.Push(lua.LString(""))
		return 1
	}
	if n > maxRepBytes/len(str) {
		L.ArgError(2, "result over 1 MiB")
	}
	addGrowth(L, n*len(str))
	L.Push(lua.LString(strings.Repeat(str, n)))
	return 1
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// luaLog is broker.log(level, msg).
func (s *script) luaLog(L *lua.LState) int {
	lvl, ok := logLevels[L.CheckString(1)]
	if !ok {
		L.ArgError(1, "level must be debug, info, warn or error")
	}
	s.host.log.Log(context.Background(), lvl, L.CheckString(2), "script", s.name)
	return 0
}

// luaPrint replaces print, which would write to the server's stdout, with a
// debug log line.
func (s *script) luaPrint(L *lua.LState) int {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	s.host.log.Debug(strings.Join(parts, "\t"), "script", s.name)
	return 0
}

// luaNow is broker.now(): milliseconds since the Unix epoch.
func (s *script) luaNow(L *lua.LState) int {
	L.Push(lua.LNumber(s.host.clock().UnixMilli()))
	return 1
}

func (s *script) luaServerAlias(L *lua.LState) int {
	var a uint64
	if s.host.opts.ServerAlias != nil {
		a = s.host.opts.ServerAlias()
	}
	L.Push(lua.LNumber(a))
	return 1
}

// luaRateLimit is broker.rate_limit(key, rate, burst) -> bool: a token bucket
// per key (a string or a number), refilled at rate tokens a second up to
// burst; true when a token was taken.
func (s *script) luaRateLimit(L *lua.LState) int {
	var key bucketKey
	switch k := L.Get(1).(type) {
	case lua.LString:
		key.s = string(k)
	case lua.LNumber:
		key.n, key.num = float64(k), true
	default:
		L.ArgError(1, "key must be a string or a number")
	}
	rate := float64(L.CheckNumber(2))
	burst := float64(L.CheckNumber(3))
	if !(rate >= 0) {
		L.ArgError(2, "rate must be >= 0")
	}
	if !(burst >= 1) {
		L.ArgError(3, "burst must be >= 1")
	}
	L.Push(lua.LBool(s.store.allow(key, rate, burst, s.host.clock())))
	return 1
}

// luaKVGet is broker.kv_get(key) -> value or nil.
func (s *script) luaKVGet(L *lua.LState) int {
	L.Push(s.store.get(L.CheckString(1)))
	return 1
}

// luaKVSet is broker.kv_set(key, value) -> true, or false and a message when
// the store is full. value is a string, number, boolean, or nil to delete.
func (s *script) luaKVSet(L *lua.LState) int {
	key := L.CheckString(1)
	v := L.Get(2)
	switch v := v.(type) {
	case *lua.LNilType, lua.LNumber, lua.LBool:
	case lua.LString:
		if len(v) > maxKVValueSize {
			L.ArgError(2, "string value over 64 KiB")
		}
	default:
		L.ArgError(2, "value must be a string, number, boolean or nil")
	}
	if !s.store.set(key, v) {
		L.Push(lua.LFalse)
		L.Push(lua.LString("kv store full"))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}

// luaKVIncr is broker.kv_incr(key[, delta]) -> the new value, or nil and a
// message.
func (s *script) luaKVIncr(L *lua.LState) int {
	key := L.CheckString(1)
	delta := float64(L.OptNumber(2, 1))
	n, msg := s.store.incr(key, delta)
	if msg != "" {
		L.Push(lua.LNil)
		L.Push(lua.LString(msg))
		return 2
	}
	L.Push(n)
	return 1
}
