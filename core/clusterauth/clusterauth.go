// Package clusterauth proves membership of a cluster with a secret shared
// by the coordinator and every communication server (the cluster.secret
// key), so that server links and server registration are authenticated even
// with no auth plugin: a peer that does not hold the secret can neither
// register with the coordinator as a server (/discover) nor pass a server
// link's AUTH.
//
// Both proofs are HMAC-SHA256 under the secret. A /discover request carries
// a token in the Header header: the role and a time, valid for MaxSkew
// either side of the coordinator's clock. A server link's AUTH carries a
// proof bound to the DTLS fingerprints of both ends, in the direction it
// travels, so that it is worth nothing on any other link.
package clusterauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Header is the HTTP header of a /discover request that carries the token.
const Header = "X-Broker-Cluster-Token"

// MinSecretLen is the shortest secret accepted: shorter ones are guessable.
const MinSecretLen = 16

// MaxSkew is how far a /discover token's time may be from the verifier's
// clock. It bounds a replay of a token seen on an unencrypted ws:// link.
const MaxSkew = 2 * time.Minute

const version = "v1"

var (
	// ErrShortSecret: cluster.secret is under MinSecretLen bytes.
	ErrShortSecret = fmt.Errorf("cluster.secret must be at least %d bytes", MinSecretLen)
	// ErrNoToken: a /discover request without the token.
	ErrNoToken = errors.New("no cluster token (" + Header + ")")
	// ErrBadToken: the token is malformed or not made with this secret.
	ErrBadToken = errors.New("invalid cluster token")
	// ErrStale: the token's time is more than MaxSkew away.
	ErrStale = errors.New("cluster token out of date")
)

// Check validates a configured secret; empty means none configured.
func Check(secret string) error {
	if secret != "" && len(secret) < MinSecretLen {
		return ErrShortSecret
	}
	return nil
}

// NewSecret returns a random secret for a local cluster (brokerctl
// cluster).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random cluster secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DiscoverToken is the token a server presents on /discover for role at
// now.
func DiscoverToken(secret string, role protocol.Role, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return version + "." + ts + "." + base64.RawURLEncoding.EncodeToString(discoverMAC(secret, role, ts))
}

// VerifyDiscoverToken checks a /discover token for role at now.
func VerifyDiscoverToken(secret string, role protocol.Role, token string, now time.Time) error {
	if token == "" {
		return ErrNoToken
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != version || len(token) > 128 {
		return ErrBadToken
	}
	// Strict: a token has one spelling (see plugins/token/tokens).
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, discoverMAC(secret, role, parts[1])) {
		return ErrBadToken
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ErrBadToken
	}
	if d := now.Sub(time.Unix(unix, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	return nil
}

func discoverMAC(secret string, role protocol.Role, ts string) []byte {
	return mac(secret, "webrtc-broker/discover/"+version, role.String(), ts)
}

// LinkProof is what a server's AUTH carries on a link from the server with
// DTLS fingerprint from to the one with fingerprint to (as each end's SDP
// states them).
func LinkProof(secret, from, to string) []byte {
	return mac(secret, "webrtc-broker/link/"+version, from, to)
}

// VerifyLinkProof checks a proof received on a link from -> to.
func VerifyLinkProof(secret, from, to string, proof []byte) bool {
	return from != "" && to != "" && hmac.Equal(proof, LinkProof(secret, from, to))
}

// mac is HMAC-SHA256 over the parts, each ended by a NUL so that no two
// sequences of parts sign the same bytes.
func mac(secret string, parts ...string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// Config is the cluster section of both binaries' configuration.
type Config struct {
	// Secret is shared by the coordinator and every server of the cluster;
	// empty means none (then only an auth plugin can admit servers).
	Secret string `koanf:"secret"`
}

// Defaults are the config defaults for the cluster section, flat keys.
func Defaults() map[string]any { return map[string]any{"cluster.secret": ""} }
