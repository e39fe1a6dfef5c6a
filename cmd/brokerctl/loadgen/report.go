package loadgen

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of one load run: what the CLI prints and what --json
// writes for the bench suite.
type Report struct {
	Scenario Scenario `json:"scenario"`
	Channel  string   `json:"channel"` // "reliable" or "unreliable"
	Clients  int      `json:"clients"`
	// Connected clients took part; the others failed to dial or subscribe
	// (ConnectErrors holds a few of the reasons).
	Connected     int      `json:"connected"`
	ConnectErrors []string `json:"connect_errors,omitempty"`
	// Disconnected counts clients that dropped during the run.
	Disconnected int `json:"disconnected"`
	// ClientsPerServer counts connected clients by server alias.
	ClientsPerServer map[string]int `json:"clients_per_server"`

	Rate            float64 `json:"rate"` // messages per second per client
	BodySize        int     `json:"body_size"`
	Topics          int     `json:"topics"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	WindowSeconds   float64 `json:"window_seconds"` // the measured window (shorter if interrupted)
	Interrupted     bool    `json:"interrupted,omitempty"`
	PublishFailures uint64  `json:"publish_failures"`
	// Unbatched is how many clients acted as 2019 clients (no batching);
	// Kinds splits a mixed run by receiver kind.
	Unbatched int          `json:"unbatched"`
	Kinds     *KindsResult `json:"kinds,omitempty"`
	// Hops splits a run whose clients are on several servers by path:
	// sender and receiver on one server, or across a server link.
	Hops *HopsResult `json:"hops,omitempty"`

	Counts
	LossPct          float64 `json:"loss_pct"`
	TargetSentPerSec float64 `json:"target_sent_per_sec"`
	SentPerSec       float64 `json:"sent_per_sec"`
	ExpectedPerSec   float64 `json:"expected_per_sec"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Latency          Latency `json:"latency"`

	// Servers are the processes given by pid, over the measured window (for
	// join-storm: from before the first dial to the end of the idle hold).
	Servers []ProcUsage `json:"servers,omitempty"`
	// ServerCPUSeconds sums the servers' CPU; per delivery it is the cost the
	// ceiling is compared with.
	ServerCPUSeconds       float64 `json:"server_cpu_seconds"`
	ServerCPUPerDeliveryUs float64 `json:"server_cpu_per_delivery_us"`
	// Generator is this process, over the same span as Servers.
	Generator ProcUsage `json:"generator"`
	// UDP is the machine's UDP traffic over the window (every process, see
	// UDPStats); DatagramsPerDelivery is its out-datagrams per delivery.
	UDP                  *UDPStats `json:"udp,omitempty"`
	DatagramsPerDelivery float64   `json:"datagrams_per_delivery,omitempty"`

	JoinStorm *JoinStormResult `json:"join_storm,omitempty"`
	Churn     *ChurnResult     `json:"churn,omitempty"`
	Slow      *SlowResult      `json:"slow,omitempty"`
	Timeline  []Sample         `json:"timeline,omitempty"`
}

// JoinStormResult is what the join-storm scenario measures.
type JoinStormResult struct {
	// AllConnected and AllSubscribed are the times from the start of the
	// storm until the last client had its channels open, and until the last
	// client's subscription was applied by its server (Subscribe returned).
	AllConnectedMs  float64 `json:"all_connected_ms"`
	AllSubscribedMs float64 `json:"all_subscribed_ms"`
	// Dial and Subscribed are the per-client times from the start of the
	// storm, in microseconds.
	Dial       Latency `json:"dial"`
	Subscribed Latency `json:"subscribed"`
	// ServerRSSDeltaKB is the servers' RSS at the end of the idle hold
	// minus before the storm; per client, once the hold has seen a GC
	// (IdleGCs > 0), it is the memory an idle connected client costs in
	// steady state.
	ServerRSSDeltaKB     int64   `json:"server_rss_delta_kb"`
	ServerRSSPerClientKB float64 `json:"server_rss_per_client_kb"`
	IdleSeconds          float64 `json:"idle_seconds"`
	// AfterStorm* is the same reading AfterStormSeconds into the hold
	// (afterStormRead): right after the storm, before the idle heap's
	// growth, so lower than the steady state.
	AfterStormRSSDeltaKB     int64   `json:"after_storm_rss_delta_kb"`
	AfterStormRSSPerClientKB float64 `json:"after_storm_rss_per_client_kb"`
	AfterStormSeconds        float64 `json:"after_storm_seconds"`
	// IdleGCs is how many GC cycles the servers ran during the hold (-1:
	// unknown, no --metrics). HeapInuseKB, StackInuseKB and Goroutines are
	// the servers' Go runtime figures at its end (0: unknown), summed.
	IdleGCs      int64 `json:"idle_gcs"`
	HeapInuseKB  int64 `json:"heap_inuse_kb,omitempty"`
	StackInuseKB int64 `json:"stack_inuse_kb,omitempty"`
	Goroutines   int64 `json:"goroutines,omitempty"`
}

// SteadyState reports whether the end-of-hold reading is an idle server's
// steady state: a GC ran during the hold.
func (js *JoinStormResult) SteadyState() bool { return js.IdleGCs > 0 }

