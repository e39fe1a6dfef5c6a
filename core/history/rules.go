package history

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rule declares which topics keep a history and how much (the commserver's
// history config key, a list).
type Rule struct {
	// Pattern is a dot-separated topic pattern: "*" matches one segment,
	// a final "**" any number (one or more); other segments match exactly.
	Pattern string `koanf:"pattern"`
	// Messages is how many messages a topic's history holds; 0 means 1000.
	Messages int `koanf:"messages"`
	// MaxBytes bounds the bytes a topic's history holds (the encoded
	// messages as relayed), so that a topic of large messages cannot hold
	// unbounded memory; 0 means DefaultMaxBytes. The newest message is
	// always held, whatever its size.
	MaxBytes int `koanf:"max_bytes"`
	// TTL drops messages older than it; 0 keeps them until Messages pushes
	// them out.
	TTL time.Duration `koanf:"ttl"`
	// Linger is how long a server keeps carrying a topic's history (and
	// receiving the topic from other servers) after its last local
	// subscriber left, so that a client that comes back finds what it
	// missed; 0 means TTL, or 1m when TTL is 0.
	Linger time.Duration `koanf:"linger"`
}

// DefaultMessages is Rule.Messages when it is 0.
const DefaultMessages = 1000

// DefaultMaxBytes is Rule.MaxBytes when it is 0: 1000 messages of 4 KiB.
const DefaultMaxBytes = 4 << 20

var errBadRule = errors.New("history rule")

// Check fills a rule's defaults and rejects one that cannot work.
func (r Rule) Check() (Rule, error) {
	switch {
	case r.Pattern == "" || strings.ContainsAny(r.Pattern, " \t\n"):
		return r, fmt.Errorf("%w: pattern %q: must be a non-empty topic pattern without spaces", errBadRule, r.Pattern)
	case strings.HasPrefix(r.Pattern, "$"):
		return r, fmt.Errorf("%w: pattern %q: topics starting with $ are the servers' own", errBadRule, r.Pattern)
	case r.Messages < 0 || r.MaxBytes < 0 || r.TTL < 0 || r.Linger < 0:
		return r, fmt.Errorf("%w %q: messages, max_bytes, ttl and linger may not be negative", errBadRule, r.Pattern)
	}
	if i := strings.Index(r.Pattern, "**"); i >= 0 && (i != len(r.Pattern)-2 || (i > 0 && r.Pattern[i-1] != '.')) {
		return r, fmt.Errorf("%w: pattern %q: ** may only be the last segment", errBadRule, r.Pattern)
	}
	if r.Messages == 0 {
		r.Messages = DefaultMessages
	}
	if r.MaxBytes == 0 {
		r.MaxBytes = DefaultMaxBytes
	}
	if r.Linger == 0 {
		r.Linger = r.TTL
		if r.Linger == 0 {
			r.Linger = time.Minute
		}
	}
	return r, nil
}

// Match reports whether topic matches pattern (see Rule.Pattern). It does
// not allocate.
func Match(pattern, topic string) bool {
	for {
		pseg, prest, pmore := strings.Cut(pattern, ".")
		if pseg == "**" && !pmore {
			return topic != ""
		}
		tseg, trest, tmore := strings.Cut(topic, ".")
		if pseg != "*" && pseg != tseg {
			return false
		}
		if pseg == "*" && tseg == "" {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		pattern, topic = prest, trest
	}
}

// Find returns the first rule whose pattern matches topic.
func Find(rules []Rule, topic string) (Rule, bool) {
	for _, r := range rules {
		if Match(r.Pattern, topic) {
			return r, true
		}
	}
	return Rule{}, false
}
