package commserver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
)

func TestCoordinatorCAIsChecked(t *testing.T) {
	ca := testtls.NewCA(t, "config")
	leaf := ca.Leaf(t, "coord", "127.0.0.1")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		url, ca  string
		want     error  // errors.Is, when set
		contains string // in the error
	}{
		{"CA with ws://", "ws://127.0.0.1:9090", ca.File, errCAWithoutTLS, ca.File},
		{"CA with http://", "http://127.0.0.1:9090", ca.File, errCAWithoutTLS, ca.File},
		{"missing CA file", "wss://127.0.0.1:9090", ca.File + ".missing", nil, ca.File + ".missing"},
		{"no certificate in it", "wss://127.0.0.1:9090", notPEM, errNoPEMCertificate, notPEM},
		{"a key is no CA", "wss://127.0.0.1:9090", leaf.KeyFile, errNoPEMCertificate, leaf.KeyFile},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Config{CoordinatorURL: c.url, CoordinatorCA: c.ca}, Options{})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("New: %v, want %v naming %s", err, c.want, c.contains)
			}
		})
	}
	for _, u := range []string{"wss://127.0.0.1:9090", "https://127.0.0.1:9090"} {
		if _, err := New(Config{CoordinatorURL: u, CoordinatorCA: ca.File}, Options{}); err != nil {
			t.Errorf("New with %s and a CA file: %v", u, err)
		}
	}
}
