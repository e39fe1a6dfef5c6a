package loadgen

import (
	"encoding/binary"
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{"plain", "1234 (commserver) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 12 0 100 0 0", 175, false},
		// The command name may hold spaces and parentheses.
		{"odd name", "99 (a) b (c)) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0", 10, false},
		{"truncated", "1 (x) S 1 2 3", 0, true},
		{"no name", "garbage", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 3 0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.stat))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseStat = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tcommserver\nVmPeak:\t  900000 kB\nVmHWM:\t   52000 kB\nVmRSS:\t   48000 kB\nThreads:\t9\n"
	rss, hwm, err := parseStatus([]byte(status))
	if err != nil || rss != 48000 || hwm != 52000 {
		t.Fatalf("parseStatus = %d, %d, %v; want 48000, 52000", rss, hwm, err)
	}
	// A kernel thread has no memory lines.
	if _, _, err := parseStatus([]byte("Name:\tkthreadd\nState:\tS\n")); err == nil {
		t.Fatal("parseStatus accepted a status without VmRSS")
	}
	if _, _, err := parseStatus([]byte("VmRSS:\t12 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Fatal("parseStatus accepted a unit other than kB")
	}
}

func TestParseAuxvClockTicks(t *testing.T) {
	aux := func(pairs ...uint64) []byte {
		b := make([]byte, 8*len(pairs))
		for i, v := range pairs {
			binary.NativeEndian.PutUint64(b[8*i:], v)
		}
		return b
	}
	if got := parseAuxvClockTicks(aux(6, 4096, 17, 250, 0, 0), 100); got != 250 {
		t.Fatalf("AT_CLKTCK 250 read as %d", got)
	}
	if got := parseAuxvClockTicks(aux(6, 4096, 0, 0), 100); got != 100 {
		t.Fatalf("no AT_CLKTCK: got %d, want the fallback", got)
	}
}

func TestProcSamplerReadsThisProcess(t *testing.T) {
	s := NewProcSampler([]int{os.Getpid()}, []string{"test"})
	s.Mark()
	// Burn a little CPU so the window has some.
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	u := s.Usage()[0]
	if u.Error != "" || u.PID != os.Getpid() || u.RSSStartKB == 0 || u.PeakRSSKB < u.RSSStartKB || u.CPUSeconds < 0 {
		t.Fatalf("usage %+v (x=%d)", u, x)
	}
	gone := NewProcSampler([]int{1 << 30}, nil)
	gone.Mark()
	if u := gone.Usage()[0]; u.Error == "" {
		t.Fatalf("a process that does not exist gave no error: %+v", u)
	}
}

func TestParseSNMPUDP(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 5908851 3876 8847 5923467 8847 2 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 0 0 0 0 0 0 0 0 0\n"
	got, err := parseSNMPUDP([]byte(snmp))
	want := UDPStats{InDatagrams: 5908851, OutDatagrams: 5923467, RcvbufErrors: 8847, SndbufErrors: 2}
	if err != nil || got != want {
		t.Fatalf("parseSNMPUDP = %+v, %v; want %+v", got, err, want)
	}
	if d := want.Sub(UDPStats{InDatagrams: 851, OutDatagrams: 467, RcvbufErrors: 47}); d != (UDPStats{InDatagrams: 5908000, OutDatagrams: 5923000, RcvbufErrors: 8800, SndbufErrors: 2}) {
		t.Fatalf("Sub = %+v", d)
	}
	for name, bad := range map[string]string{
		"no udp":       "Ip: a b\nIp: 1 2\n",
		"short values": "Udp: InDatagrams OutDatagrams\nUdp: 1\n",
		"not a number": "Udp: InDatagrams OutDatagrams\nUdp: 1 x\n",
	} {
		if _, err := parseSNMPUDP([]byte(bad)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	if _, err := ReadUDPStats(); err != nil {
		t.Fatalf("this machine's counters: %v", err)
	}
}
