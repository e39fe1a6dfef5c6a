package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// brokerctl load dials a wss:// coordinator through --coordinator-ca, and
// says so when the CA is not the coordinator's.
func TestLoadOverWSS(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{TLS: true})
	args := []string{"--coordinator", cl.URL(), "--coordinator-ca", cl.TLS().CA.File, "--clients", "2",
		"--rate", "20", "--warmup", "100ms", "--duration", "500ms", "--json", "--quiet"}
	var stdout, stderr bytes.Buffer
	if code := runLoad(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("load over wss: exit %d\n%s", code, stderr.String())
	}
	var rep struct {
		Connected int `json:"connected"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Connected != 2 {
		t.Fatalf("load over wss: %d connected (%v), want 2\n%s", rep.Connected, err, stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	code := runLoad(context.Background(), []string{"--coordinator", cl.URL(), "--coordinator-ca", "/nonexistent.pem"}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "/nonexistent.pem") {
		t.Fatalf("load with a missing CA file: exit %d, stderr %q", code, stderr.String())
	}
}
