package sig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"strings"
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
	for i := range 8 {
		k[i] = byte(seed >> (8 * i))
	}
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

func point(t interface{ Fatalf(string, ...any) }, b []byte) *edwards25519.Point {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatalf("%x does not decode: %v", b, err)
	}
	return p
}

// order8 returns a point of order 8, found as the torsion component of a
// point decoded from a hash.
func order8(t testing.TB) *edwards25519.Point {
	for i := 0; i < 1000; i++ {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		p, err := new(edwards25519.Point).SetBytes(h[:])
		if err != nil {
			continue
		}
		q := new(edwards25519.Point).ScalarMult(lMinusOne, p)
		q.Add(q, p) // [L]p: a multiple of the torsion component
		four := new(edwards25519.Point).Add(q, q)
		four.Add(four, four)
		if four.Equal(identity) != 1 {
			return q
		}
	}
	t.Fatal("no point of order 8 found")
	return nil
}

// torsion returns the 8 points of order dividing 8, [i]T8 for i = 0 … 7.
func torsion(t testing.TB) []*edwards25519.Point {
	t8 := order8(t)
	pts := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
	for i := 1; i < 8; i++ {
		pts = append(pts, new(edwards25519.Point).Add(pts[i-1], t8))
	}
	return pts
}

// encodings returns every 32-byte string that edwards25519's lenient SetBytes
// decodes to p: y or y + p (when below 2²⁵⁵), with either sign bit.
func encodings(p *edwards25519.Point) [][]byte {
	canon := p.Bytes()
	y := append([]byte(nil), canon...)
	y[31] &= 0x7f
	ys := [][]byte{y}
	if yp, ok := plusP(y); ok {
		ys = append(ys, yp)
	}
	var out [][]byte
	for _, y := range ys {
		for _, sign := range []byte{0, 0x80} {
			e := append([]byte(nil), y...)
			e[31] |= sign
			if q, err := new(edwards25519.Point).SetBytes(e); err == nil && q.Equal(p) == 1 {
				out = append(out, e)
			}
		}
	}
	return out
}

// plusP returns y + p for y < 19, the only y whose y + p is below 2²⁵⁵.
func plusP(y []byte) ([]byte, bool) {
	if y[0] >= 19 || y[31] != 0 || !bytes.Equal(y[1:31], make([]byte, 30)) {
		return nil, false
	}
	out := bytes.Repeat([]byte{0xff}, 32)
	out[0] = 0xed + y[0]
	out[31] = 0x7f
	return out, true
}

// yEncoding returns the encoding of y = v with the given sign bit.
func yEncoding(v byte, sign byte) []byte {
	b := make([]byte, 32)
	b[0] = v
	b[31] = sign
	return b
}

// signAs returns a signature with the chosen R encoding and S = k·a, where
// a is priv's scalar and k = SHA-512(R || A || label || 0x00 || msg): then
// [S]B − [k]A is the identity, so a verifier that decodes R and checks the
// cofactored equation [8](R − [S]B + [k]A) = identity accepts it for every
// small-order R.
func signAs(priv ed25519.PrivateKey, rEnc, msg []byte) []byte {
	h := sha512.Sum512(priv.Seed())
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	kh := sha512.New()
	kh.Write(rEnc)
	kh.Write(priv.Public().(ed25519.PublicKey))
	kh.Write(labelled(label, msg))
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	return append(append([]byte(nil), rEnc...), edwards25519.NewScalar().Multiply(k, a).Bytes()...)
}

// signMixed signs msg with R = [r]B + T for a small-order T: the
// signature a malicious signer makes to split verifiers. With k =
// SHA-512(R || A || label || 0x00 || msg) and S = r + k·a, R + [k]A − [S]B
// is T: the cofactored rule accepts, the cofactorless byte comparison
// rejects, and a randomised batch equation without the witness accepts
// whenever ord(T) divides the coefficient.
func signMixed(priv ed25519.PrivateKey, msg []byte, T *edwards25519.Point, seed byte) []byte {
	h := sha512.Sum512(priv.Seed())
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	rh := sha512.Sum512(append([]byte("nonce"), seed))
	r, _ := edwards25519.NewScalar().SetUniformBytes(rh[:])
	R := new(edwards25519.Point).ScalarBaseMult(r)
	rEnc := R.Add(R, T).Bytes()
	kh := sha512.New()
	kh.Write(rEnc)
	kh.Write(priv.Public().(ed25519.PublicKey))
	kh.Write(labelled(label, msg))
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	return append(rEnc, edwards25519.NewScalar().MultiplyAdd(k, a, r).Bytes()...)
}

