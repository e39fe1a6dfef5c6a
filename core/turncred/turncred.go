// Package turncred mints and checks TURN REST credentials, the scheme of
// coturn's use-auth-secret (draft-uberti-behave-turn-rest): the username is
// "<expiry in Unix seconds>:<name>" and the password is
// base64(HMAC-SHA1(secret, username)). Whoever knows the shared secret can
// mint them, so a coordinator hands every client its own, short-lived
// credentials for TURN servers it does not run, and a TURN server checks them
// with nothing but the secret and a clock.
package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1; HMAC does not rest on SHA-1's collision resistance
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors of Password.
var (
	ErrMalformed = errors.New("turn credential: username is not expiry:name")
	ErrExpired   = errors.New("turn credential: expired")
	ErrTooLong   = errors.New("turn credential: lifetime over the accepted maximum")
	ErrNoSecret  = errors.New("turn credential: no secret configured")
)

// Mint returns the username and password for name valid until expiry. name
// should be printable and free of ':' (Name makes one).
func Mint(secret, name string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + name
	return username, sign(secret, username)
}

// Password returns the password username must present, or why username is
// refused: malformed, expired at now, or (maxTTL > 0) expiring more than
// maxTTL after now.
func Password(secret, username string, now time.Time, maxTTL time.Duration) (string, error) {
	if secret == "" {
		return "", ErrNoSecret
	}
	exp, _, ok := strings.Cut(username, ":")
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrMalformed, username)
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || unix <= 0 {
		return "", fmt.Errorf("%w: %q", ErrMalformed, username)
	}
	expiry := time.Unix(unix, 0)
	if !now.Before(expiry) {
		return "", fmt.Errorf("%w: at %s", ErrExpired, expiry.UTC().Format(time.RFC3339))
	}
	if maxTTL > 0 && expiry.Sub(now) > maxTTL {
		return "", fmt.Errorf("%w: expires in %s, maximum %s", ErrTooLong, expiry.Sub(now).Round(time.Second), maxTTL)
	}
	return sign(secret, username), nil
}

// Valid reports whether password is the one for username (and username is
// still valid, as Password says). It compares in constant time.
func Valid(secret, username, password string, now time.Time, maxTTL time.Duration) error {
	want, err := Password(secret, username, now, maxTTL)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want), []byte(password)) {
		return errors.New("turn credential: wrong password")
	}
	return nil
}

// Name is the name part of a username: identity when it is short printable
// ASCII without ':' or spaces (TURN servers log it, which helps an operator
// follow a user), else "alias-<alias>".
func Name(identity []byte, alias uint64) string {
	ok := len(identity) > 0 && len(identity) <= 64
	for _, b := range identity {
		if b <= ' ' || b > '~' || b == ':' {
			ok = false
			break
		}
	}
	if ok {
		return string(identity)
	}
	return "alias-" + strconv.FormatUint(alias, 10)
}

func sign(secret, username string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Header is the request header on a communication server's /discover dial
// that lists its embedded TURN server's URLs, comma-separated (turn: and
// turns: only, no credentials): the coordinator hands them, with
// credentials it mints from the same secret, to the clients it offers that
// server to.
const Header = "Broker-Turn-Urls"

// MaxHeaderURLs bounds the URLs a coordinator takes from one server's
// Header; the rest are ignored.
const MaxHeaderURLs = 4

// ParseHeader reads Header's value: the turn: and turns: URLs it lists, at
// most MaxHeaderURLs. An entry of another scheme, or too long, is an error.
func ParseHeader(v string) ([]string, error) {
	var urls []string
	for u := range strings.SplitSeq(v, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if len(u) > 256 || !(strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:")) {
			return nil, fmt.Errorf("%s: %.40q: want turn: or turns: URLs", Header, u)
		}
		if len(urls) == MaxHeaderURLs {
			return nil, fmt.Errorf("%s: more than %d URLs", Header, MaxHeaderURLs)
		}
		urls = append(urls, u)
	}
	return urls, nil
}
