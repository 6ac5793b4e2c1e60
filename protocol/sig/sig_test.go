package sig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
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

func batchOf(rand io.Reader, key *PublicKey, msg, sig, w []byte) (bool, error) {
	v := NewBatchVerifier(rand)
	v.Add(key, label, msg, sig, w)
	ok, res := v.Verify()
	return ok, res[0]
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
	s, w, _ := SignWitnessed(priv, label, msg)
	for _, k := range []*PublicKey{nil, {}} {
		if err := Verify(k, label, msg, s); codeOf(err) != alert.BadKey {
			t.Errorf("Verify: %v", err)
		}
		if err := VerifyWitnessed(k, label, msg, s, w); codeOf(err) != alert.BadKey {
			t.Errorf("VerifyWitnessed: %v", err)
		}
		if ok, err := batchOf(nil, k, msg, s, w); ok || codeOf(err) != alert.BadKey {
			t.Errorf("batch: %v", err)
		}
	}
}

// SIG-002, SIG-005: S ≥ L is bad_signature, single and batch, even though
// S + L satisfies the group equation.
func TestNonCanonicalSRejected(t *testing.T) {
	priv, pk := keyFromSeed(4)
	msg := []byte("m")
	s, w, _ := SignWitnessed(priv, label, msg)
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
		if err := VerifyWitnessed(pk, label, msg, bad, w); err != errSigS {
			t.Errorf("%s: VerifyWitnessed %v", name, err)
		}
		if ok, err := batchOf(nil, pk, msg, bad, w); ok || err != errSigS {
			t.Errorf("%s: batch %v", name, err)
		}
	}
}

// SIG-003, SIG-004: every small-order R, canonical or not, with S = k·a is
// accepted by the cofactored rule and rejected by ours, single and batch.
// For an identity R the cofactorless equation itself holds, so only SIG-004
// (or, for its non-canonical encodings, the byte comparison) rejects it.
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
			// Witnesses: what Witness computes (if R decodes canonically), the
			// identity and every small-order point ([8]T = identity, so these
			// satisfy SIG-010 for an identity R).
			ws := [][]byte{make([]byte, 32)}
			if w, err := Witness(s); err == nil {
				ws = append(ws, w)
			}
			for _, q := range pts {
				ws = append(ws, q.Bytes())
			}
			for _, w := range ws {
				single := VerifyWitnessed(pk, label, msg, s, w)
				if codeOf(single) != alert.BadSignature {
					t.Errorf("T%d %x, W %x: VerifyWitnessed %v", i, rEnc, w, single)
				}
				for seed := range uint64(8) {
					if ok, err := batchOf(rng(seed), pk, msg, s, w); ok || err != single {
						t.Errorf("T%d %x, W %x: batch %v, single %v", i, rEnc, w, err, single)
					}
				}
			}
		}
	}
	// The identity R with a small-order witness passes SIG-010 and is
	// rejected by SIG-004 exactly.
	msg := []byte("identity R")
	s := signAs(priv, identityEncoding, msg)
	if err := VerifyWitnessed(pk, label, msg, s, pts[4].Bytes()); err != errSigIdentityR {
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
		if _, err := Witness(s); err != errSigR {
			t.Errorf("y = %d + p: Witness %v", v, err)
		}
	}
}

// A valid signature with a small-order point added to R fails single
// verification, and batch verification rejects it for every coefficient
// drawn (SIG-010, SIG-011).
func TestMixedOrderRRejectedByBatch(t *testing.T) {
	priv, pk := keyFromSeed(6)
	pts := torsion(t)
	for ti := 1; ti < 8; ti++ {
		msg := []byte{byte(ti)}
		good, gw, err := SignWitnessed(priv, label, msg)
		if err != nil {
			t.Fatal(err)
		}
		bad := signMixed(priv, msg, pts[ti], byte(ti))
		w, err := Witness(bad)
		if err != nil {
			t.Fatal(err)
		}
		if !cofactoredAccepts(pk, msg, bad) {
			t.Fatal("test construction wrong")
		}
		for _, wt := range [][]byte{w, gw} {
			if err := VerifyWitnessed(pk, label, msg, bad, wt); err != errWitnessMismatch {
				t.Fatalf("T%d: single verification: %v", ti, err)
			}
		}
		if err := Verify(pk, label, msg, bad); err != errSigEquation {
			t.Fatalf("T%d: plain verification: %v", ti, err)
		}
		for run := range 256 {
			var r io.Reader = rng(uint64(run))
			if run%2 == 1 {
				r = nil // crypto/rand
			}
			v := NewBatchVerifier(r)
			v.Add(pk, label, msg, good, gw)
			v.Add(pk, label, msg, bad, w)
			v.Add(pk, label, msg, good, gw)
			ok, res := v.Verify()
			if ok || res[0] != nil || res[2] != nil || res[1] != errWitnessMismatch {
				t.Fatalf("T%d run %d: batch results %v", ti, run, res)
			}
		}
	}
}

