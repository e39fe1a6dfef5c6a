package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestClusterNATSRefusesAStar: --nats makes no server links, so a star
// selector is a usage error, reported before anything starts.
func TestClusterNATSRefusesAStar(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runCluster(context.Background(), []string{"--nats", "--selector", "star"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--nats") {
		t.Fatalf("exit %d, stderr %q; want 2 and a word about --nats", code, stderr.String())
	}
}
