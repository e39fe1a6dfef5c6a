package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

func TestWelcomeGivesEveryPeerAUniqueAlias(t *testing.T) {
	before := uint64(time.Now().UnixMilli()) << aliasClockShift
	tc := startCoordinator(t, Config{}, Options{}, nil)

	seen := map[uint64]bool{}
	for _, dial := range []func(*testing.T, *testCoordinator) *testPeer{
		dialClient, dialServer, dialClient, dialHub, dialServer, dialClient,
	} {
		alias := dial(t, tc).welcome().GetAlias()
		if seen[alias] {
			t.Fatalf("alias %d handed out twice", alias)
		}
		seen[alias] = true
		if alias <= before {
			t.Errorf("alias %d does not start from the clock (%d): a restart would reuse aliases", alias, before)
		}
		if alias >= 1<<53 {
			t.Errorf("alias %d is not exact in a JavaScript number", alias)
		}
	}
}

func TestAliasesStayUniqueAcrossACoordinatorRestart(t *testing.T) {
	first := startCoordinator(t, Config{}, Options{}, nil)
	var old []uint64
	for range 3 {
		old = append(old, dialClient(t, first).welcome().GetAlias())
	}
	if err := first.stop(); err != nil {
		t.Fatalf("first coordinator: %v", err)
	}
	// A restart takes at least a millisecond in real life; make sure the
	// clock has moved on from the one the first coordinator started with.
	testwait.For(t, waitTimeout, "the clock to pass the first coordinator's start", func() bool {
		return uint64(time.Now().UnixMilli()) > slices.Max(old)>>aliasClockShift
	})

	second := startCoordinatorAt(t, first.addr, Config{}, Options{}, nil)
	for _, dial := range []func(*testing.T, *testCoordinator) *testPeer{dialClient, dialServer} {
		alias := dial(t, second).welcome().GetAlias()
		if alias <= slices.Max(old) {
			t.Fatalf("after restart got alias %d, not above the old ones %v", alias, old)
		}
	}
}

func TestAliasSourceLeavesRoomPerMillisecond(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	cases := []struct {
		name   string
		issued int // aliases the first source hands out
		later  time.Duration
	}{
		{"one alias, restart 1ms later", 1, time.Millisecond},
		{"1023 aliases in the first millisecond", 1023, time.Millisecond},
		{"a million aliases over a second", 1_000_000, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := newAliasSource(t0)
			var last uint64
			for range tc.issued {
				last = first.next()
			}
			if got := newAliasSource(t0.Add(tc.later)).next(); got <= last {
				t.Fatalf("restarted source starts at %d, not above %d", got, last)
			}
		})
	}
}
