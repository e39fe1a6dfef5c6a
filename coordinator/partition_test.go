package coordinator

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// Two coordinators of one cluster drawing in the same slots, from one
// clock that never moves (so both run ahead of it slot by slot), never hand
// out the same alias, and each alias names its coordinator in its low bits.
func TestAliasPartitionsNeverCollide(t *testing.T) {
	for _, count := range []int{2, 3, 4, 16} {
		clock := &fakeAliasClock{t: time.UnixMilli(1_800_000_000_000)}
		bits := partitionBits(count)
		seen := map[uint64]int{}
		for id := range count {
			a, err := newPartitionedAliasSource(clock.clock(), id, count)
			if err != nil {
				t.Fatal(err)
			}
			n := 2*a.slotCap() + 10
			if n > 20000 {
				n = 20000
			}
			for range n {
				alias := a.next()
				if other, dup := seen[alias]; dup {
					t.Fatalf("count %d: alias %d from coordinator %d and %d", count, alias, other, id)
				}
				if got := alias & (1<<bits - 1); got != uint64(id) {
					t.Fatalf("count %d: coordinator %d drew alias %d of partition %d", count, id, alias, got)
				}
				if alias == 0 || alias >= maxAlias {
					t.Fatalf("alias %d is 0 or not below 2^53", alias)
				}
				seen[alias] = id
			}
		}
	}
}

