// Package testtls makes certificates for tests: a CA and leaf certificates
// it signs for given IP addresses and DNS names, written as PEM files to the
// test's t.TempDir(), so that a coordinator can serve wss:// with a
// certificate made in the test and its peers can trust it through a CA
// file, a cert pool or (Chromium) the hash of the leaf's public key. It sits
// under internal/ so that the tests of every floor above can use it.
package testtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// validity is how long made certificates are valid, from an hour before
// now (clock skew between the test and what it starts is none, but a
// certificate valid from this very second is needlessly fragile).
const validity = 24 * time.Hour

// CA is a certificate authority made for one test.
type CA struct {
	Cert    *x509.Certificate
	PEM     []byte // the CA certificate, PEM
	File    string // PEM file holding the certificate (what coordinator_ca takes)
	key     *ecdsa.PrivateKey
	dir     string
	counter int64
}

// Leaf is a certificate signed by a CA, with its key.
type Leaf struct {
	Cert     *x509.Certificate
	CertPEM  []byte
	KeyPEM   []byte
	CertFile string // PEM files, what tls.cert and tls.key take
	KeyFile  string
	CA       *CA
}

// NewCA makes a CA called name, its certificate written to t.TempDir().
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testtls: CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testtls: CA %s: %v", name, err)
	}
	ca := &CA{Cert: cert, key: key, dir: t.TempDir(), counter: 1}
	ca.PEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca.File = write(t, ca.dir, name+"-ca.pem", ca.PEM)
	return ca
}

// Pool is a cert pool holding only this CA: a tls.Config's RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// ClientConfig is a TLS client config trusting only this CA.
func (ca *CA) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// Leaf makes a server certificate for hosts (IP addresses or DNS names),
// the first one its common name, and writes its certificate and key to
// files named after name.
func (ca *CA) Leaf(t testing.TB, name string, hosts ...string) *Leaf {
	t.Helper()
	return ca.leaf(t, name, time.Now().Add(-time.Hour), time.Now().Add(validity), hosts)
}

// ExpiredLeaf is Leaf with a certificate that expired an hour ago.
func (ca *CA) ExpiredLeaf(t testing.TB, name string, hosts ...string) *Leaf {
	t.Helper()
	return ca.leaf(t, name, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), hosts)
}

func (ca *CA) leaf(t testing.TB, name string, notBefore, notAfter time.Time, hosts []string) *Leaf {
	t.Helper()
	key := newKey(t)
	ca.counter++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.counter),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(hosts) > 0 {
		tmpl.Subject.CommonName = hosts[0]
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testtls: leaf %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testtls: leaf %s: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testtls: leaf %s key: %v", name, err)
	}
	l := &Leaf{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CA:      ca,
	}
	l.CertFile = write(t, ca.dir, name+"-cert.pem", l.CertPEM)
	l.KeyFile = write(t, ca.dir, name+"-key.pem", l.KeyPEM)
	return l
}

// SPKIHash is the base64 SHA-256 of the leaf's public key (its
// SubjectPublicKeyInfo): what Chromium's
// --ignore-certificate-errors-spki-list takes to trust this one key.
func (l *Leaf) SPKIHash() string {
	sum := sha256.Sum256(l.Cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// InstallAt writes the leaf's certificate and key over the files at
// certFile and keyFile (a certificate rotation, for reload tests).
func (l *Leaf) InstallAt(t testing.TB, certFile, keyFile string) {
	t.Helper()
	replace(t, certFile, l.CertPEM)
	replace(t, keyFile, l.KeyPEM)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testtls: key: %v", err)
	}
	return key
}

func write(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatalf("testtls: %v", err)
	}
	return p
}

// replace writes b to path through a rename, so that a reader sees the old
// file or the new one, never half of one.
func replace(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatalf("testtls: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("testtls: %v", err)
	}
}