// Without the witness check the randomised cofactorless equation accepts a
// signature whose R has a small-order component for some coefficients
// (Chalkias et al., 2020), so SIG-010 is what makes SIG-011 hold. The
// equation is run directly on the mixed-order R, bypassing the pre-checks.
func TestWitnessIsWhatMakesBatchSound(t *testing.T) {
	priv, pk := keyFromSeed(7)
	pts := torsion(t)
	for ti := 1; ti < 8; ti++ {
		msg := []byte{byte(ti)}
		bad := signMixed(priv, msg, pts[ti], byte(ti))
		if !cofactoredAccepts(pk, msg, bad) {
			t.Fatal("test construction wrong")
		}
		accepted := 0
		for seed := range uint64(256) {
			v := NewBatchVerifier(rng(seed))
			v.Add(pk, label, msg, bad, nil)
			v.live = append(v.live[:0], 0)
			v.rs = grow(v.rs, 1)
			v.ss = grow(v.ss, 1)
			v.rs[0].Set(point(t, bad[:32]))
			v.ss[0].SetCanonicalBytes(bad[32:])
			if v.equation() {
				accepted++
			}
		}
		// ord(T) divides z with probability 1/ord(T) ≥ 1/8.
		if accepted == 0 || accepted == 256 {
			t.Errorf("T%d: the unwitnessed equation accepted %d of 256 times", ti, accepted)
		}
		if ok, _ := batchOf(rng(0), pk, msg, bad, nil); ok {
			t.Errorf("T%d: batch accepted without a witness", ti)
		}
	}
}

// SIG-010, BATCH-022: SignWitnessed computes R as [8]W from the nonce instead of calling
// ed25519.Sign: for any key, label and message the signature must be the
// very bytes ed25519.Sign returns over label || 0x00 || msg, and the witness
// the bytes Witness derives from that signature by the slow, public path.
func TestSignWitnessedIsEd25519(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "seed")
		lbl := rapid.StringN(0, 40, -1).Draw(t, "label")
		msg := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "msg")
		priv := ed25519.NewKeyFromSeed(seed)
		s, w, err := SignWitnessed(priv, lbl, msg)
		if err != nil {
			t.Fatal(err)
		}
		if want := ed25519.Sign(priv, labelled(lbl, msg)); !bytes.Equal(s, want) {
			t.Fatalf("signature %x, ed25519.Sign gives %x", s, want)
		}
		if want, err := Witness(s); err != nil || !bytes.Equal(w, want) {
			t.Fatalf("witness %x, Witness gives %x (%v)", w, want, err)
		}
	})
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	if _, _, err := SignWitnessed(priv[:32], label, nil); err == nil {
		t.Fatal("short private key accepted")
	}
}

// encodePair shares one inversion between two encodings; it must give
// exactly what Bytes gives, for points in any projective representation.
func TestEncodePairIsBytes(t *testing.T) {
	t8 := order8(t)
	rapid.Check(t, func(t *rapid.T) {
		var a, b [64]byte
		copy(a[:], rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "a"))
		copy(b[:], rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "b"))
		sa, _ := edwards25519.NewScalar().SetUniformBytes(a[:])
		sb, _ := edwards25519.NewScalar().SetUniformBytes(b[:])
		p := new(edwards25519.Point).ScalarBaseMult(sa)
		// q = [sb]B + T for a torsion point T: a non-trivial Z and a
		// point outside the prime-order subgroup.
		q := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(sb), t8)
		if rapid.Bool().Draw(t, "identity") {
			q = edwards25519.NewIdentityPoint()
		}
		pe, qe := encodePair(p, q)
		if !bytes.Equal(pe[:], p.Bytes()) || !bytes.Equal(qe[:], q.Bytes()) {
			t.Fatalf("encodePair %x %x, Bytes %x %x", pe, qe, p.Bytes(), q.Bytes())
		}
	})
}

