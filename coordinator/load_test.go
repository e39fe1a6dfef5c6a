package coordinator

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestLeastLoadedOffersByReportsAndNeverADrainingOrFullServerToClients(t *testing.T) {
	reported := func(alias, since uint64, clients, capacity uint32, draining bool) server {
		return server{alias: alias, since: since, rep: report{received: true, clients: clients, capacity: capacity, draining: draining}}
	}
	cases := []struct {
		name    string
		servers []server // oldest first, as the directory passes them
		client  []uint64 // what a client is offered, best first
		server  []uint64 // what a server is offered
	}{
		{"no reports: the coordinator's own count, ties by age",
			[]server{{alias: 1, since: 1, load: 2}, {alias: 2, since: 2, load: 0}, {alias: 3, since: 3, load: 0}},
			[]uint64{2, 3, 1}, []uint64{2, 3, 1}},
		{"reports replace the own count",
			[]server{reported(1, 1, 7, 0, false), reported(2, 2, 3, 0, false), {alias: 3, since: 3, load: 5}},
			[]uint64{2, 3, 1}, []uint64{2, 3, 1}},
		{"clients signaled since the report count on top of it",
			[]server{func() server { s := reported(1, 1, 1, 0, false); s.sinceReport = 3; return s }(), reported(2, 2, 2, 0, false)},
			[]uint64{2, 1}, []uint64{2, 1}},
		{"a draining server is offered to servers only",
			[]server{reported(1, 1, 0, 0, true), reported(2, 2, 4, 0, false)},
			[]uint64{2}, []uint64{1, 2}},
		{"a full server is offered to servers only",
			[]server{reported(1, 1, 10, 10, false), reported(2, 2, 9, 10, false)},
			[]uint64{2}, []uint64{2, 1}},
		{"clients signaled since the report or being set up never make a server full",
			[]server{func() server { s := reported(1, 1, 9, 10, false); s.sinceReport = 5; s.rep.connecting = 20; return s }(), reported(2, 2, 40, 0, false)},
			[]uint64{1, 2}, []uint64{1, 2}},
		{"clients being set up count for the order",
			[]server{func() server { s := reported(1, 1, 1, 0, false); s.rep.connecting = 3; return s }(), reported(2, 2, 3, 0, false)},
			[]uint64{2, 1}, []uint64{2, 1}},
		{"capacity 0 is no limit",
			[]server{reported(1, 1, 1000, 0, false)},
			[]uint64{1}, []uint64{1}},
		{"every server draining: nothing for clients",
			[]server{reported(1, 1, 0, 0, true), reported(2, 2, 0, 0, true)},
			[]uint64{}, []uint64{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sel := leastLoadedSelector{}
			if got := sel.offer(protocol.Role_CLIENT, forRole(protocol.Role_CLIENT, c.servers)); !slices.Equal(got, c.client) {
				t.Errorf("client offered %v, want %v", got, c.client)
			}
			if got := sel.offer(protocol.Role_COMMUNICATION_SERVER, forRole(protocol.Role_COMMUNICATION_SERVER, c.servers)); !slices.Equal(got, c.server) {
				t.Errorf("server offered %v, want %v", got, c.server)
			}
		})
	}
}

func TestEverySelectorKeepsDrainingServersFromClients(t *testing.T) {
	for _, name := range []string{selectorRandom, selectorLeastLoaded} {
		t.Run(name, func(t *testing.T) {
			tc := startCoordinator(t, Config{Selector: name}, Options{}, nil)
			leaving, staying := dialServer(t, tc), dialServer(t, tc)
			leavingAlias := leaving.welcome().GetAlias()
			stayingAlias := staying.welcome().GetAlias()
			leaving.send(&protocol.DrainMessage{Type: protocol.MessageType_DRAIN, GraceMs: 30000})
			label := strconv.FormatUint(leavingAlias, 10)
			testwait.For(t, waitTimeout, "the coordinator to see the drain", func() bool {
				return metricValue(t, tc.Coordinator, "coordinator_server_draining", "server", label) == 1
			})
			if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{stayingAlias}) {
				t.Fatalf("client offered %v, want only %d", got, stayingAlias)
			}
			if got := sorted(dialServer(t, tc).welcome().GetAvailableServers()); !slices.Equal(got, sorted([]uint64{leavingAlias, stayingAlias})) {
				t.Fatalf("server offered %v, want both (the draining one's clients still need the mesh)", got)
			}
			// A later report never undoes the drain.
			leaving.send(&protocol.LoadReportMessage{Type: protocol.MessageType_LOAD_REPORT, Clients: 1})
			testwait.For(t, waitTimeout, "the report", func() bool {
				return metricValue(t, tc.Coordinator, "coordinator_server_clients", "server", label) == 1
			})
			// (The server dialled above is offered too, now.)
			if got := dialClient(t, tc).welcome().GetAvailableServers(); slices.Contains(got, leavingAlias) {
				t.Fatalf("after a report: client offered %v, with the draining %d", got, leavingAlias)
			}
		})
	}
}

