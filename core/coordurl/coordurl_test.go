package coordurl

import (
	"net/url"
	"testing"
)

func TestURL(t *testing.T) {
	cases := []struct {
		name  string
		base  string
		query url.Values
		want  string
	}{
		{"bare host gets the path", "ws://127.0.0.1:9090", nil, "ws://127.0.0.1:9090/connect"},
		{"trailing slash gets the path", "ws://127.0.0.1:9090/", nil, "ws://127.0.0.1:9090/connect"},
		{"explicit path is kept", "wss://coord.example/custom", nil, "wss://coord.example/custom"},
		{"http becomes ws", "http://127.0.0.1:9090", nil, "ws://127.0.0.1:9090/connect"},
		{"https becomes wss", "https://example.test", nil, "wss://example.test/connect"},
		{"base query is kept as is without a query", "ws://127.0.0.1:9090/connect?b=2&a=1", nil,
			"ws://127.0.0.1:9090/connect?b=2&a=1"},
		{"query is merged into base's", "ws://127.0.0.1:9090/connect?a=1",
			url.Values{"token": {"s3cret"}, "a": {"2"}}, "ws://127.0.0.1:9090/connect?a=1&a=2&token=s3cret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := URL(tc.base, "/connect", tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestURLRejectsOtherSchemes(t *testing.T) {
	for _, base := range []string{"127.0.0.1:9090", "tcp://127.0.0.1:9090", "ftp://x", "://bad"} {
		if _, err := URL(base, "/connect", nil); err == nil {
			t.Errorf("URL(%q) succeeded, want an error", base)
		}
	}
}
