package subscriptions

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// step is one change to a table and what must hold after it.
type step struct {
	op     string // "client", "server", "remove"
	peer   string
	topics []string

	changed     bool     // the result of the call
	clientUnion []string // ClientTopics() afterwards
}

func run(t *testing.T, tbl *Table[string], steps []step) {
	t.Helper()
	for i, s := range steps {
		var got bool
		switch s.op {
		case "client":
			got = tbl.SetClient(s.peer, s.topics)
		case "server":
			got = tbl.SetServer(s.peer, s.topics)
		case "remove":
			got = tbl.Remove(s.peer)
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if got != s.changed {
			t.Errorf("step %d %s(%s, %q) = %v, want %v", i, s.op, s.peer, s.topics, got, s.changed)
		}
		if union := tbl.ClientTopics(); !slices.Equal(union, s.clientUnion) {
			t.Errorf("step %d: ClientTopics() = %q, want %q", i, union, s.clientUnion)
		}
	}
}

func TestClientSetsAndUnionChange(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"first set changes the union", []step{
			{op: "client", peer: "a", topics: []string{"x", "y"}, changed: true, clientUnion: []string{"x", "y"}},
		}},
		{"the same set again changes nothing", []step{
			{op: "client", peer: "a", topics: []string{"x", "y"}, changed: true, clientUnion: []string{"x", "y"}},
			{op: "client", peer: "a", topics: []string{"y", "x", "x"}, changed: false, clientUnion: []string{"x", "y"}},
		}},
		{"a new set replaces the old one whole", []step{
			{op: "client", peer: "a", topics: []string{"x", "y"}, changed: true, clientUnion: []string{"x", "y"}},
			{op: "client", peer: "a", topics: []string{"z"}, changed: true, clientUnion: []string{"z"}},
		}},
		{"an empty set unsubscribes from everything", []step{
			{op: "client", peer: "a", topics: []string{"x"}, changed: true, clientUnion: []string{"x"}},
			{op: "client", peer: "a", topics: nil, changed: true, clientUnion: []string{}},
		}},
		{"empty strings are ignored and duplicates collapse", []step{
			{op: "client", peer: "a", topics: []string{"", "x", "x", ""}, changed: true, clientUnion: []string{"x"}},
			{op: "client", peer: "a", topics: []string{""}, changed: true, clientUnion: []string{}},
		}},
		{"a second client on a shared topic does not change the union", []step{
			{op: "client", peer: "a", topics: []string{"x"}, changed: true, clientUnion: []string{"x"}},
			{op: "client", peer: "b", topics: []string{"x"}, changed: false, clientUnion: []string{"x"}},
			{op: "client", peer: "a", topics: nil, changed: false, clientUnion: []string{"x"}},
			{op: "client", peer: "b", topics: nil, changed: true, clientUnion: []string{}},
		}},
		{"a client's own change is reported only where the union moves", []step{
			{op: "client", peer: "a", topics: []string{"x", "y"}, changed: true, clientUnion: []string{"x", "y"}},
			{op: "client", peer: "b", topics: []string{"y", "z"}, changed: true, clientUnion: []string{"x", "y", "z"}},
			{op: "client", peer: "b", topics: []string{"x", "y"}, changed: true, clientUnion: []string{"x", "y"}},
			{op: "client", peer: "a", topics: []string{"y"}, changed: false, clientUnion: []string{"x", "y"}},
		}},
		{"removing a client changes the union only for its sole topics", []step{
			{op: "client", peer: "a", topics: []string{"x", "y"}, changed: true, clientUnion: []string{"x", "y"}},
			{op: "client", peer: "b", topics: []string{"x", "y"}, changed: false, clientUnion: []string{"x", "y"}},
			{op: "remove", peer: "a", changed: false, clientUnion: []string{"x", "y"}},
			{op: "remove", peer: "b", changed: true, clientUnion: []string{}},
			{op: "remove", peer: "b", changed: false, clientUnion: []string{}},
		}},
		{"servers' topics are not in the client union", []step{
			{op: "server", peer: "s1", topics: []string{"x"}, changed: true, clientUnion: []string{}},
			{op: "client", peer: "a", topics: []string{"x"}, changed: true, clientUnion: []string{"x"}},
			{op: "remove", peer: "s1", changed: false, clientUnion: []string{"x"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, New[string](), tt.steps)
		})
	}
}

