// Package certfile serves a TLS certificate from a certificate file and a
// key file and picks up new ones without a restart (OPS-010): a
// handshake re-reads the files when their modification time or size
// changed, at most once per CheckInterval, and Reload re-reads them on
// demand (a SIGHUP handler). A pair that fails to load keeps the one in
// use, so a half-written renewal never takes the listener down.
package certfile

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CheckInterval is how often handshakes look at the files.
const CheckInterval = time.Second

// Cert is a certificate read from files.
type Cert struct {
	certPath, keyPath string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of the files the certificate in use was read from
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// Load reads the certificate chain (PEM, leaf first) and its private key.
func Load(certPath, keyPath string, log *slog.Logger) (*Cert, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cert{certPath: certPath, keyPath: keyPath, log: log}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cert) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, p := range []string{c.certPath, c.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return s, nil
}

// Reload reads the files again. On failure the certificate in use stays
// and the error says why; the error never holds key material.
func (c *Cert) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reloadLocked()
}

func (c *Cert) reloadLocked() error {
	c.checked = time.Now()
	st, err := c.stamps()
	if err != nil {
		return fmt.Errorf("certfile: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("certfile: %s, %s: %w", c.certPath, c.keyPath, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("certfile: %s: %w", c.certPath, err)
	}
	cert.Leaf = leaf
	c.cert, c.stamp = &cert, st
	c.log.Info("tls: certificate loaded", "cert", c.certPath, "subject", leaf.Subject.String(),
		"dns_names", leaf.DNSNames, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the certificate in use,
// re-read first if the files changed since it was read.
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= CheckInterval {
		c.checked = time.Now()
		if st, err := c.stamps(); err == nil && st != c.stamp {
			if err := c.reloadLocked(); err != nil {
				c.stamp = st // do not retry the same broken pair on every handshake
				c.log.Error("tls: new certificate files do not load; keeping the certificate in use", "err", err)
			}
		}
	}
	return c.cert, nil
}

// Leaf is the certificate in use.
func (c *Cert) Leaf() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert.Leaf
}

// TLSConfig is a server configuration serving c, TLS 1.2 at least.
func (c *Cert) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}
