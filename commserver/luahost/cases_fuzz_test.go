package luahost

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadCaseFile feeds readCaseFile, the parse of a rule tester
// *.cases.yaml, arbitrary bytes. It must never panic, and a file it accepts
// is ready to run: cases named, each with steps, each step exactly one
// action with a known peer and a positive repeat.
func FuzzReadCaseFile(f *testing.F) {
	for _, name := range []string{"all_rules.cases.yaml", "rate_limit.cases.yaml", "size_cap.cases.yaml", "announce_acl.cases.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "scripts", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("cases:\n  - name: a\n    publish: t\n    expect: allow\n"))
	f.Add([]byte("peers:\n  p: {alias: 2, role: hub}\ncases:\n  - steps:\n    - connect: p\n    - advance_ms: 10\n    - subscribe: t\n      peer: p\n      expect: deny\n      reason: no\n"))
	f.Add([]byte("cases:\n  - publish: t\n    body_size: 3\n    body: x\n    expect: drop\n"))
	f.Add([]byte("cases: [{publish: t, expect: allow, repeat: -1}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("cases:\n  - &x {publish: t, expect: allow}\n  - *x\n"))
	path := filepath.Join(f.TempDir(), "f.cases.yaml")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cf, err := readCaseFile(path)
		if err != nil {
			return
		}
		if len(cf.Cases) == 0 || cf.ServerAlias == 0 {
			t.Fatalf("accepted %d cases, server_alias %d", len(cf.Cases), cf.ServerAlias)
		}
		for _, c := range cf.Cases {
			if c.Name == "" || len(c.Steps) == 0 {
				t.Fatalf("case %q with %d steps", c.Name, len(c.Steps))
			}
			for i := range c.Steps {
				s := &c.Steps[i]
				if s.Repeat < 1 {
					t.Fatalf("case %q step %d: repeat %d", c.Name, i+1, s.Repeat)
				}
				actions := 0
				for _, set := range []bool{s.Publish != nil, s.Subscribe != nil, s.Connect != nil, s.Disconnect != nil, s.AdvanceMS != 0} {
					if set {
						actions++
					}
				}
				if actions != 1 {
					t.Fatalf("case %q step %d: %d actions", c.Name, i+1, actions)
				}
				if _, err := cf.peer(s.Peer); err != nil {
					t.Fatalf("case %q step %d: %v", c.Name, i+1, err)
				}
			}
		}
	})
}
