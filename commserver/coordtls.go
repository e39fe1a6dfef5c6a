package commserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// coordinatorTLS is the TLS config of a wss:// coordinator link: trust
// only coordinator_ca's certificates when it is set (a private CA, or a
// self-signed coordinator), the system roots when it is empty (nil: the
// dialer's default).
func coordinatorTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("coordinator_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("coordinator_ca %s: %w", caFile, errNoPEMCertificate)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// checkCoordinatorCA rejects a coordinator_ca that a plain ws://
// coordinator_url would never use: a config that says TLS and gets none.
func checkCoordinatorCA(coordURL, caFile string) error {
	if caFile == "" {
		return nil
	}
	u, err := url.Parse(coordURL)
	if err != nil {
		return fmt.Errorf("coordinator_url %q: %w", coordURL, err)
	}
	if s := strings.ToLower(u.Scheme); s != "wss" && s != "https" {
		return fmt.Errorf("coordinator_ca %s with coordinator_url %s: %w", caFile, coordURL, errCAWithoutTLS)
	}
	return nil
}

// dialError explains a failed coordinator dial; an untrusted certificate
// says what was trusted, which is what the operator must fix.
func (s *Server) dialError(err error) error {
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &verify) {
		return err
	}
	trusted := "the system roots (set coordinator_ca to the coordinator's CA file)"
	if s.cfg.CoordinatorCA != "" {
		trusted = "coordinator_ca " + s.cfg.CoordinatorCA
	}
	return fmt.Errorf("the coordinator's certificate is not trusted by %s: %w", trusted, err)
}
