package plugins_test

import (
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/plugins/plugintest"
	"github.com/webrtc-broker/webrtc-broker/plugins/token/tokens"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const tokenSecret = "conformance-secret-0123456789"

func ptr(s string) *string { return &s }

func mintToken(t testing.TB, identity string, role protocol.Role, expiry time.Time) string {
	t.Helper()
	tok, err := tokens.Mint([]byte(tokenSecret), tokens.Claims{Identity: identity, Role: role, Expiry: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenCases are the token plugin's specification as harness cases.
func tokenCases(t *testing.T) plugintest.Cases {
	alice := mintToken(t, "alice", protocol.Role_CLIENT, time.Now().Add(time.Hour))
	expired := mintToken(t, "alice", protocol.Role_CLIENT, time.Now().Add(-time.Second))
	server := mintToken(t, "rogue", protocol.Role_COMMUNICATION_SERVER, time.Now().Add(time.Hour))
	forged, err := tokens.Mint([]byte("some-other-secret-0123"), tokens.Claims{Identity: "alice", Role: protocol.Role_CLIENT, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.Cases{
		Config: map[string]any{"secret": tokenSecret, "ttl": "1m"},
		Cases: []plugintest.Case{
			{Name: "token in the /connect query", URL: "/connect?token=" + alice, Expect: "allow", Identity: ptr("alice")},
			{Name: "bearer header", URL: "/connect", Headers: map[string]string{"Authorization": "Bearer " + alice}, Expect: "allow", Identity: ptr("alice")},
			{Name: "AUTH body", Body: ptr(alice), Expect: "allow", Identity: ptr("alice")},
			{Name: "AUTH body with a trailing newline", Body: ptr(alice + "\n"), Expect: "allow", Identity: ptr("alice")},
			{Name: "expired", Body: ptr(expired), Expect: "deny"},
			{Name: "signed with another secret", URL: "/connect?token=" + forged, Expect: "deny"},
			{Name: "tampered", Body: ptr(alice[:len(alice)-2] + "xx"), Expect: "deny"},
			{Name: "a client token for a server role", Role: "server", Body: ptr(alice), Expect: "deny"},
			{Name: "a server token for a client", Body: ptr(server), Expect: "deny"},
			{Name: "no token", URL: "/connect?token=", Expect: "deny"},
			{Name: "not a bearer scheme", URL: "/connect", Headers: map[string]string{"Authorization": "Basic " + alice}, Expect: "deny"},
		},
	}
}

func TestConformance(t *testing.T) {
	t.Run("allowall", func(t *testing.T) {
		plugintest.RunConformance(t, bin["allowall"], plugintest.Cases{
			Cases: []plugintest.Case{{Name: "anyone", Body: ptr("x"), Expect: "allow", Identity: ptr("")}},
		})
	})
	t.Run("token", func(t *testing.T) { plugintest.RunConformance(t, bin["token"], tokenCases(t)) })
	t.Run("scripted", func(t *testing.T) { plugintest.RunConformance(t, bin["scripted"], plugintest.Cases{}) })
}

// The harness fails what it should: wrong expectations, a plugin that hangs,
// a binary that is not a plugin.
func TestHarnessReportsFailures(t *testing.T) {
	tests := []struct {
		name       string
		binary     string
		cases      plugintest.Cases
		wantFailed []string // names of checks that must fail
	}{
		{
			name:   "wrong expectations",
			binary: bin["token"],
			cases: plugintest.Cases{Config: map[string]any{"secret": tokenSecret}, Cases: []plugintest.Case{
				{Name: "garbage allowed?", Body: ptr("garbage"), Expect: "allow"},
				{Name: "wrong identity", Body: ptr(mintToken(t, "bob", protocol.Role_CLIENT, time.Now().Add(time.Hour))), Expect: "allow", Identity: ptr("alice")},
			}},
			wantFailed: []string{"case garbage allowed?", "case wrong identity"},
		},
		{
			name:       "a plugin that hangs",
			binary:     bin["scripted"],
			cases:      plugintest.Cases{Config: map[string]any{"mode": "hang"}, Timeout: 50 * time.Millisecond},
			wantFailed: []string{"allow: servers' own credentials", "deny: anonymous peers", "malformed input", "100 concurrent calls"},
		},
		{
			name:       "not a plugin",
			binary:     "/bin/true",
			wantFailed: []string{"handshake"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outcomes := plugintest.Run(t.Context(), tt.binary, tt.cases, nil)
			failed := map[string]bool{}
			for _, o := range outcomes {
				if o.Err != nil {
					failed[o.Name] = true
				}
				t.Log(o)
			}
			for _, name := range tt.wantFailed {
				if !failed[name] {
					t.Errorf("check %q did not fail", name)
				}
			}
			if summary, ok := plugintest.Summary(outcomes); ok || !strings.Contains(summary, " failed") {
				t.Errorf("summary %q, ok=%v; want a failure", summary, ok)
			}
		})
	}
}
