// Package coordurl turns a configured coordinator URL into the WebSocket URL
// to dial, the same way for the client SDK (/connect) and the communication
// server (/discover), so that one config value means one thing everywhere.
package coordurl

import (
	"fmt"
	"net/url"
)

// URL is base with http(s) turned into ws(s), path as the path when base
// has none, and query's values added to base's own query. Any other scheme
// is an error.
func URL(base, path string, query url.Values) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("coordinator URL %q: %w", base, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("coordinator URL %q: scheme must be ws or wss", base)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = path
	}
	if len(query) > 0 {
		q := u.Query()
		for k, vs := range query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
