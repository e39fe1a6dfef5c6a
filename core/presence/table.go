// Package presence keeps, on one communication server, who is in the topics
// its clients follow the presence of: the members other servers reported
// (each server's own members, or only their count for a large topic) and
// the view last told to the local followers, from which join and leave
// events are computed.
//
// Members of a topic are the clients subscribed to it. A server reports its
// own members of topic T to the other servers as a PresenceMessage snapshot
// (never deltas, so that a lost or reordered report heals at the next one)
// published on the internal topic "$presence.T"; see protocol/broker.proto.
//
// The package is pure: the caller serializes a Table (one lock around every
// call) and supplies the local members.
package presence

import (
	"bytes"
	"slices"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Member is one client in a topic, as authentication knows it.
type Member struct {
	Alias    uint64
	Identity []byte
	Role     protocol.Role
}

// Report is what one server said of its members of a topic: either the
// members (CountsOnly false) or only their count.
type Report struct {
	Members    []Member
	Count      int
	CountsOnly bool
}

// Event is what local followers are told: a snapshot or a change. When
// CountsOnly is set only Count means anything.
type Event struct {
	Snapshot     bool
	Members      []Member
	Joined, Left []Member
	Count        int
	CountsOnly   bool
}

// Table holds the remote reports and the last view, per topic. Via is the
// caller's handle of the link a report came through, so that a lost link
// takes its servers' members with it. Not safe for concurrent use.
type Table[Via comparable] struct {
	topics map[string]*topic[Via]
}

type topic[Via comparable] struct {
	origins map[uint64]origin[Via]
	// view is what the followers were last told: members by alias, or
	// while countsOnly only count.
	view       map[uint64]Member
	count      int
	countsOnly bool
	told       bool
}

type origin[Via comparable] struct {
	via    Via
	report Report
	seen   time.Time // zero: kept until its link goes (DropVia)
}

// New returns an empty table.
func New[Via comparable]() *Table[Via] {
	return &Table[Via]{topics: map[string]*topic[Via]{}}
}

func (t *Table[Via]) get(name string) *topic[Via] {
	tp := t.topics[name]
	if tp == nil {
		tp = &topic[Via]{origins: map[uint64]origin[Via]{}}
		t.topics[name] = tp
	}
	return tp
}

// SetRemote records server origin's report on topic name, received via.
func (t *Table[Via]) SetRemote(name string, originID uint64, via Via, r Report) {
	t.SetRemoteAt(name, originID, via, r, time.Time{})
}

// SetRemoteAt is SetRemote for a report that holds only until ExpireBefore
// passes seen: over a transport without links, a server that went away
// is noticed by its reports stopping.
func (t *Table[Via]) SetRemoteAt(name string, originID uint64, via Via, r Report, seen time.Time) {
	t.get(name).origins[originID] = origin[Via]{via: via, report: r, seen: seen}
}

// ExpireBefore forgets the reports set with SetRemoteAt before cutoff and
// returns the topics that had one.
func (t *Table[Via]) ExpireBefore(cutoff time.Time) []string {
	var touched []string
	for name, tp := range t.topics {
		for id, o := range tp.origins {
			if !o.seen.IsZero() && o.seen.Before(cutoff) {
				delete(tp.origins, id)
				touched = append(touched, name)
			}
		}
	}
	slices.Sort(touched)
	return slices.Compact(touched)
}

// DropVia forgets every report received via v (a lost link) and returns
// the topics that had one.
func (t *Table[Via]) DropVia(v Via) []string {
	var touched []string
	for name, tp := range t.topics {
		for id, o := range tp.origins {
			if o.via == v {
				delete(tp.origins, id)
				touched = append(touched, name)
			}
		}
	}
	slices.Sort(touched)
	return slices.Compact(touched)
}

// Drop forgets topic name entirely: nobody here follows it any more.
func (t *Table[Via]) Drop(name string) { delete(t.topics, name) }

// Topics returns the topics the table holds anything for.
func (t *Table[Via]) Topics() []string {
	out := make([]string, 0, len(t.topics))
	for name := range t.topics {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// merged is the topic's whole membership: local plus every report. Above
// maxMembers, or when any report is counts only, only the count is kept.
func (tp *topic[Via]) merged(local []Member, maxMembers int) (members map[uint64]Member, count int, countsOnly bool) {
	count = len(local)
	for _, o := range tp.origins {
		if o.report.CountsOnly {
			countsOnly = true
			count += o.report.Count
		} else {
			count += len(o.report.Members)
		}
	}
	if countsOnly || count > maxMembers {
		return nil, count, true
	}
	members = make(map[uint64]Member, count)
	for _, m := range local {
		members[m.Alias] = m
	}
	for _, o := range tp.origins {
		for _, m := range o.report.Members {
			members[m.Alias] = m
		}
	}
	return members, len(members), false
}

// Snapshot returns the topic's presence as a new follower is told it, with
// local the server's own members. It does not change the view.
func (t *Table[Via]) Snapshot(name string, local []Member, maxMembers int) Event {
	members, count, countsOnly := t.get(name).merged(local, maxMembers)
	ev := Event{Snapshot: true, Count: count, CountsOnly: countsOnly}
	if !countsOnly {
		ev.Members = sorted(members)
	}
	return ev
}

// Update recomputes the topic's presence from local and the reports, and
// returns what changed since the followers were last told (changed false:
// nothing to tell). A topic going over maxMembers is told as a count; one
// coming back under it gets a snapshot.
func (t *Table[Via]) Update(name string, local []Member, maxMembers int) (ev Event, changed bool) {
	tp := t.get(name)
	members, count, countsOnly := tp.merged(local, maxMembers)
	defer func() { tp.view, tp.count, tp.countsOnly, tp.told = members, count, countsOnly, true }()
	switch {
	case countsOnly:
		return Event{Count: count, CountsOnly: true}, !tp.told || !tp.countsOnly || tp.count != count
	case tp.countsOnly || !tp.told:
		return Event{Snapshot: true, Members: sorted(members), Count: count}, true
	}
	for alias, m := range members {
		if old, ok := tp.view[alias]; !ok {
			ev.Joined = append(ev.Joined, m)
		} else if !same(old, m) {
			ev.Left = append(ev.Left, old)
			ev.Joined = append(ev.Joined, m)
		}
	}
	for alias, m := range tp.view {
		if _, ok := members[alias]; !ok {
			ev.Left = append(ev.Left, m)
		}
	}
	sortMembers(ev.Joined)
	sortMembers(ev.Left)
	ev.Count = count
	return ev, len(ev.Joined) > 0 || len(ev.Left) > 0
}

func same(a, b Member) bool { return a.Role == b.Role && bytes.Equal(a.Identity, b.Identity) }

func sorted(m map[uint64]Member) []Member {
	out := make([]Member, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sortMembers(out)
	return out
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		switch {
		case a.Alias < b.Alias:
			return -1
		case a.Alias > b.Alias:
			return 1
		}
		return 0
	})
}
