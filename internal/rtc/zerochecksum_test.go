package rtc

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// sctpLog records what pion's SCTP logs at debug level, where it says
// whether an association sends zero checksums; every other scope is
// discarded.
type sctpLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sctpLog) NewLogger(scope string) logging.LeveledLogger {
	if scope != "sctp" {
		return logging.NewDefaultLeveledLoggerForScope(scope, logging.LogLevelDisabled, nil)
	}
	return &sctpLogger{l: l}
}

type sctpLogger struct {
	logging.LeveledLogger // nil: only the methods below are called in these tests
	l                     *sctpLog
}

func (s *sctpLogger) record(format string, args ...any) {
	s.l.mu.Lock()
	s.l.lines = append(s.l.lines, fmt.Sprintf(format, args...))
	s.l.mu.Unlock()
}
func (s *sctpLogger) Trace(string)          {}
func (s *sctpLogger) Tracef(string, ...any) {}
func (s *sctpLogger) Debug(m string)        { s.record("%s", m) }
func (s *sctpLogger) Debugf(f string, a ...any) {
	s.record(f, a...)
}
func (s *sctpLogger) Info(m string)             { s.record("%s", m) }
func (s *sctpLogger) Infof(f string, a ...any)  { s.record(f, a...) }
func (s *sctpLogger) Warn(m string)             { s.record("%s", m) }
func (s *sctpLogger) Warnf(f string, a ...any)  { s.record(f, a...) }
func (s *sctpLogger) Error(m string)            { s.record("%s", m) }
func (s *sctpLogger) Errorf(f string, a ...any) { s.record(f, a...) }

// sendsZeroChecksum reports what the log says the association decided, and
// whether it said so.
func (l *sctpLog) sendsZeroChecksum() (on, said bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, "sendZeroChecksum=true") {
			return true, true
		}
		if strings.Contains(line, "sendZeroChecksum=false") {
			said = true
		}
	}
	return false, said
}

// connectPair connects a peer connection of each API with a data channel
// and sends one message each way over it.
func connectPair(t *testing.T, offerAPI, answerAPI *API) {
	t.Helper()
	offerer, err := offerAPI.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	defer offerer.Close()
	answerer, err := answerAPI.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	defer answerer.Close()

	// NewAPI detaches data channels: read and write them as the server does.
	got := make(chan string, 2)
	answerer.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			if err != nil {
				got <- err.Error()
				return
			}
			buf := make([]byte, 64)
			n, err := rw.Read(buf)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- "answerer:" + string(buf[:n])
			_, _ = rw.Write([]byte("pong"))
		})
	})
	dc, err := offerer.CreateDataChannel("c", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(func() {
		rw, err := dc.Detach()
		if err != nil {
			got <- err.Error()
			return
		}
		if _, err := rw.Write([]byte("ping")); err != nil {
			got <- err.Error()
			return
		}
		buf := make([]byte, 64)
		n, err := rw.Read(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- "offerer:" + string(buf[:n])
	})

	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"answerer:ping", "offerer:pong"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for %q", want)
		}
	}
}

// webrtc.sctp_zero_checksum (on by default) makes an end accept zero
// checksums: it says so in SCTP's INIT, and its peer then sends it packets
// without a CRC32c. An end sends zero checksums only to a peer that
// accepted them, so either setting talks to either kind of peer (one that
// does not accept them still gets checksums), and false turns it off.
func TestSCTPZeroChecksumIsNegotiated(t *testing.T) {
	off := false
	cases := []struct {
		name              string
		offerer, answer   *bool
		offererSendsZero  bool // the answerer accepts zero checksums
		answererSendsZero bool // the offerer accepts them
	}{
		{"both default", nil, nil, true, true},
		{"answerer off", nil, &off, false, true},
		{"offerer off", &off, nil, true, false},
		{"both off", &off, &off, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := map[string]*sctpLog{"offerer": {}, "answerer": {}}
			apis := map[string]*API{}
			for name, zc := range map[string]*bool{"offerer": tc.offerer, "answerer": tc.answer} {
				saved := loggerFactory
				loggerFactory = func() logging.LoggerFactory { return logs[name] }
				api, err := NewAPI(rtcconfig.Config{LoopbackOnly: true, SCTPZeroChecksum: zc})
				loggerFactory = saved
				if err != nil {
					t.Fatal(err)
				}
				defer api.Close()
				apis[name] = api
			}
			connectPair(t, apis["offerer"], apis["answerer"])
			want := map[string]bool{"offerer": tc.offererSendsZero, "answerer": tc.answererSendsZero}
			for name, l := range logs {
				on, said := l.sendsZeroChecksum()
				if !said {
					t.Fatalf("%s: pion's SCTP never said whether it sends zero checksums: %q", name, l.lines)
				}
				if on != want[name] {
					t.Errorf("%s sends zero checksums: %v, want %v", name, on, want[name])
				}
			}
		})
	}
}
