package main

import (
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

// The memory target is judged on the steady state: a hold that saw no GC
// does not pass, however low its reading, and the after-the-storm figure is
// shown beside the steady one, never instead of it.
func TestJoinStormTargetNeedsTheSteadyState(t *testing.T) {
	target := func(js *loadgen.JoinStormResult) [3]string {
		t.Helper()
		e := &entry{name: "join-storm", kind: "load", load: &loadgen.Report{Clients: 1000, Connected: 1000, JoinStorm: js}}
		for _, row := range targets(map[string]*entry{"join-storm": e}, nil, nil) {
			if strings.HasPrefix(row[0], "memory per idle connected client") {
				return row
			}
		}
		t.Fatal("no memory target")
		return [3]string{}
	}
	noGC := target(&loadgen.JoinStormResult{ServerRSSPerClientKB: 100, AfterStormRSSPerClientKB: 90, IdleSeconds: 5})
	if noGC[2] != fail || !strings.Contains(noGC[1], "no GC") {
		t.Errorf("a hold without a GC: %q", noGC)
	}
	steady := target(&loadgen.JoinStormResult{ServerRSSPerClientKB: 250, AfterStormRSSPerClientKB: 190, IdleGCs: 1})
	if steady[2] != fail || !strings.Contains(steady[1], "250 KiB") || !strings.Contains(steady[1], "190 KiB") {
		t.Errorf("a steady state over the target: %q", steady)
	}
	if ok := target(&loadgen.JoinStormResult{ServerRSSPerClientKB: 140, IdleGCs: 2}); ok[2] == fail {
		t.Errorf("a steady state under the target: %q", ok)
	}
}
