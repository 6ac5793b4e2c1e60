// Package sig implements the one Ed25519 verification rule SealFeed pins
// (spec §4.2): Go's crypto/ed25519 rule (cofactorless equation, canonical S,
// R compared with the canonical encoding of the recomputed point) strengthened
// by public-key validation (SIG-001) and the rejection of an identity R
// (SIG-004); witnessed batch signatures (SIG-010); and batch verification that
// accepts exactly the same set (SIG-011).
//
// Every rejection is an *alert.Error: bad_key for a key (SIG-001),
// bad_signature for a signature or witness (SIG-005). No verification is ever
// retried under another rule.
package sig

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
)

// Sizes of the encodings.
const (
	PublicKeySize = 32
	SignatureSize = 64
	WitnessSize   = 32
)

// PublicKey is an Ed25519 public key that passed SIG-001. The zero value is
// not a key: Verify rejects it with bad_key. Obtain one from ParsePublicKey.
// A PublicKey is immutable and safe for concurrent use.
type PublicKey struct {
	enc   [PublicKeySize]byte
	point *edwards25519.Point
	id    [32]byte
}

// Rejections. They carry no data, so each is one shared value: results of
// BatchVerifier.Verify are then the very values VerifyWitnessed returns.
var (
	errKeyLength      = alert.New(alert.BadKey, "public key is not 32 bytes")
	errKeyEncoding    = alert.New(alert.BadKey, "public key is not a canonical point encoding (SIG-001)")
	errKeySmallOrder  = alert.New(alert.BadKey, "public key of small order (SIG-001)")
	errKeyMixedOrder  = alert.New(alert.BadKey, "public key with a small-order component (SIG-001)")
	errKeyUnvalidated = alert.New(alert.BadKey, "public key not obtained from ParsePublicKey (SIG-001)")

	errSigLength       = alert.New(alert.BadSignature, "signature is not 64 bytes (SIG-002)")
	errSigIdentityR    = alert.New(alert.BadSignature, "signature R is the identity (SIG-004)")
	errSigS            = alert.New(alert.BadSignature, "signature S is not below L (SIG-002)")
	errSigEquation     = alert.New(alert.BadSignature, "signature does not verify (SIG-003)")
	errSigR            = alert.New(alert.BadSignature, "signature R is not a canonical point encoding")
	errWitnessLength   = alert.New(alert.BadSignature, "witness is not 32 bytes (SIG-010)")
	errWitnessEncode   = alert.New(alert.BadSignature, "witness is not a canonical point encoding (SIG-010)")
	errWitnessMismatch = alert.New(alert.BadSignature, "[8]witness is not R (SIG-010)")
)

var (
	identity         = edwards25519.NewIdentityPoint()
	identityEncoding = identity.Bytes() // 01 00 … 00
	zeroScalar       = edwards25519.NewScalar()
	// lMinusOne is L−1: [L]P = [L−1]P + P with scalars reduced mod L.
	lMinusOne = edwards25519.NewScalar().Negate(scalarFromUint8(1))
	// invEight is 8⁻¹ mod L, for the torsion witness (SIG-010).
	invEight = edwards25519.NewScalar().Invert(scalarFromUint8(8))
)

func scalarFromUint8(v uint8) *edwards25519.Scalar {
	var b [32]byte
	b[0] = v
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic("sig: small scalar not canonical")
	}
	return s
}

// canonicalEncoding reports whether the 32 bytes b are a canonical point
// encoding as far as the bytes alone tell (RFC 8032 §5.1.3 strict): the y
// coordinate, bit 255 cleared, is below p = 2²⁵⁵ − 19, and the sign bit is not
// set on an x of zero (x = 0 exactly when y = ±1). edwards25519's SetBytes
// accepts both kinds of non-canonical encoding; checking the bytes costs
// nothing, where re-encoding the point costs a field inversion.
func canonicalEncoding(b []byte) bool {
	high := b[31] & 0x7f
	allOnes, allZeros := true, true
	for _, c := range b[1:31] {
		allOnes = allOnes && c == 0xff
		allZeros = allZeros && c == 0
	}
	// y ≥ p: y is p … p+18, i.e. ed … ff ff … ff 7f (little-endian).
	if high == 0x7f && allOnes && b[0] >= 0xed {
		return false
	}
	if b[31]&0x80 != 0 {
		isOne := high == 0 && allZeros && b[0] == 1           // y = 1
		isMinusOne := high == 0x7f && allOnes && b[0] == 0xec // y = p − 1
		if isOne || isMinusOne {
			return false
		}
	}
	return true
}

// decodeCanonical decodes a canonical point encoding into p.
func decodeCanonical(p *edwards25519.Point, b []byte) bool {
	if len(b) != 32 || !canonicalEncoding(b) {
		return false
	}
	_, err := p.SetBytes(b)
	return err == nil
}

// torsionFree reports whether [L]p is the identity. p is public, so the
// variable-time multiplication is safe.
func torsionFree(p *edwards25519.Point) bool {
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, p, zeroScalar)
	q.Add(q, p)
	return q.Equal(identity) == 1
}

