package main

// The alternatives to SealFeed's batch build, each with a fixture, the
// function the benchmark times, and a correctness check that runs the
// receiving side on what that same function produced (outside timing).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/flynn/noise"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

// shape is the work of one operation: n recipients × m messages × size
// bytes.
type shape struct{ n, m, size int }

func (s shape) String() string { return fmt.Sprintf("%d×%d×%s", s.n, s.m, sizeName(s.size)) }

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// benchMessages are the m messages the timed loops send to every recipient:
// one payload, as bench.Build uses (the contents do not change the cost).
func benchMessages(sh shape) [][]byte {
	p := bytes.Repeat([]byte{0xab}, sh.size)
	msgs := make([][]byte, sh.m)
	for j := range msgs {
		msgs[j] = p
	}
	return msgs
}

// checkMessages are distinct pseudo-random messages for recipient i, so a
// check notices a mix-up between recipients or messages.
func checkMessages(sh shape, i int) [][]byte {
	msgs := make([][]byte, sh.m)
	for j := range msgs {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(i))
		binary.LittleEndian.PutUint64(seed[8:], uint64(j))
		msgs[j] = make([]byte, sh.size)
		mrand.NewChaCha8(seed).Read(msgs[j])
	}
	return msgs
}

// appendFrames frames a recipient's messages into one buffer (4-byte
// big-endian length, then the payload), the per-recipient coalescing that
// SealFeed's leaf does (M messages, one AEAD seal) given to the stream
// alternatives too.
func appendFrames(dst []byte, msgs [][]byte) []byte {
	for _, m := range msgs {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(m)))
		dst = append(dst, m...)
	}
	return dst
}

func parseFrames(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated frame header")
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(n) {
			return nil, errors.New("truncated frame")
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out, nil
}

func equalMessages(got, want [][]byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d messages, want %d", len(got), len(want))
	}
	for j := range want {
		if !bytes.Equal(got[j], want[j]) {
			return fmt.Errorf("message %d differs", j)
		}
	}
	return nil
}

// probe picks the recipients a check decrypts for when decrypting for all
// of them would be slow: first, middle, last.
func probe(n int) []int {
	switch {
	case n == 1:
		return []int{0}
	case n == 2:
		return []int{0, 1}
	}
	return []int{0, n / 2, n - 1}
}

// --- SealFeed ---------------------------------------------------------

var sfSigner = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

type sfSession struct{ server, client *batch.Keys }

// sfSessions derives n sessions' envelope keys the way bench.Build does.
func sfSessions(n int) ([]sfSession, error) {
	out := make([]sfSession, n)
	for i := range out {
		ek := keyschedule.Envelope(fmt.Appendf(nil, "session %032d", i))
		s, err := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
		if err != nil {
			return nil, err
		}
		c, err := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
		if err != nil {
			return nil, err
		}
		out[i] = sfSession{s, c}
	}
	return out, nil
}

