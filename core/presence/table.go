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

// Table holds, per topic, the local members, the remote reports, their
// merged membership and what the followers were last told. Via is the
// caller's handle of the link a report came through, so that a lost link
// takes its servers' members with it. Not safe for concurrent use.
//
// Cost: the merged membership is kept up to date as members come and go
// (counted references per alias: local plus each report), and the changes
// since the followers were last told are kept aside, so that a local join
// or leave (Join, Leave) and its event (Changes) cost O(1), whatever the
// topic's size; a remote report costs the size of the report it replaces
// and of the new one. Only a snapshot (a new follower, or a topic coming
// back under the size limit) walks the members. Update and Snapshot with an
// explicit local list are the O(n) forms.
type Table[Via comparable] struct {
	topics map[string]*topic[Via]
}

type topic[Via comparable] struct {
	origins map[uint64]origin[Via]
	// local is the server's own members; tracked: local is known (Track,
	// Update), else Join and Leave ignore the topic.
	local   map[uint64]Member
	tracked bool
	// members is the merged membership; raw counts members before merging
	// (local plus each report's size); countsOnlyReports how many reports
	// carry only a count.
	members           map[uint64]*entry
	raw               int
	countsOnlyReports int
	// What the followers were last told, and the aliases changed since then
	// with their state at that time.
	told, toldCountsOnly bool
	toldCount            int
	pending              map[uint64]was
}

type entry struct {
	m    Member // as its latest source said
	refs int    // sources that hold it: local, reports
}

type was struct {
	m  Member
	in bool
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
		tp = &topic[Via]{origins: map[uint64]origin[Via]{}, local: map[uint64]Member{},
			members: map[uint64]*entry{}, pending: map[uint64]was{}}
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
	tp := t.get(name)
	if old, ok := tp.origins[originID]; ok {
		tp.unapply(old.report)
	}
	tp.apply(r)
	tp.origins[originID] = origin[Via]{via: via, report: r, seen: seen}
}

