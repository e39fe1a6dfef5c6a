// Command scale is a cost model of a broker cluster as it grows (issue 13):
// arithmetic over the per-delivery, per-hop and per-client costs that
// `make bench` measured on this machine, not a load test. For each design
// (selector x transport) and cluster size it computes per-server CPU,
// cross-server messages, links and memory, and says when a design stops
// working; it writes bench/results/scale.md and two SVG plots.
//
//	go run ./bench/scale [-out bench/results] [-cores 8] [-memory 32768]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

func main() {
	out := flag.String("out", "bench/results", "directory for scale.md and the plots")
	cores := flag.Float64("cores", 8, "cores per communication server")
	memory := flag.Float64("memory", 32768, "MiB of memory per communication server")
	maxServers := flag.Int("max-servers", 200, "largest cluster considered")
	flag.Parse()
	lim := limits{Cores: *cores, MemoryMiB: *memory}
	if err := write(*out, defaultCosts, lim, *maxServers); err != nil {
		slog.Error("scale model", "err", err)
		os.Exit(1)
	}
}

// The questions the model answers: what a 100,000-client deployment in
// 1,000 rooms needs, for a world (10 state updates/s, each to the 50
// nearest) and for chat (a message every 5 s, to the whole room); and how
// each design behaves as a cluster of 500 clients per server grows.
var (
	headline = []workload{
		{Name: "world", Clients: 100_000, Rooms: 1_000, Zipf: 1, Rate: 10, Interest: 50},
		{Name: "chat", Clients: 100_000, Rooms: 1_000, Zipf: 1, Rate: 0.2},
	}
	growthSizes = []int{1, 2, 3, 5, 10, 20, 50, 100, 200}
)

// batchingTarget is issue 11's target for server CPU per delivery with
// batching clients, as a fraction of today's.
const batchingTarget = 0.35

// growth is the workload of a cluster of s servers holding perServer
// clients each, in rooms of 100 on average.
func growth(base workload, s, perServer int) workload {
	w := base
	w.Clients = perServer * s
	w.Rooms = max(1, w.Clients/100)
	return w
}

