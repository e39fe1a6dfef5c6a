package natsbus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Topics map to NATS subjects injectively and safely. A topic is an
// arbitrary string (UTF-8, any bytes but whitespace, since sets are
// space-separated), while in a NATS subject '.' separates tokens, '*' and
// '>' are wildcards and whitespace ends the subject. So every topic becomes
// one token under the prefix:
//
//	prefix + ".t." + escape(topic)   when escape(topic) is at most maxEscaped bytes
//	prefix + ".h." + hex(sha256(topic))   otherwise
//
// escape keeps the bytes [A-Za-z0-9_-] and writes every other byte as '%'
// followed by two upper-case hex digits ("game.room 1" -> "game%2Eroom%201";
// "a*" -> "a%2A"; "%" -> "%25"). The escaped alphabet has no '.', '*', '>'
// or whitespace, so a subscription is always one literal subject that
// matches exactly one token; and since '%' itself is escaped, unescape
// undoes escape, so two different topics never share a ".t." subject. The
// ".h." form keeps the subject under NATS's control-line limit (4 KiB by
// default: a longer SUB or PUB closes the connection) for long topics; two
// long topics could in principle share a digest, which would cost traffic
// only, never a misdelivery: the envelope carries the topic and the
// receiving server checks it against the subscription's.

// maxEscaped bounds the escaped token; with the prefix (at most maxPrefix)
// the subject stays well under the default 4 KiB control line.
const maxEscaped = 1024

// maxPrefix bounds nats.subject_prefix.
const maxPrefix = 256

const (
	shortForm = ".t."
	longForm  = ".h."
)

// SubjectFor returns the subject topic is carried on under prefix; ok is
// false for the empty topic, which no one can subscribe to.
func SubjectFor(prefix, topic string) (subject string, ok bool) {
	if topic == "" {
		return "", false
	}
	n := escapedLen(topic)
	if n > maxEscaped {
		sum := sha256.Sum256([]byte(topic))
		return prefix + longForm + hex.EncodeToString(sum[:]), true
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(shortForm) + n)
	b.WriteString(prefix)
	b.WriteString(shortForm)
	if n == len(topic) {
		b.WriteString(topic)
		return b.String(), true
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0xF])
	}
	return b.String(), true
}

// TopicOf inverts SubjectFor for a short-form subject under prefix; ok is
// false for anything else (a long-form subject cannot be inverted).
func TopicOf(prefix, subject string) (topic string, ok bool) {
	rest, found := strings.CutPrefix(subject, prefix+shortForm)
	if !found || rest == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case plain(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(rest) && isUpperHex(rest[i+1]) && isUpperHex(rest[i+2]):
			v, _ := hex.DecodeString(rest[i+1 : i+3])
			if plain(v[0]) {
				return "", false // escape never writes a plain byte escaped
			}
			b.WriteByte(v[0])
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

const upperHex = "0123456789ABCDEF"

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func escapedLen(topic string) int {
	n := 0
	for i := 0; i < len(topic); i++ {
		if plain(topic[i]) {
			n++
		} else {
			n += 3
		}
	}
	return n
}

var errBadPrefix = errors.New("nats.subject_prefix must be dot-separated tokens of [A-Za-z0-9_-]")

// checkPrefix validates nats.subject_prefix: literal tokens only, so that
// no wildcard or whitespace can reach a subject through it.
func checkPrefix(prefix string) error {
	if prefix == "" || len(prefix) > maxPrefix {
		return fmt.Errorf("nats.subject_prefix %q (1 to %d bytes): %w", prefix, maxPrefix, errBadPrefix)
	}
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" {
			return fmt.Errorf("nats.subject_prefix %q: %w", prefix, errBadPrefix)
		}
		for i := 0; i < len(tok); i++ {
			if !plain(tok[i]) {
				return fmt.Errorf("nats.subject_prefix %q: %w", prefix, errBadPrefix)
			}
		}
	}
	return nil
}