// ExpireBefore forgets the reports set with SetRemoteAt before cutoff and
// returns the topics that had one.
func (t *Table[Via]) ExpireBefore(cutoff time.Time) []string {
	var touched []string
	for name, tp := range t.topics {
		for id, o := range tp.origins {
			if !o.seen.IsZero() && o.seen.Before(cutoff) {
				tp.unapply(o.report)
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
				tp.unapply(o.report)
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

// Track makes the table keep topic name's local members from now on,
// loading them with local the first time (a walk of the topic, once).
func (t *Table[Via]) Track(name string, local func() []Member) {
	tp := t.get(name)
	if !tp.tracked {
		tp.setLocal(local())
	}
}

// Join records that m joined topic name on this server; a topic not
// tracked is ignored (Track loads it whole when it is). O(1).
func (t *Table[Via]) Join(name string, m Member) {
	tp := t.topics[name]
	if tp == nil || !tp.tracked {
		return
	}
	if old, ok := tp.local[m.Alias]; ok {
		if same(old, m) {
			return
		}
		tp.remove(old)
		tp.raw--
	}
	tp.local[m.Alias] = m
	tp.add(m)
	tp.raw++
}

// Leave records that the member alias left topic name on this server.
// O(1).
func (t *Table[Via]) Leave(name string, alias uint64) {
	tp := t.topics[name]
	if tp == nil || !tp.tracked {
		return
	}
	if m, ok := tp.local[alias]; ok {
		delete(tp.local, alias)
		tp.remove(m)
		tp.raw--
	}
}

// LocalCount returns how many local members a tracked topic has.
func (t *Table[Via]) LocalCount(name string) int {
	if tp := t.topics[name]; tp != nil {
		return len(tp.local)
	}
	return 0
}

// Changes returns what changed in topic name since the followers were last
// told (changed false: nothing to tell), and records it as told. A topic
// going over maxMembers is told as a count; one coming back under it gets
// a snapshot. It costs what changed, except for that snapshot.
func (t *Table[Via]) Changes(name string, maxMembers int) (ev Event, changed bool) {
	tp := t.get(name)
	countsOnly, count := tp.countsOnly(maxMembers)
	defer func() {
		tp.told, tp.toldCountsOnly, tp.toldCount = true, countsOnly, count
		if len(tp.pending) > 64 {
			// A big map costs its size to clear, every time after: a
			// snapshot's worth of changes (Track, a report) gets a new one.
			tp.pending = map[uint64]was{}
		} else {
			clear(tp.pending)
		}
	}()
	switch {
	case countsOnly:
		return Event{Count: count, CountsOnly: true}, !tp.told || !tp.toldCountsOnly || tp.toldCount != count
	case tp.toldCountsOnly || !tp.told:
		return Event{Snapshot: true, Members: tp.sorted(), Count: count}, true
	}
	for alias, w := range tp.pending {
		e := tp.members[alias]
		switch {
		case e == nil && w.in:
			ev.Left = append(ev.Left, w.m)
		case e != nil && !w.in:
			ev.Joined = append(ev.Joined, e.m)
		case e != nil && !same(w.m, e.m):
			ev.Left = append(ev.Left, w.m)
			ev.Joined = append(ev.Joined, e.m)
		}
	}
	sortMembers(ev.Joined)
	sortMembers(ev.Left)
	ev.Count = count
	return ev, len(ev.Joined) > 0 || len(ev.Left) > 0
}

// Current returns a tracked topic's presence as a new follower is told it.
// It does not change what the followers were told.
func (t *Table[Via]) Current(name string, maxMembers int) Event {
	tp := t.get(name)
	countsOnly, count := tp.countsOnly(maxMembers)
	ev := Event{Snapshot: true, Count: count, CountsOnly: countsOnly}
	if !countsOnly {
		ev.Members = tp.sorted()
	}
	return ev
}

// Update replaces the topic's local members with local (O(n): it compares
// them) and returns Changes.
func (t *Table[Via]) Update(name string, local []Member, maxMembers int) (ev Event, changed bool) {
	t.get(name).setLocal(local)
	return t.Changes(name, maxMembers)
}

// Snapshot returns the topic's presence with local as the server's own
// members, as a new follower is told it. It changes nothing. O(n).
func (t *Table[Via]) Snapshot(name string, local []Member, maxMembers int) Event {
	members, count, countsOnly := t.get(name).merged(local, maxMembers)
	ev := Event{Snapshot: true, Count: count, CountsOnly: countsOnly}
	if !countsOnly {
		ev.Members = sorted(members)
	}
	return ev
}

// setLocal makes local the topic's local members, and tracks it.
func (tp *topic[Via]) setLocal(local []Member) {
	next := make(map[uint64]Member, len(local))
	for _, m := range local {
		next[m.Alias] = m
	}
	for alias, m := range tp.local {
		if n, ok := next[alias]; !ok || !same(n, m) {
			delete(tp.local, alias)
			tp.remove(m)
			tp.raw--
		}
	}
	for alias, m := range next {
		if _, ok := tp.local[alias]; !ok {
			tp.local[alias] = m
			tp.add(m)
			tp.raw++
		}
	}
	tp.tracked = true
}

// note keeps alias's state as last told, before its first change since.
func (tp *topic[Via]) note(alias uint64) {
	if _, ok := tp.pending[alias]; ok {
		return
	}
	if e := tp.members[alias]; e != nil {
		tp.pending[alias] = was{m: e.m, in: true}
	} else {
		tp.pending[alias] = was{}
	}
}

func (tp *topic[Via]) add(m Member) {
	tp.note(m.Alias)
	if e := tp.members[m.Alias]; e != nil {
		e.m = m
		e.refs++
		return
	}
	tp.members[m.Alias] = &entry{m: m, refs: 1}
}

func (tp *topic[Via]) remove(m Member) {
	e := tp.members[m.Alias]
	if e == nil {
		return
	}
	tp.note(m.Alias)
	if e.refs--; e.refs == 0 {
		delete(tp.members, m.Alias)
	}
}

func (tp *topic[Via]) apply(r Report) {
	if r.CountsOnly {
		tp.countsOnlyReports++
		tp.raw += r.Count
		return
	}
	for _, m := range r.Members {
		tp.add(m)
	}
	tp.raw += len(r.Members)
}

func (tp *topic[Via]) unapply(r Report) {
	if r.CountsOnly {
		tp.countsOnlyReports--
		tp.raw -= r.Count
		return
	}
	for _, m := range r.Members {
		tp.remove(m)
	}
	tp.raw -= len(r.Members)
}

// countsOnly says whether the topic is told as a count, and its count:
// above maxMembers (before merging), or when any report is counts only,
// only the count is kept.
func (tp *topic[Via]) countsOnly(maxMembers int) (bool, int) {
	if tp.countsOnlyReports > 0 || tp.raw > maxMembers {
		return true, tp.raw
	}
	return false, len(tp.members)
}

func (tp *topic[Via]) sorted() []Member {
	out := make([]Member, 0, len(tp.members))
	for _, e := range tp.members {
		out = append(out, e.m)
	}
	sortMembers(out)
	return out
}

// merged is the topic's whole membership with local as its own members:
// local plus every report. Above maxMembers, or when any report is counts
// only, only the count is kept.
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
