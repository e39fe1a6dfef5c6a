package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScriptCommand(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.lua")
	if err := os.WriteFile(bad, []byte("policy = { topics = {\"a\"} }\nfunction on_publish(topic)\n  if topic = 1 then end\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failing := t.TempDir()
	for name, src := range map[string]string{
		"r.lua":        "policy = { topics = {\"a\"} }\nfunction on_publish() return \"drop\", \"no\" end\n",
		"r.cases.yaml": "cases: [{name: wrong on purpose, publish: a, expect: allow}]\n",
	} {
		if err := os.WriteFile(filepath.Join(failing, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"script", "test", "../../scripts"}, 0, "0 failed\n"},
		{[]string{"script", "test", failing}, 1, "0 passed, 1 failed\n"},
		{[]string{"script", "test", t.TempDir()}, 2, "no *.cases.yaml"},
		{[]string{"script", "check", "../../scripts/size_cap.lua"}, 0, "size_cap.lua: ok, governs chat.**"},
		{[]string{"script", "check", bad}, 1, bad + ":3: syntax error"},
		{[]string{"script"}, 2, "usage"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &out); code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out.String())
			}
			if !strings.Contains(out.String(), tc.contains) {
				t.Errorf("output lacks %q:\n%s", tc.contains, out.String())
			}
		})
	}
}
