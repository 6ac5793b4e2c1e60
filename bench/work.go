package bench

// The workloads of the batch-path benchmarks, shared by the Go benchmarks in
// this package's tests and by the report command (bench/report), which runs
// them one after another in one process and prints ratios.

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
	"fmt"
	"math/big"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

var signer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

func signerKey(b *testing.B) *sig.PublicKey {
	k, err := sig.ParsePublicKey(signer.Public().(ed25519.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// newBuilder returns a Builder signing with signer.
func newBuilder(b testing.TB) *batch.Builder {
	builder, err := batch.NewBuilder(signer, nil)
	if err != nil {
		b.Fatal(err)
	}
	return builder
}

type session struct{ server, client *batch.Keys }

func sessions(b *testing.B, n int, aead uint16) []session {
	out := make([]session, n)
	for i := range out {
		secret := []byte(fmt.Sprintf("session %032d", i))
		ek := keyschedule.Envelope(secret)
		s, err := batch.NewKeys(aead, ek)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := batch.NewKeys(aead, ek)
		out[i] = session{s, c}
	}
	return out
}

// Build seals N recipients × M messages × S bytes into one signed batch per
// iteration, for sessions that negotiated ChaCha20-Poly1305, on the given
// number of workers (0: GOMAXPROCS). MB/s counts payload bytes; msgs/s is
// reported as a metric.
func Build(b *testing.B, n, m, size int, broadcast bool, workers int) {
	BuildAEAD(b, suite.AEADChaCha20Poly1305, n, m, size, broadcast, workers)
}

// BuildAEAD is Build for sessions that negotiated the AEAD aead.
func BuildAEAD(b *testing.B, aead uint16, n, m, size int, broadcast bool, workers int) {
	ss := sessions(b, n, aead)
	payload := bytes.Repeat([]byte{0xab}, size)
	builder := newBuilder(b)
	if workers > 0 {
		builder.SetWorkers(workers)
	}
	entries := make([]batch.Entry, m)
	seq := uint64(0)
	// Collect the setup's garbage (and the previous measurement's) now: a
	// collection still running in the timed loop takes a core from the
	// workers, which biases the comparison of 1 worker with several.
	runtime.GC()
	b.ReportAllocs()
	if broadcast {
		b.SetBytes(int64(m * size)) // each payload is sealed once
	} else {
		b.SetBytes(int64(n * m * size))
	}
	for b.Loop() {
		builder.Reset()
		for j := range entries {
			entries[j] = batch.Entry{MessageID: uint64(j + 1), Payload: payload}
			if broadcast {
				entries[j] = batch.Entry{MessageID: uint64(j + 1), Broadcast: builder.AddBroadcast(payload)}
			}
		}
		for i := range ss {
			if _, err := builder.AddRecipient(ss[i].server, entries); err != nil {
				b.Fatal(err)
			}
		}
		seq++
		if _, err := builder.Build(seq, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*m)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// Open parses, verifies and opens one delivery of a batch of n recipients
// × 10 messages × size bytes: a client's work per batch.
func Open(b *testing.B, n, size int) {
	ss := sessions(b, n, suite.AEADChaCha20Poly1305)
	payload := bytes.Repeat([]byte{0xcd}, size)
	builder := newBuilder(b)
	entries := make([]batch.Entry, 10)
	for j := range entries {
		entries[j] = batch.Entry{MessageID: uint64(j + 1), Payload: payload}
	}
	var h int
	for i := range ss {
		h, _ = builder.AddRecipient(ss[i].server, entries)
	}
	bt, err := builder.Build(1, 0)
	if err != nil {
		b.Fatal(err)
	}
	body, err := bt.AppendDelivery(nil, h)
	if err != nil {
		b.Fatal(err)
	}
	o := batch.NewOpener(signerKey(b), ss[n-1].client, 0)
	b.ReportAllocs()
	b.SetBytes(int64(10 * size))
	for b.Loop() {
		d, err := batch.ParseDelivery(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := o.Open(d, 0); err != nil {
			b.Fatal(err)
		}
	}
}

var handshakeKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

// Handshake runs full SealFeed handshakes for group: the client's driver
// (handshake.Client.Drive) over frames passed in memory to the server.
func Handshake(b *testing.B, group uint16) {
	id := sig.KeyID(handshakeKey.Public().(ed25519.PublicKey))
	// A server validates its own key once, not per connection.
	pub, err := sig.ParsePublicKey(handshakeKey.Public().(ed25519.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, _ := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &id, Groups: []uint16{group}, AEADs: []uint16{suite.AEADChaCha20Poly1305}})
		s, _ := handshake.NewServer(&handshake.ServerConfig{Key: handshakeKey, PublicKey: pub})
		if _, err := c.Drive(&handshake.Loopback{Server: s}); err != nil {
			b.Fatal("handshake did not complete", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// TLSHandshake runs full TLS 1.3 handshakes with an Ed25519 certificate
// over an in-memory pipe (which adds goroutine hand-offs that Handshake does
// not pay), without session tickets.
func TLSHandshake(b *testing.B, curve tls.CurveID) {
	cert, pool := ed25519Cert(b, handshakeKey)
	scfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{curve}, SessionTicketsDisabled: true}
	ccfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "push.example",
		CurvePreferences: []tls.CurveID{curve}}
	b.ReportAllocs()
	for b.Loop() {
		cc, sc := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			errc <- tls.Server(sc, scfg).Handshake()
			// Closing the pipe, not the TLS conn: a close_notify write
			// would block on the unbuffered pipe.
			sc.Close()
		}()
		if err := tls.Client(cc, ccfg).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		cc.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
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

// AEAD seals one message of size bytes per iteration: the limit of the
// batch path's first pass.
func AEAD(b *testing.B, id uint16, size int) {
	aead, err := suite.NewAEAD(id, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, size)
	buf := make([]byte, 0, size+16)
	nonce := make([]byte, 12)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		buf = aead.Seal(buf[:0], nonce, pt, nil)
	}
}

// Composite seals one message with the AEAD id and hashes the result with
// SHA-256: the two passes the design makes over every byte (the signature
// commits to ciphertext hashes, spec §10.4).
func Composite(b *testing.B, id uint16, size int) {
	aead, err := suite.NewAEAD(id, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, size)
	buf := make([]byte, 0, size+16)
	nonce := make([]byte, 12)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		buf = aead.Seal(buf[:0], nonce, pt, nil)
		_ = sha256.Sum256(buf)
	}
}

// PerMessageSign is what a user would build instead of batches: seal each
// 1 KiB message with the AEAD id and sign each one.
func PerMessageSign(b *testing.B, id uint16) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	aead, err := suite.NewAEAD(id, make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 1024)
	buf := make([]byte, 0, 1024+16)
	nonce := make([]byte, 12)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = aead.Seal(buf[:0], nonce, pt, nil)
		_ = sig.Sign(key, keyschedule.SigBatch, buf)
	}
}

// WebPush is the per-message shape of RFC 8291: for each 1 KiB message a
// fresh X25519 key pair, an ECDH with the recipient's key, HKDF for key and
// nonce, and one AEAD seal.
func WebPush(b *testing.B) {
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

// The work the protocol requires per recipient and per batch besides the
// passes over every byte: what no implementation can avoid, measured so
// that the report can state the ceiling it sets (spec §10.2–§10.4).

// RecipientTag computes one recipient tag (BATCH-006): an HMAC-SHA256 per
// recipient per batch.
func RecipientTag(b *testing.B) {
	k := sessions(b, 1, suite.AEADChaCha20Poly1305)[0].server
	id := sig.KeyID(signer.Public().(ed25519.PublicKey))
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		_ = k.Tag(&id, seq)
	}
}

// MerkleNode computes one interior node of the tree (§10.3); a tree of n
// leaves has n − 1.
func MerkleNode(b *testing.B) {
	var l, r [merkle.HashSize]byte
	b.ReportAllocs()
	for b.Loop() {
		l = merkle.NodeHash(&l, &r)
	}
}

// SignBatch signs one batch header (§10.4): crypto/ed25519 through
// sig.Sign, once per batch.
func SignBatch(b *testing.B) {
	hdr := batch.Header{Version: batch.Version, SignerID: sig.KeyID(signer.Public().(ed25519.PublicKey)), Seq: 1, LeafCount: 100}
	enc := hdr.AppendTo(nil)
	b.ReportAllocs()
	for b.Loop() {
		sig.Sign(signer, keyschedule.SigBatch, enc)
	}
}
