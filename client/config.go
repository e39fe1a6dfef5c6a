package client

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/coordurl"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// Config says where to connect and how to present oneself.
type Config struct {
	// CoordinatorURL is the coordinator's base URL, for example
	// ws://127.0.0.1:9090; /connect is appended when the URL has no path.
	CoordinatorURL string
	// Query and Header carry the coordinator credentials, as its auth plugin
	// expects them.
	Query  url.Values
	Header http.Header
	// AuthBody is the body of the AUTH message: the credentials the server's
	// auth plugin reads on the data channel.
	AuthBody []byte
	// Server, when non-zero, is the alias of the server to connect to instead
	// of the first one the coordinator's WELCOME lists (tests use it to place
	// clients on given servers of a mesh).
	Server uint64
	// WebRTC configures pion; LoopbackOnly for tests and local runs.
	WebRTC rtcconfig.Config
	// Logger receives the client's diagnostics; nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds Dial as a whole (coordinator, signaling, ICE,
	// channels); 0 means 15s. The context given to Dial can shorten it.
	ConnectTimeout time.Duration
	// OnMessage, when set, is called for every received message from the
	// channel's read loop (one goroutine per channel, so calls for the two
	// channels may run concurrently). It must not block for long: it stalls
	// that channel. Body and Identity are valid only during the call.
	// When OnMessage is nil, messages go to Messages() instead.
	OnMessage func(Message)
	// SkipAuth does not send AUTH after the channels open. Tests only: it
	// lets a test send data before AUTH, which the server must refuse.
	SkipAuth bool
}

const (
	defaultConnectTimeout = 15 * time.Second
	// messagesBuffer is the capacity of Messages(). When it is full the read
	// loops wait, which back-pressures the server through SCTP.
	messagesBuffer = 256
)

func (cfg Config) withDefaults() Config {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = logging.Discard()
	}
	return cfg
}

// connectURL is CoordinatorURL with /connect as the default path and Query
// merged into its query string.
func (cfg Config) connectURL() (string, error) {
	return coordurl.URL(cfg.CoordinatorURL, "/connect", cfg.Query)
}
