package main

import (
	"fmt"
	"math"
	"sort"
)

// costs are what one unit of work costs, calibrated on this machine by
// `make bench` (bench/results/RESULTS.md); see defaultCosts for where each
// figure comes from.
type costs struct {
	DeliverUS    float64 // server CPU per delivery to a client (publish receive amortised in)
	HopUS        float64 // server CPU per server-to-server WebRTC message, both ends together
	NATSPubUS    float64 // server CPU to publish one message to NATS
	NATSRecvUS   float64 // server CPU to take one message from NATS
	NATSServerUS float64 // nats-server CPU per copy it delivers to a subscribing server
	ClientKiB    float64 // server RSS per connected client
	LinkKiB      float64 // server RSS per WebRTC link to another server
	NATSConnKiB  float64 // server RSS of its NATS connection
}

// defaultCosts: the figures of bench/results/RESULTS.md (2026-11-24,
// commit 6752519, 2 cores). NATS figures are assumptions until `make bench`
// measures the nats transport; they are flagged as such in the output.
var defaultCosts = costs{
	// dense-unreliable: 20.94 µs of server CPU per delivery.
	DeliverUS: 20.94,
	// mesh (3 servers, random selector) costs 26.05 µs per delivery against
	// 20.94 on one server: 5.11 µs x 49 deliveries = 250 µs more per
	// message, for 2 hops per message (each message reaches the 2 other
	// servers): 125 µs per hop, sender and receiver together.
	HopUS: 125,
	// Assumed: a NATS publish or receive is a buffered TCP write or read
	// with no DTLS or SCTP, about a quarter of a data-channel write.
	NATSPubUS:    5,
	NATSRecvUS:   5,
	NATSServerUS: 1, // nats-server's published figures: millions of messages per core-second
	// join-storm: 207 KiB of server RSS per idle client.
	ClientKiB: 207,
	// ceiling: about 250 KiB of RSS per idle peer connection; a link is one.
	LinkKiB:     250,
	NATSConnKiB: 512, // assumed: nats.go's reconnect buffer and read buffers
}

// workload is what the clients do. Every client is in one room, publishes
// Rate messages a second to it, and each message goes to Interest of the
// room's other members (all of them when Interest is 0: a chat room; a
// world with spatial interest has a bounded number of neighbours).
type workload struct {
	Name     string
	Clients  int
	Rooms    int
	Zipf     float64 // room sizes are proportional to rank^-Zipf
	Rate     float64
	Interest int
}

// roomSizes gives the room sizes, largest first, summing to w.Clients.
func (w workload) roomSizes() []float64 {
	sizes := make([]float64, w.Rooms)
	var h float64
	for r := range sizes {
		sizes[r] = math.Pow(float64(r+1), -w.Zipf)
		h += sizes[r]
	}
	for r := range sizes {
		sizes[r] *= float64(w.Clients) / h
	}
	return sizes
}

// receivers is how many members each message of a room of n reaches.
func (w workload) receivers(n float64) float64 {
	k := math.Max(n-1, 0)
	if w.Interest > 0 && float64(w.Interest) < k {
		k = float64(w.Interest)
	}
	return k
}

// design is a selector and a transport. random stands for least-loaded too:
// both place a room's members on servers without regard to the room, so
// their expected traffic is the same (least-loaded only evens the counts).
type design struct {
	Selector  string // random | affinity
	Transport string // mesh | star | nats
}

func (d design) String() string { return d.Selector + "/" + d.Transport }

var designs = []design{
	{"random", "mesh"}, {"random", "star"}, {"random", "nats"},
	{"affinity", "mesh"}, {"affinity", "nats"},
}

// limits is one communication server's machine.
type limits struct {
	Cores     float64
	MemoryMiB float64
}

// result is one design at one cluster size.
type result struct {
	Servers    int
	MaxCores   float64 // the busiest communication server
	MeanCores  float64
	HubCores   float64 // star: the hub; nats: nats-server, all nodes together
	Deliveries float64 // deliveries/s to clients, the busiest server
	Cross      float64 // server-to-server messages/s, cluster-wide (NATS: copies delivered)
	Links      float64 // links (or NATS connections) per communication server
	MemoryMiB  float64 // the fullest server
	SplitRooms int     // affinity: rooms too big for one server
	Works      bool
	Why        string
}

// spread is the expected number of servers other than the sender's that
// hold at least one of k receivers placed independently and uniformly on p
// servers.
func spread(p, k float64) float64 {
	if p <= 1 {
		return 0
	}
	return (p - 1) * (1 - math.Pow(1-1/p, k))
}

