package testmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"role", "reason"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	reg.MustRegister(c, g)
	c.WithLabelValues("client", "a").Add(2)
	c.WithLabelValues("client", "b").Add(3)
	c.WithLabelValues("server", "a").Add(5)
	g.Set(7)
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   Reading
	}{
		{"every series", "c_total", nil, Reading{10, 3, true}},
		{"one label", "c_total", map[string]string{"role": "client"}, Reading{5, 2, true}},
		{"two labels", "c_total", map[string]string{"role": "server", "reason": "a"}, Reading{5, 1, true}},
		{"no series matches", "c_total", map[string]string{"role": "hub"}, Reading{0, 0, true}},
		{"a gauge", "g", nil, Reading{7, 1, true}},
		{"no such metric", "nope", nil, Reading{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Read(t, reg, tt.metric, tt.labels); got != tt.want {
				t.Fatalf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}
