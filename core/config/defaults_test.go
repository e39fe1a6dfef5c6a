package config

import (
	"testing"
	"time"
)

func TestFillDefaultsSetsOnlyZeroScalars(t *testing.T) {
	c := testConfig{Listen: "127.0.0.1:1"}
	c.WebRTC.ICEServers = nil
	if err := FillDefaults(&c, defaults); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" {
		t.Errorf("a set field was overwritten: listen = %q", c.Listen)
	}
	if c.Auth.Timeout != 2*time.Second {
		t.Errorf("a nested zero field was not filled: auth.timeout = %s", c.Auth.Timeout)
	}
	if c.WebRTC.ICEServers != nil {
		t.Errorf("a slice was filled: %#v", c.WebRTC.ICEServers)
	}

	var empty testConfig
	if err := FillDefaults(&empty, defaults); err != nil {
		t.Fatal(err)
	}
	if empty.Listen != "127.0.0.1:9090" {
		t.Errorf("listen = %q, want the default", empty.Listen)
	}
}

func TestFillDefaultsRejectsWhatItCannotFill(t *testing.T) {
	if err := FillDefaults(testConfig{}, defaults); err == nil {
		t.Error("a struct value (not a pointer) was accepted")
	}
	if err := FillDefaults(&testConfig{}, map[string]any{"no_such_key": 1}); err == nil {
		t.Error("a default for a key the struct lacks was accepted")
	}
	if err := FillDefaults(&testConfig{}, map[string]any{"auth.timeout": "soon"}); err == nil {
		t.Error("a default that does not decode was accepted")
	}
}
