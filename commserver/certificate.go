package commserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"
)

// A server presents one DTLS certificate on all its peer connections, so
// that its fingerprint identifies the server process across coordinator
// aliases: after the coordinator restarts, every server re-registers under a
// new alias, and a server that is offered a link to a server it is already
// linked to recognises it by the fingerprint in the offer and refuses the
// duplicate instead of relaying every message twice.
const (
	certLifetime    = 90 * 24 * time.Hour
	certRenewBefore = 7 * 24 * time.Hour
)

// certSource hands out the server's certificate, renewing it before it
// expires (pion refuses to create a peer connection with an expired one).
// mu guards cert.
type certSource struct {
	mu   sync.Mutex
	cert webrtc.Certificate
}

func newCertSource() (*certSource, error) {
	c := &certSource{}
	if err := c.renew(); err != nil {
		return nil, err
	}
	return c, nil
}

// get returns the current certificate.
func (c *certSource) get() (webrtc.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Until(c.cert.Expires()) < certRenewBefore {
		if err := c.renew(); err != nil {
			return webrtc.Certificate{}, err
		}
	}
	return c.cert, nil
}

// renew makes a new certificate. Lock held on entry (or not yet shared).
func (c *certSource) renew() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate DTLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("generate DTLS certificate serial: %w", err)
	}
	now := time.Now()
	cert, err := webrtc.NewCertificate(key, x509.Certificate{
		SerialNumber: serial,
		Version:      2,
		Issuer:       pkix.Name{CommonName: "webrtc-broker"},
		Subject:      pkix.Name{CommonName: "webrtc-broker"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(certLifetime),
	})
	if err != nil {
		return fmt.Errorf("generate DTLS certificate: %w", err)
	}
	c.cert = *cert
	return nil
}

// sdpFingerprint returns the first a=fingerprint value of an SDP, lower-cased
// ("sha-256 ab:cd:..."), or "" if there is none.
func sdpFingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=fingerprint:"); ok {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}
