package commserver

import (
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/history"
)

// TestConfigPresenceAndHistory: presence.max_members defaults to 100, each
// history rule gets its defaults, and a rule or size that cannot work is
// refused.
func TestConfigPresenceAndHistory(t *testing.T) {
	cfg := Config{History: []history.Rule{{Pattern: "chat.*", TTL: 5 * time.Minute}}}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Presence.MaxMembers != 100 {
		t.Fatalf("presence.max_members = %d, want 100", cfg.Presence.MaxMembers)
	}
	if r := cfg.History[0]; r.Messages != history.DefaultMessages || r.MaxBytes != history.DefaultMaxBytes || r.Linger != 5*time.Minute {
		t.Fatalf("history rule defaults: %+v", r)
	}
	if cfg.HistoryMaxBytes != 256<<20 {
		t.Fatalf("history_max_bytes = %d, want 256 MiB", cfg.HistoryMaxBytes)
	}
	for name, bad := range map[string]Config{
		"negative max_members": {Presence: PresenceConfig{MaxMembers: -1}},
		"empty pattern":        {History: []history.Rule{{}}},
		"$ pattern":            {History: []history.Rule{{Pattern: "$presence.*"}}},
		"negative ttl":         {History: []history.Rule{{Pattern: "a", TTL: -time.Second}}},
		"negative max_bytes":   {History: []history.Rule{{Pattern: "a", MaxBytes: -1}}},
		"negative total":       {HistoryMaxBytes: -1},
		"** in the middle":     {History: []history.Rule{{Pattern: "a.**.b"}}},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