func TestServerSets(t *testing.T) {
	tbl := New[string]()
	run(t, tbl, []step{
		{op: "server", peer: "s1", topics: []string{"x", "y"}, changed: true, clientUnion: []string{}},
		{op: "server", peer: "s1", topics: []string{"y", "x"}, changed: false, clientUnion: []string{}},
		{op: "server", peer: "s2", topics: []string{"y"}, changed: true, clientUnion: []string{}},
		{op: "server", peer: "s1", topics: []string{"z"}, changed: true, clientUnion: []string{}},
	})
	for topic, want := range map[string][]string{"x": nil, "y": {"s2"}, "z": {"s1"}} {
		if got := tbl.servers(topic); !slices.Equal(got, want) {
			t.Errorf("servers(%q) = %q, want %q", topic, got, want)
		}
		if got := tbl.clients(topic); got != nil {
			t.Errorf("clients(%q) = %q, want none", topic, got)
		}
	}
	if got := tbl.topicsOf("s1"); !slices.Equal(got, []string{"z"}) {
		t.Errorf("topicsOf(s1) = %q", got)
	}
	tbl.Remove("s1")
	if got := tbl.servers("z"); got != nil {
		t.Errorf("servers(z) after Remove(s1) = %q, want none", got)
	}
	if got := tbl.topicsOf("s1"); len(got) != 0 {
		t.Errorf("topicsOf(s1) after Remove = %q", got)
	}
}

func TestSubscribers(t *testing.T) {
	tbl := New[string]()
	tbl.SetClient("a", []string{"x", "y"})
	tbl.SetClient("b", []string{"y"})
	tbl.SetClient("c", []string{"y", "z"})
	tbl.SetServer("s1", []string{"y"})

	tests := []struct {
		topic            string
		clients, servers []string
	}{
		{"x", []string{"a"}, nil},
		{"y", []string{"a", "b", "c"}, []string{"s1"}},
		{"z", []string{"c"}, nil},
		{"unknown", nil, nil},
		{"", nil, nil},
	}
	for _, tt := range tests {
		clients := slices.Sorted(slices.Values(tbl.clients(tt.topic)))
		if !slices.Equal(clients, tt.clients) {
			t.Errorf("clients(%q) = %q, want %q", tt.topic, clients, tt.clients)
		}
		if got := tbl.servers(tt.topic); !slices.Equal(got, tt.servers) {
			t.Errorf("servers(%q) = %q, want %q", tt.topic, got, tt.servers)
		}
		wantOK, wantTopic := tt.clients != nil || tt.servers != nil, ""
		if wantOK {
			wantTopic = tt.topic
		}
		if subs, ok := tbl.Lookup([]byte(tt.topic)); ok != wantOK || subs.Topic != wantTopic {
			t.Errorf("Lookup(%q) = topic %q, %v; want %q, %v", tt.topic, subs.Topic, ok, wantTopic, wantOK)
		}
		subs, _ := tbl.Lookup([]byte(tt.topic))
		if got := slices.Sorted(slices.Values(subs.Clients)); !slices.Equal(got, tt.clients) {
			t.Errorf("Lookup(%q) clients = %q, want %q", tt.topic, got, tt.clients)
		}
		if !slices.Equal(subs.Servers, tt.servers) {
			t.Errorf("Lookup(%q) servers = %q, want %q", tt.topic, subs.Servers, tt.servers)
		}
	}
	if got := tbl.topicsOf("a"); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("topicsOf(a) = %q", got)
	}
	if got := tbl.topicsOf("nobody"); len(got) != 0 {
		t.Errorf("topicsOf(nobody) = %q", got)
	}
}