func us(v int64) string {
	return fmtDuration(time.Duration(v) * time.Microsecond)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
}

// WriteText writes the human summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s, %s channel, %d/%d clients connected", r.Scenario, r.Channel, r.Connected, r.Clients)
	if len(r.ClientsPerServer) > 0 {
		fmt.Fprintf(&b, " (per server: %s)", spread(r.ClientsPerServer))
	}
	b.WriteString("\n")
	for _, e := range r.ConnectErrors {
		fmt.Fprintf(&b, "  connect error: %s\n", e)
	}
	if r.Interrupted {
		b.WriteString("interrupted: figures cover the part of the window that ran\n")
	}
	if js := r.JoinStorm; js != nil {
		fmt.Fprintf(&b, "join storm: all connected in %s, all subscribed in %s\n",
			fmtDuration(msDur(js.AllConnectedMs)), fmtDuration(msDur(js.AllSubscribedMs)))
		fmt.Fprintf(&b, "  dial       p50 %s  p90 %s  p99 %s  max %s\n", us(js.Dial.P50Us), us(js.Dial.P90Us), us(js.Dial.P99Us), us(js.Dial.MaxUs))
		fmt.Fprintf(&b, "  subscribed p50 %s  p90 %s  p99 %s  max %s\n", us(js.Subscribed.P50Us), us(js.Subscribed.P90Us), us(js.Subscribed.P99Us), us(js.Subscribed.MaxUs))
		fmt.Fprintf(&b, "  server RSS +%d KiB %.0fs after the storm: %.1f KiB per client\n", js.AfterStormRSSDeltaKB, js.AfterStormSeconds, js.AfterStormRSSPerClientKB)
		fmt.Fprintf(&b, "  server RSS +%d KiB after %.0fs idle (%s): %.1f KiB per client\n", js.ServerRSSDeltaKB, js.IdleSeconds, js.gcNote(), js.ServerRSSPerClientKB)
		if js.Goroutines > 0 && r.Connected > 0 {
			n := float64(r.Connected)
			fmt.Fprintf(&b, "  server heap in use %.1f KiB, stacks %.1f KiB, %.1f goroutines per client\n",
				float64(js.HeapInuseKB)/n, float64(js.StackInuseKB)/n, float64(js.Goroutines)/n)
		}
	} else {
		fmt.Fprintf(&b, "load: %.0f msg/s per client, %d-byte bodies, %.1fs window after %.1fs warm-up\n",
			r.Rate, r.BodySize, r.WindowSeconds, r.WarmupSeconds)
		fmt.Fprintf(&b, "sent       %d (%.0f/s, target %.0f/s), publish failures %d\n", r.Sent, r.SentPerSec, r.TargetSentPerSec, r.PublishFailures)
		fmt.Fprintf(&b, "deliveries %d of %d expected: %.0f/s of %.0f/s, loss %.3f%%\n",
			r.Delivered, r.Expected, r.DeliveriesPerSec, r.ExpectedPerSec, r.LossPct)
		fmt.Fprintf(&b, "order      %d out of order, %d duplicates, %d stray\n", r.OutOfOrder, r.Duplicates, r.Stray)
		l := r.Latency
		fmt.Fprintf(&b, "latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", us(l.P50Us), us(l.P90Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs))
	}
	writeExtras(&b, r)
	if r.Disconnected > 0 {
		fmt.Fprintf(&b, "disconnected during the run: %d clients\n", r.Disconnected)
	}
	for _, s := range r.Servers {
		fmt.Fprintf(&b, "server pid %d %s: CPU %.2fs, RSS %d -> %d KiB, peak %d KiB", s.PID, s.Name, s.CPUSeconds, s.RSSStartKB, s.RSSEndKB, s.PeakRSSKB)
		if s.Error != "" {
			fmt.Fprintf(&b, " (%s)", s.Error)
		}
		b.WriteString("\n")
	}
	if len(r.Servers) > 0 && r.JoinStorm == nil {
		fmt.Fprintf(&b, "server CPU %.2fs = %.2f µs per delivery\n", r.ServerCPUSeconds, r.ServerCPUPerDeliveryUs)
	}
	if r.UDP != nil {
		fmt.Fprintf(&b, "UDP on the machine: %d datagrams out (%.2f per delivery), %d dropped by full receive buffers\n",
			r.UDP.OutDatagrams, r.DatagramsPerDelivery, r.UDP.RcvbufErrors)
	}
	fmt.Fprintf(&b, "generator CPU %.2fs, peak RSS %d KiB\n", r.Generator.CPUSeconds, r.Generator.PeakRSSKB)
	_, err := io.WriteString(w, b.String())
	return err
}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func spread(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// gcNote says whether the end-of-hold reading is a steady state.
func (js *JoinStormResult) gcNote() string {
	switch {
	case js.IdleGCs < 0:
		return "GCs unknown: no --metrics"
	case js.IdleGCs == 0:
		return "no GC during the hold: not yet the steady state"
	}
	return fmt.Sprintf("%d GC during the hold: steady state", js.IdleGCs)
}
