package coordinator

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Servers tell the coordinator how loaded they are (LOAD_REPORT, every
// load.interval) and that they are draining (DRAIN, and draining in every
// later report). Both are for the coordinator itself, never relayed. A
// draining server is not offered to clients from that moment; a full one
// (its clients at its capacity) neither, until a report says otherwise.

// report is what a server last said about its load.
type report struct {
	received   bool // a LOAD_REPORT arrived on this registration
	clients    uint32
	connecting uint32 // clients being set up, not in clients
	capacity   uint32 // max_peers; 0 = no limit
	cpu        float32
	rss        uint64
	draining   bool
}

// handleReport takes a server's DRAIN or LOAD_REPORT. It reports whether
// data was one (from a client it is a bad message, as before).
func (c *Coordinator) handleReport(p *peer, typ protocol.MessageType, data []byte) bool {
	switch typ {
	case protocol.MessageType_DRAIN, protocol.MessageType_LOAD_REPORT:
	default:
		return false
	}
	if !p.isServer() {
		c.badMessage(p, fmt.Errorf("type %s from a client: %w", typ, errUnknownType))
		return true
	}
	if typ == protocol.MessageType_DRAIN {
		var m protocol.DrainMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			c.badMessage(p, fmt.Errorf("decode %s: %w", typ, err))
			return true
		}
		if c.dir.drain(p.alias) {
			p.log.Info("server draining: no longer offered to clients", "grace_ms", m.GetGraceMs())
		}
		return true
	}
	var m protocol.LoadReportMessage
	if err := proto.Unmarshal(data, &m); err != nil {
		c.badMessage(p, fmt.Errorf("decode %s: %w", typ, err))
		return true
	}
	if c.dir.report(p.alias, &m) {
		p.log.Info("server draining: no longer offered to clients")
	}
	if ice := m.GetIceServers(); len(ice) > 0 { // its embedded TURN, for the clients offered it
		var urls []string
		for _, s := range ice {
			urls = append(urls, s.GetUrls()...)
		}
		c.dir.setServerTURN(p.alias, urls)
	}
	return true
}

// drain marks server alias draining; it reports whether that is news.
func (d *directory) drain(alias uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.servers[alias]
	if !ok || s.rep.draining {
		return false
	}
	s.rep.draining = true
	return true
}

// report records a server's LOAD_REPORT and restarts the count of clients
// signaled to it since. A report never undoes a drain. It reports whether
// the server is newly draining.
func (d *directory) report(alias uint64, m *protocol.LoadReportMessage) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.servers[alias]
	if !ok {
		return false
	}
	news := m.GetDraining() && !s.rep.draining
	s.rep = report{received: true, clients: m.GetClients(), connecting: m.GetConnecting(), capacity: m.GetCapacity(),
		cpu: m.GetCpu(), rss: m.GetRssBytes(), draining: s.rep.draining || m.GetDraining()}
	s.sinceReport = 0
	return news
}

// clientLoad is what least-loaded sorts by: the clients the server last
// reported, connected or being set up, plus those signaled to it since; or,
// before its first report, the coordinator's own count.
func (s server) clientLoad() uint64 {
	if s.rep.received {
		return uint64(s.rep.clients) + uint64(s.rep.connecting) + s.sinceReport
	}
	return s.load
}

// offerable reports whether a client may be offered s: not draining, and
// not full by its last report. Full counts connected clients only, as
// max_peers does: CONNECTs that never connect (a flood of them) must not
// hide a server; one that fills between reports refuses with SERVER_FULL
// and the client tries the next offered.
func (s server) offerable() bool {
	if s.rep.draining {
		return false
	}
	return s.rep.capacity == 0 || s.rep.clients < s.rep.capacity
}

// serverLoadCollector exports each registered server's last report, labelled
// by server alias; a server that leaves leaves no stale series behind.
type serverLoadCollector struct {
	dir                                   *directory
	clients, capacity, cpu, rss, draining *prometheus.Desc
}

func newServerLoadCollector(dir *directory) *serverLoadCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("coordinator_server_"+name, help, []string{"server"}, nil)
	}
	return &serverLoadCollector{
		dir:      dir,
		clients:  desc("clients", "Clients a server reported (LOAD_REPORT: connected and being set up) plus those signaled to it since; the coordinator's own count before its first report."),
		capacity: desc("capacity", "A server's reported capacity (max_peers; 0 = no limit)."),
		cpu:      desc("cpu_cores", "CPU a server reported using over its last report interval, in cores."),
		rss:      desc("rss_bytes", "A server's reported resident memory."),
		draining: desc("draining", "1 while a server drains (no longer offered to clients)."),
	}
}

func (c *serverLoadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.clients, c.capacity, c.cpu, c.rss, c.draining} {
		ch <- d
	}
}

func (c *serverLoadCollector) Collect(ch chan<- prometheus.Metric) {
	c.dir.mu.Lock()
	servers := make([]server, 0, len(c.dir.servers))
	for _, s := range c.dir.servers {
		servers = append(servers, *s)
	}
	c.dir.mu.Unlock()
	for _, s := range servers {
		alias := strconv.FormatUint(s.alias, 10)
		draining := 0.0
		if s.rep.draining {
			draining = 1
		}
		ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(s.clientLoad()), alias)
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(s.rep.capacity), alias)
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.GaugeValue, float64(s.rep.cpu), alias)
		ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(s.rep.rss), alias)
		ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, draining, alias)
	}
}
