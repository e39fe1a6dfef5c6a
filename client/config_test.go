package client

import (
	"net/url"
	"testing"
)

// The normalising rules are core/coordurl's, tested there; this checks
// what the client adds: the /connect path and the credentials' query.
func TestConnectURL(t *testing.T) {
	got, err := Config{CoordinatorURL: "http://127.0.0.1:9090", Query: url.Values{"token": {"s3cret"}}}.connectURL()
	if want := "ws://127.0.0.1:9090/connect?token=s3cret"; err != nil || got != want {
		t.Fatalf("connectURL = %q, %v; want %q", got, err, want)
	}
	if _, err := (Config{CoordinatorURL: "tcp://127.0.0.1:9090"}).connectURL(); err == nil {
		t.Fatalf("a tcp:// coordinator URL was accepted")
	}
}

func TestValidTopic(t *testing.T) {
	for topic, want := range map[string]bool{"chat": true, "a.b/c": true, "": false, "two words": false} {
		if got := validTopic(topic); got != want {
			t.Errorf("validTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestTokenIsSentAsQuery(t *testing.T) {
	got, err := Config{CoordinatorURL: "ws://127.0.0.1:9090", Token: "s3cret", Query: url.Values{"a": {"1"}}}.connectURL()
	if want := "ws://127.0.0.1:9090/connect?a=1&token=s3cret"; err != nil || got != want {
		t.Fatalf("connectURL = %q, %v; want %q", got, err, want)
	}
}
