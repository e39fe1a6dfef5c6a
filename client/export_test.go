package client

// Test-only calls for the SDK's own tests; the module's other tests use
// internal/clienthooks.

// SkipAuth makes cfg dial without sending AUTH.
func SkipAuth(cfg *Config) { cfg.skipAuth = true }

// SendRaw writes b unchanged on the live link's channel ch.
func SendRaw(c *Client, ch Channel, b []byte) error { return c.sendRaw(ch, b) }

// OnMove sets cfg's hook on the stages of a move ("started", "ended"); the
// move waits for f.
func OnMove(cfg *Config, f func(stage string)) { cfg.onMove = f }
