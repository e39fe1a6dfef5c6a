package luahost

import "testing"

func TestJSON(t *testing.T) {
	th := newTestHost(t, map[string]string{"j.lua": `
policy = { topics = { "j.*" } }
function on_publish(topic, body)
  if topic == "j.roundtrip" then
    local v, err = broker.json_decode(body)
    if err then return "drop", err end
    return "replace", broker.json_encode(v)
  end
  if topic == "j.encode" then
    local cases = {
      broker.json_encode({}),
      broker.json_encode({1, 2, "x"}),
      broker.json_encode({[1] = "a", [3] = "c"}),
      broker.json_encode({a = {b = true}}),
      broker.json_encode("<&>"),
      broker.json_encode(1704067200000),
      broker.json_encode(0.5),
    }
    return "replace", table.concat(cases, " ")
  end
  if topic == "j.fail" then
    local self = {}
    self.me = self
    local a, e1 = broker.json_encode(self)
    local b, e2 = broker.json_encode({f = print})
    local c, e3 = broker.json_encode(0/0)
    local d, e4 = broker.json_decode("{} {}")
    if a or b or c or d or not (e1 and e2 and e3 and e4) then return "drop", "accepted bad input" end
    return "allow"
  end
end
`})
	for _, tc := range []struct {
		topic, in, want string
	}{
		{"j.roundtrip", `{"b":[1,2.5,"x",true,false],"a":{"n":null,"s":"é\n"}}`, `{"a":{"s":"é\n"},"b":[1,2.5,"x",true,false]}`},
		{"j.roundtrip", `"just a string"`, `"just a string"`},
		{"j.roundtrip", `[]`, `{}`},
		{"j.roundtrip", `{"x":`, `<1 invalid JSON: unexpected EOF>`},
		{"j.encode", ``, `{} [1,2,"x"] {"1":"a","3":"c"} {"a":{"b":true}} "<&>" 1704067200000 0.5`},
		{"j.fail", ``, `<0 >`},
	} {
		if got := body(th.publish(alice, tc.topic, tc.in)); got != tc.want {
			t.Errorf("%s %s: got %s, want %s", tc.topic, tc.in, got, tc.want)
		}
	}
}
