// Package tokens mints and verifies the token plugin's bearer tokens: an
// identity, the role it may connect as and an expiry, signed with
// HMAC-SHA256 under a shared secret. The token plugin verifies them; brokerctl,
// bots and tests mint them; communication servers mint their own through the
// plugin.
//
// A token is "v1.<payload>.<mac>", both parts base64url without padding; the
// payload is JSON {"id","role","exp"} and the mac covers "v1.<payload>".
package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// MinSecretLen is the shortest secret accepted: shorter ones are guessable.
const MinSecretLen = 16

// maxTokenLen bounds the work spent on a presented token.
const maxTokenLen = 4096

const version = "v1"

var (
	// ErrMalformed: the token is not one of ours (wrong shape or encoding).
	ErrMalformed = errors.New("malformed token")
	// ErrSignature: the token was not signed with this secret, or was altered.
	ErrSignature = errors.New("invalid token signature")
	// ErrExpired: the token's expiry has passed.
	ErrExpired = errors.New("token expired")
	// ErrShortSecret: the secret is under MinSecretLen bytes.
	ErrShortSecret = fmt.Errorf("token secret must be at least %d bytes", MinSecretLen)

	errNoIdentity = errors.New("a token needs an identity")
	errNoExpiry   = errors.New("a token needs an expiry")
)

// Claims is what a token says.
type Claims struct {
	Identity string        // attached to the peer: what receivers see
	Role     protocol.Role // the only role the token admits
	Expiry   time.Time     // second precision
}

// wire is the payload's JSON. Role is by name so that a token is readable.
type wire struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Exp  int64  `json:"exp"`
}

// Mint signs c with secret.
func Mint(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretLen {
		return "", ErrShortSecret
	}
	if c.Identity == "" {
		return "", errNoIdentity
	}
	if c.Expiry.IsZero() {
		return "", errNoExpiry
	}
	role := RoleName(c.Role)
	if _, err := ParseRole(role); err != nil {
		return "", err
	}
	payload, err := json.Marshal(wire{ID: c.Identity, Role: role, Exp: c.Expiry.Unix()})
	if err != nil {
		return "", fmt.Errorf("encoding token claims: %w", err)
	}
	signed := version + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac(secret, signed)), nil
}

// b64 decodes strictly: a token has one spelling. The lenient decoder
// ignores a final character's unused bits, so a token with them set, an
// altered token, would verify as the original.
var b64 = base64.RawURLEncoding.Strict()

// Verify checks token's signature under secret and its expiry at now, and
// returns its claims. The signature is checked before the payload is read.
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	if len(secret) < MinSecretLen {
		return Claims{}, ErrShortSecret
	}
	if len(token) > maxTokenLen {
		return Claims{}, ErrMalformed
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !strings.HasPrefix(token, version+".") {
		return Claims{}, ErrMalformed
	}
	signed, sig := token[:i], token[i+1:]
	got, err := b64.DecodeString(sig)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(got, mac(secret, signed)) {
		return Claims{}, ErrSignature
	}
	payload, err := b64.DecodeString(signed[len(version)+1:])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var w wire
	if err := json.Unmarshal(payload, &w); err != nil || w.ID == "" || w.Exp == 0 {
		return Claims{}, ErrMalformed
	}
	role, err := ParseRole(w.Role)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	c := Claims{Identity: w.ID, Role: role, Expiry: time.Unix(w.Exp, 0)}
	if !now.Before(c.Expiry) {
		return c, ErrExpired
	}
	return c, nil
}

func mac(secret []byte, signed string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signed))
	return m.Sum(nil)
}

// RoleName is the short name of a role: client, server or hub.
func RoleName(r protocol.Role) string {
	switch r {
	case protocol.Role_CLIENT:
		return "client"
	case protocol.Role_COMMUNICATION_SERVER:
		return "server"
	case protocol.Role_COMMUNICATION_SERVER_HUB:
		return "hub"
	}
	return r.String()
}

// ParseRole reads a role by its short name (client, server, hub) or its
// protocol name (CLIENT, COMMUNICATION_SERVER, COMMUNICATION_SERVER_HUB).
func ParseRole(s string) (protocol.Role, error) {
	switch strings.ToLower(s) {
	case "client":
		return protocol.Role_CLIENT, nil
	case "server", "communication_server":
		return protocol.Role_COMMUNICATION_SERVER, nil
	case "hub", "communication_server_hub":
		return protocol.Role_COMMUNICATION_SERVER_HUB, nil
	}
	return protocol.Role_UNKNOWN_ROLE, fmt.Errorf("unknown role %q (want client, server or hub)", s)
}