// smallOrder reports whether [8]p is the identity.
func smallOrder(p *edwards25519.Point) bool {
	return new(edwards25519.Point).MultByCofactor(p).Equal(identity) == 1
}

// ParsePublicKey validates an encoded public key (SIG-001): 32 bytes, a
// canonical encoding of a curve point, not of small order, and without a
// small-order component ([L]A = identity). Every failure is bad_key.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, errKeyLength
	}
	p := new(edwards25519.Point)
	if !decodeCanonical(p, b) {
		return nil, errKeyEncoding
	}
	if smallOrder(p) {
		return nil, errKeySmallOrder
	}
	if !torsionFree(p) {
		return nil, errKeyMixedOrder
	}
	k := &PublicKey{point: p, id: KeyID(b)}
	copy(k.enc[:], b)
	return k, nil
}

// Bytes returns a copy of the key's 32-byte encoding.
func (k *PublicKey) Bytes() []byte { return append([]byte(nil), k.enc[:]...) }

// ID returns KeyID of the key (spec §4.1).
func (k *PublicKey) ID() [32]byte { return k.id }

// Equal reports whether two keys have the same encoding.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return o != nil && subtle.ConstantTimeCompare(k.enc[:], o.enc[:]) == 1
}

func (k *PublicKey) valid() bool { return k != nil && k.point != nil }

// KeyID returns SHA-256("sealfeed v1 key id" || 0x00 || pub) (spec §4.1). It
// does not validate pub.
func KeyID(pub []byte) [32]byte { return keyschedule.LabelledHash(keyschedule.HashKeyID, pub) }

// Fingerprint returns the lower-case hex of KeyID(pub), the form shown to
// people (spec §4.1).
func Fingerprint(pub []byte) string {
	id := KeyID(pub)
	return hex.EncodeToString(id[:])
}

func labelled(label string, msg []byte) []byte {
	m := make([]byte, 0, len(label)+1+len(msg))
	m = append(m, label...)
	m = append(m, 0)
	return append(m, msg...)
}

// Sign returns the Ed25519 signature of label || 0x00 || msg under priv
// (spec §4.2). It panics, as ed25519.Sign does, if priv is not 64 bytes.
func Sign(priv ed25519.PrivateKey, label string, msg []byte) []byte {
	return ed25519.Sign(priv, labelled(label, msg))
}

// Verify checks sig over label || 0x00 || msg under k with the pinned rule:
// 64 bytes, R not the identity (SIG-004), S < L (SIG-002), then the
// cofactorless equation with R compared byte for byte against the canonical
// encoding of [S]B − [k]A (SIG-003), which crypto/ed25519 implements. Every
// failure is bad_signature (SIG-005); a key not obtained from ParsePublicKey
// is bad_key.
func Verify(k *PublicKey, label string, msg, sig []byte) error {
	if err := preVerify(k, sig); err != nil {
		return err
	}
	if !ed25519.Verify(k.enc[:], labelled(label, msg), sig) {
		return errSigEquation
	}
	return nil
}

// preVerify holds the checks of Verify that come before the equation. The
// batch verifier runs the same function, so both report the same error.
func preVerify(k *PublicKey, sig []byte) error {
	if !k.valid() {
		return errKeyUnvalidated
	}
	if len(sig) != SignatureSize {
		return errSigLength
	}
	if [32]byte(sig[:32]) == [32]byte(identityEncoding) {
		return errSigIdentityR
	}
	if !sCanonical(sig[32:]) {
		return errSigS
	}
	return nil
}

// sCanonical reports whether the little-endian s is below L.
func sCanonical(s []byte) bool {
	var x edwards25519.Scalar
	_, err := x.SetCanonicalBytes(s)
	return err == nil
}

// Witness returns W = [8⁻¹ mod L]R for a signature (SIG-010). Anyone can
// compute it from the signature; it lets verifiers check that R is
// torsion-free with three doublings. R must be a canonical point encoding,
// else bad_signature. Witness does not verify the signature.
func Witness(sig []byte) ([]byte, error) {
	if len(sig) != SignatureSize {
		return nil, errSigLength
	}
	var r edwards25519.Point
	if !decodeCanonical(&r, sig[:32]) {
		return nil, errSigR
	}
	// R is public: variable time is safe.
	return new(edwards25519.Point).VarTimeDoubleScalarBaseMult(invEight, &r, zeroScalar).Bytes(), nil
}

