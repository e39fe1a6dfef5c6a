package scripts_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
)

// TestShippedRules runs every case file in this directory through the rule
// tester, the same host code a communication server loads the rules with.
func TestShippedRules(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := luahost.RunCases(context.Background(), ".", &out, nil)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if failed > 0 || passed == 0 {
		t.Fatalf("%d passed, %d failed", passed, failed)
	}
}
