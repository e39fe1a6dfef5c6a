package rtcconfig_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

type file struct {
	WebRTC rtcconfig.Config `koanf:"webrtc"`
}

// TestICEServersForms: both forms of webrtc.ice_servers load, from a file,
// --set and the environment, and come out as the same entries.
func TestICEServersForms(t *testing.T) {
	turn := rtcconfig.ICEServer{URLs: []string{"turn:198.18.0.9:3478", "turns:198.18.0.9:443"}, Username: "u", Credential: "p"}
	cases := []struct {
		name string
		yaml string
		args []string
		env  []string
		want []rtcconfig.ICEServer
	}{
		{name: "default is none", want: []rtcconfig.ICEServer{}},
		{name: "old list of strings", yaml: "webrtc:\n  ice_servers: [stun:198.18.0.9:3478, turn:198.18.0.9:3478]\n",
			want: []rtcconfig.ICEServer{{URLs: []string{"stun:198.18.0.9:3478"}}, {URLs: []string{"turn:198.18.0.9:3478"}}}},
		{name: "new list of objects", yaml: "webrtc:\n  ice_servers:\n    - urls: [turn:198.18.0.9:3478, turns:198.18.0.9:443]\n      username: u\n      credential: p\n",
			want: []rtcconfig.ICEServer{turn}},
		{name: "urls as one string", yaml: "webrtc:\n  ice_servers:\n    - urls: stun:198.18.0.9:3478\n",
			want: []rtcconfig.ICEServer{{URLs: []string{"stun:198.18.0.9:3478"}}}},
		{name: "both forms mixed", yaml: "webrtc:\n  ice_servers:\n    - stun:198.18.0.9:3478\n    - urls: [turn:198.18.0.9:3478, turns:198.18.0.9:443]\n      username: u\n      credential: p\n",
			want: []rtcconfig.ICEServer{{URLs: []string{"stun:198.18.0.9:3478"}}, turn}},
		// As before credentials: one server with both URLs.
		{name: "--set comma list", args: []string{"--set", "webrtc.ice_servers=stun:198.18.0.9:3478,turn:198.18.0.9:3478"},
			want: []rtcconfig.ICEServer{{URLs: []string{"stun:198.18.0.9:3478", "turn:198.18.0.9:3478"}}}},
		{name: "environment", env: []string{"BROKER_WEBRTC__ICE_SERVERS=stun:198.18.0.9:3478"},
			want: []rtcconfig.ICEServer{{URLs: []string{"stun:198.18.0.9:3478"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				p := filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", p}, args...)
			}
			var f file
			err := config.Load(config.Options{Name: "t", Args: args, Environ: tc.env, Defaults: rtcconfig.Defaults(), Out: &bytes.Buffer{}}, &f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if !reflect.DeepEqual(f.WebRTC.ICEServers, tc.want) {
				t.Fatalf("ice_servers = %#v, want %#v", f.WebRTC.ICEServers, tc.want)
			}
			if err := f.WebRTC.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

func TestICEServersRejected(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // in the error, from Load or Validate
	}{
		{"unknown field", "webrtc:\n  ice_servers:\n    - url: stun:198.18.0.9\n", "url"},
		{"no urls", "webrtc:\n  ice_servers:\n    - username: u\n      credential: p\n", "no urls"},
		{"not an ICE URL", "webrtc:\n  ice_servers: [http://198.18.0.9]\n", "want a stun"},
		{"username without credential", "webrtc:\n  ice_servers:\n    - urls: [turn:198.18.0.9]\n      username: u\n", "go together"},
		{"empty string entry", "webrtc:\n  ice_servers: [\"\"]\n", "empty URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var f file
			err := config.Load(config.Options{Name: "t", Args: []string{"--config", p}, Defaults: rtcconfig.Defaults(), Out: &bytes.Buffer{}}, &f)
			if err == nil {
				err = f.WebRTC.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