func write(dir string, c costs, lim limits, maxServers int) error {
	var md bytes.Buffer
	fmt.Fprintf(&md, "# Scale model\n\nWritten by `go run ./bench/scale` (bench/scale/): arithmetic over measured costs, not a load test. "+
		"Each server has %.0f cores and %.0f GiB. Costs per unit (bench/scale/model.go says where each comes from):\n\n", lim.Cores, lim.MemoryMiB/1024)
	fmt.Fprintf(&md, "| cost | value | source |\n|---|---|---|\n")
	fmt.Fprintf(&md, "| server CPU per delivery | %.2f µs | measured: dense-unreliable, RESULTS.md |\n", c.DeliverUS)
	fmt.Fprintf(&md, "| server CPU per WebRTC server-to-server message (both ends) | %.0f µs | measured: mesh row against dense |\n", c.HopUS)
	fmt.Fprintf(&md, "| server CPU per NATS publish / receive | %.0f / %.0f µs | **assumed** until make bench measures nats |\n", c.NATSPubUS, c.NATSRecvUS)
	fmt.Fprintf(&md, "| nats-server CPU per copy delivered | %.0f µs | **assumed** |\n", c.NATSServerUS)
	fmt.Fprintf(&md, "| server RSS per client / per link | %.0f / %.0f KiB | measured: join storm, ceiling |\n\n", c.ClientKiB, c.LinkKiB)
	md.WriteString("`random` stands for `least-loaded` too (both place a room's members without regard to the room, so the expected traffic is the same); " +
		"`affinity` puts a room on the fewest servers its CPU allows, least-loaded first, and splits a room too hot for one server. " +
		"Random placement is counted in expectation (every server gets the mean).\n\n")

	for _, w := range headline {
		fmt.Fprintf(&md, "## %d clients in %d rooms (Zipf %.0f, largest room %.0f): %s, %g msg/s per client, %s\n\n",
			w.Clients, w.Rooms, w.Zipf, w.roomSizes()[0], w.Name, w.Rate, interestText(w))
		md.WriteString("| design | smallest cluster that works | busiest server cores | hub or nats-server cores | server-to-server msg/s | links per server | memory per server | rooms split |\n|---|---|---|---|---|---|---|---|\n")
		for _, d := range designs {
			s, r := smallest(c, w, d, lim, maxServers)
			size := fmt.Sprintf("%d servers", s)
			if s == 0 {
				size = fmt.Sprintf("none up to %d: %s", maxServers, r.Why)
			}
			fmt.Fprintf(&md, "| %s | %s | %.1f | %s | %s | %.0f | %.0f MiB | %d |\n",
				d, size, r.MaxCores, hubText(d, r), thousands(r.Cross), r.Links, r.MemoryMiB, r.SplitRooms)
		}
		batched := c
		batched.DeliverUS *= batchingTarget
		s, r := smallest(batched, w, design{"affinity", "nats"}, lim, maxServers)
		fmt.Fprintf(&md, "\nWith batching at issue 11's target (%.2fx the CPU per delivery), affinity/nats needs %d servers (busiest %.1f cores).\n\n", batchingTarget, s, r.MaxCores)
	}

	for _, base := range headline {
		fmt.Fprintf(&md, "## Growth: %s, 500 clients per server, rooms of 100 on average (Zipf %.0f)\n\nBusiest server's cores (over %.0f: does not work; hub or nats-server cores in brackets):\n\n", base.Name, base.Zipf, lim.Cores)
		md.WriteString("| design |")
		for _, s := range growthSizes {
			fmt.Fprintf(&md, " %d |", s)
		}
		md.WriteString(" stops working at |\n|---|")
		for range growthSizes {
			md.WriteString("---|")
		}
		md.WriteString("---|\n")
		var series []loadgen.TimeSeries
		for _, d := range designs {
			fmt.Fprintf(&md, "| %s |", d)
			for _, s := range growthSizes {
				r := evaluate(c, growth(base, s, 500), d, lim, s)
				cell := fmt.Sprintf("%.1f", r.MaxCores)
				if d.Transport != "mesh" && s > 1 {
					cell += fmt.Sprintf(" (%.1f)", r.HubCores)
				}
				if !r.Works {
					cell = "**" + cell + "**"
				}
				fmt.Fprintf(&md, " %s |", cell)
			}
			ts := loadgen.TimeSeries{Name: d.String(), Dashed: d.Selector == "affinity"}
			stop := "never, up to " + fmt.Sprint(maxServers)
			for s := 1; s <= maxServers; s++ {
				r := evaluate(c, growth(base, s, 500), d, lim, s)
				ts.Points = append(ts.Points, [2]float64{float64(s), min(r.MaxCores, 4*lim.Cores)})
				if !r.Works && stop[0] == 'n' {
					stop = fmt.Sprintf("%d servers (%s)", s, r.Why)
				}
			}
			series = append(series, ts)
			fmt.Fprintf(&md, " %s |\n", stop)
		}
		name := "scale-" + base.Name + ".svg"
		var svg bytes.Buffer
		title := fmt.Sprintf("%s, 500 clients per server: the busiest server's cores (band: fits %.0f cores; clipped at %.0f)", base.Name, lim.Cores, 4*lim.Cores)
		if err := loadgen.WriteLinesSVG(&svg, title, "communication servers", "cores", series, 0, lim.Cores); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), svg.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write plot: %w", err)
		}
		fmt.Fprintf(&md, "\n![%s](%s)\n\n", title, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "scale.md"), md.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write scale.md: %w", err)
	}
	return nil
}

func interestText(w workload) string {
	if w.Interest > 0 {
		return fmt.Sprintf("each message to the %d nearest (spatial interest)", w.Interest)
	}
	return "each message to the whole room"
}

func hubText(d design, r result) string {
	switch d.Transport {
	case "star":
		return fmt.Sprintf("%.1f (hub)", r.HubCores)
	case "nats":
		return fmt.Sprintf("%.1f (nats-server)", r.HubCores)
	}
	return "-"
}

// thousands writes f rounded, with thin separators.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
