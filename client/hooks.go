package client

import "github.com/webrtc-broker/webrtc-broker/internal/clienthooks"

// The module's end-to-end tests reach the test-only calls through
// internal/clienthooks, which cannot import this package.
func init() {
	clienthooks.Register(
		func(cfg any) { cfg.(*Config).skipAuth = true },
		func(c any, reliable bool, b []byte) error {
			ch := Unreliable
			if reliable {
				ch = Reliable
			}
			return c.(*Client).sendRaw(ch, b)
		})
	clienthooks.RegisterOnFrame(func(cfg any, f func(reliable bool, b []byte)) {
		cfg.(*Config).onFrame = func(ch Channel, b []byte) { f(ch == Reliable, b) }
	})
}
