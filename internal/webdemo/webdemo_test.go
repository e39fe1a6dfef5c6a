package webdemo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// The SDK's dist/broker.js is this package's bundle, not a copy that could
// drift from it.
func TestBundleIsTheSDKBuild(t *testing.T) {
	target, err := os.Readlink("../../client/js/dist/broker.js")
	if err != nil {
		t.Fatalf("client/js/dist/broker.js must be a link to internal/webdemo/static/broker.js: %v", err)
	}
	if target != "../../../internal/webdemo/static/broker.js" {
		t.Fatalf("client/js/dist/broker.js links to %s", target)
	}
	if _, err := static.ReadFile("static/broker.js"); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerServesThePageAndScripts(t *testing.T) {
	srv := httptest.NewServer(Handler("/demo/"))
	defer srv.Close()
	for path, want := range map[string]string{
		"/demo/":             "<canvas",
		"/demo/demo.js":      "connect(",
		"/demo/broker.js":    "export",
		"/demo/example.html": "connect(",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s, body without %q", path, resp.Status, want)
		}
	}
}
