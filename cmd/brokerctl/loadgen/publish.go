package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/backoff"
)

// load runs the publishing scenarios: warm-up, the measured window, then a
// drain for the messages still in flight.
// servers and self (the generator) are measured over the window.
func (e *engine) load(ctx context.Context, rep *Report, servers, self *ProcSampler) {
	start := e.rec.Now()
	from := start + int64(e.cfg.Warmup)
	to := from + int64(e.cfg.Duration)
	e.rec.SetWindow(from, to)
	e.phase.Store("warm-up")
	e.slowStart()

	var wg sync.WaitGroup
	for s := range min(schedulers, len(e.clients)) {
		wg.Add(1)
		go func() { defer wg.Done(); e.schedule(ctx, s, start, to) }()
	}
	// Churn, slow consumers and the timeline end with the window.
	extrasCtx, endExtras := context.WithCancel(ctx)
	defer endExtras()
	var extras, leavers sync.WaitGroup
	var churned *ChurnResult
	if e.cfg.Churn > 0 {
		churned = &ChurnResult{PerSec: e.cfg.Churn}
		extras.Add(1)
		go func() { defer extras.Done(); e.churn(extrasCtx, ctx, to, churned, &leavers) }()
	}
	if e.cfg.Slow > 0 {
		after := e.cfg.SlowAfter
		if after <= 0 {
			after = e.cfg.Duration / 3
		}
		extras.Add(1)
		go func() { defer extras.Done(); e.slowDown(extrasCtx, ctx, from+int64(after), &leavers) }()
	}
	var samples []Sample
	if e.cfg.SampleEvery > 0 {
		extras.Add(1)
		go func() { defer extras.Done(); samples = e.timeline(extrasCtx, from) }()
	}

	// The server CPU is read exactly over the window.
	interrupted := !e.sleepUntil(ctx, from)
	udp0, udpErr := ReadUDPStats()
	if !interrupted {
		servers.Mark()
		self.Mark()
		e.phase.Store("measuring")
		interrupted = !e.sleepUntil(ctx, to)
	}
	end := min(e.rec.Now(), to)
	udp1, udpErr1 := ReadUDPStats()
	if interrupted {
		// Messages stamped after now were never sent: close the window here.
		e.rec.SetWindow(from, max(end, from))
	}
	rep.Servers = servers.Usage()
	rep.Generator = self.Usage()[0]
	wg.Wait()
	endExtras()
	extras.Wait()
	leavers.Wait()
	rep.Churn, rep.Slow, rep.Timeline = churned, e.slowResult(from), samples

	e.phase.Store("draining")
	e.drain(ctx)

	rep.Interrupted = interrupted
	rep.WarmupSeconds = e.cfg.Warmup.Seconds()
	window := time.Duration(max(end-from, 0))
	rep.WindowSeconds = window.Seconds()
	rep.Counts = e.rec.Counts()
	rep.LossPct = rep.Counts.LossPct()
	rep.Latency = e.rec.Latency()
	if udpErr == nil && udpErr1 == nil {
		d := udp1.Sub(udp0)
		rep.UDP = &d
		if rep.Delivered > 0 {
			rep.DatagramsPerDelivery = float64(d.OutDatagrams) / float64(rep.Delivered)
		}
	}
	rep.PublishFailures = e.publishFails.Load()
	rep.TargetSentPerSec = e.cfg.Rate * float64(rep.Connected)
	if window > 0 {
		secs := window.Seconds()
		rep.SentPerSec = float64(rep.Sent) / secs
		rep.ExpectedPerSec = float64(rep.Expected) / secs
		rep.DeliveriesPerSec = float64(rep.Delivered) / secs
	}
	if interrupted {
		// Server CPU was not read over a window of known length.
		for i := range rep.Servers {
			if rep.Servers[i].Error == "" {
				rep.Servers[i].Error = "interrupted"
			}
		}
	}
}

// sleepUntil waits until the recorder's clock reads ns; false if ctx ended
// first.
func (e *engine) sleepUntil(ctx context.Context, ns int64) bool {
	return backoff.Wait(ctx.Done(), time.Duration(ns-e.rec.Now()))
}

// drain waits, after the window, until every expected delivery arrived or
// none arrived for a while, within cfg.Drain.
func (e *engine) drain(ctx context.Context) {
	const quiet = 300 * time.Millisecond
	deadline := time.NewTimer(e.cfg.Drain)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	last, lastChange := e.rec.Counts().Delivered, time.Now()
	for {
		c := e.rec.Counts()
		if c.Delivered >= c.Expected {
			return
		}
		if c.Delivered != last {
			last, lastChange = c.Delivered, time.Now()
		} else if time.Since(lastChange) >= quiet {
			return
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// schedule publishes for the slots i with i%schedulers == s, each at
// cfg.Rate from start until the window closes at to (ns since the recorder's
// epoch). Slot phases are spread evenly over one period, so the load is
// smooth rather than one burst per period. It owns the bodies and sequence
// numbers of its slots: a slot's sequence goes on across the clients that
// hold it in turn (--churn), and the messages due while nobody holds it are
// skipped, not sent in a burst later.
func (e *engine) schedule(ctx context.Context, s int, start, to int64) {
	type pub struct {
		i      int
		offset int64 // ns after start of the slot's first message
		sent   int64
		body   []byte
		dead   *member // the member whose publish failed
	}
	period := float64(time.Second) / e.cfg.Rate
	n := len(e.clients)
	var mine []*pub
	for i := s; i < n; i += schedulers {
		if e.clients[i] == nil {
			continue
		}
		// NewBody cannot fail: withDefaults checked the size.
		body, _ := NewBody(e.cfg.BodySize)
		mine = append(mine, &pub{i: i, offset: int64(period * float64(i) / float64(n)), body: body})
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		now := e.rec.Now()
		if now >= to {
			return
		}
		for _, p := range mine {
			if now < start+p.offset {
				continue
			}
			due := int64(float64(now-start-p.offset)/period) + 1
			m := e.slots[p.i].Load()
			if m == nil || m == p.dead {
				p.sent = due
				continue
			}
			topic := e.plan.publish[p.i]
			for p.sent < due {
				stampNs, fanout, ok := e.roster.stamp(m.r, topic)
				if !ok { // it has just left
					p.sent = due
					break
				}
				if stampNs >= to {
					return
				}
				p.sent++
				EncodeStamp(p.body, Stamp{Sender: uint32(p.i), Seq: withGen(m.gen, uint64(p.sent)), SentNs: stampNs})
				if err := m.c.Publish(topic, p.body, e.channel); err != nil {
					// The client is gone (counted as disconnected at the end).
					e.publishFails.Add(1)
					p.dead = m
					break
				}
				e.rec.Sent(stampNs, fanout)
				e.rawSent.Add(1)
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