// SIG-010, SIG-012.
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
	if err := Verify(pk, label, msg, s); err != nil {
		t.Fatal(err)
	}
	if w2, _ := Witness(s); !bytes.Equal(w, w2) {
		t.Fatal("SignWitnessed and Witness disagree")
	}
	if point(t, w).MultByCofactor(point(t, w)).Equal(point(t, s[:32])) != 1 {
		t.Fatal("[8]W is not R")
	}
	pts := torsion(t)
	other := Sign(priv, label, []byte("x"))
	otherW, _ := Witness(other)
	flipped := append([]byte(nil), w...)
	flipped[5] ^= 0x10
	for name, c := range map[string]struct {
		w    []byte
		want error
	}{
		"nil witness":        {nil, errWitnessLength},
		"short witness":      {w[:31], errWitnessLength},
		"long witness":       {append(append([]byte(nil), w...), 0), errWitnessLength},
		"zero witness":       {make([]byte, 32), errWitnessMismatch},
		"identity witness":   {identityEncoding, errWitnessMismatch},
		"witness of other R": {otherW, errWitnessMismatch},
		"R itself":           {s[:32], errWitnessMismatch},
	} {
		if err := VerifyWitnessed(pk, label, msg, s, c.w); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if ok, err := batchOf(nil, pk, msg, s, c.w); ok || err != c.want {
			t.Errorf("%s: batch %v", name, err)
		}
	}
	if err := VerifyWitnessed(pk, label, msg, s, flipped); codeOf(err) != alert.BadSignature {
		t.Errorf("bit-flipped witness: %v", err)
	}
	// The witness is not unique: W + T satisfies [8]W = R for every
	// small-order T (SIG-012).
	for i := 1; i < 8; i++ {
		wt := new(edwards25519.Point).Add(point(t, w), pts[i]).Bytes()
		if err := VerifyWitnessed(pk, label, msg, s, wt); err != nil {
			t.Errorf("W + T%d rejected: %v", i, err)
		}
	}
	// A non-canonical W of a point whose [8]W is a canonical R: only the
	// canonicity check rejects it. No torsion-free point has y < 19, so the
	// signature cannot verify; the witness check is run on its own.
	for v := byte(3); v < 19; v++ {
		canon := yEncoding(v, 0)
		wp, err := new(edwards25519.Point).SetBytes(canon)
		if err != nil {
			continue
		}
		r := new(edwards25519.Point).MultByCofactor(wp).Bytes()
		sig := append(r, s[32:]...)
		nc, _ := plusP(canon)
		var rp edwards25519.Point
		if err := checkWitness(&rp, sig, canon); err != nil {
			t.Fatalf("y = %d: canonical witness rejected: %v", v, err)
		}
		if err := checkWitness(&rp, sig, nc); err != errWitnessEncode {
			t.Errorf("y = %d + p: witness %v, want the encoding error", v, err)
		}
		if err := VerifyWitnessed(pk, label, msg, sig, nc); err != errWitnessEncode {
			t.Errorf("y = %d + p: VerifyWitnessed %v", v, err)
		}
	}
	// A "negative zero" witness: the identity with the sign bit set.
	negZero := yEncoding(1, 0x80)
	if err := VerifyWitnessed(pk, label, msg, signAs(priv, identityEncoding, msg), negZero); err != errWitnessEncode {
		t.Errorf("negative-zero witness: %v", err)
	}
	if _, err := Witness(append(yEncoding(2, 0), s[32:]...)); err != errSigR {
		t.Errorf("Witness of an R off the curve: %v", err)
	}
	if _, err := Witness(s[:63]); err != errSigLength {
		t.Errorf("Witness of a short signature: %v", err)
	}
}

