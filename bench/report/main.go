// Command report turns the raw results of bench/run.sh into
// bench/results/RESULTS.md (tables, the targets checked) and
// bench/results/latency.svg (latency distributions, broker and raw pion).
//
// It reads DIR/manifest.tsv, one run a line, tab separated:
//
//	name  kind  file  ceiling  note
//
// kind is load (a brokerctl load --json report), step (a load run of the
// dense step-up), step2019 (the same step-up with 2019-style clients),
// ceiling (a ceiling --json result), ceilstep (a run of the
// ceiling's step-up) or skipped (file "-", note says why). ceiling names the
// ceiling run the load run is compared with, or "-". DIR/meta.txt, if there,
// is copied into the page as the conditions of the run.
//
// With -soak FILE it renders one soak run (bench/soak.sh) instead: see
// soak.go.
//
// With -sustained FILE it only says, by its exit code, whether one run met
// the step-up's rule; bench/run.sh uses that to know when to stop stepping.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/webrtc-broker/webrtc-broker/bench/internal/ceiling"
	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

type entry struct {
	name, kind, file, ceiling, note string
	load                            *loadgen.Report
	raw                             *ceiling.Result
}

func main() {
	raw := flag.String("raw", "bench/results/raw", "directory with manifest.tsv and the runs' JSON")
	out := flag.String("out", "bench/results", "where RESULTS.md and latency.svg go")
	check := flag.String("sustained", "", "only check one run's JSON (load or ceiling): exit 0 if loss < 1 % and p99 < 50 ms, 1 if not")
	soakFile := flag.String("soak", "", "render one soak run's JSON (brokerctl load --sample-every) into OUT/soak.md and OUT/soak.svg instead; meta.txt beside it is copied in")
	flag.Parse()
	if *soakFile != "" {
		if err := soakReport(*soakFile, *out); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		return
	}
	if *check != "" {
		ok, err := sustainedFile(*check)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(2)
		}
		if !ok {
			os.Exit(1)
		}
		return
	}
	if err := run(*raw, *out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(rawDir, outDir string) error {
	entries, err := readManifest(rawDir)
	if err != nil {
		return err
	}
	meta, _ := os.ReadFile(filepath.Join(rawDir, "meta.txt")) // optional
	byName := map[string]*entry{}
	for _, e := range entries {
		byName[e.name] = e
	}
	page := render(entries, byName, string(meta), rawDir) + worldSection(rawDir) + worldStepsSection(rawDir)
	if err := os.WriteFile(filepath.Join(outDir, "RESULTS.md"), []byte(page), 0o644); err != nil {
		return fmt.Errorf("write RESULTS.md: %w", err)
	}
	f, err := os.Create(filepath.Join(outDir, "latency.svg"))
	if err != nil {
		return fmt.Errorf("write latency.svg: %w", err)
	}
	defer f.Close()
	if err := loadgen.WriteLatencySVG(f, "Latency distribution: broker scenarios and raw pion (loopback, 2 cores)", plotSeries(entries)); err != nil {
		return fmt.Errorf("write latency.svg: %w", err)
	}
	return f.Close()
}

// sustainedFile applies the step-up rule to one run's JSON, either kind.
func sustainedFile(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var r struct {
		LossPct float64         `json:"loss_pct"`
		Latency loadgen.Latency `json:"latency"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return r.Latency.Count > 0 && sustained(r.LossPct, r.Latency.P99Us), nil
}

func readManifest(dir string) ([]*entry, error) {
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	var entries []*entry
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("manifest line %d: %d fields, want 5", line, len(f))
		}
		e := &entry{name: f[0], kind: f[1], file: f[2], ceiling: f[3], note: f[4]}
		if e.file != "-" {
			b, err := os.ReadFile(filepath.Join(dir, e.file))
			if err != nil {
				return nil, fmt.Errorf("manifest line %d: %w", line, err)
			}
			switch e.kind {
			case "load", "step", "step2019":
				e.load = new(loadgen.Report)
				err = json.Unmarshal(b, e.load)
			case "ceiling", "ceilstep":
				e.raw = new(ceiling.Result)
				err = json.Unmarshal(b, e.raw)
			default:
				err = fmt.Errorf("unknown kind %q", e.kind)
			}
			if err != nil {
				return nil, fmt.Errorf("manifest line %d (%s): %w", line, e.file, err)
			}
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// plotSeries draws every scenario run and the ceiling runs they compare with.
func plotSeries(entries []*entry) []loadgen.PlotSeries {
	var s []loadgen.PlotSeries
	for _, e := range entries {
		switch {
		case e.kind == "load" && e.load != nil && e.load.JoinStorm == nil:
			s = append(s, loadgen.PlotSeries{Name: e.name, Points: e.load.Latency.Distribution})
		case e.kind == "ceiling" && e.raw != nil:
			s = append(s, loadgen.PlotSeries{Name: "raw pion " + strings.TrimPrefix(e.name, "ceiling-"), Points: e.raw.Latency.Distribution, Dashed: true})
		}
	}
	return s
}
