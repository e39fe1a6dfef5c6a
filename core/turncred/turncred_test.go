package turncred

import (
	"errors"
	"testing"
	"time"
)

// TestKnownAnswer pins the scheme to coturn's: its turnutils and the
// draft compute base64(HMAC-SHA1(secret, "expiry:name")); this is the value
// `printf 1700000000:alice | openssl dgst -sha1 -hmac s3cret -binary | base64` prints.
func TestKnownAnswer(t *testing.T) {
	user, pass := Mint("s3cret", "alice", time.Unix(1700000000, 0))
	if user != "1700000000:alice" {
		t.Fatalf("username %q", user)
	}
	if pass != "TtElzSjT0GdnTQ9xdcRNxx96yQs=" {
		t.Fatalf("password %q", pass)
	}
}

func TestValid(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	user, pass := Mint("secret", "alias-7", now.Add(time.Hour))
	malformed := []string{"alice", ":alice", "abc:alice", "-5:alice", ""}
	cases := []struct {
		name           string
		secret         string
		user, password string
		at             time.Time
		maxTTL         time.Duration
		want           error // nil: accepted; errAny: some error
	}{
		{"fresh", "secret", user, pass, now, 0, nil},
		{"just before expiry", "secret", user, pass, now.Add(time.Hour - time.Second), 0, nil},
		{"at expiry", "secret", user, pass, now.Add(time.Hour), 0, ErrExpired},
		{"expiry passed", "secret", user, pass, now.Add(2 * time.Hour), 0, ErrExpired},
		{"wrong secret", "other", user, pass, now, 0, errAny},
		{"wrong password", "secret", user, pass[1:], now, 0, errAny},
		{"name changed", "secret", user + "x", pass, now, 0, errAny},
		{"expiry pushed back", "secret", "9999999999:alias-7", pass, now, 0, errAny},
		{"within max ttl", "secret", user, pass, now, 2 * time.Hour, nil},
		{"over max ttl", "secret", user, pass, now, 30 * time.Minute, ErrTooLong},
		{"no secret", "", user, pass, now, 0, ErrNoSecret},
	}
	for _, m := range malformed {
		cases = append(cases, struct {
			name           string
			secret         string
			user, password string
			at             time.Time
			maxTTL         time.Duration
			want           error
		}{"malformed " + m, "secret", m, pass, now, 0, ErrMalformed})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Valid(tc.secret, tc.user, tc.password, tc.at, tc.maxTTL)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == errAny && err == nil:
				t.Fatal("accepted")
			case tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestName(t *testing.T) {
	cases := []struct {
		identity []byte
		want     string
	}{
		{[]byte("alice"), "alice"},
		{nil, "alias-42"},
		{[]byte("a:b"), "alias-42"},
		{[]byte("with space"), "alias-42"},
		{[]byte{0xff, 0x01}, "alias-42"},
		{make([]byte, 65), "alias-42"},
	}
	for _, tc := range cases {
		if got := Name(tc.identity, 42); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.identity, got, tc.want)
		}
	}
}
