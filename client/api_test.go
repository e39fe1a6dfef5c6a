package client

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestSubscriptionIsCompressedAboveGzipAbove(t *testing.T) {
	cases := []struct {
		name      string
		gzipAbove int
		topics    []string
		want      protocol.Format
	}{
		{"at the threshold stays plain", 7, []string{"abc", "def"}, protocol.Format_PLAIN},
		{"over it is compressed", 6, []string{"abc", "def"}, protocol.Format_GZIP},
		{"negative never compresses", -1, []string{strings.Repeat("x", 5000)}, protocol.Format_PLAIN},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{cfg: Config{GzipAbove: tc.gzipAbove}}
			b, err := c.encodeSubscription(tc.topics)
			if err != nil {
				t.Fatal(err)
			}
			var m protocol.SubscriptionMessage
			if err := proto.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type != protocol.MessageType_SUBSCRIPTION || m.Format != tc.want {
				t.Fatalf("%s format %s, want SUBSCRIPTION %s", m.Type, m.Format, tc.want)
			}
			set := m.Topics
			if m.Format == protocol.Format_GZIP {
				zr, err := gzip.NewReader(bytes.NewReader(set))
				if err != nil {
					t.Fatal(err)
				}
				if set, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if string(set) != strings.Join(tc.topics, " ") {
				t.Fatalf("topic set %q, want %q", set, strings.Join(tc.topics, " "))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Reconnect
	if cfg.GzipAbove != 1024 || r.Disabled || r.MinDelay != defaultMinDelay || r.MaxDelay != defaultMaxDelay || r.QueueBytes != 1<<20 {
		t.Fatalf("defaults: gzip above %d, reconnect %+v; want 1024 and on, 100ms..5s, 1 MiB", cfg.GzipAbove, r)
	}
	if _, err := (Config{Reconnect: Reconnect{MinDelay: 2e9, MaxDelay: 1e9}}).withDefaults(); err == nil {
		t.Fatal("MaxDelay below MinDelay was accepted")
	}
}

func TestCallsRejectAnInvalidChannel(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish("t", nil, 0); !errors.Is(err, ErrInvalidChannel) {
		t.Fatalf("Publish on channel 0: %v, want ErrInvalidChannel", err)
	}
	if _, err := c.Ping(t.Context(), 3); !errors.Is(err, ErrInvalidChannel) {
		t.Fatalf("Ping on channel 3: %v, want ErrInvalidChannel", err)
	}
}

// A Dial that fails tells OnState: connecting, then closed with the error.
func TestFailedDialReportsClosed(t *testing.T) {
	f := startFake(t, fakeNoServers)
	var got []StateEvent
	_, err := dialFake(t, f, func(cfg *Config) { cfg.OnState = func(ev StateEvent) { got = append(got, ev) } })
	if !errors.Is(err, ErrNoServers) {
		t.Fatalf("Dial = %v, want ErrNoServers", err)
	}
	if len(got) != 2 || got[0].State != StateConnecting || got[1].State != StateClosed || !errors.Is(got[1].Err, ErrNoServers) {
		t.Fatalf("state events %+v, want connecting then closed with ErrNoServers", got)
	}
}
