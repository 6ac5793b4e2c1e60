package sealed

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

var t0 = time.Unix(1767225600, 0) // 2026-01-01

func edKey(t *testing.T, b byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
}

func pubOf(t *testing.T, k ed25519.PrivateKey) *sig.PublicKey {
	t.Helper()
	p, err := sig.ParsePublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type fixture struct {
	identity, publisher ed25519.PrivateKey
	key                 *Key
	rec                 *KeyRecord
	opener              *Opener
}

func newFixture(t *testing.T, s Suite) *fixture {
	t.Helper()
	f := &fixture{identity: edKey(t, 1), publisher: edKey(t, 2)}
	var err error
	if f.key, err = NewKey(f.identity, s, t0, 0); err != nil {
		t.Fatal(err)
	}
	if f.rec, err = VerifyRecord(f.key.Record.Raw(), f.identity.Public().(ed25519.PublicKey), t0); err != nil {
		t.Fatal(err)
	}
	f.opener = &Opener{Keys: []*Key{f.key}, Publishers: []*sig.PublicKey{pubOf(t, f.publisher)}}
	return f
}

func wantCode(t *testing.T, err error, c Code) {
	t.Helper()
	if CodeOf(err) != c {
		t.Fatalf("error %v, want code %s", err, c)
	}
}

// TestSealOpenRoundTrip seals and opens with every suite of SEAL-001, in
// HPKE base mode (SEAL-017: vectors/v1/sealed.json's envelopes, opened by
// Go and TypeScript alike, fix the mode), returns the stated time
// (SEAL-016) and refuses a payload whose envelope would exceed 64 KiB
// (SEAL-012).
func TestSealOpenRoundTrip(t *testing.T) {
	for _, s := range []Suite{SuiteHybrid, SuiteX25519, {KEMX25519, KDFHKDFSHA256, AEADAES128GCM}} {
		f := newFixture(t, s)
		for _, payload := range [][]byte{{}, []byte("order 1042 shipped"), bytes.Repeat([]byte{7}, MaxEnvelopeSize-Overhead(s))} {
			env, err := Seal(f.rec, f.publisher, payload, t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if len(env) != len(payload)+Overhead(s) || !IsEnvelope(env) {
				t.Fatalf("suite %v: envelope of %d bytes for %d", s, len(env), len(payload))
			}
			o, err := f.opener.Open(env)
			if err != nil {
				t.Fatalf("suite %v: %v", s, err)
			}
			if !bytes.Equal(o.Payload, payload) || o.PublisherID != sig.KeyID(f.publisher.Public().(ed25519.PublicKey)) ||
				!o.SealedAt.Equal(t0.Add(time.Minute)) || o.RecipientID != f.rec.ID() {
				t.Fatalf("suite %v: opened %+v", s, o)
			}
		}
		if _, err := Seal(f.rec, f.publisher, make([]byte, MaxEnvelopeSize-Overhead(s)+1), t0); CodeOf(err) != ErrTooLarge {
			t.Fatalf("oversized payload: %v", err)
		}
	}
}

func TestVerifyRecordRejects(t *testing.T) {
	f := newFixture(t, SuiteX25519)
	idPub := f.identity.Public().(ed25519.PublicKey)
	raw := f.key.Record.Raw()
	resign := func(b []byte, k ed25519.PrivateKey) []byte {
		tbs := b[:len(b)-64]
		return append(append([]byte(nil), tbs...), sig.Sign(k, LabelRecord, tbs)...)
	}
	other := edKey(t, 9)
	otherKey, err := NewKey(other, SuiteX25519, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(i int, v byte) []byte { b := bytes.Clone(raw); b[i] ^= v; return resign(b, f.identity) }
	cases := map[string]struct {
		raw  []byte
		now  time.Time
		code Code
	}{
		"trailing byte":          {append(bytes.Clone(raw), 0), t0, ErrDecode},
		"truncated":              {raw[:len(raw)-1], t0, ErrDecode},
		"bad magic":              {mut(0, 1), t0, ErrDecode},
		"version 2":              {mut(5, 3), t0, ErrVersion},
		"unknown KEM":            {mut(7, 0x01), t0, ErrSuite},
		"unknown AEAD":           {mut(11, 0x04), t0, ErrSuite},
		"tampered after signing": {func() []byte { b := bytes.Clone(raw); b[len(b)-70] ^= 1; return b }(), t0, ErrRecordSignature},
		"signed by another key":  {resign(raw, other), t0, ErrRecordSignature},
		"another identity":       {otherKey.Record.Raw(), t0, ErrRecordIdentity},
		"expired":                {raw, t0.Add(90*24*time.Hour + ClockSkew + time.Second), ErrRecordExpired},
		"not yet valid":          {raw, t0.Add(-ClockSkew - time.Second), ErrRecordExpired},
		"1 ns past the skew":     {raw, t0.Add(90*24*time.Hour + ClockSkew + time.Nanosecond), ErrRecordExpired},
	}
	for name, c := range cases {
		_, err := VerifyRecord(c.raw, idPub, c.now)
		if CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	if _, err := VerifyRecord(raw, idPub, t0.Add(90*24*time.Hour+ClockSkew)); err != nil {
		t.Errorf("at the skew boundary: %v", err)
	}
	if _, err := VerifyRecordForClient(raw, f.key.Record.ClientID(), t0); err != nil {
		t.Error(err)
	}
	_, err = VerifyRecordForClient(otherKey.Record.Raw(), f.key.Record.ClientID(), t0)
	wantCode(t, err, ErrRecordIdentity)
	if _, err := Seal(f.key.Record, f.publisher, nil, t0); CodeOf(err) != ErrRecordSignature {
		t.Errorf("sealing to an unverified record: %v", err)
	}
}

// TestOpenRejects alters envelopes in each way SEAL-020 … SEAL-024 name.
func TestOpenRejects(t *testing.T) {
	f := newFixture(t, SuiteX25519)
	env, err := Seal(f.rec, f.publisher, []byte("hello"), t0)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(env); b[i] ^= 1; return b }
	g := newFixture(t, SuiteX25519) // another recipient key of the same identity
	stranger := edKey(t, 5)
	byStranger, _ := Seal(f.rec, stranger, []byte("hello"), t0)
	// Signed by the trusted publisher for another recipient, sealed to f:
	// the signature covers recipient_id (SEAL-015).
	hdrG := envelopeHeader(f.rec.Suite, g.rec.ID(), sig.KeyID(f.publisher.Public().(ed25519.PublicKey)))
	inner := appendInner(nil, uint64(t0.Unix()), []byte("hello"))
	inner = append(inner, sig.Sign(f.publisher, LabelSignature, append(bytes.Clone(hdrG), inner...))...)
	hdrF := envelopeHeader(f.rec.Suite, f.rec.ID(), sig.KeyID(f.publisher.Public().(ed25519.PublicKey)))
	otherRecipient, err := sealInner(f.rec, hdrF, inner)
	if err != nil {
		t.Fatal(err)
	}
	// Info without the recipient: a header that names g, sealed to f's key.
	wrongInfo, err := sealInner(f.rec, hdrG, inner)
	if err != nil {
		t.Fatal(err)
	}
	copy(wrongInfo[12:44], f.rec.id[:])
	cases := map[string]struct {
		env  []byte
		code Code
	}{
		"empty":                         {nil, ErrDecode},
		"trailing after header only":    {env[:headerSize+2], ErrDecode},
		"bad magic":                     {flip(0), ErrDecode},
		"version":                       {flip(5), ErrVersion},
		"unknown suite":                 {flip(9), ErrSuite},
		"other suite of record":         {func() []byte { b := bytes.Clone(env); b[11] = byte(AEADAES128GCM); return b }(), ErrSuiteMismatch},
		"wrong recipient":               {flip(12), ErrWrongRecipient},
		"untrusted publisher id":        {flip(44), ErrUntrustedPublisher},
		"short enc":                     {func() []byte { b := bytes.Clone(env); b[headerSize+1]--; return b }(), ErrDecode},
		"tampered enc":                  {flip(headerSize + 2), ErrOpen},
		"tampered ciphertext":           {flip(len(env) - 1), ErrOpen},
		"trailing byte":                 {append(bytes.Clone(env), 0), ErrOpen},
		"signed by untrusted key":       {byStranger, ErrUntrustedPublisher},
		"signature for other recipient": {otherRecipient, ErrPublisherSignature},
		"info of another header":        {wrongInfo, ErrOpen},
		"too long":                      {make([]byte, MaxEnvelopeSize+1), ErrDecode},
	}
	sk, _ := f.key.Private.Bytes()
	for name, c := range cases {
		o, err := f.opener.Open(c.env)
		if CodeOf(err) != c.code || o != nil {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
		// No key or plaintext in an error string (SEAL-042).
		if err != nil && (strings.Contains(err.Error(), "hello") || strings.Contains(err.Error(), hex.EncodeToString(sk[:8]))) {
			t.Errorf("%s: error %q holds secret material", name, err)
		}
	}
	// The signature by a key the envelope does not name: stranger's
	// signature under the trusted publisher's ID.
	b := bytes.Clone(byStranger)
	copy(b[44:76], hdrF[44:76])
	if _, err := f.opener.Open(b); CodeOf(err) != ErrOpen {
		t.Errorf("publisher ID swapped after sealing: %v", err)
	}
	forged := appendInner(nil, uint64(t0.Unix()), []byte("hello"))
	forged = append(forged, sig.Sign(stranger, LabelSignature, append(bytes.Clone(hdrF), forged...))...)
	forgedEnv, _ := sealInner(f.rec, hdrF, forged)
	if _, err := f.opener.Open(forgedEnv); CodeOf(err) != ErrPublisherSignature {
		t.Errorf("trusted ID, stranger's signature: %v", err)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	f := newFixture(t, SuiteHybrid)
	b, err := MarshalKeyPEM(f.key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := Seal(f.rec, f.publisher, []byte("x"), t0)
	if _, err := (&Opener{Keys: []*Key{k}, Publishers: f.opener.Publishers}).Open(env); err != nil {
		t.Fatal(err)
	}
	raw, err := ParseRecordPEM(MarshalRecordPEM(f.rec))
	if err != nil || !bytes.Equal(raw, f.rec.Raw()) {
		t.Fatal("record PEM round trip", err)
	}
	g := newFixture(t, SuiteHybrid)
	if _, err := NewOpenerKey(g.key.Private, f.rec.Raw()); err == nil {
		t.Fatal("a record of another private key accepted")
	}
}

// TestNewKeyIsFresh: each NewKey draws a new key pair from the KEM
// (SEAL-008), so two records of one identity name different keys.
func TestNewKeyIsFresh(t *testing.T) {
	id := edKey(t, 1)
	a, err := NewKey(id, SuiteHybrid, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKey(id, SuiteHybrid, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Record.PublicKey, b.Record.PublicKey) || a.Record.ID() == b.Record.ID() {
		t.Fatal("two NewKey calls made the same key")
	}
	if _, err := NewKey(id, Suite{KEMX25519, KDFHKDFSHA256, 0x0002}, t0, 0); CodeOf(err) != ErrSuite {
		t.Fatalf("AES-256-GCM suite: %v", err)
	}
	if _, err := NewKey(id, SuiteX25519, t0, MaxKeyLifetime+time.Second); CodeOf(err) != ErrRecordPeriod {
		t.Fatalf("lifetime over 400 days: %v", err)
	}
}

// TestLayout checks the encodings of SEAL-002 and SEAL-010 byte for byte
// and the record ID of SEAL-009.
func TestLayout(t *testing.T) {
	f := newFixture(t, SuiteX25519)
	raw := f.rec.Raw()
	if len(raw) != 4+2+6+32+2+32+8+8+64 || string(raw[:4]) != "SFSK" || !bytes.Equal(raw[12:44], f.identity.Public().(ed25519.PublicKey)) {
		t.Fatalf("record layout: %x", raw[:48])
	}
	if f.rec.ID() != keyschedule.LabelledHash("sealfeed v1 seal key record id", raw) {
		t.Fatal("record ID is not SEAL-009's")
	}
	env, _ := Seal(f.rec, f.publisher, []byte("x"), t0)
	id, pid := f.rec.ID(), sig.KeyID(f.publisher.Public().(ed25519.PublicKey))
	if string(env[:4]) != "SFSE" || !bytes.Equal(env[4:12], []byte{0, 1, 0, 0x20, 0, 1, 0, 3}) ||
		!bytes.Equal(env[12:44], id[:]) || !bytes.Equal(env[44:76], pid[:]) || !bytes.Equal(env[76:78], []byte{0, 32}) {
		t.Fatalf("envelope header: %x", env[:78])
	}
}

// TestOpenIgnoresRecordExpiry: an envelope sealed while the record was
// valid opens after it expired (SEAL-025), and a sealing time far in the
// past is returned, not judged.
func TestOpenIgnoresRecordExpiry(t *testing.T) {
	f := newFixture(t, SuiteX25519)
	env, err := Seal(f.rec, f.publisher, []byte("late"), time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	// The opener has no clock: nothing it does depends on the time.
	o, err := f.opener.Open(env)
	if err != nil || o.SealedAt.Unix() != 1 {
		t.Fatalf("%v %v", o, err)
	}
}
