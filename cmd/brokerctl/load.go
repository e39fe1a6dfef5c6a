package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

func init() {
	register(subcommand{
		name:  "load",
		usage: "simulated clients publishing and receiving through a cluster: load figures (brokerctl load -h)",
		run:   runLoad,
	})
}

// runLoad parses the flags into a loadgen.Config, runs it, and prints the
// summary (or the JSON report). Progress goes to stderr once a second.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("load", "[flags]")
	var cfg loadgen.Config
	var scenarioNames []string
	for _, s := range loadgen.Scenarios {
		scenarioNames = append(scenarioNames, string(s))
	}
	fs.StringVar(&cfg.CoordinatorURL, "coordinator", "ws://127.0.0.1:9090", "coordinator URL")
	fs.IntVar(&cfg.Clients, "clients", 50, "simulated clients")
	fs.IntVar(&cfg.Unbatched, "unbatched", 0, "this many clients (the first ones) act as 2019 clients: no FEATURE_BATCH in AUTH, so the server never batches to them; the others batch (the SDK's default). Fewer than --clients: the report splits the two kinds; --clients or more: all are 2019-style")
	scenario := fs.String("scenario", "dense", "scenario: "+strings.Join(scenarioNames, ", "))
	fs.Float64Var(&cfg.Rate, "rate", 20, "messages per second each client publishes")
	fs.IntVar(&cfg.BodySize, "size", 100, fmt.Sprintf("body size in bytes (at least %d)", loadgen.MinBodySize))
	fs.BoolVar(&cfg.Reliable, "reliable", false, "publish on the reliable (ordered) channel instead of the unreliable one")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window (join-storm: idle hold before server memory is read)")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load before the window opens, not counted")
	fs.IntVar(&cfg.Topics, "topics", 0, "sparse: number of topics (default clients/5)")
	fs.StringVar(&cfg.Topic, "topic", "", "topic, or topic prefix for sparse (default load.<scenario>)")
	fs.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", 0, "dials in flight at once (default 16; join-storm: all clients)")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 30*time.Second, "bound on one client's dial and subscribe")
	fs.DurationVar(&cfg.Drain, "drain", 2*time.Second, "longest wait after the window for messages in flight")
	pids := fs.String("pids", "", "server processes to measure (CPU seconds, RSS): PID or NAME=PID, comma separated")
	query := fs.String("query", "", "query string every client adds to the coordinator URL (credentials), e.g. token=...")
	token := fs.String("token", "", "a token for the token auth plugin: sent in the query and as the AUTH body")
	authBody := fs.String("auth-body", "", "AUTH body every client sends on the data channel")
	var headers headerFlag
	fs.Var(&headers, "header", "HTTP header for the coordinator request, 'Name: value' (repeatable)")
	loopback := fs.Bool("loopback-only", true, "webrtc.loopback_only for the clients")
	coordCA := fs.String("coordinator-ca", "", "PEM file of the CA a wss:// coordinator is verified against (default: the system roots)")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout instead of the summary")
	quiet := fs.Bool("quiet", false, "no progress line")
	logLevel := fs.String("log-level", "warn", "client log level on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	churn := fs.String("churn", "", "N/s: N clients leave and N new ones join in their place every second; a leaving client's messages still in flight are not loss (see loadgen/roster.go)")
	fs.IntVar(&cfg.Slow, "slow", 0, "N clients stop reading --slow-after into the window, so the server cuts them as slow consumers; the report gives everyone else's latency before, while and after (use --reliable)")
	fs.DurationVar(&cfg.SlowAfter, "slow-after", 0, "when the --slow clients stop reading, into the window (default a third of --duration)")
	fs.DurationVar(&cfg.SampleEvery, "sample-every", 0, "add a timeline to the report: server RSS, open files, goroutines and loss at this interval")
	var world loadgen.WorldConfig
	fs.Float64Var(&world.Size, "world-size", 1000, "world: side of the square world")
	fs.Float64Var(&world.Speed, "world-speed", 10, "world: how far a client moves per second")
	fs.Float64Var(&world.Cell, "world-cell", 16, "world: cell size, as in the servers' worlds config of --topic")
	fs.Float64Var(&world.Radius, "world-radius", 64, "world: radius, as in the servers' worlds config of --topic")
	worldPhases := fs.String("world-phases", "off,on", "world: phases in order: off (one ordinary topic, all to all), on (the world topic, spatial interest)")
	worldSteps := fs.String("world-steps", "", "world: a step-up instead of the phases: interest on at each of these client counts (e.g. 100,250,500), each in a world of the density of --clients in --world-size, until one is not sustained (deliveries >= 99 % of expected, p99 < 100 ms)")
	metrics := fs.String("metrics", "", "the servers' /metrics URLs, comma separated, in the order of --pids (goroutines for the timeline)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "brokerctl load: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	usageErr := func(err error) int {
		fmt.Fprintln(stderr, "brokerctl load:", err)
		return 2
	}
	sc, err := loadgen.ParseScenario(*scenario)
	if err != nil {
		return usageErr(err)
	}
	cfg.Scenario = sc
	if cfg.PIDs, cfg.PIDNames, err = parsePIDs(*pids); err != nil {
		return usageErr(err)
	}
	if cfg.Churn, err = parseChurn(*churn); err != nil {
		return usageErr(err)
	}
	for u := range strings.SplitSeq(*metrics, ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.MetricsURLs = append(cfg.MetricsURLs, u)
		}
	}
	if cfg.Query, err = url.ParseQuery(*query); err != nil {
		return usageErr(fmt.Errorf("--query: %w", err))
	}
	if *token != "" {
		cfg.Query.Set("token", *token)
		if *authBody == "" {
			*authBody = *token
		}
	}
	cfg.AuthBody = []byte(*authBody)
	cfg.Header = headers.h
	cfg.WebRTC = rtcconfig.Config{LoopbackOnly: *loopback}
	if *coordCA != "" {
		pemBytes, err := os.ReadFile(*coordCA)
		if err != nil {
			return usageErr(fmt.Errorf("--coordinator-ca: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return usageErr(fmt.Errorf("--coordinator-ca %s: no PEM certificate in it", *coordCA))
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if cfg.Logger, err = logging.New(logging.Config{Level: *logLevel, Format: "text"}, stderr); err != nil {
		return usageErr(err)
	}
	if !*quiet {
		cfg.Progress = stderr
		cfg.ProgressInPlace = isTerminal(stderr)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usageErr(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageErr(err)
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Scenario == loadgen.World {
		if *worldSteps != "" {
			steps, err := parseSteps(*worldSteps)
			if err != nil {
				return usageErr(fmt.Errorf("--world-steps: %w", err))
			}
			return runWorldSteps(ctx, cfg, world, steps, *asJSON, stdout, stderr)
		}
		return runWorld(ctx, cfg, world, *worldPhases, *asJSON, stdout, stderr)
	}
	rep, err := loadgen.Run(ctx, cfg)
	return writeReport(rep, err, *asJSON, stdout, stderr)
}

// textReport is what every scenario's report can do besides JSON.
type textReport interface{ WriteText(io.Writer) error }

// writeReport writes a run's report as JSON or text, or its error (err
// from the run): the command's exit code.
func writeReport(rep textReport, err error, asJSON bool, stdout, stderr io.Writer) int {
	if err == nil {
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(rep)
		} else {
			err = rep.WriteText(stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "brokerctl load:", err)
		return 1
	}
	return 0
}

// parsePIDs reads "123,server2=456" into pids and their names.
func parsePIDs(s string) (pids []int, names []string, err error) {
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, num, ok := strings.Cut(item, "=")
		if !ok {
			name, num = "", item
		}
		pid, err := strconv.Atoi(num)
		if err != nil || pid <= 0 {
			return nil, nil, fmt.Errorf("--pids: %q is not a PID or NAME=PID", item)
		}
		pids, names = append(pids, pid), append(names, name)
	}
	return pids, names, nil
}

// parseChurn reads "N/s" (or a bare N) into clients per second.
func parseChurn(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	num := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--churn %q: want N/s, N clients a second", s)
	}
	return n, nil
}

// headerFlag collects repeated --header 'Name: value' flags.
type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string { return "" }

func (f *headerFlag) Set(v string) error {
	name, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	if f.h == nil {
		f.h = http.Header{}
	}
	f.h.Add(strings.TrimSpace(name), strings.TrimSpace(val))
	return nil
}

// isTerminal reports whether w is a character device, where the progress
// line can be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// worldFrom fills w's common fields from cfg.
func worldFrom(cfg loadgen.Config, w loadgen.WorldConfig) loadgen.WorldConfig {
	w.CoordinatorURL, w.Clients, w.Rate, w.BodySize = cfg.CoordinatorURL, cfg.Clients, cfg.Rate, cfg.BodySize
	w.Duration, w.Warmup, w.Topic = cfg.Duration, cfg.Warmup, cfg.Topic
	w.Query, w.Header, w.AuthBody, w.WebRTC, w.TLSConfig = cfg.Query, cfg.Header, cfg.AuthBody, cfg.WebRTC, cfg.TLSConfig
	w.PIDs, w.PIDNames, w.Logger = cfg.PIDs, cfg.PIDNames, cfg.Logger
	return w
}

// parseSteps reads "100,250,500": client counts, increasing.
func parseSteps(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("%q: want client counts of at least 2, comma separated", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%d after %d: want increasing counts", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}

// runWorldSteps runs the world step-up (loadgen.RunWorldSteps).
func runWorldSteps(ctx context.Context, cfg loadgen.Config, w loadgen.WorldConfig, steps []int, asJSON bool, stdout, stderr io.Writer) int {
	rep, err := loadgen.RunWorldSteps(ctx, worldFrom(cfg, w), steps)
	return writeReport(rep, err, asJSON, stdout, stderr)
}

// runWorld runs the world scenario (loadgen.World): the servers must declare
// --topic (default world.load) in their worlds config with --world-cell and
// --world-radius.
func runWorld(ctx context.Context, cfg loadgen.Config, w loadgen.WorldConfig, phases string, asJSON bool, stdout, stderr io.Writer) int {
	w = worldFrom(cfg, w)
	for p := range strings.SplitSeq(phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			w.Phases = append(w.Phases, p)
		}
	}
	rep, err := loadgen.RunWorld(ctx, w)
	return writeReport(rep, err, asJSON, stdout, stderr)
}
