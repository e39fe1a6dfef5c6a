package luahost

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// newFuzzHost starts a Host on a fresh directory holding files. The call
// limit is generous: a time-out on a loaded machine would read as a failure
// of the input.
func newFuzzHost(f *testing.F, files map[string]string) *Host {
	f.Helper()
	dir := f.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := New(ctx, Options{Dir: dir, Logger: logging.Discard(), DefaultTimeout: 10 * time.Second, NoWatch: true})
	if err != nil {
		cancel()
		f.Fatalf("New: %v", err)
	}
	f.Cleanup(func() {
		cancel()
		h.Close()
	})
	return h
}

const jsonRoundTrip = `
policy = { topics = { "j" } }
function on_publish(topic, body)
  local v, err = broker.json_decode(body)
  if err then return "drop", "decode: " .. err end
  local s, err = broker.json_encode(v)
  if err then return "drop", "encode: " .. err end
  return "replace", s
end
`

// FuzzJSONDecode passes arbitrary bodies through broker.json_decode and
// back out through broker.json_encode in the real host, as a policy that
// inspects JSON bodies does. The hook must never fail (a Go panic in either
// function would surface as the fail-closed "policy failure"); bad JSON and
// JSON nested deeper than maxJSONDepth are refused with a message; what it
// encodes is valid JSON, and a fixed point: decoding and encoding it again
// gives the same bytes.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		`{"b":[1,2.5,"x",true,false],"a":{"n":null,"s":"é\n"}}`, `"just a string"`, `[]`, `{}`, `{"x":`, `{} {}`,
		`1e400`, `-0`, `0.1`, `123456789012345678901234567890`, `"\ud800"`, `"\u0000<&>"`, "\"\xff\"",
		strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat("[", 70) + strings.Repeat("]", 70),
		strings.Repeat("[", 20000), `{"1":"a","2":"b"}`, `[1,null,3]`, `{"a":{"a":{"a":{}}}}`,
	} {
		f.Add([]byte(s))
	}
	h := newFuzzHost(f, map[string]string{"j.lua": jsonRoundTrip})
	peer := policy.Peer{Alias: 1}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := h.OnPublish(peer, "j", body, true)
		switch d.Verdict {
		case policy.Drop:
			if d.Reason == failureReason {
				t.Fatalf("%q: the hook failed", body)
			}
			if !strings.HasPrefix(d.Reason, "decode: ") {
				t.Fatalf("%q: %s", body, d.Reason)
			}
			if json.Valid(body) && jsonDepth(body) <= maxJSONDepth && !strings.Contains(d.Reason, "number") {
				t.Fatalf("%q: valid JSON refused: %s", body, d.Reason)
			}
			return
		case policy.Replace:
		default:
			t.Fatalf("%q: verdict %v", body, d.Verdict)
		}
		out := d.Body
		if !json.Valid(out) {
			t.Fatalf("%q encoded to invalid JSON %q", body, out)
		}
		if jsonDepth(out) > maxJSONDepth+1 {
			t.Fatalf("%q encoded to JSON nested %d deep", body, jsonDepth(out))
		}
		again := h.OnPublish(peer, "j", out, true)
		if again.Verdict != policy.Replace || !bytes.Equal(again.Body, out) {
			t.Fatalf("%q: %q round-trips to %v %q %s", body, out, again.Verdict, again.Body, again.Reason)
		}
	})
}

// jsonDepth is how deeply valid JSON b nests arrays and objects.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

// jsonBuilder is a policy that builds a Lua value from the body, one
// operation a byte on a stack, and encodes it: the fuzzer writes the tables
// a script could hand broker.json_encode, shared and cyclic ones included.
const jsonBuilder = `
policy = { topics = { "b" } }
function on_publish(topic, body)
  local st = {}
  for i = 1, #body do
    local c = body:byte(i)
    local op, arg = c % 8, math.floor(c / 8)
    local n = #st
    if op == 0 then st[n+1] = {}                                   -- new table
    elseif op == 1 then                                            -- number
      if arg == 31 then st[n+1] = 1/0 elseif arg == 30 then st[n+1] = 0/0 else st[n+1] = arg - 8.5 end
    elseif op == 2 then st[n+1] = string.rep(string.char(65 + arg), arg) -- string
    elseif op == 3 then st[n+1] = (arg % 2 == 0)                   -- boolean
    elseif op == 4 and n >= 1 then st[n+1] = st[n]                 -- dup: a shared reference
    elseif op == 5 and n >= 2 then st[n], st[n-1] = st[n-1], st[n] -- swap
    elseif op == 6 and n >= 2 and type(st[n-1]) == "table" then   -- append top to the table below
      local t = st[n-1]; t[#t+1] = st[n]; st[n] = nil
    elseif op == 7 and n >= 2 and type(st[n-1]) == "table" then   -- set a key of the table below
      local t = st[n-1]; t["k" .. arg] = st[n]; st[n] = nil
    end
  end
  local s, err = broker.json_encode(st[1])
  if s == nil then return "drop", err end
  return "replace", s
end
`

// Builder operations (jsonBuilder): the byte is op + 8*arg.
const (
	opNew    = 0
	opNumber = 1 + 8*9 // 0.5
	opString = 2 + 8*1 // "B"
	opDup    = 4
	opSwap   = 5
	opAppend = 6
	opSet    = 7 + 8*1 // key "k1"
)

// doubling is the builder program of a table nested levels deep in which
// every table holds the one below twice: 6 bytes a level, 2^levels leaves.
func doubling(levels int) []byte {
	b := []byte{opNumber}
	for range levels {
		// [A] -> [A A] -> [A A W] -> [A W A] -> [A W{A}] -> [W{A} A] -> [W{A A}]
		b = append(b, opDup, opNew, opSwap, opAppend, opSwap, opAppend)
	}
	return b
}

// FuzzJSONEncode hands broker.json_encode whatever value the fuzzer builds
// (jsonBuilder). It must never fail the hook; it refuses cycles, NaN and
// infinities with a message; and what it returns is valid JSON within the
// size it bounds, so that a few bytes of script cannot make it build
// gigabytes inside one Go call, where the hook's time-out cannot cut it.
func FuzzJSONEncode(f *testing.F) {
	f.Add([]byte{opNew, opNumber, opAppend, opString, opAppend})
	f.Add([]byte{opNew, opNew, opString, opSet, opSet})
	f.Add([]byte{opNew, opDup, opAppend})    // contains itself
	f.Add([]byte{opNew, 1 + 8*30, opAppend}) // NaN
	f.Add(doubling(3))
	h := newFuzzHost(f, map[string]string{"b.lua": jsonBuilder})
	peer := policy.Peer{Alias: 1}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := h.OnPublish(peer, "b", body, true)
		switch d.Verdict {
		case policy.Drop:
			if d.Reason == failureReason || !strings.HasPrefix(d.Reason, "json_encode: ") {
				t.Fatalf("%x: %s", body, d.Reason)
			}
		case policy.Replace:
			if len(d.Body) > maxJSONEncodeOutput {
				t.Fatalf("%x: encoded %d bytes", body, len(d.Body))
			}
			if !json.Valid(d.Body) {
				t.Fatalf("%x: invalid JSON %q", body, d.Body)
			}
		default:
			t.Fatalf("%x: verdict %v", body, d.Verdict)
		}
	})
}

// maxJSONEncodeOutput is the most json_encode may return: 6 MiB, the 1 MiB
// it counts with every byte of a string escaped as \u00XX.
const maxJSONEncodeOutput = 6 << 20
