package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// UDPStats are the machine's UDP counters from /proc/net/snmp, or their
// change over a window. They count every process on the machine, so they are
// meaningful only when the load run is what dominates UDP traffic; on
// loopback they tell how many packets a delivery costs and whether sockets
// overflowed (RcvbufErrors: datagrams the kernel dropped because a receiving
// socket's buffer was full, which SCTP then sees as loss).
type UDPStats struct {
	InDatagrams  uint64 `json:"in_datagrams"`
	OutDatagrams uint64 `json:"out_datagrams"`
	RcvbufErrors uint64 `json:"rcvbuf_errors"`
	SndbufErrors uint64 `json:"sndbuf_errors"`
}

// parseSNMPUDP reads the Udp: header and value lines of /proc/net/snmp.
func parseSNMPUDP(b []byte) (UDPStats, error) {
	var header [][]byte
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 || string(f[0]) != "Udp:" {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		if len(f) != len(header) {
			return UDPStats{}, fmt.Errorf("snmp: Udp: %d values for %d names", len(f), len(header))
		}
		var s UDPStats
		for i := 1; i < len(f); i++ {
			var dst *uint64
			switch string(header[i]) {
			case "InDatagrams":
				dst = &s.InDatagrams
			case "OutDatagrams":
				dst = &s.OutDatagrams
			case "RcvbufErrors":
				dst = &s.RcvbufErrors
			case "SndbufErrors":
				dst = &s.SndbufErrors
			default:
				continue
			}
			v, err := strconv.ParseUint(string(f[i]), 10, 64)
			if err != nil {
				return UDPStats{}, fmt.Errorf("snmp: Udp %s: %w", header[i], err)
			}
			*dst = v
		}
		return s, nil
	}
	return UDPStats{}, fmt.Errorf("snmp: no Udp: lines")
}

// ReadUDPStats reads the machine's UDP counters now.
func ReadUDPStats() (UDPStats, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return UDPStats{}, fmt.Errorf("udp counters: %w", err)
	}
	return parseSNMPUDP(b)
}

// Sub returns the change from earlier to s.
func (s UDPStats) Sub(earlier UDPStats) UDPStats {
	return UDPStats{
		InDatagrams:  s.InDatagrams - earlier.InDatagrams,
		OutDatagrams: s.OutDatagrams - earlier.OutDatagrams,
		RcvbufErrors: s.RcvbufErrors - earlier.RcvbufErrors,
		SndbufErrors: s.SndbufErrors - earlier.SndbufErrors,
	}
}
