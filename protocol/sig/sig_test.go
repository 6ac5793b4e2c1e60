package sig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	mrand "math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

const label = "sealfeed v1 test"

type seeded struct{ r *mrand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func rng(seed uint64) seeded {
	var k [32]byte
	k[0], k[1] = byte(seed), byte(seed>>8)
	return seeded{mrand.NewChaCha8(k)}
}

func keyFromSeed(b byte) (ed25519.PrivateKey, *PublicKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	pk, err := ParsePublicKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	return priv, pk
}

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

// order8 returns a point of order 8, found as the torsion part of a point
// decoded from a hash.
func order8(t testing.TB) *edwards25519.Point {
	id := edwards25519.NewIdentityPoint()
	for i := 0; i < 1000; i++ {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		p, err := new(edwards25519.Point).SetBytes(h[:])
		if err != nil {
			continue
		}
		q := new(edwards25519.Point).ScalarMult(lMinusOne, p)
		q.Add(q, p) // [L]p: the torsion component times 5
		four := new(edwards25519.Point).Add(q, q)
		four.Add(four, four)
		if four.Equal(id) != 1 {
			return q
		}
	}
	t.Fatal("no point of order 8 found")
	return nil
}

func torsion(t testing.TB) []*edwards25519.Point {
	t8 := order8(t)
	pts := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
	for i := 1; i < 8; i++ {
		pts = append(pts, new(edwards25519.Point).Add(pts[i-1], t8))
	}
	return pts
}

// nonCanonical returns the encoding with y + p when y < 19, else nil.
func nonCanonical(enc []byte) []byte {
	y := append([]byte(nil), enc...)
	sign := y[31] & 0x80
	y[31] &= 0x7f
	for i := 1; i < 31; i++ {
		if y[i] != 0 {
			return nil
		}
	}
	if y[31] != 0 || y[0] >= 19 {
		return nil
	}
	// p = 2^255 − 19; y + p = 2^255 − 19 + y, little-endian.
	out := bytes.Repeat([]byte{0xff}, 32)
	out[0] = 0xed + y[0]
	out[31] = 0x7f | sign
	return out
}

// SIG-003: the equation; SUITE-010: labels separate uses.
func TestSignVerify(t *testing.T) {
	priv, pk := keyFromSeed(1)
	_, other := keyFromSeed(2)
	msg := []byte("batch header")
	s := Sign(priv, label, msg)
	if err := Verify(pk, label, msg, s); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other key":     Verify(other, label, msg, s),
		"other label":   Verify(pk, "sealfeed v1 other", msg, s),
		"other message": Verify(pk, label, []byte("batch headex"), s),
		"short":         Verify(pk, label, msg, s[:63]),
	} {
		if codeOf(err) != alert.BadSignature {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Label separation: the same bytes split differently do not verify.
	if Verify(pk, "sealfeed v1 tes", append([]byte("t\x00"), msg...), s) == nil {
		t.Error("label and message boundary is ambiguous")
	}
}

// SIG-001: non-canonical, off-curve, small-order and mixed-order keys.
func TestParsePublicKeyRejects(t *testing.T) {
	_, pk := keyFromSeed(3)
	pts := torsion(t)
	for i, p := range pts {
		enc := p.Bytes()
		if _, err := ParsePublicKey(enc); codeOf(err) != alert.BadKey {
			t.Errorf("small-order point %d accepted: %v", i, err)
		}
		if nc := nonCanonical(enc); nc != nil {
			if _, err := ParsePublicKey(nc); codeOf(err) != alert.BadKey {
				t.Errorf("non-canonical small-order point %d accepted", i)
			}
		}
		if i == 0 {
			continue
		}
		mixed := new(edwards25519.Point).Add(pk.point, p).Bytes()
		if _, err := ParsePublicKey(mixed); codeOf(err) != alert.BadKey {
			t.Errorf("mixed-order key (+T%d) accepted: %v", i, err)
		}
	}
	// y = 1 encoded as 1 + p is a non-canonical identity; y ≥ p in general.
	if _, err := ParsePublicKey(nonCanonical(edwards25519.NewIdentityPoint().Bytes())); codeOf(err) != alert.BadKey {
		t.Error("non-canonical identity accepted")
	}
	notOnCurve := bytes.Repeat([]byte{0}, 32)
	notOnCurve[0] = 2 // y = 2 has no x on the curve
	if _, err := ParsePublicKey(notOnCurve); codeOf(err) != alert.BadKey {
		t.Error("point off the curve accepted")
	}
	if _, err := ParsePublicKey(pk.Bytes()[:31]); codeOf(err) != alert.BadKey {
		t.Error("short key accepted")
	}
}

// SIG-002, SIG-005: S ≥ L is bad_signature, single and batch.
func TestNonCanonicalSRejected(t *testing.T) {
	priv, pk := keyFromSeed(4)
	msg := []byte("m")
	s := Sign(priv, label, msg)
	// S + L, little-endian addition.
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	bad := append([]byte(nil), s...)
	var carry uint16
	for i := 0; i < 32; i++ {
		v := uint16(bad[32+i]) + uint16(l[i]) + carry
		bad[32+i], carry = byte(v), v>>8
	}
	w, _ := Witness(bad)
	if codeOf(Verify(pk, label, msg, bad)) != alert.BadSignature || codeOf(VerifyWitnessed(pk, label, msg, bad, w)) != alert.BadSignature {
		t.Fatal("S + L accepted")
	}
	v := NewBatchVerifier(nil)
	v.Add(pk, label, msg, bad, w)
	if ok, res := v.Verify(); ok || codeOf(res[0]) != alert.BadSignature {
		t.Fatal("batch accepted S + L")
	}
}

// An R of the identity satisfies Go's equation when S = k·a; SIG-004 rejects it.
func TestIdentityRRejected(t *testing.T) {
	priv, pk := keyFromSeed(5)
	msg := []byte("identity R")
	h := sha512.Sum512(priv.Seed())
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	R := edwards25519.NewIdentityPoint().Bytes()
	kh := sha512.New()
	kh.Write(R)
	kh.Write(pk.Bytes())
	kh.Write(labelled(label, msg))
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	S := edwards25519.NewScalar().Multiply(k, a)
	s := append(R, S.Bytes()...)
	if !ed25519.Verify(pk.Bytes(), labelled(label, msg), s) {
		t.Fatal("test construction wrong: Go's rule should accept this signature")
	}
	if codeOf(Verify(pk, label, msg, s)) != alert.BadSignature {
		t.Fatal("identity R accepted (SIG-004)")
	}
	w, _ := Witness(s)
	v := NewBatchVerifier(nil)
	v.Add(pk, label, msg, s, w)
	if ok, _ := v.Verify(); ok {
		t.Fatal("batch accepted identity R")
	}
}

// A valid signature with a torsion point added to R fails single
// verification; without the witness a randomised batch equation would accept
// it about one time in eight. With SIG-010 the batch never accepts it.
func TestMixedOrderRRejectedByBatch(t *testing.T) {
	priv, pk := keyFromSeed(6)
	_, _ = priv, pk
	pts := torsion(t)
	for ti := 1; ti < 8; ti++ {
		msg := []byte{byte(ti)}
		good, gw, err := SignWitnessed(priv, label, msg)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := new(edwards25519.Point).SetBytes(good[:32])
		bad := append(new(edwards25519.Point).Add(r, pts[ti]).Bytes(), good[32:]...)
		w, _ := Witness(bad)
		if VerifyWitnessed(pk, label, msg, bad, w) == nil || VerifyWitnessed(pk, label, msg, bad, gw) == nil {
			t.Fatalf("T%d: single verification accepted a mixed-order R", ti)
		}
		for seed := uint64(0); seed < 64; seed++ {
			v := NewBatchVerifier(rng(seed))
			v.Add(pk, label, msg, good, gw)
			v.Add(pk, label, msg, bad, w)
			ok, res := v.Verify()
			if ok || res[0] != nil || codeOf(res[1]) != alert.BadSignature {
				t.Fatalf("T%d seed %d: batch results %v", ti, seed, res)
			}
		}
	}
}

func TestWitness(t *testing.T) {
	priv, pk := keyFromSeed(7)
	msg := []byte("w")
	s, w, err := SignWitnessed(priv, label, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyWitnessed(pk, label, msg, s, w); err != nil {
		t.Fatal(err)
	}
	pts := torsion(t)
	wp, _ := new(edwards25519.Point).SetBytes(w)
	cases := map[string][]byte{
		"zero witness":       make([]byte, 32),
		"short witness":      w[:31],
		"witness of other R": func() []byte { s2 := Sign(priv, label, []byte("x")); w2, _ := Witness(s2); return w2 }(),
	}
	for name, bad := range cases {
		if codeOf(VerifyWitnessed(pk, label, msg, s, bad)) != alert.BadSignature {
			t.Errorf("%s accepted", name)
		}
	}
	// The witness is not unique: W + T for a small-order T also satisfies
	// [8]W = R. SIG-012 says so; the witness proves R torsion-free and
	// nothing else.
	for i := 1; i < 8; i++ {
		if err := VerifyWitnessed(pk, label, msg, s, new(edwards25519.Point).Add(wp, pts[i]).Bytes()); err != nil {
			t.Errorf("witness + T%d rejected: %v", i, err)
		}
	}
	if nc := nonCanonical(pts[0].Bytes()); nc != nil {
		if _, ok := decodeCanonical(nc); ok {
			t.Error("non-canonical encoding decoded")
		}
	}
}

type sigCase struct {
	key          *PublicKey
	msg, sig, wt []byte
}

func TestBatchVerifierAgreesWithSingle(t *testing.T) {
	pts := torsion(t)
	keys := make([]ed25519.PrivateKey, 3)
	pubs := make([]*PublicKey, 3)
	for i := range keys {
		keys[i], pubs[i] = keyFromSeed(byte(10 + i))
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "n")
		var cases []sigCase
		for i := 0; i < n; i++ {
			ki := rapid.IntRange(0, 2).Draw(t, "key")
			msg := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "msg")
			s, w, _ := SignWitnessed(keys[ki], label, msg)
			c := sigCase{pubs[ki], msg, s, w}
			switch rapid.IntRange(0, 6).Draw(t, "mutation") {
			case 1: // bit flip in the signature
				b := rapid.IntRange(0, 511).Draw(t, "bit")
				c.sig = append([]byte(nil), s...)
				c.sig[b/8] ^= 1 << (b % 8)
			case 2: // torsion added to R, witness recomputed
				r, _ := new(edwards25519.Point).SetBytes(s[:32])
				c.sig = append(new(edwards25519.Point).Add(r, pts[rapid.IntRange(1, 7).Draw(t, "t")]).Bytes(), s[32:]...)
				c.wt, _ = Witness(c.sig)
			case 3: // message changed
				c.msg = append(append([]byte(nil), msg...), 1)
			case 4: // another key
				c.key = pubs[(ki+1)%3]
			case 5: // witness bit flip
				b := rapid.IntRange(0, 255).Draw(t, "wbit")
				c.wt = append([]byte(nil), w...)
				c.wt[b/8] ^= 1 << (b % 8)
			}
			cases = append(cases, c)
		}
		v := NewBatchVerifier(rng(rapid.Uint64().Draw(t, "seed")))
		for _, c := range cases {
			v.Add(c.key, label, c.msg, c.sig, c.wt)
		}
		all, res := v.Verify()
		want := true
		for i, c := range cases {
			single := VerifyWitnessed(c.key, label, c.msg, c.sig, c.wt)
			if (single == nil) != (res[i] == nil) || codeOf(single) != codeOf(res[i]) {
				t.Fatalf("item %d: single %v, batch %v", i, single, res[i])
			}
			want = want && single == nil
		}
		if all != want {
			t.Fatalf("allValid %v, want %v", all, want)
		}
	})
}

func BenchmarkVerify64(b *testing.B) {
	priv, pk := keyFromSeed(20)
	type item struct{ msg, sig, w []byte }
	items := make([]item, 64)
	for i := range items {
		m := []byte{byte(i), 1, 2, 3}
		s, w, _ := SignWitnessed(priv, label, m)
		items[i] = item{m, s, w}
	}
	b.Run("one-by-one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				if VerifyWitnessed(pk, label, it.msg, it.sig, it.w) != nil {
					b.Fatal("invalid")
				}
			}
		}
	})
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		v := NewBatchVerifier(nil)
		for b.Loop() {
			v.Reset()
			for _, it := range items {
				v.Add(pk, label, it.msg, it.sig, it.w)
			}
			if ok, _ := v.Verify(); !ok {
				b.Fatal("invalid")
			}
		}
	})
}
