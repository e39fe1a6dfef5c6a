// Package webdemo holds the coordinator's /demo page: the browser SDK's
// bundle and a page that uses it. The bundle's one copy lives here, where
// the coordinator may embed it (go:embed cannot reach into client/, and the
// coordinator may not import a client package); client/js/dist/broker.js
// is a symbolic link to it, and client/js's `npm run build` writes through
// that link.
package webdemo

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page and its scripts under prefix (e.g. "/demo/").
func Handler(prefix string) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above: cannot happen
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path == "/" {
			r.URL.Path = "/demo.html"
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
}
