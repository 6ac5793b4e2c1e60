package bench

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

// BenchmarkHandshake measures full handshakes per second: SealFeed's two
// state machines passing frames in memory, and TLS 1.3 with an Ed25519
// certificate over an in-memory pipe (which adds goroutine hand-offs that
// the SealFeed side does not pay; read the ratio with that in mind).
func BenchmarkHandshake(b *testing.B) {
	serverKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	id := sig.KeyID(serverKey.Public().(ed25519.PublicKey))
	for _, g := range []struct {
		name  string
		group uint16
		curve tls.CurveID
	}{{"X25519", suite.GroupX25519, tls.X25519}, {"X25519MLKEM768", suite.GroupX25519MLKEM768, tls.X25519MLKEM768}} {
		b.Run("sealfeed/"+g.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, _ := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &id, Groups: []uint16{g.group}, AEADs: []uint16{suite.AEADChaCha20Poly1305}})
				s, _ := handshake.NewServer(&handshake.ServerConfig{Key: serverKey})
				hello, _ := c.Start()
				out, _, err := s.Handle(hello)
				if err != nil {
					b.Fatal(err)
				}
				c.Handle(out[0])
				flight, _, err := c.Handle(out[1])
				if err != nil {
					b.Fatal(err)
				}
				w, _, err := s.Handle(flight[0])
				if err != nil {
					b.Fatal(err)
				}
				if _, done, err := c.Handle(w[0]); err != nil || !done {
					b.Fatal("handshake did not complete", err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
		b.Run("tls13/"+g.name, func(b *testing.B) {
			cert, pool := ed25519Cert(b, serverKey)
			scfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
				CurvePreferences: []tls.CurveID{g.curve}, SessionTicketsDisabled: true}
			ccfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "push.example",
				CurvePreferences: []tls.CurveID{g.curve}}
			b.ReportAllocs()
			for b.Loop() {
				cc, sc := net.Pipe()
				errc := make(chan error, 1)
				go func() {
					errc <- tls.Server(sc, scfg).Handshake()
					// Closing the pipe, not the TLS conn: a close_notify
					// write would block on the unbuffered pipe.
					sc.Close()
				}()
				c := tls.Client(cc, ccfg)
				if err := c.Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				cc.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

func ed25519Cert(b *testing.B, key ed25519.PrivateKey) (tls.Certificate, *x509.CertPool) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "push.example"},
		DNSNames: []string{"push.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// BenchmarkBaselineWebPush is the per-message shape of RFC 8291: for each
// message a fresh X25519 key pair, an ECDH with the recipient's key, HKDF
// for key and nonce, and one AEAD seal of 1 KiB.
func BenchmarkBaselineWebPush(b *testing.B) {
	recipient, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pt := make([]byte, 1024)
	buf := make([]byte, 0, 1024+16)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		eph, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		ss, err := eph.ECDH(recipient.PublicKey())
		if err != nil {
			b.Fatal(err)
		}
		okm, _ := hkdf.Key(sha256.New, ss, eph.PublicKey().Bytes(), "webpush-shaped baseline", 32+12)
		aead, _ := suite.NewAEAD(suite.AEADAES256GCM, okm[:32])
		buf = aead.Seal(buf[:0], okm[32:], pt, nil)
	}
}
