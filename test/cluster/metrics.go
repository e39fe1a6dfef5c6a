package cluster

import (
	"testing"

	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
)

// Counter is the sum of the series of the counter or gauge name on server
// i's registry whose labels include labels (nil: every series). A test
// reads it to see what the server did that no client can observe, such as
// which messages it relayed to other servers.
func (c *Cluster) Counter(t testing.TB, i int, name string, labels map[string]string) float64 {
	t.Helper()
	reg := c.registries[i]
	if reg == nil {
		t.Fatalf("cluster: server %d has no registry (ServerOptions set it to nil)", i)
	}
	r := testmetrics.Read(t, reg, name, labels)
	if !r.Registered {
		t.Fatalf("cluster: server %d has no metric %q", i, name)
	}
	return r.Sum
}
