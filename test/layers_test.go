// Package test holds the checks that span the whole module; the in-process
// cluster harness that tests build on is test/cluster.
package test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/webrtc-broker/webrtc-broker"

// layers lists the module's floors from the bottom up, as the README's
// layout section states them. Non-test code may import its own floor's
// packages only within one component (see component) and any floor below;
// never a floor above.
var layers = []struct {
	name     string
	prefixes []string
}{
	{"wire", []string{"protocol"}},
	{"core", []string{"core/"}},
	{"foundation", []string{"internal/"}},
	{"components", []string{"client", "coordinator", "commserver", "plugins"}},
	{"binaries", []string{"cmd/"}},
	{"harnesses", []string{"bench/", "test/", "scripts"}},
}

// component is the top-level directory that owns a package, so that
// components of one floor (client, coordinator, commserver, plugins) can be
// told apart: they never import one another.
func component(rel string) string {
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return rel
}

func floor(rel string) int {
	for i, l := range layers {
		for _, p := range l.prefixes {
			if rel == strings.TrimSuffix(p, "/") || strings.HasPrefix(rel, strings.TrimSuffix(p, "/")+"/") {
				return i
			}
		}
	}
	return -1
}

func TestImportsFollowTheLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	checked := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		from := floor(pkg)
		if from < 0 {
			t.Errorf("package %s sits on no floor: add its directory to layers and to the README", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			to := floor(dep)
			checked++
			switch {
			case to > from:
				t.Errorf("%s (%s) imports %s (%s), a floor above it", pkg, layers[from].name, dep, layers[to].name)
			case to == from && layers[from].name == "components" && component(pkg) != component(dep):
				t.Errorf("%s imports %s: components on one floor never import each other", pkg, dep)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no imports checked: go list printed nothing of this module")
	}
}
