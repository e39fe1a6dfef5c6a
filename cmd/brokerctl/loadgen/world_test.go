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
