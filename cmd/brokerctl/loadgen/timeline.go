package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Sample is one point of a run's timeline (Config.SampleEvery).
type Sample struct {
	// AtS is seconds since the window opened (negative in the warm-up).
	AtS       float64 `json:"at_s"`
	Connected int     `json:"connected"`
	// Servers are the processes given by PID, in order.
	Servers []ServerSample `json:"servers"`
	// DeliveriesPerSec is over the interval since the previous sample.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Due and Lost are the window's deliveries so far that are due (sent
	// more than --drain ago) and those of them that have not arrived;
	// LossPct is Lost/Due over the interval since the previous sample,
	// CumLossPct over the window so far.
	Due        uint64  `json:"due"`
	Lost       uint64  `json:"lost"`
	LossPct    float64 `json:"loss_pct"`
	CumLossPct float64 `json:"cum_loss_pct"`
}

// ServerSample is one server process at one sample; a figure that could
// not be read is -1 (Error says why).
type ServerSample struct {
	Name       string `json:"name,omitempty"`
	RSSKB      int64  `json:"rss_kb"`
	FDs        int    `json:"fds"`
	Goroutines int    `json:"goroutines"`
	Error      string `json:"error,omitempty"`
}

// timeline samples every cfg.SampleEvery from windowNs - warm-up on, until
// ctx ends, and returns the samples.
func (e *engine) timeline(ctx context.Context, from int64) []Sample {
	var out []Sample
	t := time.NewTicker(e.cfg.SampleEvery)
	defer t.Stop()
	hc := &http.Client{Timeout: 5 * time.Second}
	var prev Sample
	prevDelivered, prevAt := e.rec.Counts().Delivered, e.rec.Now()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return out
		}
		now := e.rec.Now()
		s := Sample{AtS: time.Duration(now - from).Seconds(), Connected: e.members()}
		for i, pid := range e.cfg.PIDs {
			ss := ServerSample{RSSKB: -1, FDs: -1, Goroutines: -1}
			if i < len(e.cfg.PIDNames) {
				ss.Name = e.cfg.PIDNames[i]
			}
			var errs []string
			if p, err := readProc(pid); err == nil {
				ss.RSSKB = int64(p.rssKB)
			} else {
				errs = append(errs, err.Error())
			}
			if n, err := countFDs(pid); err == nil {
				ss.FDs = n
			} else {
				errs = append(errs, err.Error())
			}
			if i < len(e.cfg.MetricsURLs) && e.cfg.MetricsURLs[i] != "" {
				if n, err := scrapeGauge(ctx, hc, e.cfg.MetricsURLs[i], "go_goroutines"); err == nil {
					ss.Goroutines = int(n)
				} else {
					errs = append(errs, err.Error())
				}
			}
			ss.Error = strings.Join(errs, "; ")
			s.Servers = append(s.Servers, ss)
		}
		c := e.rec.Counts()
		if dt := time.Duration(now - prevAt).Seconds(); dt > 0 {
			s.DeliveriesPerSec = float64(c.Delivered-prevDelivered) / dt
		}
		prevDelivered, prevAt = c.Delivered, now
		o := e.rec.Outstanding(now, e.cfg.Drain)
		s.Due, s.Lost, s.CumLossPct = o.Due, o.Lost, o.LossPct()
		if d := o.Due - prev.Due; o.Due > prev.Due {
			s.LossPct = 100 * float64(o.Lost-min(prev.Lost, o.Lost)) / float64(d)
		}
		prev = s
		out = append(out, s)
	}
}

// members counts the clients whose account is open.
func (e *engine) members() int {
	e.roster.mu.RLock()
	defer e.roster.mu.RUnlock()
	n := 0
	for _, v := range e.roster.open {
		n += v
	}
	return n
}

// countFDs counts a process's open file descriptors.
func countFDs(pid int) (int, error) {
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d fds: %w", pid, err)
	}
	return len(d), nil
}

// scrapeGauge reads one unlabelled sample of a Prometheus text exposition.
func scrapeGauge(ctx context.Context, hc *http.Client, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("metrics %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics %s: %s", url, resp.Status)
	}
	return parseGauge(bufio.NewScanner(resp.Body), name, url)
}

func parseGauge(sc *bufio.Scanner, name, url string) (float64, error) {
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metrics %s: %s: %w", url, name, err)
			}
			return f, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("metrics %s: %w", url, err)
	}
	return 0, fmt.Errorf("metrics %s: no %s sample", url, name)
}
