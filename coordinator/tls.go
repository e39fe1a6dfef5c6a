package coordinator

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// errNoTLS is ReloadCertificate on a coordinator without tls.cert.
var errNoTLS = errors.New("no tls.cert configured: nothing to reload")

// certStore holds the serving certificate. Every TLS handshake reads it
// (tls.Config.GetCertificate), so a reload applies to the next handshake
// and leaves the sockets already open alone: their session keys do not
// depend on the certificate any more.
type certStore struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
	reloads           *prometheus.CounterVec // by result: ok, error
}

// newCertStore loads the pair, or returns nil when TLS is off.
func newCertStore(cfg TLSConfig) (*certStore, error) {
	if cfg.Cert == "" {
		return nil, nil
	}
	s := &certStore{certFile: cfg.Cert, keyFile: cfg.Key}
	cert, err := s.load(time.Now())
	if err != nil {
		return nil, err
	}
	s.cur.Store(cert)
	return s, nil
}

// load reads and checks the pair: readable PEM, a key that matches the
// certificate, and a certificate valid now (an expired one would be
// refused by every client, so it is no better than none).
func (s *certStore) load(now time.Time) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert %s, tls.key %s: %w", s.certFile, s.keyFile, err)
	}
	if cert.Leaf == nil { // LoadX509KeyPair parses it unless GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls.cert %s: %w", s.certFile, err)
		}
	}
	leaf := cert.Leaf
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("tls.cert %s: valid from %s to %s, not now", s.certFile,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// register adds the TLS metrics to reg: when the served certificate
// expires (for an alert well before it does) and the reloads by result.
// Without TLS there is nothing to show.
func (s *certStore) register(reg prometheus.Registerer) error {
	if s == nil {
		return nil
	}
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "coordinator", Name: "tls_reloads_total",
		Help: "Certificate reloads (SIGHUP), by result: ok, or error (the current certificate was kept).",
	}, []string{"result"})
	notAfter := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "coordinator", Name: "tls_certificate_not_after_seconds",
		Help: "When the certificate being served expires, in Unix seconds.",
	}, func() float64 { return float64(s.cur.Load().Leaf.NotAfter.Unix()) })
	for _, c := range []prometheus.Collector{s.reloads, notAfter} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cur.Load(), nil }

// serverConfig is the listener's TLS config. HTTP/1.1 only: WebSocket
// upgrades need it (gorilla does not speak WebSocket over HTTP/2), and
// without "h2" in NextProtos browsers stay on it.
func (s *certStore) serverConfig() *tls.Config {
	return &tls.Config{GetCertificate: s.get, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

// certFields describes a certificate for the log.
func certFields(cert *tls.Certificate) []any {
	l := cert.Leaf
	return []any{"subject", l.Subject.String(), "serial", l.SerialNumber.String(), "dns_names", l.DNSNames,
		"ip_addresses", l.IPAddresses, "not_after", l.NotAfter.UTC().Format(time.RFC3339)}
}

// ReloadCertificate reads tls.cert and tls.key again and serves the new
// pair from the next TLS handshake on; open sockets are not touched. A pair
// that does not load (unreadable, mismatched, expired) keeps the current
// one: the error is logged and returned. SIGHUP calls this in the
// coordinator binary.
func (c *Coordinator) ReloadCertificate() error {
	if c.certs == nil {
		c.log.Warn("certificate reload asked for", "err", errNoTLS)
		return errNoTLS
	}
	cert, err := c.certs.load(time.Now())
	if err != nil {
		err = fmt.Errorf("reload certificate: %w", err)
		c.certs.reloads.WithLabelValues("error").Inc()
		c.log.Error("TLS certificate reload failed, keeping the current one",
			append([]any{"err", err}, certFields(c.certs.cur.Load())...)...)
		return err
	}
	c.certs.cur.Store(cert)
	c.certs.reloads.WithLabelValues("ok").Inc()
	c.log.Info("TLS certificate reloaded", certFields(cert)...)
	return nil
}

// wrapListener serves TLS on ln when tls.cert is set.
func (c *Coordinator) wrapListener(ln net.Listener) net.Listener {
	if c.certs == nil {
		return ln
	}
	return tls.NewListener(ln, c.certs.serverConfig())
}

// origins is the allowed_origins policy.
type origins struct {
	any     bool            // "*" is in the list
	allowed map[string]bool // normalized origins
}

// parseOrigins checks and normalizes allowed_origins.
func parseOrigins(list []string) (origins, error) {
	o := origins{allowed: map[string]bool{}}
	for _, s := range list {
		if s == "*" {
			o.any = true
			continue
		}
		n, ok := normalizeOrigin(s)
		if !ok {
			return o, fmt.Errorf("allowed_origins %q: %w", s, errBadOrigin)
		}
		o.allowed[n] = true
	}
	return o, nil
}

// normalizeOrigin is s as scheme://host[:port], lower case, without the
// scheme's default port (browsers leave it out of Origin), or false if s
// is not an http(s) origin.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	return scheme + "://" + stripDefaultPort(strings.ToLower(u.Host), scheme), true
}

func stripDefaultPort(host, scheme string) string {
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	}
	return host
}

// checkOrigin applies allowed_origins to a browser's request. A request
// without Origin is not from a browser page (the Go SDK, a server) and is
// not checked: the origin check protects users' browsers from other sites'
// pages, and credentials gate everything else.
func (c *Coordinator) checkOrigin(r *http.Request, log *slog.Logger) error {
	origin := r.Header.Get("Origin")
	if origin == "" || c.origins.any {
		return nil
	}
	norm, ok := normalizeOrigin(origin)
	var allowed bool
	switch {
	case !ok: // "null" (a file or sandboxed page) or garbage
	case len(c.origins.allowed) > 0:
		allowed = c.origins.allowed[norm]
	case c.certs != nil: // same origin only: the page came from this host
		scheme := "https"
		allowed = norm == "https://"+stripDefaultPort(strings.ToLower(r.Host), scheme)
	default: // plain ws:// and no list: local runs, any page
		allowed = true
	}
	if allowed {
		return nil
	}
	log.Log(r.Context(), c.originLevel(), "browser socket refused: origin not allowed", "origin", origin,
		"host", r.Host, "allowed_origins", c.cfg.AllowedOrigins)
	return fmt.Errorf("%w: %s", errOriginRefused, origin)
}

// originLevel is the level of the line for one more refused origin: a
// burst of warnings, then one a second, the others debug lines.
func (c *Coordinator) originLevel() slog.Level {
	c.originWarnings.mu.Lock()
	defer c.originWarnings.mu.Unlock()
	if c.originWarnings.b.Allow(time.Now()) {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}
