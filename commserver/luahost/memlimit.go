package luahost

import (
	"fmt"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// Memory bound of one Lua state. gopher-lua has no allocation hook and no
// heap limit, so the host measures what a state holds by walking what is
// reachable from it (globals, registry, the string metatable, its hooks and,
// during a call, the stack) and estimating each value's size. A walk costs
// time in proportion to the state, so it runs only once the state may have
// grown by memCheckEvery or by its last size (so walks cost at most a
// constant factor of the growth they look for): growth is estimated per VM
// instruction (bytesPerInstruction), counted exactly where the sandbox's own
// functions make big values (string.rep, json_decode), and for the rest
// bounded by what the whole process allocated (memWatch).
const (
	maxStateBytes       = 8 << 20
	memCheckEvery       = 1 << 20
	bytesPerInstruction = 32 // about what one instruction can add: a table slot, a boxed number, a short string
)

// Estimated sizes of gopher-lua values (64-bit).
const (
	sizeValue    = 16 // an LValue interface in a slot
	sizeEntry    = 48 // a table entry: key and value slots, map overhead
	sizeTable    = 96
	sizeFunction = 80
	sizeString   = 16
	sizeNumber   = 8
)

// memBudget is one state's memory accounting; used only by the goroutine
// that holds the state.
type memBudget struct {
	watch   *atomic.Uint64 // the host's memWatch epoch; nil: none runs (rule tester)
	seen    uint64         // epoch at the last measurement
	epochs  uint64         // epochs after seen that make the next check measure
	growth  int64          // estimated growth since the last measurement
	trigger int64          // growth that makes the next check measure
	size    int64          // the last measurement

	visited map[any]struct{} // reused across walks
	todo    []lua.LValue
}

// due reports whether the state should be measured now.
func (m *memBudget) due() bool {
	return m.growth >= m.trigger || (m.watch != nil && m.watch.Load()-m.seen >= m.epochs)
}

// errMemoryLimit is what a call or top level over the budget fails with.
func errMemoryLimit(size int64) error {
	return fmt.Errorf("%w: the Lua state holds about %.1f MiB, over the %d MiB a state may hold",
		errMemory, float64(size)/(1<<20), maxStateBytes>>20)
}

// checkMemory measures st and returns an error when it is over budget.
// inCall includes the values on the stack of a running call.
func (st *lstate) checkMemory(inCall bool) error {
	m := &st.mem
	if m.watch != nil {
		m.seen = m.watch.Load()
	}
	m.size = st.measure(inCall)
	m.growth = 0
	m.trigger = max(memCheckEvery, m.size)
	m.epochs = uint64(m.trigger / memCheckEvery)
	if m.size > maxStateBytes {
		return errMemoryLimit(m.size)
	}
	return nil
}

// measure estimates the bytes reachable from st.
func (st *lstate) measure(inCall bool) int64 {
	m := &st.mem
	if m.visited == nil {
		m.visited = make(map[any]struct{}, 256)
	}
	clear(m.visited)
	L := st.L
	m.todo = append(m.todo[:0], L.G.Global, L.G.Registry, L.GetMetatable(lua.LString("")),
		st.onSubscribe, st.onPublish, st.onConnect, st.onDisconnect)
	if inCall {
		for level := 0; ; level++ {
			dbg, ok := L.GetStack(level)
			if !ok {
				break
			}
			for i := 1; ; i++ {
				name, v := L.GetLocal(dbg, i)
				if name == "" {
					break
				}
				m.todo = append(m.todo, v)
			}
		}
	}
	var n int64
	for len(m.todo) > 0 {
		v := m.todo[len(m.todo)-1]
		m.todo = m.todo[:len(m.todo)-1]
		n += m.visit(v)
	}
	return n
}

// visit returns v's own size and queues what it refers to.
func (m *memBudget) visit(v lua.LValue) int64 {
	switch v := v.(type) {
	case lua.LString:
		// Strings may share bytes; counting each copy errs on the safe side.
		return sizeString + int64(len(v))
	case lua.LNumber:
		return sizeNumber
	case *lua.LTable:
		if m.seenBefore(v) {
			return 0
		}
		n := int64(sizeTable)
		v.ForEach(func(k, val lua.LValue) {
			n += sizeEntry + m.scalar(k) + m.scalar(val)
		})
		if v.Metatable != nil {
			m.todo = append(m.todo, v.Metatable)
		}
		return n
	case *lua.LFunction:
		if m.seenBefore(v) {
			return 0
		}
		if v.Env != nil {
			m.todo = append(m.todo, v.Env)
		}
		for _, uv := range v.Upvalues {
			m.todo = append(m.todo, uv.Value())
		}
		return sizeFunction + sizeValue*int64(len(v.Upvalues))
	case *lua.LUserData:
		if m.seenBefore(v) {
			return 0
		}
		if v.Metatable != nil {
			m.todo = append(m.todo, v.Metatable)
		}
		return sizeTable
	}
	return 0
}

// scalar sizes a string or number at once and queues anything else, so
// that the common table entry costs no trip through todo.
func (m *memBudget) scalar(v lua.LValue) int64 {
	switch v := v.(type) {
	case lua.LString:
		return sizeString + int64(len(v))
	case lua.LNumber:
		return sizeNumber
	case lua.LBool, *lua.LNilType:
		return 0
	}
	m.todo = append(m.todo, v)
	return 0
}

func (m *memBudget) seenBefore(p any) bool {
	if _, ok := m.visited[p]; ok {
		return true
	}
	m.visited[p] = struct{}{}
	return false
}

// addGrowth records n bytes a sandbox function made in the state of L.
func addGrowth(L *lua.LState, n int) {
	if d, ok := L.Context().(*deadline); ok {
		d.st.mem.growth += int64(n)
	}
}
