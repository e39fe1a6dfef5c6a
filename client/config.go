package client

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/coordurl"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// Config says where to connect, how to present oneself and what to tell the
// application.
type Config struct {
	// CoordinatorURL is the coordinator's base URL, for example
	// ws://127.0.0.1:9090; /connect is appended when the URL has no path.
	CoordinatorURL string
	// CoordinatorURLs, when set, are the coordinators of a cluster that has
	// several (and CoordinatorURL is not used): every connection, the first
	// and each reconnection, dials them in turn from the last that worked
	// until one answers. A refused authentication is not retried on the
	// next: they share the auth plugin.
	CoordinatorURLs []string
	// Token, when set, is sent as ?token= on the coordinator URL: the shipped
	// token plugin reads it there.
	Token string
	// Query and Header carry further coordinator credentials, as its auth
	// plugin expects them.
	Query  url.Values
	Header http.Header
	// TLSConfig is used to dial a wss:// CoordinatorURL; nil verifies the
	// coordinator against the system roots. For a private CA set RootCAs
	// (x509.CertPool.AppendCertsFromPEM); ServerName defaults to the URL's
	// host. It is cloned, not changed.
	TLSConfig *tls.Config
	// AuthBody is the body of the AUTH message: the credentials the server's
	// auth plugin reads on the data channel.
	AuthBody []byte
	// Server, when non-zero, is the alias of the server Dial connects to
	// instead of the first one the coordinator's WELCOME lists (tests use it
	// to place clients on given servers of a mesh). Reconnection picks from
	// the WELCOME again.
	Server uint64
	// GzipAbove: a topic set longer than this many bytes is sent
	// gzip-compressed. 0 means 1024; negative never compresses.
	GzipAbove int
	// Reconnect configures what happens when the server link is lost.
	Reconnect Reconnect
	// WebRTC configures pion; LoopbackOnly for tests and local runs.
	WebRTC rtcconfig.Config
	// Logger receives the client's diagnostics; nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds one connection attempt as a whole (coordinator,
	// signaling, ICE, channels); 0 means 15s. The context given to Dial can
	// shorten the first.
	ConnectTimeout time.Duration

	// OnMessage, when set, is called for every received topic message from
	// the channel's read loop (one goroutine per channel, so calls for the
	// two channels may run concurrently). It must not block for long: it
	// stalls that channel. Body and Identity are valid only during the call.
	// When OnMessage is nil, messages go to Messages() instead.
	OnMessage func(Message)
	// OnError, when set, is called for every ERROR the server sends (a
	// denied subscription, a dropped publish, ...), from the read loop as
	// OnMessage is. When nil, errors go to Errors() instead.
	OnError func(*ServerError)
	// OnState, when set, is called for every state change and every failed
	// reconnection attempt, in order, from one goroutine. It must not call
	// Close, nor wait in Subscribe or Ping (they wait for that goroutine);
	// hand the event to another goroutine for that.
	OnState func(StateEvent)
	// OnRecovery, when set, is called with the server's answer for each
	// history topic after a reconnection (see Recovery), before the replayed
	// messages, from the reliable read loop.
	OnRecovery func(Recovery)
	// OnPresence, when set, is called for each PRESENCE of the topics
	// followed with FollowPresence, from the reliable read loop. Without it
	// presence messages are dropped.
	OnPresence func(Presence)

	// DisableBatching makes the client speak the 2019 protocol's wire: its
	// AUTH lists no features (FEATURE_DRAIN neither: it is not told to move
	// when its server drains), so the server never sends it a BATCH, and a
	// BATCH that arrives anyway is ignored as a 2019 client ignores it. By
	// default the AUTH lists FEATURE_BATCH and the read loops unpack the
	// batches the server then sends (several messages in one data-channel
	// message: less CPU per message on both ends). Tests and benchmarks set
	// it to act as a 2019 client.
	DisableBatching bool

	// skipAuth does not send AUTH after the channels open: tests only,
	// through export_test.go and internal/clienthooks.
	skipAuth bool
	// onFrame, when set, sees every data-channel message as it was read,
	// before it is decoded: tests only (internal/clienthooks), to assert
	// what the server put on the wire.
	onFrame func(ch Channel, b []byte)
	// onMove, when set, is called at the stages of a move away from a
	// draining server (drain.go): "started" once the handover records what
	// the old link delivers and before any new link exists, "ended" once
	// the old link is closed. Tests only: it runs on the move's goroutine,
	// which waits for it.
	onMove func(stage string)
}

// Reconnect configures automatic reconnection.
type Reconnect struct {
	// Disabled makes a lost link final: the client goes to StateClosed and
	// Done is closed, as after Close.
	Disabled bool
	// MinDelay and MaxDelay bound the wait between attempts: from MinDelay,
	// doubling, up to MaxDelay, each jittered. 0 means 100ms and 5s.
	MinDelay, MaxDelay time.Duration
	// QueueBytes bounds the reliable publishes held while reconnecting; past
	// it Publish returns ErrQueueFull. 0 means 1 MiB. An empty queue takes
	// any one message, however large.
	QueueBytes int
}

const (
	defaultConnectTimeout = 15 * time.Second
	defaultGzipAbove      = 1024
	defaultMinDelay       = 100 * time.Millisecond
	defaultMaxDelay       = 5 * time.Second
	defaultQueueBytes     = 1 << 20
	// messagesBuffer is the capacity of Messages(). When it is full the read
	// loops wait, which back-pressures the server through SCTP.
	messagesBuffer = 256
	// errorsBuffer is the capacity of Errors(). Errors are advisory and an
	// application may never read them, so a full channel drops (and logs)
	// rather than stall the read loop.
	errorsBuffer = 64
)

func (cfg Config) withDefaults() (Config, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = logging.Discard()
	}
	if cfg.GzipAbove == 0 {
		cfg.GzipAbove = defaultGzipAbove
	}
	r := &cfg.Reconnect
	if r.MinDelay <= 0 {
		r.MinDelay = defaultMinDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = max(defaultMaxDelay, r.MinDelay)
	}
	if r.MaxDelay < r.MinDelay {
		return cfg, fmt.Errorf("reconnect: MaxDelay %s is below MinDelay %s", r.MaxDelay, r.MinDelay)
	}
	if r.QueueBytes <= 0 {
		r.QueueBytes = defaultQueueBytes
	}
	return cfg, nil
}

// connectURLs are the /connect URLs of CoordinatorURLs, or of
// CoordinatorURL when that is empty (connectURL).
func (cfg Config) connectURLs() ([]string, error) {
	if len(cfg.CoordinatorURLs) == 0 {
		u, err := cfg.connectURL()
		if err != nil {
			return nil, err
		}
		return []string{u}, nil
	}
	out := make([]string, 0, len(cfg.CoordinatorURLs))
	for _, base := range cfg.CoordinatorURLs {
		one := cfg
		one.CoordinatorURL = base
		u, err := one.connectURL()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// connectURL is CoordinatorURL with /connect as the default path and Query
// and Token merged into its query string.
func (cfg Config) connectURL() (string, error) {
	q := cfg.Query
	if cfg.Token != "" {
		q = make(url.Values, len(cfg.Query)+1)
		for k, vs := range cfg.Query {
			q[k] = vs
		}
		q.Set("token", cfg.Token)
	}
	return coordurl.URL(cfg.CoordinatorURL, "/connect", q)
}
