package loadgen

import (
	"fmt"
	"strings"
)

// writeExtras adds the churn, slow-consumer and timeline parts to the human
// summary.
func writeExtras(b *strings.Builder, r *Report) {
	if r.Kinds != nil {
		fmt.Fprintf(b, "by kind    %d batching and %d 2019-style clients in one run\n", r.Kinds.Batching.Clients, r.Kinds.Legacy.Clients)
		writeKinds(b, r.Kinds)
	} else if r.Unbatched > 0 {
		b.WriteString("clients    all act as 2019 clients (no batching)\n")
	}
	if r.Hops != nil {
		b.WriteString("by path    sender and receiver on one server (local) or on two, over a server link (cross)\n")
		writeHops(b, r.Hops)
	}
	if c := r.Churn; c != nil {
		fmt.Fprintf(b, "churn      %d/s: %d left, %d joined, %d joins failed\n", c.PerSec, c.Left, c.Joined, c.JoinFailures)
		for _, e := range c.JoinErrors {
			fmt.Fprintf(b, "  join error: %s\n", e)
		}
	}
	if s := r.Slow; s != nil {
		cut := "not cut by the end of the window"
		if s.CutAtS != nil {
			cut = fmt.Sprintf("all cut at %.1fs", *s.CutAtS)
		}
		fmt.Fprintf(b, "slow       %d clients stopped reading at %.1fs into the window, %d cut (%s)\n", s.Clients, s.StoppedAtS, s.Cut, cut)
		for _, p := range []struct {
			name string
			l    Latency
		}{{"before", s.Before}, {"while", s.While}, {"after", s.After}} {
			fmt.Fprintf(b, "  others %-6s %7d deliveries  p50 %s  p99 %s  p99.9 %s  max %s\n",
				p.name, p.l.Count, us(p.l.P50Us), us(p.l.P99Us), us(p.l.P999Us), us(p.l.MaxUs))
		}
	}
	if len(r.Timeline) > 0 {
		first, last := r.Timeline[0], r.Timeline[len(r.Timeline)-1]
		fmt.Fprintf(b, "timeline   %d samples, %.0fs to %.0fs; loss of due deliveries %.3f%% at the end\n",
			len(r.Timeline), first.AtS, last.AtS, last.CumLossPct)
	}
}
