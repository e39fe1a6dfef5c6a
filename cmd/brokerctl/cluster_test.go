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

func TestClusterCoordinatorAddrs(t *testing.T) {
	got, err := coordinatorAddrs("127.0.0.1:9090", 3)
	if err != nil || strings.Join(got, " ") != "127.0.0.1:9090 127.0.0.1:9091 127.0.0.1:9092" {
		t.Fatalf("3 coordinators from 127.0.0.1:9090: %q, %v", got, err)
	}
	if got, err := coordinatorAddrs("127.0.0.1:0", 1); err != nil || len(got) != 1 || got[0] != "127.0.0.1:0" {
		t.Fatalf("one coordinator: %q, %v; want --listen as it is", got, err)
	}
	for _, bad := range []struct {
		listen string
		n      int
	}{{"127.0.0.1:9090", 0}, {"127.0.0.1:9090", 17}, {"127.0.0.1:0", 2}, {"127.0.0.1:65535", 2}, {"nohost", 2}} {
		if _, err := coordinatorAddrs(bad.listen, bad.n); err == nil {
			t.Errorf("--listen %s --coordinators %d accepted", bad.listen, bad.n)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runCluster(context.Background(), []string{"--coordinators", "0"}, &stdout, &stderr); code != 2 {
		t.Fatalf("--coordinators 0: exit %d, stderr %q; want 2", code, stderr.String())
	}
}
