package luahost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxJSONDepth bounds nesting both ways; it also stops a table that contains
// itself.
const maxJSONDepth = 64

var errJSONDepth = errors.New("nested too deep (or contains itself)")

// maxJSONSize bounds what json_encode builds, in bytes of output (escapes
// aside). The depth bound alone does not bound the work: a table holding the
// same table twice at each of 64 levels is 2^64 values, built inside one Go
// call, where the hook's time-out cannot cut it (see maxRepBytes).
const maxJSONSize = 1 << 20

var errJSONSize = errors.New("result over 1 MiB")

// jsonDecode is broker.json_decode(s): objects become tables with string keys,
// arrays sequences from 1, null nil. Returns nil and a message on bad JSON.
func jsonDecode(L *lua.LState) int {
	s := L.CheckString(1)
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("invalid JSON: " + err.Error()))
		return 2
	}
	if dec.More() {
		L.Push(lua.LNil)
		L.Push(lua.LString("invalid JSON: data after the value"))
		return 2
	}
	lv, err := toLua(L, v, 0)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lv)
	return 1
}

func toLua(L *lua.LState, v any, depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return nil, errJSONDepth
	}
	switch v := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(v), nil
	case string:
		return lua.LString(v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", v, err)
		}
		return lua.LNumber(f), nil
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, e := range v {
			lv, err := toLua(L, e, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetInt(i+1, lv)
		}
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, e := range v {
			lv, err := toLua(L, e, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

// jsonEncode is broker.json_encode(v): a table whose keys are exactly 1..n
// becomes an array, any other table an object with sorted keys (so output is
// deterministic), an empty table `{}`. Returns nil and a message for values
// JSON cannot hold (functions, NaN, cycles).
func jsonEncode(L *lua.LState) int {
	budget := maxJSONSize
	v, err := fromLua(L.CheckAny(1), 0, &budget)
	if err == nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err = enc.Encode(v); err == nil {
			L.Push(lua.LString(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})))
			return 1
		}
	}
	L.Push(lua.LNil)
	L.Push(lua.LString("json_encode: " + err.Error()))
	return 2
}

// fromLua converts v, taking from *budget the bytes its JSON will take.
func fromLua(v lua.LValue, depth int, budget *int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errJSONDepth
	}
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, spend(budget, len("null"))
	case lua.LBool:
		return bool(v), spend(budget, len("false"))
	case lua.LString:
		return string(v), spend(budget, len(v)+2)
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", f)
		}
		// At most 24 bytes, as encoding/json writes a float64.
		return f, spend(budget, 24)
	case *lua.LTable:
		if err := spend(budget, 2); err != nil {
			return nil, err
		}
		return tableToGo(v, depth, budget)
	}
	return nil, fmt.Errorf("cannot encode a %s", v.Type())
}

func spend(budget *int, n int) error {
	if *budget -= n; *budget < 0 {
		return errJSONSize
	}
	return nil
}

func tableToGo(t *lua.LTable, depth int, budget *int) (any, error) {
	n := t.MaxN()
	count := 0
	t.ForEach(func(lua.LValue, lua.LValue) { count++ })
	if n > 0 && count == n {
		arr := make([]any, n)
		for i := range n {
			e, err := fromLua(t.RawGetInt(i+1), depth+1, budget)
			if err != nil {
				return nil, err
			}
			arr[i] = e
		}
		return arr, nil
	}
	obj := make(map[string]any, count)
	var err error
	t.ForEach(func(k, e lua.LValue) {
		if err != nil {
			return
		}
		var key string
		switch k := k.(type) {
		case lua.LString:
			key = string(k)
		case lua.LNumber:
			key = k.String()
		default:
			err = fmt.Errorf("cannot encode a %s key", k.Type())
			return
		}
		if err = spend(budget, len(key)+4); err != nil {
			return
		}
		obj[key], err = fromLua(e, depth+1, budget)
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}