func TestTopicsExceptIsWhatAHubAnnounces(t *testing.T) {
	tbl := New[string]()
	tbl.SetClient("a", []string{"local", "shared"})
	tbl.SetServer("s1", []string{"only-s1", "shared", "s1-s2"})
	tbl.SetServer("s2", []string{"only-s2", "s1-s2"})

	tests := []struct {
		except string
		want   []string
	}{
		{"s1", []string{"local", "only-s2", "s1-s2", "shared"}},
		{"s2", []string{"local", "only-s1", "s1-s2", "shared"}},
		{"s3", []string{"local", "only-s1", "only-s2", "s1-s2", "shared"}},
	}
	for _, tt := range tests {
		if got := tbl.TopicsExcept(tt.except); !slices.Equal(got, tt.want) {
			t.Errorf("TopicsExcept(%s) = %q, want %q", tt.except, got, tt.want)
		}
	}
	if got, want := tbl.ClientTopics(), []string{"local", "shared"}; !slices.Equal(got, want) {
		t.Errorf("ClientTopics() = %q, want %q", got, want)
	}
}

func TestSnapshotsNeverChange(t *testing.T) {
	tbl := New[string]()
	tbl.SetClient("a", []string{"x"})
	tbl.SetClient("b", []string{"x"})
	before := tbl.clients("x")
	saved := slices.Clone(before)

	tbl.SetClient("c", []string{"x"})
	tbl.Remove("a")
	tbl.SetClient("b", nil)

	if !slices.Equal(before, saved) {
		t.Fatalf("a snapshot changed under its reader: %q, was %q", before, saved)
	}
	if got := tbl.clients("x"); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("clients(x) = %q, want [c]", got)
	}
}

func TestCallerSlicesAreNotRetained(t *testing.T) {
	tbl := New[string]()
	topics := []string{"y", "x"}
	tbl.SetClient("a", topics)
	if !slices.Equal(topics, []string{"y", "x"}) {
		t.Errorf("SetClient reordered the caller's slice: %q", topics)
	}
	topics[0] = "changed"
	got := tbl.topicsOf("a")
	got[0] = "changed too"
	if again := tbl.topicsOf("a"); !slices.Equal(again, []string{"x", "y"}) {
		t.Errorf("topicsOf(a) = %q after the caller's slices changed", again)
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	tbl := New[*int]()
	for i := range 100 {
		tbl.SetClient(new(int), []string{"topic", fmt.Sprint("t", i)})
	}
	tbl.SetServer(new(int), []string{"topic"})
	for name, f := range map[string]func(){
		"Lookup":          func() { _, _ = tbl.Lookup([]byte("topic")) },
		"Lookup(unknown)": func() { _, _ = tbl.Lookup([]byte("nobody's")) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

// TestConcurrentUse is for the race detector: readers walk snapshots while
// writers replace sets.
func TestConcurrentUse(t *testing.T) {
	tbl := New[int]()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				tbl.SetClient(w, []string{"shared", fmt.Sprint("t", i%7)})
				tbl.SetServer(100+w, []string{"shared", fmt.Sprint("s", i%5)})
				if i%50 == 0 {
					tbl.Remove(w)
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				for _, p := range tbl.clients("shared") {
					if p < 0 || p > 3 {
						t.Errorf("client %d was never added", p)
						return
					}
				}
				_ = tbl.servers("shared")
				_ = tbl.TopicsExcept(100)
			}
		})
	}
	wg.Wait()
	for w := range 4 {
		tbl.Remove(w)
		tbl.Remove(100 + w)
	}
	if got := tbl.TopicsExcept(-1); len(got) != 0 {
		t.Fatalf("after removing everyone the table still holds %q", got)
	}
	if n := tbl.entries(); n != 0 || tbl.clientTopics != 0 {
		t.Fatalf("after removing everyone: %d entries, %d client topics", n, tbl.clientTopics)
	}
}
