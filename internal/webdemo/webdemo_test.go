package webdemo

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// The embedded bundle is a copy: it must be the SDK's committed build
// (client/js's npm run build writes both).
func TestBundleIsTheSDKBuild(t *testing.T) {
	want, err := os.ReadFile("../../client/js/dist/broker.js")
	if err != nil {
		t.Fatal(err)
	}
	got, err := static.ReadFile("static/broker.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("internal/webdemo/static/broker.js differs from client/js/dist/broker.js: run npm run build in client/js")
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
