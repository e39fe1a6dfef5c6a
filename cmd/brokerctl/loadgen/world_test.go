package loadgen

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/core/spatial"
)

func TestWorldConfigDefaultsAndValidation(t *testing.T) {
	good := WorldConfig{Clients: 2, Rate: 10, BodySize: MinBodySize, Size: 100, Cell: 16, Radius: 64}
	cfg, err := good.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Topic != "world.load" || cfg.FlatTopic != "load.flat" || cfg.Every != spatial.DefaultEvery ||
		strings.Join(cfg.Phases, ",") != "off,on" {
		t.Fatalf("defaults %+v", cfg)
	}
	for name, adjust := range map[string]func(*WorldConfig){
		"one client":    func(c *WorldConfig) { c.Clients = 1 },
		"no rate":       func(c *WorldConfig) { c.Rate = 0 },
		"tiny body":     func(c *WorldConfig) { c.BodySize = 3 },
		"no world":      func(c *WorldConfig) { c.Size = 0 },
		"no cell":       func(c *WorldConfig) { c.Cell = 0 },
		"unknown phase": func(c *WorldConfig) { c.Phases = []string{"sideways"} },
	} {
		c := good
		adjust(&c)
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWalkStaysInTheWorld(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	wk := &walker{}
	wk.place(relay.Position{X: 1, Y: 99})
	for range 10000 {
		p := walk(wk, 7, 100, rng)
		if p.X < 0 || p.X > 100 || p.Y < 0 || p.Y > 100 || wk.at() != p {
			t.Fatalf("walked to %+v", p)
		}
	}
}

func TestExpectedFrom(t *testing.T) {
	geo := spatial.Config{Cell: 16, Radius: 64, Every: spatial.DefaultEvery}
	var live []*walker
	for _, x := range []float32{0, 10, 30, 60, 100} {
		wk := &walker{}
		wk.place(relay.Position{X: x})
		live = append(live, wk)
	}
	// From client 0 at 0: 10 (every), 30 (every second), 60 (every fourth),
	// 100 (never); off, everyone else.
	if got, want := expectedFrom(geo, true, relay.Position{}, 0, live), uint64(840+420+210); got != want {
		t.Fatalf("on: %d/840, want %d/840", got, want)
	}
	if got := expectedFrom(geo, false, relay.Position{}, 0, live); got != 4*840 {
		t.Fatalf("off: %d/840", got)
	}
}

func TestStepSizeKeepsTheDensity(t *testing.T) {
	cfg := WorldConfig{Clients: 500, Size: 1000}
	for _, n := range []int{100, 250, 500, 1000} {
		s := StepSize(cfg, n)
		if d := float64(n) / (s * s); d < 0.0005*0.999 || d > 0.0005*1.001 {
			t.Errorf("%d clients in %.1f: density %g, want 0.0005", n, s, d)
		}
	}
	if s := StepSize(cfg, 500); s != 1000 {
		t.Errorf("500 clients: size %v, want 1000", s)
	}
}

func TestJudgeAStep(t *testing.T) {
	ok := WorldPhase{DeliveriesPerSec: 995, ExpectedPerSec: 1000, LatencyP99Ms: 99}
	if s, why := judge(10, 10, ok); !s || why != "" {
		t.Fatalf("sustained step judged %v %q", s, why)
	}
	for name, tc := range map[string]struct {
		connected int
		p         WorldPhase
	}{
		"a client missing": {9, ok},
		"too few":          {10, WorldPhase{DeliveriesPerSec: 989, ExpectedPerSec: 1000, LatencyP99Ms: 10}},
		"too slow":         {10, WorldPhase{DeliveriesPerSec: 1000, ExpectedPerSec: 1000, LatencyP99Ms: 100}},
	} {
		if s, why := judge(10, tc.connected, tc.p); s || why == "" {
			t.Errorf("%s: judged sustained (%q)", name, why)
		}
	}
}

func TestWorldStepsText(t *testing.T) {
	r := &WorldStepsReport{Rate: 10, Cell: 16, Radius: 64, Density: 500, Held: 250, Steps: []WorldStep{
		{Clients: 100, Connected: 100, Size: 447, Sustained: true, Phase: WorldPhase{DeliveriesPerSec: 2000, ExpectedPerSec: 2000}},
		{Clients: 250, Connected: 250, Size: 707, Sustained: true, Phase: WorldPhase{DeliveriesPerSec: 5000, ExpectedPerSec: 5000}},
		{Clients: 500, Connected: 500, Size: 1000, Why: "p99 140 ms", Phase: WorldPhase{DeliveriesPerSec: 9000, ExpectedPerSec: 10000, LatencyP99Ms: 140}},
	}}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"no: p99 140 ms", "held: 250 clients\n", "90.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
