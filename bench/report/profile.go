package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// A CPU profile's samples, split by where the time went. A sample counts
// for the first category any function on its stack matches, so the shares
// add up: "UDP syscalls" takes the time spent in sendto/recvfrom under DTLS,
// "DTLS" what is left in DTLS, and so on down the list.
var cpuCategories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"UDP send/receive syscalls", regexp.MustCompile(`^syscall\.|^internal/runtime/syscall`)},
	{"DTLS encryption (AES-GCM)", regexp.MustCompile(`ciphersuite|^crypto/`)},
	{"DTLS record layer", regexp.MustCompile(`pion/dtls`)},
	{"SCTP", regexp.MustCompile(`pion/sctp`)},
	{"ICE, mux, pion buffers, data channel", regexp.MustCompile(`pion/ice|pion/webrtc/v3/internal/mux|pion/transport|pion/datachannel|pion/srtp`)},
	{"protobuf", regexp.MustCompile(`google\.golang\.org/protobuf`)},
	{"logging", regexp.MustCompile(`^log/slog|^log\.`)},
	{"broker code (relay, queues, writers)", regexp.MustCompile(`webrtc-broker/webrtc-broker`)},
	{"GC (background mark and sweep)", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge)`)},
	{"Go scheduler (park, find work, idle)", regexp.MustCompile(`^runtime\.(schedule|findRunnable|park_m|mcall|mstart)`)},
}

// cpuShare is one category's share of a profile.
type cpuShare struct {
	name    string
	seconds float64
}

// profileShares reads a gzipped pprof CPU profile and returns the seconds
// per category (plus "other") and the profile's total and duration.
func profileShares(path string) (shares []cpuShare, total, duration float64, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	p, err := parseProfile(b)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	// The value that holds nanoseconds: "cpu" in a CPU profile.
	vi := -1
	for i, t := range p.sampleTypes {
		if p.str(t) == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, 0, 0, fmt.Errorf("%s: not a CPU profile", path)
	}
	sums := make([]float64, len(cpuCategories)+1)
	for _, s := range p.samples {
		if vi >= len(s.values) {
			continue
		}
		secs := float64(s.values[vi]) / 1e9
		total += secs
		sums[p.category(s.locations)] += secs
	}
	for i, c := range cpuCategories {
		shares = append(shares, cpuShare{c.name, sums[i]})
	}
	shares = append(shares, cpuShare{"other (runtime, memory allocation outside the above, ...)", sums[len(cpuCategories)]})
	return shares, total, float64(p.durationNanos) / 1e9, nil
}

// profile holds the few parts of profile.proto this report reads.
type profile struct {
	sampleTypes   []int64 // string index of each value's type
	samples       []sample
	locFuncs      map[uint64][]uint64 // location id -> function ids, inlined first
	funcNames     map[uint64]int64    // function id -> string index
	strings       []string
	durationNanos int64
}

type sample struct {
	locations []uint64
	values    []int64
}

func (p *profile) str(i int64) string {
	if i >= 0 && int(i) < len(p.strings) {
		return p.strings[i]
	}
	return ""
}

// category returns the index of the first category a function on the stack
// matches, or len(cpuCategories).
func (p *profile) category(stack []uint64) int {
	best := len(cpuCategories)
	for _, loc := range stack {
		for _, fn := range p.locFuncs[loc] {
			name := p.str(p.funcNames[fn])
			for i := 0; i < best; i++ {
				if cpuCategories[i].re.MatchString(name) {
					best = i
					break
				}
			}
		}
	}
	return best
}

var errProfile = errors.New("malformed profile")

// parseProfile decodes the fields of profile.proto it needs: sample_type (1),
// sample (2), location (4), function (5), string_table (6),
// duration_nanos (10).
func parseProfile(b []byte) (*profile, error) {
	p := &profile{locFuncs: map[uint64][]uint64{}, funcNames: map[uint64]int64{}}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
				if num == 1 {
					p.sampleTypes = append(p.sampleTypes, int64(n))
				}
				return nil
			})
		case num == 2 && typ == protowire.BytesType:
			var s sample
			err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch num {
				case 1:
					s.locations = appendVarints(s.locations, typ, v, n)
				case 2:
					for _, x := range appendVarints(nil, typ, v, n) {
						s.values = append(s.values, int64(x))
					}
				}
				return nil
			})
			p.samples = append(p.samples, s)
			return err
		case num == 4 && typ == protowire.BytesType:
			var id uint64
			var funcs []uint64
			err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch {
				case num == 1:
					id = n
				case num == 4 && typ == protowire.BytesType:
					return fields(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
						if num == 1 {
							funcs = append(funcs, n)
						}
						return nil
					})
				}
				return nil
			})
			p.locFuncs[id] = funcs
			return err
		case num == 5 && typ == protowire.BytesType:
			var id uint64
			var name int64
			err := fields(v, func(num protowire.Number, _ protowire.Type, _ []byte, n uint64) error {
				switch num {
				case 1:
					id = n
				case 2:
					name = int64(n)
				}
				return nil
			})
			p.funcNames[id] = name
			return err
		case num == 6 && typ == protowire.BytesType:
			p.strings = append(p.strings, string(v))
		case num == 10:
			p.durationNanos = int64(n)
		}
		return nil
	})
	return p, err
}

// fields calls fn for every field of a message: v for length-delimited
// fields, n for varints.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return errProfile
		}
		b = b[k:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return errProfile
		}
		b = b[k:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// appendVarints reads a repeated varint field, packed or not.
func appendVarints(dst []uint64, typ protowire.Type, v []byte, n uint64) []uint64 {
	if typ == protowire.VarintType {
		return append(dst, n)
	}
	for len(v) > 0 {
		x, k := protowire.ConsumeVarint(v)
		if k < 0 {
			break
		}
		dst = append(dst, x)
		v = v[k:]
	}
	return dst
}

// writeProfileSection renders the shares of DIR/NAME.cpu.pprof, if present.
func writeProfileSection(b *strings.Builder, dir, name string) {
	path := dir + "/" + name + ".cpu.pprof"
	shares, total, dur, err := profileShares(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(b, "\n(profile %s unreadable: %v)\n", path, err)
		}
		return
	}
	fmt.Fprintf(b, "\n## Where the server's CPU goes (%s, %.0f s of the window)\n\n", name, dur)
	fmt.Fprintf(b, "CPU profile of the communication server (`/debug/pprof/profile`, raw/%s.cpu.pprof): %.2f CPU-seconds in %.0f s, %.2f cores. "+
		"Each sample counts once, for the first row any function on its stack matches.\n\n", name, total, dur, total/dur)
	b.WriteString("| where | CPU s | share |\n|---|---|---|\n")
	for _, s := range shares {
		fmt.Fprintf(b, "| %s | %.2f | %.1f %% |\n", s.name, s.seconds, 100*s.seconds/total)
	}
}
