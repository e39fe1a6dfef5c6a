package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// The world step-up answers issue 14's "how many clients one server holds at
// 10 updates/s with interest on": the "on" phase at growing client counts,
// each in a world sized for the same density (Size at Clients, e.g.
// 1,000 x 1,000 for 500), until a step is not sustained.

// Sustained thresholds of a step: what it delivered against what its
// geometry says it should, and its delivery latency.
const (
	SustainedDeliveryRatio = 0.99
	SustainedP99Ms         = 100.0
)

// WorldStepsReport is a step-up's result: a step per client count run, and
// the largest count sustained.
type WorldStepsReport struct {
	Rate    float64     `json:"rate"`
	Radius  float64     `json:"radius"`
	Cell    float64     `json:"cell"`
	Density float64     `json:"density"` // clients per 1,000 x 1,000
	Steps   []WorldStep `json:"steps"`
	// Held is the largest sustained client count (0: none was).
	Held int `json:"held"`
}

// WorldStep is one client count of a step-up.
type WorldStep struct {
	Clients   int        `json:"clients"`
	Connected int        `json:"connected"`
	Size      float64    `json:"size"`
	Phase     WorldPhase `json:"phase"`
	Sustained bool       `json:"sustained"`
	// Why says which threshold a step missed ("" when sustained).
	Why string `json:"why,omitempty"`
}

// StepSize is the side of the world that gives n clients the density of
// cfg.Clients in cfg.Size x cfg.Size.
func StepSize(cfg WorldConfig, n int) float64 {
	return cfg.Size * math.Sqrt(float64(n)/float64(cfg.Clients))
}

// judge says whether a step is sustained, and if not why.
func judge(n, connected int, p WorldPhase) (bool, string) {
	switch {
	case connected < n:
		return false, fmt.Sprintf("%d of %d clients connected", connected, n)
	case p.ExpectedPerSec > 0 && p.DeliveriesPerSec < SustainedDeliveryRatio*p.ExpectedPerSec:
		return false, fmt.Sprintf("delivered %.1f %% of expected", 100*p.DeliveriesPerSec/p.ExpectedPerSec)
	case p.LatencyP99Ms >= SustainedP99Ms:
		return false, fmt.Sprintf("p99 %.0f ms", p.LatencyP99Ms)
	}
	return true, ""
}

// RunWorldSteps runs the "on" phase for each client count of steps, in
// order, each on fresh clients in a world of cfg's density, and stops after
// the first step that is not sustained (the next ones would not be either,
// and the bench's time is better spent elsewhere).
func RunWorldSteps(ctx context.Context, cfg WorldConfig, steps []int) (*WorldStepsReport, error) {
	base, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("world steps: none given")
	}
	rep := &WorldStepsReport{Rate: base.Rate, Radius: base.Radius, Cell: base.Cell,
		Density: float64(base.Clients) * 1e6 / (base.Size * base.Size)}
	for _, n := range steps {
		if n < 2 {
			return rep, fmt.Errorf("world step %d: at least 2 clients", n)
		}
		c := base
		c.Clients, c.Size, c.Phases = n, StepSize(base, n), []string{"on"}
		started := time.Now()
		r, err := RunWorld(ctx, c)
		st := WorldStep{Clients: n, Size: c.Size}
		switch {
		case ctx.Err() != nil:
			return rep, fmt.Errorf("world step %d clients: %w", n, ctx.Err())
		case err != nil || len(r.Phases) == 0: // the server could not take the step at all
			st.Why = fmt.Sprintf("failed: %v", err)
			if r != nil {
				st.Connected = r.Connected
			}
		default:
			st.Connected, st.Phase = r.Connected, r.Phases[0]
			st.Sustained, st.Why = judge(n, r.Connected, st.Phase)
		}
		rep.Steps = append(rep.Steps, st)
		base.Logger.Info("world step", "clients", n, "sustained", st.Sustained, "why", st.Why, "took", time.Since(started).Round(time.Second))
		if !st.Sustained {
			break
		}
		rep.Held = n
	}
	return rep, nil
}

// WriteText prints a row per step and the verdict.
func (r *WorldStepsReport) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "world step-up, interest on: %.0f clients per 1,000 x 1,000, %.3g updates/s each; cell %.3g, radius %.3g; "+
		"sustained = deliveries >= %.0f %% of expected and p99 < %.0f ms\n",
		r.Density, r.Rate, r.Cell, r.Radius, 100*SustainedDeliveryRatio, SustainedP99Ms); err != nil {
		return err
	}
	fmt.Fprintf(w, "%8s %10s %8s %14s %14s %9s %16s %12s %9s %9s  %s\n", "clients", "connected", "size", "deliveries/s",
		"expected/s", "ratio %", "bytes/client/s", "server CPU%", "p50 ms", "p99 ms", "sustained")
	for _, s := range r.Steps {
		p := s.Phase
		ratio := 0.0
		if p.ExpectedPerSec > 0 {
			ratio = 100 * p.DeliveriesPerSec / p.ExpectedPerSec
		}
		verdict := "yes"
		if !s.Sustained {
			verdict = "no: " + s.Why
		}
		if _, err := fmt.Fprintf(w, "%8d %10d %8.0f %14.0f %14.0f %9.1f %16.0f %12.1f %9.2f %9.2f  %s\n", s.Clients, s.Connected, s.Size,
			p.DeliveriesPerSec, p.ExpectedPerSec, ratio, p.BytesPerClientPerSec, p.ServerCPUPct, p.LatencyP50Ms, p.LatencyP99Ms, verdict); err != nil {
			return err
		}
	}
	held := "none of the steps"
	if r.Held > 0 {
		held = fmt.Sprintf("%d clients", r.Held)
		if last := r.Steps[len(r.Steps)-1]; last.Sustained {
			held += " (every step; the ceiling is above the last)"
		}
	}
	_, err := fmt.Fprintf(w, "held: %s\n", held)
	return err
}
