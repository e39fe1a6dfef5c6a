// Package turn is the TURN server a communication server can embed
// (pion/turn), for clients whose networks let no direct UDP through to the
// servers: a UDP listener (turn:) and a TLS one (turns:, which on port 443
// passes firewalls that block UDP), relaying from one address and an
// optional port range. Clients authenticate with TURN REST credentials
// (turncred: the scheme of coturn's use-auth-secret) that the coordinator
// mints from the same secret; nothing else is accepted. Off by default.
package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v2"

	"github.com/webrtc-broker/webrtc-broker/core/turncred"
)

// Config is the turn section of a communication server's configuration.
type Config struct {
	Enabled bool `koanf:"enabled"`
	// ListenUDP is the UDP listener (turn:), default ":3478"; "off"
	// disables it (an empty value means the default).
	ListenUDP string `koanf:"listen_udp"`
	// ListenTLS is the TLS-over-TCP listener (turns:...?transport=tcp),
	// with Cert and Key (PEM files); empty (default) disables it.
	ListenTLS string `koanf:"listen_tls"`
	Cert      string `koanf:"cert"`
	Key       string `koanf:"key"`
	// RelayIP is the address clients' relay candidates carry and relayed
	// packets come from: this host's address as the servers' peers reach
	// it (its public one behind a 1:1 NAT). Required when enabled.
	RelayIP string `koanf:"relay_ip"`
	// RelayPortMin/Max bound the relay ports (both 0: any free port).
	RelayPortMin uint16 `koanf:"relay_port_min"`
	RelayPortMax uint16 `koanf:"relay_port_max"`
	// PublicHost is the host name or address in the URLs handed to
	// clients; default RelayIP. A turns: URL's host must match Cert.
	PublicHost string `koanf:"public_host"`
	Realm      string `koanf:"realm"` // default "webrtc-broker"
	// Secret checks the TURN REST credentials; it must be the
	// coordinator's turn.secret.
	Secret string `koanf:"secret"`
	// TTL, when non-zero, is the longest credential lifetime accepted:
	// an expiry further ahead is refused. 0 (default) accepts any
	// credential not yet expired, as coturn does.
	TTL time.Duration `koanf:"ttl"`
}

// Off as turn.listen_udp disables the UDP listener.
const Off = "off"

// Defaults are the turn section's defaults, flat keys.
func Defaults() map[string]any {
	return map[string]any{
		"turn.enabled":        false,
		"turn.listen_udp":     ":3478",
		"turn.listen_tls":     "",
		"turn.cert":           "",
		"turn.key":            "",
		"turn.relay_ip":       "",
		"turn.relay_port_min": 0,
		"turn.relay_port_max": 0,
		"turn.public_host":    "",
		"turn.realm":          "webrtc-broker",
		"turn.secret":         "",
		"turn.ttl":            "0s",
	}
}

// Validate rejects an enabled config that cannot work.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.ListenUDP == Off {
		c.ListenUDP = ""
	}
	switch {
	case c.Secret == "":
		return errors.New("turn.enabled: turn.secret is required (the coordinator's turn.secret)")
	case net.ParseIP(c.RelayIP) == nil:
		return fmt.Errorf("turn.relay_ip %q: want this host's IP address as peers reach it", c.RelayIP)
	case c.ListenUDP == "" && c.ListenTLS == "":
		return errors.New("turn.enabled: neither turn.listen_udp nor turn.listen_tls is set")
	case c.ListenTLS != "" && (c.Cert == "" || c.Key == ""):
		return errors.New("turn.listen_tls: turn.cert and turn.key are required")
	case (c.RelayPortMin == 0) != (c.RelayPortMax == 0) || c.RelayPortMin > c.RelayPortMax:
		return fmt.Errorf("turn.relay_port_min/max %d-%d: want both 0 or min <= max", c.RelayPortMin, c.RelayPortMax)
	case c.TTL < 0:
		return fmt.Errorf("turn.ttl %s: must not be negative", c.TTL)
	}
	for _, a := range []struct{ key, addr string }{{"turn.listen_udp", c.ListenUDP}, {"turn.listen_tls", c.ListenTLS}} {
		if a.addr == "" {
			continue
		}
		// Port 0 picks a free port (tests); URLs carries the one bound.
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
			return fmt.Errorf("%s %q: want host:port", a.key, a.addr)
		}
	}
	return nil
}

// Options are what the embedding server decides, not the operator.
type Options struct {
	Logger *slog.Logger
	// AllowLoopbackPeers lets relays reach loopback addresses (a server in
	// webrtc.loopback_only mode, tests). Otherwise loopback, unspecified,
	// link-local and multicast peers are refused, so a relay cannot reach
	// the host's own local services.
	AllowLoopbackPeers bool
	// Now is the clock credentials are checked against; nil: time.Now.
	Now func() time.Time
}

// Server is a running TURN server. Close, or the end of the ctx given to
// Start, stops it.
type Server struct {
	srv  *pionturn.Server
	urls []string
	log  *slog.Logger
	once sync.Once
	done chan struct{}
}

