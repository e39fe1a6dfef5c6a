package main

import (
	"math"
	"testing"
)

var testLimits = limits{Cores: 8, MemoryMiB: 32768}

func TestRoomSizesSumToClients(t *testing.T) {
	for _, w := range []workload{
		{Clients: 100_000, Rooms: 1_000, Zipf: 1},
		{Clients: 500, Rooms: 5, Zipf: 0},
		{Clients: 7, Rooms: 1, Zipf: 2},
	} {
		sizes := w.roomSizes()
		var sum float64
		for i, n := range sizes {
			sum += n
			if i > 0 && n > sizes[i-1] {
				t.Fatalf("%+v: room %d (%.1f) larger than room %d (%.1f)", w, i, n, i-1, sizes[i-1])
			}
		}
		if math.Abs(sum-float64(w.Clients)) > 1e-6*float64(w.Clients) {
			t.Errorf("%+v: sizes sum to %.3f", w, sum)
		}
	}
}

// The model's structure, each case a property that any cost figures keep.
func TestModelProperties(t *testing.T) {
	world := workload{Name: "world", Clients: 5_000, Rooms: 50, Zipf: 1, Rate: 10, Interest: 50}
	chat := workload{Name: "chat", Clients: 5_000, Rooms: 50, Zipf: 1, Rate: 0.2}
	for _, w := range []workload{world, chat} {
		for _, d := range designs {
			one := evaluate(defaultCosts, w, d, testLimits, 1)
			if one.Cross != 0 || one.HubCores != 0 {
				t.Errorf("%s %s on one server: %.0f cross-server msg/s, hub %.2f cores", w.Name, d, one.Cross, one.HubCores)
			}
			ten := evaluate(defaultCosts, w, d, testLimits, 10)
			switch d.Transport {
			case "mesh":
				if ten.Links != 9 {
					t.Errorf("%s %s: %v links per server of 10, want 9", w.Name, d, ten.Links)
				}
			default:
				if ten.Links != 1 {
					t.Errorf("%s %s: %v links per server, want 1", w.Name, d, ten.Links)
				}
			}
			if ten.MeanCores*10 < one.MeanCores*(1-1e-9) {
				t.Errorf("%s %s: 10 servers do less work in all (%.2f cores) than one (%.2f)", w.Name, d, ten.MeanCores*10, one.MeanCores)
			}
		}
		// Spreading rooms at random makes more cross-server traffic than
		// keeping them together, and NATS pays less per hop than WebRTC.
		rm := evaluate(defaultCosts, w, design{"random", "mesh"}, testLimits, 10)
		am := evaluate(defaultCosts, w, design{"affinity", "mesh"}, testLimits, 10)
		rn := evaluate(defaultCosts, w, design{"random", "nats"}, testLimits, 10)
		if am.Cross >= rm.Cross {
			t.Errorf("%s: affinity %.0f cross msg/s, random %.0f", w.Name, am.Cross, rm.Cross)
		}
		if rn.MeanCores >= rm.MeanCores {
			t.Errorf("%s: nats %.2f cores per server, mesh %.2f", w.Name, rn.MeanCores, rm.MeanCores)
		}
	}
}

func TestAffinitySplitsOnlyAHotRoom(t *testing.T) {
	// One room whose deliveries need about 3 servers, and small ones.
	w := workload{Clients: 3_000, Rooms: 30, Zipf: 2, Rate: 1}
	r := evaluate(defaultCosts, w, design{"affinity", "nats"}, testLimits, 20)
	if r.SplitRooms != 1 || !r.Works {
		t.Fatalf("%+v: want the one hot room split and a working cluster", r)
	}
}

func TestSmallestFindsTheFirstWorkingSize(t *testing.T) {
	w := workload{Clients: 20_000, Rooms: 200, Zipf: 1, Rate: 10, Interest: 50}
	d := design{"random", "nats"}
	s, r := smallest(defaultCosts, w, d, testLimits, 200)
	if s == 0 || !r.Works {
		t.Fatalf("no size works: %+v", r)
	}
	if s > 1 && evaluate(defaultCosts, w, d, testLimits, s-1).Works {
		t.Errorf("%d servers also work", s-1)
	}
}