// checkSealFeed builds one batch of sh with protocol/batch (the code
// bench.Build times) and has every recipient's client parse, verify and open
// its delivery; a delivery opened with another session's keys must fail.
func checkSealFeed(sh shape, broadcast bool) (string, error) {
	ss, err := sfSessions(sh.n)
	if err != nil {
		return "", err
	}
	pk, err := sig.ParsePublicKey(sfSigner.Public().(ed25519.PublicKey))
	if err != nil {
		return "", err
	}
	b, err := batch.NewBuilder(sfSigner, nil)
	if err != nil {
		return "", err
	}
	shared := checkMessages(sh, -1)
	var handles []int
	if broadcast {
		for _, p := range shared {
			handles = append(handles, b.AddBroadcast(p))
		}
	}
	want := make([][][]byte, sh.n)
	leaf := make([]int, sh.n)
	for i := range ss {
		want[i] = shared
		if !broadcast {
			want[i] = checkMessages(sh, i)
		}
		entries := make([]batch.Entry, sh.m)
		for j := range entries {
			entries[j] = batch.Entry{MessageID: uint64(j + 1), Payload: want[i][j]}
			if broadcast {
				entries[j] = batch.Entry{MessageID: uint64(j + 1), Broadcast: handles[j]}
			}
		}
		if leaf[i], err = b.AddRecipient(ss[i].server, entries); err != nil {
			return "", err
		}
	}
	bt, err := b.Build(1, 0)
	if err != nil {
		return "", err
	}
	var body []byte
	for i := range ss {
		body, err = bt.AppendDelivery(body[:0], leaf[i])
		if err != nil {
			return "", err
		}
		d, err := batch.ParseDelivery(body)
		if err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
		msgs, err := batch.NewOpener(pk, ss[i].client, 0).Open(d, 0)
		if err != nil {
			return "", fmt.Errorf("recipient %d: open: %w", i, err)
		}
		got := make([][]byte, len(msgs))
		for j, m := range msgs {
			if m.ID != uint64(j+1) || m.Broadcast != broadcast {
				return "", fmt.Errorf("recipient %d: message %d: id %d broadcast %v", i, j, m.ID, m.Broadcast)
			}
			got[j] = m.Payload
		}
		if err := equalMessages(got, want[i]); err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
		if sh.n > 1 {
			other := ss[(i+1)%sh.n].client
			if _, err := batch.NewOpener(pk, other, 0).Open(d, 0); err == nil {
				return "", fmt.Errorf("recipient %d's delivery opened with another session's keys", i)
			}
		}
	}
	return fmt.Sprintf("%d/%d deliveries parsed, signature and proof verified, opened, equal; wrong session's keys refused", sh.n, sh.n), nil
}

// --- age --------------------------------------------------------------

type ageFixture struct {
	ids   []*age.X25519Identity
	rcpts []age.Recipient
}

func newAge(n int) (*ageFixture, error) {
	f := &ageFixture{}
	for range n {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		f.ids = append(f.ids, id)
		f.rcpts = append(f.rcpts, id.Recipient())
	}
	return f, nil
}

// ageSeal writes one age file holding msgs, framed, to rcpts.
func ageSeal(dst io.Writer, msgs [][]byte, rcpts ...age.Recipient) error {
	w, err := age.Encrypt(dst, rcpts...)
	if err != nil {
		return err
	}
	var hdr [4]byte
	for _, m := range msgs {
		binary.BigEndian.PutUint32(hdr[:], uint32(len(m)))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := w.Write(m); err != nil {
			return err
		}
	}
	return w.Close()
}

func ageOpen(file []byte, id age.Identity) ([][]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(file), id)
	if err != nil {
		return nil, err
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return parseFrames(pt)
}