// cofactoredAccepts is the lenient rule SealFeed does not use: R decoded
// leniently, S < L, [8](R − [S]B + [k]A) = identity.
func cofactoredAccepts(pk *PublicKey, msg, sig []byte) bool {
	r, err := new(edwards25519.Point).SetBytes(sig[:32])
	if err != nil {
		return false
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	kh := sha512.New()
	kh.Write(sig[:32])
	kh.Write(pk.enc[:])
	kh.Write(labelled(label, msg))
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, pk.point, edwards25519.NewScalar().Negate(s))
	q.Add(q, r)
	return q.MultByCofactor(q).Equal(identity) == 1
}

// SIG-003, spec §4.2: Sign is Ed25519 over label || 0x00 || msg; SUITE-010:
// labels separate uses.
func TestSignVerify(t *testing.T) {
	priv, pk := keyFromSeed(1)
	_, other := keyFromSeed(2)
	msg := []byte("batch header")
	s := Sign(priv, label, msg)
	if !ed25519.Verify(pk.Bytes(), append([]byte(label+"\x00"), msg...), s) {
		t.Fatal("Sign is not Ed25519 over label || 0x00 || msg")
	}
	if err := Verify(pk, label, msg, s); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other key":     Verify(other, label, msg, s),
		"other label":   Verify(pk, "sealfeed v1 other", msg, s),
		"other message": Verify(pk, label, []byte("batch headex"), s),
		"short":         Verify(pk, label, msg, s[:63]),
		"long":          Verify(pk, label, msg, append(s, 0)),
		"empty":         Verify(pk, label, msg, nil),
	} {
		if codeOf(err) != alert.BadSignature {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same bytes split differently between label and message do not verify.
	if Verify(pk, "sealfeed v1 tes", append([]byte("t\x00"), msg...), s) == nil {
		t.Error("label and message boundary is ambiguous")
	}
}

// spec §4.1: KeyID and fingerprint.
func TestKeyIDAndFingerprint(t *testing.T) {
	_, pk := keyFromSeed(1)
	want := sha256.Sum256(append([]byte("sealfeed v1 key id\x00"), pk.Bytes()...))
	if KeyID(pk.Bytes()) != want || pk.ID() != want {
		t.Fatal("KeyID is not SHA-256(\"sealfeed v1 key id\" || 0x00 || pk)")
	}
	if Fingerprint(pk.Bytes()) != hex.EncodeToString(want[:]) {
		t.Fatal("fingerprint is not the lower-case hex of KeyID")
	}
	b := pk.Bytes()
	b[0] ^= 1
	if pk.Bytes()[0] == b[0] {
		t.Fatal("Bytes aliases the key")
	}
}

// The byte-level canonicity check agrees with re-encoding the decoded point,
// on random strings and on every y near 0, 1, p − 1 and p with both signs.
func TestCanonicalEncodingMatchesReencoding(t *testing.T) {
	check := func(t interface{ Fatalf(string, ...any) }, b []byte) {
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil {
			return
		}
		if got, want := canonicalEncoding(b), bytes.Equal(p.Bytes(), b); got != want {
			t.Fatalf("%x: canonicalEncoding %v, re-encoding says %v", b, got, want)
		}
	}
	for v := 0; v < 256; v++ {
		for _, sign := range []byte{0, 0x80} {
			low := yEncoding(byte(v), sign)
			high := bytes.Repeat([]byte{0xff}, 32)
			high[0], high[31] = byte(v), 0x7f|sign
			check(t, low)
			check(t, high)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		check(t, rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "enc"))
	})
}

