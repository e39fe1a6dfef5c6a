package relay

import "testing"

func TestRoute(t *testing.T) {
	tests := []struct {
		name                string
		origin              Origin
		hub                 bool
		toClients, toServer bool
	}{
		{"client on a server: local clients and subscribed servers", FromClient, false, true, true},
		{"client on a hub: local clients and subscribed servers", FromClient, true, true, true},
		{"server on a server: local clients only", FromServer, false, true, false},
		{"server on a hub: local clients and the other servers", FromServer, true, true, true},
		{"unknown origin: nowhere", Origin(0), false, false, false},
		{"unknown origin on a hub: nowhere", Origin(99), true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := Route(tt.origin, tt.hub)
			if c != tt.toClients || s != tt.toServer {
				t.Fatalf("Route(%v, hub=%v) = (clients %v, servers %v), want (%v, %v)",
					tt.origin, tt.hub, c, s, tt.toClients, tt.toServer)
			}
		})
	}
}
