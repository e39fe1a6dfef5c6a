package commserver

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// loadLoop sends the coordinator a LOAD_REPORT every load.interval, at once
// after each WELCOME (a new session, perhaps a restarted coordinator that
// knows nothing) and at once when the server starts draining, until ctx is
// done. The least-loaded selector reads the reports; every selector stops
// offering a draining or full server to clients.
func (s *Server) loadLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Load.Interval)
	defer t.Stop()
	cpu := newCPUSampler()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.loadNow:
		}
		if s.coordinatorsUp() == 0 {
			continue
		}
		cores, rss := cpu.sample(time.Now())
		// Every coordinator offers this server to its clients: each needs
		// the load (coordmulti.go).
		if err := s.signalAll(s.loadReport(cores, rss)); err != nil {
			s.log.Debug("LOAD_REPORT not sent", "err", err)
		}
	}
}

// loadReport is the report as it goes out: one function, so that a field
// more (the embedded TURN's ice_servers) is one line more.
func (s *Server) loadReport(cpu float32, rss uint64) *protocol.LoadReportMessage {
	s.mu.Lock()
	clients, connecting := s.clientSlots, s.halfOpen
	s.mu.Unlock()
	return &protocol.LoadReportMessage{
		Type:       protocol.MessageType_LOAD_REPORT,
		Clients:    uint32(clients),
		Connecting: uint32(connecting),
		Capacity:   uint32(s.cfg.MaxPeers),
		Cpu:        cpu,
		Draining:   s.draining.Load(),
		RssBytes:   rss,
		IceServers: s.TURNServers(),
	}
}

// notifyLoad asks loadLoop for a report now.
func (s *Server) notifyLoad() {
	select {
	case s.loadNow <- struct{}{}:
	default:
	}
}

// cpuSampler turns the process's CPU time (/proc/self/stat: utime+stime, in
// USER_HZ ticks, 100 a second on every Linux architecture Go supports) into
// cores used since the previous sample. Off Linux it reports zeros.
type cpuSampler struct {
	ticks uint64
	at    time.Time
}

func newCPUSampler() *cpuSampler {
	st, _ := readProcStat()
	return &cpuSampler{ticks: st.ticks, at: time.Now()}
}

const userHZ = 100

func (c *cpuSampler) sample(now time.Time) (cores float32, rss uint64) {
	st, ok := readProcStat()
	if !ok {
		return 0, 0
	}
	if dt := now.Sub(c.at).Seconds(); dt > 0 && st.ticks >= c.ticks {
		cores = float32(float64(st.ticks-c.ticks) / userHZ / dt)
	}
	c.ticks, c.at = st.ticks, now
	return cores, st.rss
}

type procStat struct {
	ticks uint64 // utime + stime
	rss   uint64 // bytes
}

// readProcStat reads /proc/self/stat. The command name (field 2) may hold
// spaces and parentheses, so the fields are counted from its last ')'.
func readProcStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(k int) uint64 { v, _ := strconv.ParseUint(string(f[k-3]), 10, 64); return v }
	return procStat{ticks: num(14) + num(15), rss: num(24) * uint64(os.Getpagesize())}, true
}
