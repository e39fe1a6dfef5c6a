package luahost

import (
	"bytes"
	"strings"
	"testing"
)

const testerRule = `
policy = { topics = { "t.**" } }
function on_publish(topic, body, alias, identity)
  if #body > 3 then return "drop", "long" end
  if topic == "t.echo" then return "replace", identity .. ":" .. body .. "@" .. broker.now() end
  if topic == "t.limited" and not broker.rate_limit(alias, 1, 2) then return "drop", "slow down" end
end
function on_subscribe(topic, alias, identity)
  if identity ~= "admin" then return "deny", "admins only" end
end
`

func TestRunCases(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "rule.lua", testerRule)
	writeFile(t, dir, "rule.cases.yaml", `
peers:
  admin: {alias: 5, identity: admin}
  eve: {alias: 6, identity: eve, role: client}
cases:
  - name: short passes
    publish: t.x
    body: abc
    expect: allow
  - name: long dropped
    publish: t.x
    body_size: 4
    expect: drop
    reason: long
  - name: replace with identity and clock
    steps:
      - advance_ms: 5
      - {publish: t.echo, peer: eve, body: hi, expect: replace, want_body: "eve:hi@1704067200005"}
  - name: rate limit over steps
    steps:
      - {publish: t.limited, repeat: 2, expect: allow}
      - {publish: t.limited, expect: drop, reason: slow down}
      - {advance_ms: 1000}
      - {publish: t.limited, expect: allow}
  - name: subscribe
    steps:
      - {subscribe: t.x, peer: admin, expect: allow}
      - {subscribe: t.x, peer: eve, expect: deny, reason: admins only}
      - {connect: eve}
      - {disconnect: eve}
  - name: this one fails on purpose
    publish: t.x
    body: abcd
    expect: allow
  - name: so does this one
    steps:
      - {publish: t.limited, repeat: 3, expect: allow}
`)
	var out bytes.Buffer
	passed, failed, err := RunCases(t.Context(), dir, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if passed != 5 || failed != 2 {
		t.Errorf("%d passed, %d failed, want 5 and 2:\n%s", passed, failed, out.String())
	}
	for _, want := range []string{
		"PASS rule.cases.yaml: short passes\n",
		"PASS rule.cases.yaml: rate limit over steps\n",
		"FAIL rule.cases.yaml: this one fails on purpose\n     step 1: publish t.x: got drop (\"long\"), want allow\n",
		"FAIL rule.cases.yaml: so does this one\n     step 1 (repeat 3 of 3): publish t.limited: got drop (\"slow down\"), want allow\n",
		"5 passed, 2 failed\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunCasesReportsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"a script that does not load", map[string]string{
			"rule.lua": "policy = {", "rule.cases.yaml": "cases: [{publish: t.x, expect: allow}]",
		}, "FAIL "},
		{"an unknown key", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "cases: [{publish: t.x, expct: allow}]",
		}, "field expct not found"},
		{"an unknown peer", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "cases: [{publish: t.x, peer: zed, expect: allow}]",
		}, `unknown peer "zed"`},
		{"two actions", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "cases: [{publish: t.x, subscribe: t.x, expect: allow}]",
		}, "exactly one of"},
		{"a verdict that does not fit", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "cases: [{subscribe: t.x, expect: drop}]",
		}, "want one of allow, deny"},
		{"a script the case file names but the directory lacks", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "scripts: [gone.lua]\ncases: [{publish: t.x, expect: allow}]",
		}, "gone.lua is not a script"},
		{"a body too large to be a message", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "cases: [{publish: t.x, body_size: 1000000000, expect: allow}]",
		}, "body_size 1000000000 is over"},
		{"a repeat too large to finish", map[string]string{
			"rule.lua": testerRule, "rule.cases.yaml": "cases: [{publish: t.x, repeat: 1000000000, expect: allow}]",
		}, "repeat 1000000000 is over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range tc.files {
				writeFile(t, dir, name, src)
			}
			var out bytes.Buffer
			_, failed, err := RunCases(t.Context(), dir, &out, nil)
			if err != nil {
				t.Fatal(err)
			}
			if failed == 0 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("%d failed; output lacks %q:\n%s", failed, tc.want, out.String())
			}
		})
	}
	if _, _, err := RunCases(t.Context(), t.TempDir(), &bytes.Buffer{}, nil); err == nil {
		t.Error("a directory without case files passed")
	}
}