// Start opens the listeners and serves until ctx is done or Close.
func Start(ctx context.Context, cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "turn")
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	relayIP := net.ParseIP(cfg.RelayIP)
	gen := func() pionturn.RelayAddressGenerator {
		if cfg.RelayPortMin != 0 {
			return &pionturn.RelayAddressGeneratorPortRange{RelayAddress: relayIP, Address: "0.0.0.0",
				MinPort: cfg.RelayPortMin, MaxPort: cfg.RelayPortMax}
		}
		return &pionturn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: "0.0.0.0"}
	}
	permit := func(client net.Addr, peer net.IP) bool {
		if opts.AllowLoopbackPeers && peer.IsLoopback() {
			return true
		}
		if peer.IsLoopback() || peer.IsUnspecified() || peer.IsLinkLocalUnicast() || peer.IsMulticast() {
			log.Debug("TURN permission refused", "client", client.String(), "peer_ip", peer.String())
			return false
		}
		return true
	}
	sc := pionturn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: slogFactory{log},
		AuthHandler:   authHandler(cfg, log, now),
	}
	host := cfg.PublicHost
	if host == "" {
		host = cfg.RelayIP
	}
	var urls []string
	var closers []func() error
	fail := func(err error) (*Server, error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, err
	}
	if cfg.ListenUDP != "" && cfg.ListenUDP != Off {
		pc, err := net.ListenPacket("udp4", cfg.ListenUDP)
		if err != nil {
			return fail(fmt.Errorf("turn.listen_udp %s: %w", cfg.ListenUDP, err))
		}
		closers = append(closers, pc.Close)
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn: pc, RelayAddressGenerator: gen(), PermissionHandler: permit})
		urls = append(urls, "turn:"+net.JoinHostPort(host, port(pc.LocalAddr()))+"?transport=udp")
	}
	if cfg.ListenTLS != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return fail(fmt.Errorf("turn.cert/turn.key: %w", err))
		}
		ln, err := tls.Listen("tcp4", cfg.ListenTLS, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			return fail(fmt.Errorf("turn.listen_tls %s: %w", cfg.ListenTLS, err))
		}
		closers = append(closers, ln.Close)
		sc.ListenerConfigs = append(sc.ListenerConfigs, pionturn.ListenerConfig{
			Listener: ln, RelayAddressGenerator: gen(), PermissionHandler: permit})
		urls = append(urls, "turns:"+net.JoinHostPort(host, port(ln.Addr()))+"?transport=tcp")
	}
	srv, err := pionturn.NewServer(sc)
	if err != nil {
		return fail(fmt.Errorf("start TURN server: %w", err))
	}
	s := &Server{srv: srv, urls: urls, log: log, done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	log.Info("TURN server listening", "urls", urls, "relay_ip", cfg.RelayIP,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax), "realm", cfg.Realm)
	return s, nil
}

// URLs are the turn: and turns: URLs clients use, without credentials.
func (s *Server) URLs() []string { return append([]string(nil), s.urls...) }

// Close stops the server: listeners and relays close. Later calls do
// nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		if err := s.srv.Close(); err != nil {
			s.log.Debug("TURN server close", "err", err)
		}
		s.log.Info("TURN server stopped")
	})
}

// authHandler checks TURN REST credentials: the key is derived from the
// password the secret gives the username, so a client that does not hold
// the coordinator-minted password fails the message integrity check.
func authHandler(cfg Config, log *slog.Logger, now func() time.Time) pionturn.AuthHandler {
	return func(username, realm string, src net.Addr) ([]byte, bool) {
		password, err := turncred.Password(cfg.Secret, username, now(), cfg.TTL)
		if err != nil {
			log.Info("TURN credential refused", "client", src.String(), "username", username, "err", err)
			return nil, false
		}
		return pionturn.GenerateAuthKey(username, realm, password), true
	}
}

func port(a net.Addr) string {
	switch a := a.(type) {
	case *net.UDPAddr:
		return strconv.Itoa(a.Port)
	case *net.TCPAddr:
		return strconv.Itoa(a.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// slogFactory routes pion/turn's logging to slog: its info lines (per
// allocation) at debug, warnings and errors as such; its debug lines, one
// per packet, nowhere.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("scope", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Trace(string)              {}
func (l slogLogger) Tracef(string, ...any)     {}
func (l slogLogger) Debug(string)              {} // one per packet: far too many
func (l slogLogger) Debugf(string, ...any)     {}
func (l slogLogger) Info(m string)             { l.log.Debug(m) }
func (l slogLogger) Infof(f string, a ...any)  { l.log.Debug(fmt.Sprintf(f, a...)) }
func (l slogLogger) Warn(m string)             { l.log.Warn(m) }
func (l slogLogger) Warnf(f string, a ...any)  { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l slogLogger) Error(m string)            { l.log.Error(m) }
func (l slogLogger) Errorf(f string, a ...any) { l.log.Error(fmt.Sprintf(f, a...)) }
