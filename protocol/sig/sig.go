// Package sig implements the one Ed25519 verification rule SealFeed pins
// (spec §4.2): Go's crypto/ed25519 rule (cofactorless equation, canonical S,
// R compared with the canonical encoding of the recomputed point) strengthened
// by public-key validation (SIG-001) and the rejection of an identity R
// (SIG-004). Signing is crypto/ed25519's, after a check that the private
// key's public half matches its seed (SIG-006).
//
// Every rejection is an *alert.Error: bad_key for a key (SIG-001, SIG-006),
// bad_signature for a signature (SIG-005). No verification is ever retried
// under another rule.
package sig

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
)

// Sizes of the encodings.
const (
	PublicKeySize = 32
	SignatureSize = 64
)

// PublicKey is an Ed25519 public key that passed SIG-001. The zero value is
// not a key: Verify rejects it with bad_key. Obtain one from ParsePublicKey.
// A PublicKey is immutable and safe for concurrent use.
type PublicKey struct {
	enc   [PublicKeySize]byte
	point *edwards25519.Point
	id    [32]byte
}

// Rejections. They carry no data, so each is one shared value that tests
// compare by identity.
var (
	errKeyLength      = alert.New(alert.BadKey, "public key is not 32 bytes")
	errKeyEncoding    = alert.New(alert.BadKey, "public key is not a canonical point encoding (SIG-001)")
	errKeySmallOrder  = alert.New(alert.BadKey, "public key of small order (SIG-001)")
	errKeyMixedOrder  = alert.New(alert.BadKey, "public key with a small-order component (SIG-001)")
	errKeyUnvalidated = alert.New(alert.BadKey, "public key not obtained from ParsePublicKey (SIG-001)")
	errPrivateLength  = alert.New(alert.BadKey, "private key is not 64 bytes (SIG-006)")
	errPrivateHalves  = alert.New(alert.BadKey, "private key: public half does not match the seed (SIG-006)")

	errSigLength    = alert.New(alert.BadSignature, "signature is not 64 bytes (SIG-002)")
	errSigIdentityR = alert.New(alert.BadSignature, "signature R is the identity (SIG-004)")
	errSigS         = alert.New(alert.BadSignature, "signature S is not below L (SIG-002)")
	errSigEquation  = alert.New(alert.BadSignature, "signature does not verify (SIG-003)")
)

var (
	identity         = edwards25519.NewIdentityPoint()
	identityEncoding = identity.Bytes() // 01 00 … 00
	zeroScalar       = edwards25519.NewScalar()
	// lMinusOne is L−1: [L]P = [L−1]P + P with scalars reduced mod L.
	lMinusOne = edwards25519.NewScalar().Negate(scalarFromUint8(1))
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

// preVerify holds the checks of Verify that come before the equation.
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

// CheckPrivateKey checks that priv is a 64-byte Ed25519 private key whose
// public half (bytes 32…63) is the key its seed (bytes 0…31) derives
// (SIG-006). crypto/ed25519 signs with the seed's scalar but hashes the
// stored public half into the challenge: with a mismatched half, two
// signatures of one message under two halves share a nonce and reveal the
// secret scalar. Call it once where a private key enters a program (key
// files, configuration, batch.NewBuilder); Sign does not repeat it. The
// error is bad_key and names no key material.
func CheckPrivateKey(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return errPrivateLength
	}
	want := ed25519.NewKeyFromSeed(priv[:ed25519.SeedSize])
	defer clear(want)
	if subtle.ConstantTimeCompare(want[ed25519.SeedSize:], priv[ed25519.SeedSize:]) != 1 {
		return errPrivateHalves
	}
	return nil
}