// SIG-001: non-canonical, off-curve, small-order and mixed-order keys are
// bad_key, each for the reason the rule gives.
func TestParsePublicKeyRejects(t *testing.T) {
	_, pk := keyFromSeed(3)
	pts := torsion(t)
	nonCanonical := 0
	for i, p := range pts {
		for _, enc := range encodings(p) {
			_, err := ParsePublicKey(enc)
			want := errKeySmallOrder
			if !bytes.Equal(enc, p.Bytes()) {
				want = errKeyEncoding
				nonCanonical++
			}
			if err != want {
				t.Errorf("small-order point %d encoded %x: %v, want %v", i, enc, err, want)
			}
		}
		if i == 0 {
			continue
		}
		mixed := new(edwards25519.Point).Add(pk.point, p).Bytes()
		if _, err := ParsePublicKey(mixed); err != errKeyMixedOrder {
			t.Errorf("mixed-order key A + T%d: %v", i, err)
		}
	}
	// identity: y=1 with sign, y=1+p with either sign; order 2: y=p−1 with
	// sign; order 4: y=p with either sign (one per point).
	if nonCanonical != 6 {
		t.Errorf("found %d non-canonical encodings of small-order points, want 6", nonCanonical)
	}
	// y + p for every y < 19 with both signs: non-canonical whatever the
	// point (no torsion-free point has y < 19 but the identity).
	for v := byte(0); v < 19; v++ {
		for _, sign := range []byte{0, 0x80} {
			enc, _ := plusP(yEncoding(v, 0))
			enc[31] |= sign
			if _, err := ParsePublicKey(enc); codeOf(err) != alert.BadKey {
				t.Errorf("y = %d + p accepted", v)
			}
			if _, err := new(edwards25519.Point).SetBytes(enc); err == nil {
				if _, err := ParsePublicKey(enc); err != errKeyEncoding {
					t.Errorf("y = %d + p (decodes): %v, want the encoding error", v, err)
				}
			}
		}
	}
	if _, err := ParsePublicKey(yEncoding(2, 0)); err != errKeyEncoding {
		t.Errorf("y = 2 is not on the curve: %v", err)
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := ParsePublicKey(make([]byte, n)); err != errKeyLength {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	if _, err := ParsePublicKey(pk.Bytes()); err != nil {
		t.Fatalf("valid key rejected: %v", err)
	}
}

// A key that did not pass ParsePublicKey is never used.
func TestUnvalidatedKeyRejected(t *testing.T) {
	priv, _ := keyFromSeed(4)
	msg := []byte("m")
	s := Sign(priv, label, msg)
	for _, k := range []*PublicKey{nil, {}} {
		if err := Verify(k, label, msg, s); codeOf(err) != alert.BadKey {
			t.Errorf("Verify: %v", err)
		}
	}
}

// SIG-002, SIG-005: S ≥ L is bad_signature, even though S + L satisfies the
// group equation.
func TestNonCanonicalSRejected(t *testing.T) {
	priv, pk := keyFromSeed(4)
	msg := []byte("m")
	s := Sign(priv, label, msg)
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	plusL := append([]byte(nil), s...)
	var carry uint16
	for i := 0; i < 32; i++ {
		v := uint16(plusL[32+i]) + uint16(l[i]) + carry
		plusL[32+i], carry = byte(v), v>>8
	}
	if !cofactoredAccepts(pk, msg, s) {
		t.Fatal("test construction wrong")
	}
	for name, bad := range map[string][]byte{
		"S + L":        plusL,
		"S = L":        append(append([]byte(nil), s[:32]...), l...),
		"S = 2²⁵⁶ − 1": append(append([]byte(nil), s[:32]...), bytes.Repeat([]byte{0xff}, 32)...),
	} {
		if err := Verify(pk, label, msg, bad); err != errSigS {
			t.Errorf("%s: Verify %v", name, err)
		}
	}
}

// SIG-003, SIG-004: every small-order R, canonical or not, with S = k·a is
// accepted by the cofactored rule and rejected by ours. For an identity R
// the cofactorless equation itself holds, so only SIG-004 (or, for its
// non-canonical encodings, the byte comparison) rejects it.
func TestSmallOrderAndNonCanonicalRRejected(t *testing.T) {
	priv, pk := keyFromSeed(5)
	pts := torsion(t)
	for i, p := range pts {
		for _, rEnc := range encodings(p) {
			msg := append([]byte("small-order R "), rEnc...)
			s := signAs(priv, rEnc, msg)
			if !cofactoredAccepts(pk, msg, s) {
				t.Fatalf("T%d %x: test construction wrong", i, rEnc)
			}
			if i == 0 && bytes.Equal(rEnc, identityEncoding) && !ed25519.Verify(pk.Bytes(), labelled(label, msg), s) {
				t.Fatal("test construction wrong: Go's rule alone accepts an identity R")
			}
			if err := Verify(pk, label, msg, s); codeOf(err) != alert.BadSignature {
				t.Errorf("T%d %x: Verify %v", i, rEnc, err)
			}
		}
	}
	msg := []byte("identity R")
	if err := Verify(pk, label, msg, signAs(priv, identityEncoding, msg)); err != errSigIdentityR {
		t.Errorf("identity R: %v, want the SIG-004 error", err)
	}
}

// SIG-003: R encoded non-canonically never verifies. A valid signature's R
// has no second encoding (y ≥ 19); the byte comparison is shown on R = y + p
// for the small y that decode, with S = k·a, which the cofactored rule
// accepts exactly when the point is of small order.
func TestNonCanonicalRNeverVerifies(t *testing.T) {
	priv, pk := keyFromSeed(6)
	for v := byte(0); v < 19; v++ {
		rEnc, _ := plusP(yEncoding(v, 0))
		if _, err := new(edwards25519.Point).SetBytes(rEnc); err != nil {
			continue
		}
		msg := []byte{v}
		s := signAs(priv, rEnc, msg)
		if err := Verify(pk, label, msg, s); codeOf(err) != alert.BadSignature {
			t.Errorf("y = %d + p: %v", v, err)
		}
	}
}

// SIG-003: a valid signature with a small-order point added to R, which the
// cofactored rule accepts, fails the cofactorless equation.
func TestMixedOrderRRejected(t *testing.T) {
	priv, pk := keyFromSeed(6)
	pts := torsion(t)
	for ti := 1; ti < 8; ti++ {
		msg := []byte{byte(ti)}
		bad := signMixed(priv, msg, pts[ti], byte(ti))
		if !cofactoredAccepts(pk, msg, bad) {
			t.Fatal("test construction wrong")
		}
		if err := Verify(pk, label, msg, bad); err != errSigEquation {
			t.Fatalf("T%d: %v", ti, err)
		}
		if err := Verify(pk, label, msg, Sign(priv, label, msg)); err != nil {
			t.Fatalf("T%d: the honest signature: %v", ti, err)
		}
	}
}

// SIG-006: a private key whose public half is not the one its seed derives
// is refused, and so is a key of the wrong length; the error is bad_key and
// names no key bytes.
func TestCheckPrivateKey(t *testing.T) {
	priv, _ := keyFromSeed(9)
	if err := CheckPrivateKey(priv); err != nil {
		t.Fatalf("a key from its seed: %v", err)
	}
	other, _ := keyFromSeed(10)
	mixed := append(bytes.Clone(priv[:32]), other[32:]...)
	flipped := bytes.Clone(priv)
	flipped[63] ^= 0x01
	seedFlipped := bytes.Clone(priv)
	seedFlipped[0] ^= 0x01
	for name, c := range map[string]struct {
		key  []byte
		want error
	}{
		"another key's public half": {mixed, errPrivateHalves},
		"public half bit flip":      {flipped, errPrivateHalves},
		"seed bit flip":             {seedFlipped, errPrivateHalves},
		"seed only":                 {priv[:32], errPrivateLength},
		"one byte long":             {append(bytes.Clone(priv), 0), errPrivateLength},
		"empty":                     {nil, errPrivateLength},
	} {
		err := CheckPrivateKey(c.key)
		if err != c.want || codeOf(err) != alert.BadKey {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), hex.EncodeToString(priv[:4])) || strings.Contains(err.Error(), hex.EncodeToString(other[32:36])) {
			t.Errorf("%s: error names key bytes: %v", name, err)
		}
	}
	// Why it matters: the same seed with two public halves signs one message
	// with one nonce (equal R) and two challenges, which reveals the secret
	// scalar. crypto/ed25519 does not check the halves itself.
	msg := labelled(label, []byte("m"))
	s1, s2 := ed25519.Sign(priv, msg), ed25519.Sign(ed25519.PrivateKey(mixed), msg)
	if !bytes.Equal(s1[:32], s2[:32]) || bytes.Equal(s1[32:], s2[32:]) {
		t.Fatal("test premise wrong: mismatched halves should reuse R")
	}
}
