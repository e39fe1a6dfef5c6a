package cluster

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
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
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("cluster: gather server %d metrics: %v", i, err)
	}
	var sum float64
	found := false
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		found = true
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	if !found {
		t.Fatalf("cluster: server %d has no metric %q", i, name)
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
