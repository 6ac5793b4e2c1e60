package certfile

import (
	"crypto/tls"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/testpki"
)

// servedLeaf dials l and returns the serial number of the leaf the server
// presents, verified against ca.
func servedSerial(t *testing.T, l net.Listener, ca *testpki.CA) string {
	t.Helper()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertificateIsReloadedWhenTheFilesChange: a renewed certificate is
// served by the next handshake after the files change, a broken renewal
// keeps the certificate in use, and Reload reads them at once (OPS-010).
func TestCertificateIsReloadedWhenTheFilesChange(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "test CA")
	certPath, keyPath, first := ca.WriteLeaf(t, dir, "node")
	c, err := Load(certPath, keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", c.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { conn.(*tls.Conn).Handshake(); conn.Close() }()
		}
	}()
	if got := servedSerial(t, l, ca); got != first.SerialNumber.String() {
		t.Fatalf("served %s, want the first leaf", got)
	}
	renewals := 0
	renew := func() string {
		chain, key, leaf := ca.Leaf(t, "node")
		os.WriteFile(certPath, chain, 0o644)
		os.WriteFile(keyPath, key, 0o600)
		renewals++
		future := time.Now().Add(time.Duration(renewals) * time.Hour) // a new time stamp even on coarse file system clocks
		os.Chtimes(certPath, future, future)
		c.mu.Lock()
		c.checked = time.Time{} // as if CheckInterval had passed
		c.mu.Unlock()
		return leaf.SerialNumber.String()
	}
	second := renew()
	if got := servedSerial(t, l, ca); got != second {
		t.Fatalf("after renewal served %s, want %s", got, second)
	}
	// A half-written renewal: the key does not match the certificate.
	chain, _, _ := ca.Leaf(t, "node")
	os.WriteFile(certPath, chain, 0o644)
	c.mu.Lock()
	c.checked = time.Time{}
	c.mu.Unlock()
	if got := servedSerial(t, l, ca); got != second {
		t.Fatalf("a broken pair replaced the certificate in use: %s", got)
	}
	if err := c.Reload(); err == nil {
		t.Fatal("Reload of a mismatched pair succeeded")
	}
	third := renew()
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := c.Leaf().SerialNumber.String(); got != third {
		t.Fatalf("Reload: leaf %s, want %s", got, third)
	}
	if got := servedSerial(t, l, ca); got != third {
		t.Fatalf("served %s, want %s", got, third)
	}
}