// perRecipient times one age file per recipient with its m messages.
func (f *ageFixture) perRecipient(sh shape) func(b *testing.B) {
	msgs := benchMessages(sh)
	return func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(int64(sh.n * sh.m * sh.size))
		b.ReportAllocs()
		for b.Loop() {
			for i := range sh.n {
				buf.Reset()
				if err := ageSeal(&buf, msgs, f.rcpts[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// broadcast times one age file to all n recipients with the m messages.
func (f *ageFixture) broadcast(sh shape) func(b *testing.B) {
	msgs := benchMessages(sh)
	return func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(int64(sh.m * sh.size)) // each payload is sealed once
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := ageSeal(&buf, msgs, f.rcpts...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func checkAge(sh shape, broadcast bool) (string, error) {
	f, err := newAge(sh.n)
	if err != nil {
		return "", err
	}
	stranger, _ := age.GenerateX25519Identity()
	if broadcast {
		want := checkMessages(sh, -1)
		var file bytes.Buffer
		if err := ageSeal(&file, want, f.rcpts...); err != nil {
			return "", err
		}
		for _, i := range probe(sh.n) {
			got, err := ageOpen(file.Bytes(), f.ids[i])
			if err != nil {
				return "", fmt.Errorf("recipient %d: %w", i, err)
			}
			if err := equalMessages(got, want); err != nil {
				return "", fmt.Errorf("recipient %d: %w", i, err)
			}
		}
		if _, err := ageOpen(file.Bytes(), stranger); err == nil {
			return "", errors.New("a non-recipient decrypted the broadcast file")
		}
		return fmt.Sprintf("one %d-byte file (header %d stanzas); recipients %v decrypted it, equal; a non-recipient refused",
			file.Len(), sh.n, probe(sh.n)), nil
	}
	total := 0
	for i := range sh.n {
		want := checkMessages(sh, i)
		var file bytes.Buffer
		if err := ageSeal(&file, want, f.rcpts[i]); err != nil {
			return "", err
		}
		total += file.Len()
		got, err := ageOpen(file.Bytes(), f.ids[i])
		if err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
		if err := equalMessages(got, want); err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
		if sh.n > 1 {
			if _, err := ageOpen(file.Bytes(), f.ids[(i+1)%sh.n]); err == nil {
				return "", fmt.Errorf("recipient %d's file decrypted by another recipient", i)
			}
		}
	}
	return fmt.Sprintf("%d/%d files (%d bytes in all) decrypted by their recipient, equal; another recipient refused", sh.n, sh.n, total), nil
}

// --- Noise ------------------------------------------------------------

var noiseSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

// maxNoisePlain is the largest plaintext of one transport message
// (65535-byte messages, 16-byte tag).
const maxNoisePlain = noise.MaxMsgLen - 16

// noiseHandshake runs a handshake of pattern (NK: the client knows the
// server's static key; XX: both send theirs) in memory and returns the
// server's sending CipherState and the client's receiving one.
func noiseHandshake(p noise.HandshakePattern, server, client noise.DHKey) (send, recv *noise.CipherState, err error) {
	ccfg := noise.Config{CipherSuite: noiseSuite, Random: rand.Reader, Pattern: p, Initiator: true}
	scfg := noise.Config{CipherSuite: noiseSuite, Random: rand.Reader, Pattern: p, StaticKeypair: server}
	switch p.Name {
	case "NK":
		ccfg.PeerStatic = server.Public
	case "XX":
		ccfg.StaticKeypair = client
	default:
		return nil, nil, fmt.Errorf("pattern %s not set up", p.Name)
	}
	c, err := noise.NewHandshakeState(ccfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := noise.NewHandshakeState(scfg)
	if err != nil {
		return nil, nil, err
	}
	w, r := c, s
	for range 4 {
		msg, wcs1, wcs2, err := w.WriteMessage(nil, nil)
		if err != nil {
			return nil, nil, err
		}
		_, rcs1, rcs2, err := r.ReadMessage(nil, msg)
		if err != nil {
			return nil, nil, err
		}
		if wcs1 != nil || rcs1 != nil {
			if wcs1 == nil || rcs1 == nil {
				return nil, nil, errors.New("handshake completed on one side only")
			}
			// cs1 carries initiator → responder, cs2 responder → initiator.
			if w == s {
				return wcs2, rcs2, nil
			}
			return rcs2, wcs2, nil
		}
		w, r = r, w
	}
	return nil, nil, errors.New("handshake did not complete")
}

type noiseSession struct{ send, recv *noise.CipherState }

func newNoise(n int, p noise.HandshakePattern) ([]noiseSession, noise.DHKey, error) {
	server, err := noiseSuite.GenerateKeypair(rand.Reader)
	if err != nil {
		return nil, server, err
	}
	out := make([]noiseSession, n)
	for i := range out {
		client, err := noiseSuite.GenerateKeypair(rand.Reader)
		if err != nil {
			return nil, server, err
		}
		if out[i].send, out[i].recv, err = noiseHandshake(p, server, client); err != nil {
			return nil, server, err
		}
	}
	return out, server, nil
}

// noiseSeal encrypts a recipient's framed messages into transport messages
// of at most 65535 bytes, each behind the 2-byte length Noise suggests for
// stream transports.
func noiseSeal(dst []byte, cs *noise.CipherState, framed []byte) ([]byte, error) {
	for len(framed) > 0 {
		chunk := framed[:min(len(framed), maxNoisePlain)]
		framed = framed[len(chunk):]
		at := len(dst)
		dst = append(dst, 0, 0)
		var err error
		if dst, err = cs.Encrypt(dst, nil, chunk); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(dst[at:], uint16(len(dst)-at-2))
	}
	return dst, nil
}

func noiseOpen(stream []byte, cs *noise.CipherState) ([]byte, error) {
	var pt []byte
	for len(stream) > 0 {
		if len(stream) < 2 {
			return nil, errors.New("truncated length")
		}
		n := int(binary.BigEndian.Uint16(stream))
		if len(stream)-2 < n {
			return nil, errors.New("truncated transport message")
		}
		var err error
		if pt, err = cs.Decrypt(pt, nil, stream[2:2+n]); err != nil {
			return nil, err
		}
		stream = stream[2+n:]
	}
	return pt, nil
}

// noiseTransport times, per recipient, framing its m messages and sealing
// them under that session's CipherState.
func noiseTransport(ss []noiseSession, sh shape) func(b *testing.B) {
	msgs := benchMessages(sh)
	return func(b *testing.B) {
		var frame, out []byte
		var err error
		b.SetBytes(int64(sh.n * sh.m * sh.size))
		b.ReportAllocs()
		for b.Loop() {
			for i := range ss {
				frame = appendFrames(frame[:0], msgs)
				if out, err = noiseSeal(out[:0], ss[i].send, frame); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// noiseHandshakes times complete handshakes of pattern, both sides in
// memory, as bench.Handshake does for SealFeed's.
func noiseHandshakes(p noise.HandshakePattern) func(b *testing.B) {
	server, _ := noiseSuite.GenerateKeypair(rand.Reader)
	client, _ := noiseSuite.GenerateKeypair(rand.Reader)
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := noiseHandshake(p, server, client); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	}
}

func checkNoise(sh shape, p noise.HandshakePattern) (string, error) {
	ss, _, err := newNoise(sh.n, p)
	if err != nil {
		return "", err
	}
	var frame, out []byte
	transport := 0
	for i := range ss {
		want := checkMessages(sh, i)
		frame = appendFrames(frame[:0], want)
		if out, err = noiseSeal(out[:0], ss[i].send, frame); err != nil {
			return "", err
		}
		transport += (len(frame) + maxNoisePlain - 1) / maxNoisePlain
		if sh.n > 1 {
			// Another session's state must refuse it (and is left unchanged).
			if _, err := noiseOpen(out, ss[(i+1)%sh.n].recv); err == nil {
				return "", fmt.Errorf("recipient %d's messages decrypted by another session", i)
			}
		}
		pt, err := noiseOpen(out, ss[i].recv)
		if err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
		got, err := parseFrames(pt)
		if err != nil {
			return "", err
		}
		if err := equalMessages(got, want); err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
	}
	return fmt.Sprintf("%d Noise_%s handshakes completed; %d/%d sessions' %d transport messages decrypted with the client's CipherState, equal; another session refused",
		sh.n, p.Name, sh.n, sh.n, transport), nil
}

func checkNoiseHandshake(p noise.HandshakePattern) (string, error) {
	ss, _, err := newNoise(1, p)
	if err != nil {
		return "", err
	}
	ct, err := ss[0].send.Encrypt(nil, nil, []byte("ping"))
	if err != nil {
		return "", err
	}
	if pt, err := ss[0].recv.Decrypt(nil, nil, ct); err != nil || string(pt) != "ping" {
		return "", fmt.Errorf("transport after handshake: %q %v", pt, err)
	}
	return fmt.Sprintf("Noise_%s_25519_ChaChaPoly_SHA256 handshake completed; a transport message decrypted", p.Name), nil
}

// --- TLS 1.3 on loopback ------------------------------------------------

var tlsKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func tlsConfigs() (server, client *tls.Config, err error) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "push.example"},
		DNSNames: []string{"push.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tlsKey.Public(), tlsKey)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	server = &tls.Config{MinVersion: tls.VersionTLS13, SessionTicketsDisabled: true,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: tlsKey}}}
	client = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "push.example"}
	return server, client, nil
}

// tlsFixture is n established TLS 1.3 connections over loopback TCP; the
// server side sends, a goroutine per client connection reads.
type tlsFixture struct {
	ln       net.Listener
	server   []*tls.Conn
	client   []*tls.Conn
	sent     atomic.Int64
	received atomic.Int64
	readers  sync.WaitGroup
	suite    string
}

func newTLS(n int) (*tlsFixture, error) {
	scfg, ccfg, err := tlsConfigs()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &tlsFixture{ln: ln}
	for range n {
		type accepted struct {
			c   *tls.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			raw, err := ln.Accept()
			if err != nil {
				ch <- accepted{nil, err}
				return
			}
			c := tls.Server(raw, scfg)
			ch <- accepted{c, c.Handshake()}
		}()
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			f.close()
			return nil, err
		}
		c := tls.Client(raw, ccfg)
		cerr := c.Handshake()
		a := <-ch
		if a.c != nil {
			f.server = append(f.server, a.c)
		}
		f.client = append(f.client, c)
		if err := errors.Join(cerr, a.err); err != nil {
			f.close()
			return nil, err
		}
	}
	st := f.server[0].ConnectionState()
	f.suite = tls.CipherSuiteName(st.CipherSuite)
	return f, nil
}

// check sends each recipient its distinct messages and reads them back on
// the client side, before the counting readers start.
func (f *tlsFixture) check(sh shape) (string, error) {
	for i := range f.server {
		want := checkMessages(sh, i)
		frame := appendFrames(nil, want)
		errc := make(chan error, 1)
		go func() { _, err := f.server[i].Write(frame); errc <- err }()
		got := make([]byte, len(frame))
		_, rerr := io.ReadFull(f.client[i], got)
		if err := errors.Join(<-errc, rerr); err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
		msgs, err := parseFrames(got)
		if err != nil {
			return "", err
		}
		if err := equalMessages(msgs, want); err != nil {
			return "", fmt.Errorf("recipient %d: %w", i, err)
		}
	}
	return fmt.Sprintf("%d/%d connections (%s): the client read its messages, equal", len(f.server), len(f.server), f.suite), nil
}

// startReaders starts one reading goroutine per client connection, then
// sends 128 KiB per connection so crypto/tls's dynamic record sizing is past
// its warm-up and records are full size, as on a long-lived connection.
func (f *tlsFixture) startReaders() error {
	for _, c := range f.client {
		f.readers.Add(1)
		go func() {
			defer f.readers.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				f.received.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	warm := make([]byte, 128<<10)
	for _, c := range f.server {
		if _, err := c.Write(warm); err != nil {
			return err
		}
		f.sent.Add(int64(len(warm)))
	}
	return nil
}

// bench times, per recipient, framing its m messages and writing them to its
// connection in one Write.
func (f *tlsFixture) bench(sh shape) func(b *testing.B) {
	msgs := benchMessages(sh)
	return func(b *testing.B) {
		var frame []byte
		b.SetBytes(int64(sh.n * sh.m * sh.size))
		b.ReportAllocs()
		for b.Loop() {
			for _, c := range f.server {
				frame = appendFrames(frame[:0], msgs)
				if _, err := c.Write(frame); err != nil {
					b.Fatal(err)
				}
				f.sent.Add(int64(len(frame)))
			}
		}
	}
}

// finish waits for the readers to have received every byte sent, then
// closes the connections.
func (f *tlsFixture) finish() (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for f.received.Load() < f.sent.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	sent, got := f.sent.Load(), f.received.Load()
	f.close()
	f.readers.Wait()
	if got != sent {
		return "", fmt.Errorf("TLS readers received %d bytes of %d sent", got, sent)
	}
	return fmt.Sprintf("readers received all %d bytes sent", sent), nil
}

func (f *tlsFixture) close() {
	for _, c := range f.server {
		c.Close()
	}
	for _, c := range f.client {
		c.Close()
	}
	f.ln.Close()
}