func TestLoadReportsShowOnMetricsAndSteerLeastLoaded(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorLeastLoaded}, Options{}, nil)
	busy, idle := dialServer(t, tc), dialServer(t, tc)
	busyAlias, idleAlias := busy.welcome().GetAlias(), idle.welcome().GetAlias()
	busy.send(&protocol.LoadReportMessage{Type: protocol.MessageType_LOAD_REPORT, Clients: 40, Capacity: 100,
		Cpu: 1.5, RssBytes: 64 << 20})
	idle.send(&protocol.LoadReportMessage{Type: protocol.MessageType_LOAD_REPORT, Clients: 3, Capacity: 100})
	busyLabel, idleLabel := strconv.FormatUint(busyAlias, 10), strconv.FormatUint(idleAlias, 10)
	testwait.For(t, waitTimeout, "both reports", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_server_clients", "server", busyLabel) == 40 &&
			metricValue(t, tc.Coordinator, "coordinator_server_clients", "server", idleLabel) == 3
	})
	for name, want := range map[string]float64{"coordinator_server_capacity": 100, "coordinator_server_cpu_cores": 1.5,
		"coordinator_server_rss_bytes": 64 << 20, "coordinator_server_draining": 0} {
		if got := metricValue(t, tc.Coordinator, name, "server", busyLabel); got != want {
			t.Errorf("%s{server=%s} = %v, want %v", name, busyLabel, got, want)
		}
	}
	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{idleAlias, busyAlias}) {
		t.Fatalf("client offered %v, want the idle server first %v", got, []uint64{idleAlias, busyAlias})
	}

	// A full server is not offered to clients.
	busy.send(&protocol.LoadReportMessage{Type: protocol.MessageType_LOAD_REPORT, Clients: 100, Capacity: 100})
	testwait.For(t, waitTimeout, "the full report", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_server_clients", "server", busyLabel) == 100
	})
	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{idleAlias}) {
		t.Fatalf("client offered %v, want only the server with room %d", got, idleAlias)
	}

	// A server that leaves leaves no series behind.
	_ = busy.conn.Close()
	testwait.For(t, waitTimeout, "the busy server's series to go", func() bool {
		return tc.serverCount() == 1 &&
			testmetrics.Read(t, tc.reg, "coordinator_server_capacity", map[string]string{"server": busyLabel}).Series == 0
	})
}

func TestAClientSendingLoadReportsIsABadMessage(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	dialServer(t, tc).welcome()
	c := dialClient(t, tc)
	c.welcome()
	c.send(&protocol.DrainMessage{Type: protocol.MessageType_DRAIN})
	testwait.For(t, waitTimeout, "the bad message to be counted", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_messages_dropped_total", "reason", dropBadMessage) == 1
	})
}

// TestALoadReportCarriesTheServersTURN: the ice_servers of a LOAD_REPORT
// (a server's embedded TURN) reach the clients welcomed from then on.
func TestALoadReportCarriesTheServersTURN(t *testing.T) {
	tc := startCoordinator(t, Config{TURN: TURNConfig{Secret: turnSecret}}, Options{}, nil)
	srv := dialServer(t, tc)
	label := strconv.FormatUint(srv.welcome().GetAlias(), 10)
	srv.send(&protocol.LoadReportMessage{Type: protocol.MessageType_LOAD_REPORT, Clients: 1,
		IceServers: []*protocol.IceServer{{Urls: []string{"turn:127.0.0.1:3478"}}}})
	testwait.For(t, waitTimeout, "the report", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_server_clients", "server", label) == 1
	})
	w := dialClient(t, tc).welcome()
	if len(w.GetIceServers()) != 1 {
		t.Fatalf("ice_servers %v, want the server's TURN", w.GetIceServers())
	}
	checkMinted(t, w.GetIceServers()[0], []string{"turn:127.0.0.1:3478"}, "alias-"+strconv.FormatUint(w.GetAlias(), 10), time.Hour)
}