type sigCase struct {
	key          *PublicKey
	msg, sig, wt []byte
}

// SIG-011: for every mix of valid and invalid signatures, results[i] is the
// very error VerifyWitnessed returns for item i, and allValid is their
// conjunction.
func TestBatchVerifierAgreesWithSingle(t *testing.T) {
	pts := torsion(t)
	const nkeys = 3
	keys := make([]ed25519.PrivateKey, nkeys)
	pubs := make([]*PublicKey, nkeys)
	twins := make([]*PublicKey, nkeys) // same encoding, another *PublicKey
	for i := range keys {
		keys[i], pubs[i] = keyFromSeed(byte(10 + i))
		twins[i], _ = ParsePublicKey(pubs[i].Bytes())
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 16).Draw(t, "n")
		var cases []sigCase
		for i := 0; i < n; i++ {
			ki := rapid.IntRange(0, nkeys-1).Draw(t, "key")
			msg := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "msg")
			s, w, _ := SignWitnessed(keys[ki], label, msg)
			c := sigCase{pubs[ki], msg, s, w}
			if rapid.Bool().Draw(t, "twin") {
				c.key = twins[ki]
			}
			// Cases 12 … 25 mutate: a quarter of the items.
			switch rapid.IntRange(0, 55).Draw(t, "mutation") {
			case 13: // bit flip in the signature
				b := rapid.IntRange(0, 511).Draw(t, "bit")
				c.sig = bytes.Clone(s)
				c.sig[b/8] ^= 1 << (b % 8)
			case 14: // mixed-order R made by the signer, witness of R
				c.sig = signMixed(keys[ki], msg, pts[rapid.IntRange(1, 7).Draw(t, "t")], rapid.Byte().Draw(t, "nonce"))
				c.wt, _ = Witness(c.sig)
			case 12: // torsion added to R after signing, witness recomputed
				r := point(t, s[:32])
				c.sig = append(r.Add(r, pts[rapid.IntRange(1, 7).Draw(t, "t")]).Bytes(), s[32:]...)
				c.wt, _ = Witness(c.sig)
			case 15: // message changed
				c.msg = append(bytes.Clone(msg), 1)
			case 16: // another key
				c.key = pubs[(ki+1)%nkeys]
			case 17: // witness bit flip
				b := rapid.IntRange(0, 255).Draw(t, "wbit")
				c.wt = bytes.Clone(w)
				c.wt[b/8] ^= 1 << (b % 8)
			case 18: // witness plus torsion: still valid (SIG-012)
				wp := point(t, w)
				c.wt = wp.Add(wp, pts[rapid.IntRange(1, 7).Draw(t, "wt")]).Bytes()
			case 19: // S + L
				c.sig = bytes.Clone(s)
				c.sig[63] += 0x10
			case 20: // identity R with S = k·a
				c.sig = signAs(keys[ki], identityEncoding, msg)
				c.wt = pts[rapid.IntRange(0, 7).Draw(t, "idw")].Bytes()
			case 21: // truncated signature or witness
				if rapid.Bool().Draw(t, "which") {
					c.sig = s[:rapid.IntRange(0, 63).Draw(t, "slen")]
				} else {
					c.wt = w[:rapid.IntRange(0, 31).Draw(t, "wlen")]
				}
			case 22: // unvalidated key
				c.key = &PublicKey{}
			case 23: // a valid signature from a key for another message
				c.msg = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "othermsg")
			case 25: // mixed-order R with the witness of its torsion-free part
				T := pts[rapid.IntRange(1, 7).Draw(t, "t2")]
				c.sig = signMixed(keys[ki], msg, T, rapid.Byte().Draw(t, "nonce2"))
				r := point(t, c.sig[:32])
				c.wt, _ = Witness(append(r.Subtract(r, T).Bytes(), c.sig[32:]...))
			case 24: // random bytes
				c.sig = rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "rsig")
				c.wt = rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "rw")
			}
			cases = append(cases, c)
		}
		v := NewBatchVerifier(rng(rapid.Uint64().Draw(t, "seed")))
		for round := range 2 { // the second round reuses the scratch space
			v.Reset()
			for _, c := range cases {
				v.Add(c.key, label, c.msg, c.sig, c.wt)
			}
			if v.Len() != len(cases) {
				t.Fatalf("Len %d, want %d", v.Len(), len(cases))
			}
			all, res := v.Verify()
			if len(res) != len(cases) {
				t.Fatalf("%d results for %d signatures", len(res), len(cases))
			}
			want := true
			for i, c := range cases {
				single := VerifyWitnessed(c.key, label, c.msg, c.sig, c.wt)
				if res[i] != single {
					t.Fatalf("round %d item %d: single %v, batch %v", round, i, single, res[i])
				}
				want = want && single == nil
			}
			if all != want {
				t.Fatalf("allValid %v, want %v", all, want)
			}
		}
	})
}

