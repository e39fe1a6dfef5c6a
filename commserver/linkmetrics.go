package commserver

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// What the server links' writers do, by channel: the messages they hand to
// pion (each message of a batch counted), the data-channel messages that
// took (a batch counts once: the ratio is the links' mean batch size), and
// what waits in the links' queues right now. The mesh's latency is judged
// against one server's (issue 11); these say whether a link's writer keeps
// up (a queue that stays deep) and how well its batches fill, without
// reading a profile. Read from the live links' queues at scrape time, plus
// the totals of links already gone, so the writers do no extra work.
type linkCollector struct {
	s                     *Server
	messages, writes, lag *prometheus.Desc
	// closed sums the counters of links already gone, by channel kind.
	closedMessages, closedWrites [2]atomic.Uint64
}

func newLinkCollector(s *Server, ns string) *linkCollector {
	ch := []string{"channel"}
	return &linkCollector{
		s: s,
		messages: prometheus.NewDesc(ns+"_link_messages_written_total",
			"Messages written to server links, each message of a BATCH counted, by channel.", ch, nil),
		writes: prometheus.NewDesc(ns+"_link_writes_total",
			"Data-channel messages written to server links (a BATCH counts once), by channel: "+
				"link_messages_written_total / link_writes_total is the links' mean batch size.", ch, nil),
		lag: prometheus.NewDesc(ns+"_link_queued_messages",
			"Messages waiting in the server links' outbound queues now, by channel.", ch, nil),
	}
}

func (c *linkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.writes
	ch <- c.lag
}

func (c *linkCollector) Collect(ch chan<- prometheus.Metric) {
	var messages, writes [2]uint64
	var queued [2]int
	for k := range messages {
		messages[k], writes[k] = c.closedMessages[k].Load(), c.closedWrites[k].Load()
	}
	for _, p := range c.s.snapshotPeers() {
		if !p.isServerLink() {
			continue
		}
		for k, pc := range p.chans {
			messages[k] += pc.q.Written()
			writes[k] += pc.q.Writes()
			n, _ := pc.q.Len()
			queued[k] += n
		}
	}
	for _, k := range []chanKind{reliable, unreliable} {
		ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(messages[k]), k.String())
		ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(writes[k]), k.String())
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(queued[k]), k.String())
	}
}

// linkGone keeps the counters of p, a server link going away.
func (c *linkCollector) linkGone(p *peer) {
	for k, pc := range p.chans {
		c.closedMessages[k].Add(pc.q.Written())
		c.closedWrites[k].Add(pc.q.Writes())
	}
}
