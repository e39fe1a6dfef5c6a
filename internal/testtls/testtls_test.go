package testtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
)

// handshake runs a TLS handshake over loopback TCP (buffered, unlike
// net.Pipe, whose unbuffered writes deadlock two close_notify alerts): the
// server presents leaf, the client trusts roots and expects serverName.
func handshake(t *testing.T, leaf *Leaf, roots *x509.CertPool, serverName string) error {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		served <- srv.Handshake()
		_ = srv.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cli := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12})
	err = cli.Handshake()
	_ = cli.Close()
	<-served
	return err
}

func TestLeafIsTrustedThroughItsCA(t *testing.T) {
	ca := NewCA(t, "test")
	leaf := ca.Leaf(t, "coord", "127.0.0.1", "coord.test")
	for _, name := range []string{"127.0.0.1", "coord.test"} {
		if err := handshake(t, leaf, ca.Pool(), name); err != nil {
			t.Errorf("handshake for %s: %v", name, err)
		}
	}
	var hostErr x509.HostnameError
	if err := handshake(t, leaf, ca.Pool(), "other.test"); !errors.As(err, &hostErr) {
		t.Errorf("handshake for a name not in the certificate: %v, want a hostname error", err)
	}
	var authErr x509.UnknownAuthorityError
	if err := handshake(t, leaf, NewCA(t, "other").Pool(), "127.0.0.1"); !errors.As(err, &authErr) {
		t.Errorf("handshake trusting another CA: %v, want unknown authority", err)
	}
}

func TestSPKIHashIsOfThePublicKey(t *testing.T) {
	ca := NewCA(t, "test")
	a, b := ca.Leaf(t, "a", "127.0.0.1"), ca.Leaf(t, "b", "127.0.0.1")
	if len(a.SPKIHash()) != 44 || a.SPKIHash() == b.SPKIHash() {
		t.Fatalf("SPKI hashes %q and %q: want two distinct base64 SHA-256 sums", a.SPKIHash(), b.SPKIHash())
	}
}