// Equal keys share one term of the multi-scalar multiplication, whether the
// caller passes one *PublicKey or several with the same encoding.
func TestBatchVerifierMergesKeysByEncoding(t *testing.T) {
	privA, a := keyFromSeed(30)
	a2, _ := ParsePublicKey(a.Bytes())
	privB, b := keyFromSeed(31)
	v := NewBatchVerifier(nil)
	for i := range 10 {
		msg := []byte{byte(i)}
		priv, keys := privA, []*PublicKey{a, a2}
		if i%3 == 0 {
			priv, keys = privB, []*PublicKey{b, b}
		}
		s, w, _ := SignWitnessed(priv, label, msg)
		v.Add(keys[i%2], label, msg, s, w)
	}
	ok, res := v.Verify()
	if !ok {
		t.Fatalf("valid batch rejected: %v", res)
	}
	// 10 R terms, 2 key terms, B.
	if len(v.scalars) != 13 {
		t.Fatalf("%d terms, want 13", len(v.scalars))
	}
}

func TestBatchVerifierEmpty(t *testing.T) {
	var v BatchVerifier
	if ok, res := v.Verify(); !ok || len(res) != 0 {
		t.Fatalf("empty batch: %v %v", ok, res)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no randomness") }

// A failing random source never turns into acceptance: the batch falls back
// to one-by-one verification.
func TestBatchVerifierRandomFailure(t *testing.T) {
	priv, pk := keyFromSeed(32)
	v := NewBatchVerifier(failingReader{})
	s, w, _ := SignWitnessed(priv, label, []byte("a"))
	v.Add(pk, label, []byte("a"), s, w)
	v.Add(pk, label, []byte("b"), s, w)
	ok, res := v.Verify()
	if ok || res[0] != nil || res[1] != errSigEquation {
		t.Fatalf("results %v", res)
	}
}

// After the first Verify, the allocations of a batch do not grow with its
// size: nothing is allocated per signature.
func TestBatchVerifierAllocationsDoNotGrowWithSize(t *testing.T) {
	priv, pk := keyFromSeed(33)
	allocs := func(k int) float64 {
		type item struct{ msg, sig, w []byte }
		items := make([]item, k)
		for i := range items {
			m := []byte{byte(i), byte(i >> 8)}
			s, w, _ := SignWitnessed(priv, label, m)
			items[i] = item{m, s, w}
		}
		v := NewBatchVerifier(rng(1))
		return testing.AllocsPerRun(5, func() {
			v.Reset()
			for _, it := range items {
				v.Add(pk, label, it.msg, it.sig, it.w)
			}
			if ok, _ := v.Verify(); !ok {
				t.Fatal("invalid")
			}
		})
	}
	small, large := allocs(4), allocs(128)
	if large > small || large > 8 {
		t.Fatalf("%v allocations for 4 signatures, %v for 128", small, large)
	}
}

// BenchmarkVerify64 compares one BatchVerifier run over 64 signatures of one
// signer with 64 VerifyWitnessed calls.
func BenchmarkVerify64(b *testing.B) {
	priv, pk := keyFromSeed(20)
	type item struct{ msg, sig, w []byte }
	items := make([]item, 64)
	for i := range items {
		m := bytes.Repeat([]byte{byte(i)}, 120) // the size of a batch header
		s, w, _ := SignWitnessed(priv, label, m)
		items[i] = item{m, s, w}
	}
	b.Run("single", func(b *testing.B) {
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
