// Package testmetrics is how tests read what a component counted: the sum
// of the series of one Prometheus metric whose labels include the ones
// asked for. It imports no broker package, so every package's tests can use
// it, as they use internal/testwait.
package testmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Reading is one metric as a test sees it.
type Reading struct {
	// Sum adds up the counter and gauge values of the matching series.
	Sum float64
	// Series counts the series whose labels include the ones asked for.
	Series int
	// Registered is false when the gatherer has no such metric at all (a
	// vector with no series yet is not gathered either), so a caller can
	// tell "zero" from "never registered".
	Registered bool
}

// Read reads name from g, over the series whose labels include labels
// (nil: every series).
func Read(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) Reading {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var r Reading
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		r.Registered = true
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				r.Series++
				r.Sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return r
}

// Sum is Read's sum, 0 when nothing matches.
func Sum(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return Read(t, g, name, labels).Sum
}

// Value is Read's sum for a series that must exist: the test fails if no
// series of name has labels.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	r := Read(t, g, name, labels)
	if r.Series == 0 {
		t.Fatalf("no series of %s with labels %v", name, labels)
	}
	return r.Sum
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