// roomCost is the CPU (µs per second, all servers together) and the
// cross-server messages per second of a room of n members placed on p
// servers, and what falls on the hub or nats-server.
func roomCost(c costs, w workload, d design, n, p float64) (serversUS, hubUS, cross float64) {
	msgs := n * w.Rate
	k := w.receivers(n)
	q := spread(p, k) // other servers each message must reach
	serversUS = msgs * k * c.DeliverUS
	switch d.Transport {
	case "mesh":
		serversUS += msgs * q * c.HopUS
		cross = msgs * q
	case "star":
		// To the hub whenever a receiver is elsewhere, then from the hub to
		// each server with receivers; each hop's cost is split between its
		// two ends.
		out := 0.0
		if p > 1 {
			out = 1 - math.Pow(1/p, k)
		}
		serversUS += msgs * (out + q) * c.HopUS / 2
		hubUS = msgs * (out + q) * c.HopUS / 2
		cross = msgs * (out + q)
	case "nats":
		if p > 1 {
			serversUS += msgs * (c.NATSPubUS + q*c.NATSRecvUS)
			hubUS = msgs * q * c.NATSServerUS
		}
		cross = msgs * q
	}
	return serversUS, hubUS, cross
}

// evaluate places w's rooms on s servers by d and adds up the costs.
func evaluate(c costs, w workload, d design, lim limits, s int) result {
	sizes := w.roomSizes()
	r := result{Servers: s}
	S := float64(s)
	budgetUS := lim.Cores * 1e6
	load := make([]float64, s)    // µs/s per server (affinity)
	clients := make([]float64, s) // per server (affinity)
	var totalUS, hubUS float64
	for _, n := range sizes {
		if d.Selector == "random" {
			us, hub, cross := roomCost(c, w, d, n, S)
			totalUS += us
			hubUS += hub
			r.Cross += cross
			continue
		}
		// affinity: the room on as few servers as its CPU needs (a hot room
		// is split over the least-loaded ones, and pays hops for it).
		p := 1.0
		us, hub, cross := roomCost(c, w, d, n, p)
		for us/p > budgetUS && p < S {
			p++
			us, hub, cross = roomCost(c, w, d, n, p)
		}
		if p > 1 {
			r.SplitRooms++
		}
		idx := leastLoaded(load, int(p))
		for _, i := range idx {
			load[i] += us / p
			clients[i] += n / p
		}
		totalUS += us
		hubUS += hub
		r.Cross += cross
	}
	r.MeanCores = totalUS / S / 1e6
	r.HubCores = hubUS / 1e6
	deliveries := 0.0
	for _, n := range sizes {
		deliveries += n * w.Rate * w.receivers(n)
	}
	var fullest float64 // clients on the fullest server
	switch d.Selector {
	case "random":
		r.MaxCores = r.MeanCores
		r.Deliveries = deliveries / S
		fullest = float64(w.Clients) / S
	default:
		i := argmax(load)
		r.MaxCores = load[i] / 1e6
		r.Deliveries = r.MaxCores * 1e6 / c.DeliverUS // an upper bound: hops counted as deliveries
		fullest = clients[argmax(clients)]
	}
	switch d.Transport {
	case "mesh":
		r.Links = S - 1
		r.MemoryMiB = (fullest*c.ClientKiB + r.Links*c.LinkKiB) / 1024
	case "star":
		r.Links = math.Min(1, S-1)
		r.MemoryMiB = (fullest*c.ClientKiB + r.Links*c.LinkKiB) / 1024
		if s > 1 && r.HubCores > lim.Cores {
			r.Why = fmt.Sprintf("the hub needs %.0f cores", r.HubCores)
		}
	case "nats":
		r.Links = 1
		r.MemoryMiB = (fullest*c.ClientKiB + c.NATSConnKiB) / 1024
	}
	switch {
	case r.MaxCores > lim.Cores:
		r.Why = fmt.Sprintf("a server needs %.1f cores", r.MaxCores)
	case r.MemoryMiB > lim.MemoryMiB:
		r.Why = fmt.Sprintf("a server needs %.0f MiB", r.MemoryMiB)
	}
	r.Works = r.Why == ""
	return r
}

// leastLoaded returns the indexes of the k least-loaded servers.
func leastLoaded(load []float64, k int) []int {
	idx := make([]int, len(load))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return load[idx[a]] < load[idx[b]] })
	return idx[:k]
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// smallest returns the smallest cluster of at most maxServers that works,
// or 0.
func smallest(c costs, w workload, d design, lim limits, maxServers int) (int, result) {
	for s := 1; s <= maxServers; s++ {
		if r := evaluate(c, w, d, lim, s); r.Works {
			return s, r
		}
	}
	return 0, evaluate(c, w, d, lim, maxServers)
}