// SignWitnessed signs label || 0x00 || msg and returns the signature and its
// witness. [8]W = R holds by construction (BATCH-022).
//
// The signature is RFC 8032 Ed25519, byte for byte what ed25519.Sign
// returns (tested), but computed so that the witness costs almost nothing:
// the signer knows the nonce r of R = [r]B, so it computes W = [r·8⁻¹ mod L]B
// with the constant-time fixed-base multiplication and then R = [8]W with
// three doublings. W is the very point [8⁻¹ mod L]R that Witness derives
// from a signature, without the variable-base multiplication Witness needs
// (which took more time than the signature itself).
func SignWitnessed(priv ed25519.PrivateKey, label string, msg []byte) (sig, witness []byte, err error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, nil, alert.New(alert.InternalError, "sig: private key is not 64 bytes")
	}
	m := labelled(label, msg)
	// RFC 8032 §5.1.5: the secret scalar and the prefix from the seed.
	h := sha512.Sum512(priv[:ed25519.SeedSize])
	defer clear(h[:])
	s, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, nil, alert.New(alert.InternalError, "sig: private key expansion failed")
	}
	// §5.1.6 step 2: r = SHA-512(prefix || M) mod L.
	d := sha512.New()
	d.Write(h[32:])
	d.Write(m)
	var digest [sha512.Size]byte
	r, err := new(edwards25519.Scalar).SetUniformBytes(d.Sum(digest[:0]))
	if err != nil {
		return nil, nil, alert.New(alert.InternalError, "sig: nonce reduction failed")
	}
	// W = [r/8]B, R = [8]W = [r]B (SIG-010). r is secret: constant time.
	w := new(edwards25519.Point).ScalarBaseMult(new(edwards25519.Scalar).Multiply(r, invEight))
	rEnc, wEnc := encodePair(new(edwards25519.Point).MultByCofactor(w), w)
	sig = append(make([]byte, 0, SignatureSize), rEnc[:]...)
	witness = wEnc[:]
	// Step 3: k = SHA-512(R || A || M) mod L, S = r + k·s mod L.
	d.Reset()
	d.Write(sig[:32])
	d.Write(priv[32:])
	d.Write(m)
	k, err := new(edwards25519.Scalar).SetUniformBytes(d.Sum(digest[:0]))
	if err != nil {
		return nil, nil, alert.New(alert.InternalError, "sig: challenge reduction failed")
	}
	sig = append(sig, new(edwards25519.Scalar).MultiplyAdd(k, s, r).Bytes()...)
	clear(digest[:])
	return sig, witness, nil
}

// encodePair returns the canonical encodings of p and q (RFC 8032 §5.1.2)
// with one field inversion for both (Montgomery's trick) where two calls
// of Bytes would invert twice: 1/Zp = Zq/(Zp·Zq), 1/Zq = Zp/(Zp·Zq). The
// result equals p.Bytes(), q.Bytes() (tested).
func encodePair(p, q *edwards25519.Point) (pe, qe [32]byte) {
	xp, yp, zp, _ := p.ExtendedCoordinates()
	xq, yq, zq, _ := q.ExtendedCoordinates()
	var inv, ip, iq field.Element
	inv.Invert(inv.Multiply(zp, zq))
	ip.Multiply(&inv, zq)
	iq.Multiply(&inv, zp)
	encode := func(out *[32]byte, x, y, zInv *field.Element) {
		var ax, ay field.Element
		ax.Multiply(x, zInv)
		ay.Multiply(y, zInv)
		copy(out[:], ay.Bytes())
		out[31] |= byte(ax.IsNegative() << 7)
	}
	encode(&pe, xp, yp, &ip)
	encode(&qe, xq, yq, &iq)
	return pe, qe
}

// checkWitness applies SIG-010 and leaves the point R in r. W must be
// canonical and decode; [8]W is then computed and its canonical encoding
// compared with the 32 bytes R, which proves at once that R is a canonical
// encoding and that the point R equals [8]W (one inversion, where decoding R
// would cost a square root and canonicity checks). A non-canonical R is
// rejected here as a mismatch; SIG-003 would reject it anyway.
func checkWitness(r *edwards25519.Point, sig, witness []byte) error {
	if err := witnessTimesEight(r, sig, witness); err != nil {
		return err
	}
	var enc [32]byte
	copy(enc[:], r.Bytes())
	if enc != [32]byte(sig[:32]) {
		return errWitnessMismatch
	}
	return nil
}

// witnessTimesEight is the first half of checkWitness: lengths, W canonical,
// and r = [8]W. The batch verifier does the comparison with R itself, with
// one field inversion for all signatures.
func witnessTimesEight(r *edwards25519.Point, sig, witness []byte) error {
	if len(sig) != SignatureSize {
		return errSigLength
	}
	if len(witness) != WitnessSize {
		return errWitnessLength
	}
	if !decodeCanonical(r, witness) {
		return errWitnessEncode
	}
	r.MultByCofactor(r)
	return nil
}

// VerifyWitnessed checks a batch signature: the witness (SIG-010), then
// Verify. A key not obtained from ParsePublicKey is bad_key; every other
// failure is bad_signature.
func VerifyWitnessed(k *PublicKey, label string, msg, sig, witness []byte) error {
	if !k.valid() {
		return errKeyUnvalidated
	}
	var r edwards25519.Point
	if err := checkWitness(&r, sig, witness); err != nil {
		return err
	}
	return Verify(k, label, msg, sig)
}
