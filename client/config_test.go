package client

import (
	"net/url"
	"testing"
)

func TestConnectURL(t *testing.T) {
	cases := []struct {
		name  string
		base  string
		query url.Values
		want  string
	}{
		{"bare host gets /connect", "ws://127.0.0.1:9090", nil, "ws://127.0.0.1:9090/connect"},
		{"trailing slash gets /connect", "ws://127.0.0.1:9090/", nil, "ws://127.0.0.1:9090/connect"},
		{"explicit path is kept", "ws://127.0.0.1:9090/broker/connect", nil, "ws://127.0.0.1:9090/broker/connect"},
		{"http becomes ws", "http://127.0.0.1:9090", nil, "ws://127.0.0.1:9090/connect"},
		{"https becomes wss", "https://example.test", nil, "wss://example.test/connect"},
		{"credentials are merged into the query", "ws://127.0.0.1:9090/connect?a=1",
			url.Values{"token": {"s3cret"}}, "ws://127.0.0.1:9090/connect?a=1&token=s3cret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Config{CoordinatorURL: tc.base, Query: tc.query}.connectURL()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("connectURL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConnectURLRejectsOtherSchemes(t *testing.T) {
	for _, base := range []string{"127.0.0.1:9090", "tcp://127.0.0.1:9090", "://bad"} {
		if _, err := (Config{CoordinatorURL: base}).connectURL(); err == nil {
			t.Errorf("connectURL(%q) succeeded, want an error", base)
		}
	}
}

func TestValidTopic(t *testing.T) {
	for topic, want := range map[string]bool{"chat": true, "a.b/c": true, "": false, "two words": false} {
		if got := validTopic(topic); got != want {
			t.Errorf("validTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}
