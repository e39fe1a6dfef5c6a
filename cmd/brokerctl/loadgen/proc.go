package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// procSample is what one read of /proc/PID says about a process.
type procSample struct {
	cpuTicks uint64 // utime + stime, in clock ticks
	rssKB    uint64 // VmRSS
	hwmKB    uint64 // VmHWM: the peak RSS since the process started
}

// parseStat returns utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (uint64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	// After ')' come field 3 (state) onwards; utime and stime are fields 14, 15.
	f := bytes.Fields(b[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("stat: %d fields after the command name, want more than %d", len(f), stime)
	}
	u, err := strconv.ParseUint(string(f[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	s, err := strconv.ParseUint(string(f[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return u + s, nil
}

// parseStatus returns VmRSS and VmHWM in KiB from /proc/PID/status.
func parseStatus(b []byte) (rssKB, hwmKB uint64, err error) {
	var haveRSS, haveHWM bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "VmRSS":
			dst, haveRSS = &rssKB, true
		case "VmHWM":
			dst, haveHWM = &hwmKB, true
		default:
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, 0, fmt.Errorf("status %s: unexpected value %q", key, val)
		}
		if *dst, err = strconv.ParseUint(string(f[0]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("status %s: %w", key, err)
		}
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("status: no VmRSS or VmHWM line (a kernel thread or a zombie?)")
	}
	return rssKB, hwmKB, nil
}

// clockTicks returns the kernel's clock ticks per second (sysconf CLK_TCK),
// read from this process's ELF auxiliary vector (AT_CLKTCK = 17), so no cgo
// is needed. Linux has used 100 everywhere for decades; that is the fallback.
func clockTicks() uint64 {
	const fallback = 100
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return fallback
	}
	return parseAuxvClockTicks(b, fallback)
}

func parseAuxvClockTicks(b []byte, fallback uint64) uint64 {
	const atClkTck = 17
	// auxv is a list of (type, value) pairs of native words; 64-bit only here.
	for i := 0; i+16 <= len(b); i += 16 {
		typ := binary.NativeEndian.Uint64(b[i:])
		if typ == 0 {
			break
		}
		if typ == atClkTck {
			if v := binary.NativeEndian.Uint64(b[i+8:]); v > 0 {
				return v
			}
		}
	}
	return fallback
}

func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	var s procSample
	if s.cpuTicks, err = parseStat(stat); err != nil {
		return procSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if s.rssKB, s.hwmKB, err = parseStatus(status); err != nil {
		return procSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return s, nil
}

// ProcUsage is what a process used during a measurement window.
type ProcUsage struct {
	PID        int     `json:"pid"`
	Name       string  `json:"name,omitempty"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSS at the start and end of the window and the highest seen while
	// sampling, in KiB.
	RSSStartKB uint64 `json:"rss_start_kb"`
	RSSEndKB   uint64 `json:"rss_end_kb"`
	PeakRSSKB  uint64 `json:"peak_rss_kb"`
	Error      string `json:"error,omitempty"`
}

// ProcSampler follows the CPU time and RSS of a set of processes: CPU is the
// difference between Mark and Stop, RSS peaks are sampled every interval in
// between (and VmHWM is not used for the peak, since it covers the process's
// whole life, not the window).
type ProcSampler struct {
	pids  []int
	names []string
	tick  float64 // clock ticks per second

	mu    sync.Mutex // guards start, last, peak, err
	start []procSample
	last  []procSample
	peak  []uint64
	err   []error
}

// NewProcSampler follows pids; names label them in reports and may be nil.
func NewProcSampler(pids []int, names []string) *ProcSampler {
	n := len(pids)
	s := &ProcSampler{
		pids: pids, names: make([]string, n), tick: float64(clockTicks()),
		start: make([]procSample, n), last: make([]procSample, n),
		peak: make([]uint64, n), err: make([]error, n),
	}
	copy(s.names, names)
	return s
}

// Mark starts the window: CPU is counted from here and the RSS peak restarts.
func (s *ProcSampler) Mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, pid := range s.pids {
		p, err := readProc(pid)
		s.start[i], s.last[i], s.peak[i], s.err[i] = p, p, p.rssKB, err
	}
}

func (s *ProcSampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, pid := range s.pids {
		if s.err[i] != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			// A process that exited keeps its last sample; say why.
			s.err[i] = err
			continue
		}
		s.last[i] = p
		s.peak[i] = max(s.peak[i], p.rssKB)
	}
}

// Run samples every interval until ctx ends.
func (s *ProcSampler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

// Usage takes a last sample and returns each process's use since Mark.
func (s *ProcSampler) Usage() []ProcUsage {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProcUsage, len(s.pids))
	for i, pid := range s.pids {
		u := ProcUsage{
			PID: pid, Name: s.names[i],
			CPUSeconds: float64(s.last[i].cpuTicks-s.start[i].cpuTicks) / s.tick,
			RSSStartKB: s.start[i].rssKB, RSSEndKB: s.last[i].rssKB, PeakRSSKB: s.peak[i],
		}
		if s.err[i] != nil {
			u.Error = s.err[i].Error()
		}
		out[i] = u
	}
	return out
}
