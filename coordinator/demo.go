package coordinator

import (
	"net/http"

	"github.com/webrtc-broker/webrtc-broker/internal/webdemo"
)

// DemoConfig turns on the /demo page: a shared canvas and chat in the
// browser SDK, served beside /connect (key demo.enabled, default false).
type DemoConfig struct {
	Enabled bool `koanf:"enabled"`
}

func serveDemo(mux *http.ServeMux) {
	mux.Handle("/demo", http.RedirectHandler("/demo/", http.StatusMovedPermanently))
	mux.Handle("/demo/", webdemo.Handler("/demo/"))
}
