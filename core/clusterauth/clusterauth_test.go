package clusterauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const secret = "0123456789abcdef-test"

func TestDiscoverToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv := protocol.Role_COMMUNICATION_SERVER
	tok := DiscoverToken(secret, srv, now)
	// The MAC's last base64 character has 2 unused bits: setting one spells
	// the same bytes another way, which a strict decoder refuses.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	respelled := tok[:len(tok)-1] + string(alphabet[strings.IndexByte(alphabet, tok[len(tok)-1])|1])
	tests := []struct {
		name   string
		secret string
		role   protocol.Role
		token  string
		at     time.Time
		want   error
	}{
		{"valid", secret, srv, tok, now, nil},
		{"valid within the skew", secret, srv, tok, now.Add(MaxSkew - time.Second), nil},
		{"stale", secret, srv, tok, now.Add(MaxSkew + time.Second), ErrStale},
		{"from the future", secret, srv, tok, now.Add(-MaxSkew - time.Second), ErrStale},
		{"another secret", "another-secret-of-16+", srv, tok, now, ErrBadToken},
		{"another role", secret, protocol.Role_COMMUNICATION_SERVER_HUB, tok, now, ErrBadToken},
		{"missing", secret, srv, "", now, ErrNoToken},
		{"garbage", secret, srv, "v1.x.y", now, ErrBadToken},
		{"signature spelled another way", secret, srv, respelled, now, ErrBadToken},
		{"time altered", secret, srv, "v1.1800000001." + tok[len("v1.1800000000."):], now, ErrBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyDiscoverToken(tt.secret, tt.role, tt.token, tt.at); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyDiscoverToken = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLinkProofIsBoundToBothEndsAndTheDirection(t *testing.T) {
	p := LinkProof(secret, "sha-256 aa", "sha-256 bb")
	if !VerifyLinkProof(secret, "sha-256 aa", "sha-256 bb", p) {
		t.Fatal("a proof does not verify on its own link")
	}
	for _, c := range [][3]string{
		{secret, "sha-256 bb", "sha-256 aa"},                  // the other direction
		{secret, "sha-256 aa", "sha-256 cc"},                  // another receiver
		{"another-secret-of-16+", "sha-256 aa", "sha-256 bb"}, // another cluster
		{secret, "", "sha-256 bb"},                            // no fingerprint
	} {
		if VerifyLinkProof(c[0], c[1], c[2], p) {
			t.Errorf("proof verifies for %q -> %q under %q", c[1], c[2], c[0])
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check(""); err != nil {
		t.Errorf("Check(empty) = %v, want nil (none configured)", err)
	}
	if err := Check("short"); !errors.Is(err, ErrShortSecret) {
		t.Errorf("Check(short) = %v, want ErrShortSecret", err)
	}
	s, err := NewSecret()
	if err != nil || Check(s) != nil {
		t.Fatalf("NewSecret = %q, %v", s, err)
	}
}
