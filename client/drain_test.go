package client

import (
	"fmt"
	"slices"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
)

// TestHandoverDeliversTheOverlapOnceInOrder pins the dedupe of a move
// (drain.go) without a network. Each link carries a contiguous stretch of
// the sender's stream: the old link up to where it is closed, the new one
// from where its subscription took effect. The old link delivers at once
// and is remembered; the new one's messages are held until the handover
// ends, and then only those the old link did not deliver go out; after the
// end the old link is dropped and the new one skips what the old had
// delivered ahead of it.
func TestHandoverDeliversTheOverlapOnceInOrder(t *testing.T) {
	cases := []struct {
		name      string
		steps     []string // "o:body" the old link, "n:body" the new one; "end" ends the handover
		want      []string
		wantAtEnd int // len(got) right after "end"
	}{
		{"the new link is ahead", []string{"o:m1", "n:m2", "o:m2", "n:m3", "n:m4", "end", "o:m3", "n:m5"},
			[]string{"m1", "m2", "m3", "m4", "m5"}, 4},
		{"the old link is ahead", []string{"o:m1", "o:m2", "n:m2", "o:m3", "o:m4", "end", "n:m3", "n:m4", "o:m5", "n:m5"},
			[]string{"m1", "m2", "m3", "m4", "m5"}, 4},
		{"no overlap at all", []string{"o:m1", "end", "n:m2"}, []string{"m1", "m2"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			c := &Client{cfg: Config{OnMessage: func(m Message) { got = append(got, string(m.Body)) }}, log: logging.Discard()}
			old, next := newLink(), newLink()
			h := newHandover(old, next)
			c.ho.Store(h)
			for _, step := range tc.steps {
				if step == "end" {
					c.endHandover(h)
					if len(got) != tc.wantAtEnd {
						t.Fatalf("at the end: %v, want %d messages", got, tc.wantAtEnd)
					}
					continue
				}
				l := old
				if step[0] == 'n' {
					l = next
				}
				m := Message{Topic: "t", FromAlias: 7, Body: []byte(step[2:]), Channel: Reliable}
				if !c.take(h, l, m) {
					t.Fatalf("%s: take refused a message of a link in the handover", step)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
			if !old.muted.Load() {
				t.Fatal("the old link is not muted after the handover")
			}
		})
	}
}

// TestHandoverKeysTellSendersApart: the same body from another sender, on
// another topic or channel is another message.
func TestHandoverKeysTellSendersApart(t *testing.T) {
	base := Message{Topic: "t", FromAlias: 7, Body: []byte("x"), Channel: Reliable}
	for _, m := range []Message{
		{Topic: "t", FromAlias: 8, Body: []byte("x"), Channel: Reliable},
		{Topic: "u", FromAlias: 7, Body: []byte("x"), Channel: Reliable},
		{Topic: "t", FromAlias: 7, Body: []byte("x"), Channel: Unreliable},
		{Topic: "t", FromAlias: 7, Body: []byte("y"), Channel: Reliable},
		{Topic: "t\x00x", FromAlias: 7, Body: nil, Channel: Reliable},
	} {
		if messageKey(m) == messageKey(base) {
			t.Errorf("%+v has the key of %+v", m, base)
		}
	}
	a := Message{Topic: "a\x00b", Body: []byte("c")}
	b := Message{Topic: "a", Body: []byte("b\x00c")}
	if messageKey(a) == messageKey(b) {
		t.Error("topic and body run into each other in the key")
	}
}

// TestAMoveSoonAfterAMoveKeepsDroppingCopies: a client that moves twice in
// a row (the server it moved to drains too) still drops, on the link it now
// leaves, the copies the first move owed it.
func TestAMoveSoonAfterAMoveKeepsDroppingCopies(t *testing.T) {
	var got []string
	c := &Client{cfg: Config{OnMessage: func(m Message) { got = append(got, string(m.Body)) }}, log: logging.Discard()}
	a, b, d := newLink(), newLink(), newLink()
	msg := func(body string) Message {
		return Message{Topic: "t", FromAlias: 7, Body: []byte(body), Channel: Reliable}
	}
	first := newHandover(a, b)
	c.ho.Store(first)
	c.take(first, a, msg("m1"))
	c.take(first, a, msg("m2")) // a is ahead of b
	c.endHandover(first)
	second := newHandover(b, d)
	second.prev = first
	c.ho.Store(second)
	for _, body := range []string{"m1", "m2", "m3"} { // b catches up: m1 and m2 are copies
		if !c.take(second, b, msg(body)) {
			t.Fatalf("%s: take refused a message of a link in the handover", body)
		}
	}
	c.endHandover(second)
	if want := []string{"m1", "m2", "m3"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// TestHandoverRepeatedBodyIsNotCollapsed: a sender that publishes one body
// twice around a move gets both delivered. The old dedupe counted bodies,
// so a body the old link delivered stayed "owed" by the new link for
// seconds and ate the sender's next identical publish. "next" is when the
// new link comes to exist (its subscription is being sent); before it, the
// handover already records what the old link delivers.
func TestHandoverRepeatedBodyIsNotCollapsed(t *testing.T) {
	cases := []struct {
		name    string
		channel Channel
		steps   []string
		want    []string
	}{
		{"published again after the move", Reliable,
			[]string{"o:x", "next", "end", "n:x"}, []string{"x", "x"}},
		{"published again after the move, unreliable", Unreliable,
			[]string{"o:x", "next", "end", "n:x"}, []string{"x", "x"}},
		{"twice during the move, the new link from the second, then again", Reliable,
			[]string{"o:x", "next", "o:x", "n:x", "end", "n:x"}, []string{"x", "x", "x"}},
		{"an earlier body of the stream is not owed", Reliable,
			[]string{"next", "o:x", "o:y", "n:y", "end", "n:x"}, []string{"x", "y", "x"}},
		{"a reliable stream past what was owed owes nothing more", Reliable,
			[]string{"next", "o:a", "o:b", "o:x", "n:a", "end", "n:b", "n:x", "n:c", "n:x"}, []string{"a", "b", "x", "c", "x"}},
		// Ambiguous: the new link one ahead, or both links carrying the
		// same two and the sender publishing a third. The shortest overlap
		// that fits is taken: at worst a duplicate, never a loss.
		{"a repeated body, the shortest overlap", Reliable,
			[]string{"next", "o:x", "o:x", "n:x", "n:x", "n:x", "end"}, []string{"x", "x", "x", "x"}},
		{"the new link ahead with a repeated body", Reliable,
			[]string{"next", "o:x", "n:x", "n:y", "n:x", "o:y", "end", "n:z"}, []string{"x", "y", "x", "z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			c := &Client{cfg: Config{OnMessage: func(m Message) { got = append(got, string(m.Body)) }}, log: logging.Discard()}
			old, next := newLink(), newLink()
			h := newHandover(old, nil)
			c.ho.Store(h)
			for _, step := range tc.steps {
				switch step {
				case "next":
					h.setNext(next)
					continue
				case "end":
					c.endHandover(h)
					continue
				}
				l := old
				if step[0] == 'n' {
					l = next
				}
				m := Message{Topic: "t", FromAlias: 7, Body: []byte(step[2:]), Channel: tc.channel}
				if !c.take(h, l, m) {
					t.Fatalf("%s: take refused a message of a link in the handover", step)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHandoverAlignsPerStream: streams of other senders interleave freely
// on the two links; each is aligned on its own.
func TestHandoverAlignsPerStream(t *testing.T) {
	var got []string
	c := &Client{cfg: Config{OnMessage: func(m Message) { got = append(got, fmt.Sprintf("%d:%s", m.FromAlias, m.Body)) }}, log: logging.Discard()}
	old, next := newLink(), newLink()
	h := newHandover(old, next)
	c.ho.Store(h)
	msg := func(from uint64, body string) Message {
		return Message{Topic: "t", FromAlias: from, Body: []byte(body), Channel: Reliable}
	}
	c.take(h, old, msg(1, "a"))
	c.take(h, old, msg(2, "a"))
	c.take(h, next, msg(2, "a")) // a copy
	c.take(h, next, msg(1, "a")) // a copy
	c.take(h, old, msg(1, "b"))  // old ahead on sender 1
	c.take(h, next, msg(2, "b")) // next ahead on sender 2
	c.endHandover(h)
	c.take(h, next, msg(1, "b")) // the owed copy
	c.take(h, next, msg(1, "a")) // sender 1 again: new
	want := []string{"1:a", "2:a", "1:b", "2:b", "1:a"}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}