func TestAliasPartitionKeepsOneCoordinatorsAliasesAsTheyWere(t *testing.T) {
	clock := &fakeAliasClock{t: time.UnixMilli(1_800_000_000_000)}
	a := newAliasSource(clock.clock())
	if a.idBits != 0 || a.slotCap() != aliasSlotCap {
		t.Fatalf("a lone coordinator takes %d partition bits and %d aliases a slot, want 0 and %d", a.idBits, a.slotCap(), aliasSlotCap)
	}
	for _, c := range []struct{ count, bits int }{{1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {16, 4}} {
		if got := partitionBits(c.count); got != uint64(c.bits) {
			t.Errorf("partitionBits(%d) = %d, want %d", c.count, got, c.bits)
		}
	}
}

func TestAliasClaim(t *testing.T) {
	clock := &fakeAliasClock{t: time.UnixMilli(1_800_000_000_000)}
	zero, _ := newPartitionedAliasSource(clock.clock(), 0, 3)
	one, _ := newPartitionedAliasSource(clock.clock(), 1, 3)
	fromZero := zero.next()

	// Another coordinator's alias: that one keeps it unique.
	if err := one.claim(fromZero); err != nil {
		t.Fatalf("claim of coordinator 0's alias at coordinator 1: %v", err)
	}
	// Its own, drawn in the current slot: accepted, and never drawn again.
	clock.t = clock.t.Add(aliasSlot) // both past their first slot
	mine := one.next()
	if err := one.claim(mine); err != nil {
		t.Fatalf("claim of an alias coordinator 1 drew: %v", err)
	}
	// One of its own partition in the current slot that it has not drawn
	// (a predecessor's, in the same slot): marked used.
	slot := mine >> aliasRandomBits
	var unused uint64
	for r := uint64(0); ; r++ {
		unused = slot<<aliasRandomBits | r<<one.idBits | one.id
		if _, taken := one.used[r]; !taken {
			break
		}
	}
	if err := one.claim(unused); err != nil {
		t.Fatalf("claim of a current-slot alias: %v", err)
	}
	for range one.slotCap() - 2 {
		if got := one.next(); got == unused {
			t.Fatalf("claimed alias %d drawn again", unused)
		}
	}
	cases := []struct {
		alias uint64
		want  error
	}{
		{0, errBadAlias},
		{maxAlias, errBadAlias},
		{(slot+5)<<aliasRandomBits | 1, errFutureAlias}, // coordinator 1's partition, a slot it has not reached
		{slot<<aliasRandomBits | 3, errNoPartition},     // partition 3 of count 3
	}
	for _, c := range cases {
		if err := one.claim(c.alias); !errors.Is(err, c.want) {
			t.Errorf("claim(%d) = %v, want %v", c.alias, err, c.want)
		}
	}
}

func TestCoordinatorPartitionConfig(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Coordinator.ID != 0 || cfg.Coordinator.Count != 1 {
		t.Fatalf("coordinator.id, count default to %d, %d; want 0, 1", cfg.Coordinator.ID, cfg.Coordinator.Count)
	}
	if _, err := (Config{Coordinator: PartitionConfig{ID: 1, Count: 2}}).withDefaults(); err != nil {
		t.Fatalf("coordinator 1 of 2: %v", err)
	}
	for _, c := range []struct {
		p    PartitionConfig
		want error
	}{
		{PartitionConfig{ID: 2, Count: 2}, errBadID},
		{PartitionConfig{ID: -1, Count: 2}, errBadID},
		{PartitionConfig{ID: 1}, errBadID}, // count defaults to 1
		{PartitionConfig{Count: 17}, errBadCount},
		{PartitionConfig{Count: -1}, errBadCount},
	} {
		if _, err := (Config{Coordinator: c.p}).withDefaults(); !errors.Is(err, c.want) {
			t.Errorf("coordinator %+v: err = %v, want %v", c.p, err, c.want)
		}
	}
}

// A server registered at another coordinator proposes its alias there
// (/discover?alias=): it is kept; the same server registering again before
// its old socket is noticed dead replaces it; a client's alias, one from
// this coordinator's future or from no partition is refused.
func TestDiscoverKeepsAProposedAlias(t *testing.T) {
	tc := startCoordinator(t, Config{Coordinator: PartitionConfig{ID: 1, Count: 2}}, Options{}, nil)
	client := dialClient(t, tc)
	clientAlias := client.welcome().GetAlias()
	if clientAlias&1 != 1 {
		t.Fatalf("coordinator 1 of 2 gave alias %d, not of partition 1", clientAlias)
	}
	// An alias coordinator 0 drew (partition 0).
	other := aliasSlotOf(time.Now())<<aliasRandomBits | 6<<1
	discover := func(alias uint64) string {
		return tc.wsURL(fmt.Sprintf("/discover?role=COMMUNICATION_SERVER&alias=%d", alias))
	}
	first := dialPeer(t, discover(other))
	if got := first.welcome().GetAlias(); got != other {
		t.Fatalf("proposed alias %d, welcomed as %d", other, got)
	}
	// The client is offered the server under that alias.
	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{other}) {
		t.Fatalf("client offered %v, want [%d]", got, other)
	}
	again := dialPeer(t, discover(other))
	if got := again.welcome().GetAlias(); got != other {
		t.Fatalf("re-registration welcomed as %d, want %d", got, other)
	}
	if err := first.waitClosed(); err == nil {
		t.Fatal("the replaced registration's socket was not closed")
	}
	if n := tc.serverCount(); n != 1 {
		t.Fatalf("%d servers registered after a re-registration, want 1", n)
	}
	// The replaced socket's end removes nothing of the new one.
	testwait.For(t, 5*time.Second, "the replaced peer's unregister", func() bool {
		return metricValue(t, tc.Coordinator, "coordinator_disconnects_total", "reason", reasonReplaced) == 1
	})
	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{other}) {
		t.Fatalf("after the replacement a client is offered %v, want [%d]", got, other)
	}
	for _, bad := range []struct {
		alias  uint64
		status int
	}{
		{clientAlias, http.StatusConflict},
		{(aliasSlotOf(time.Now())+1000)<<aliasRandomBits | 1, http.StatusBadRequest},
		{1 << 53, http.StatusBadRequest},
	} {
		if got := dialStatus(t, discover(bad.alias)); got != bad.status {
			t.Errorf("proposed alias %d: HTTP %d, want %d", bad.alias, got, bad.status)
		}
	}
	if got := dialStatus(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER&alias=x")); got != http.StatusBadRequest {
		t.Errorf("alias=x: HTTP %d, want 400", got)
	}
}
