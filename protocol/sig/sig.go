// Package sig implements the one Ed25519 verification rule SealFeed pins
// (spec §4.2): Go's crypto/ed25519 rule (cofactorless equation, canonical S,
// R compared with the canonical encoding of the recomputed point) strengthened
// by public-key validation (SIG-001) and the rejection of an identity R
// (SIG-004); witnessed batch signatures (SIG-010); and batch verification that
// accepts exactly the same set (SIG-011).
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
	WitnessSize   = 32
)

// PublicKey is an Ed25519 public key that passed SIG-001. The zero value is
// not usable; obtain one from ParsePublicKey.
type PublicKey struct {
	enc   [PublicKeySize]byte
	point *edwards25519.Point
	id    [32]byte
}

var (
	identityEncoding = edwards25519.NewIdentityPoint().Bytes()
	// lMinusOne is L−1, so that [L]P = [L−1]P + P with scalars reduced mod L.
	lMinusOne = func() *edwards25519.Scalar {
		one, _ := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
		return edwards25519.NewScalar().Negate(one)
	}()
	// invEight is 8⁻¹ mod L, for the torsion witness (SIG-010).
	invEight = func() *edwards25519.Scalar {
		eight, _ := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{8}, make([]byte, 31)...))
		return edwards25519.NewScalar().Invert(eight)
	}()
)

// decodeCanonical decodes a point and rejects non-canonical encodings, which
// edwards25519's SetBytes accepts.
func decodeCanonical(b []byte) (*edwards25519.Point, bool) {
	if len(b) != 32 {
		return nil, false
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, false
	}
	if subtle.ConstantTimeCompare(p.Bytes(), b) != 1 {
		return nil, false
	}
	return p, true
}

var zeroScalar = edwards25519.NewScalar()

// torsionFree reports whether [L]p is the identity. p is public, so the
// variable-time multiplication is safe.
func torsionFree(p *edwards25519.Point) bool {
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, p, zeroScalar)
	q.Add(q, p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}

// smallOrder reports whether [8]p is the identity.
func smallOrder(p *edwards25519.Point) bool {
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1
}

// ParsePublicKey validates an encoded public key (SIG-001): canonical
// encoding, on the curve, not of small order, no small-order component.
// Failures are bad_key.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, alert.Errorf(alert.BadKey, "public key of %d bytes", len(b))
	}
	p, ok := decodeCanonical(b)
	if !ok {
		return nil, alert.New(alert.BadKey, "public key is not a canonical point encoding")
	}
	if smallOrder(p) {
		return nil, alert.New(alert.BadKey, "public key of small order")
	}
	if !torsionFree(p) {
		return nil, alert.New(alert.BadKey, "public key with a small-order component")
	}
	k := &PublicKey{point: p, id: KeyID(b)}
	copy(k.enc[:], b)
	return k, nil
}

// Bytes returns a copy of the key's encoding.
func (k *PublicKey) Bytes() []byte { return append([]byte(nil), k.enc[:]...) }

// ID returns KeyID of the key.
func (k *PublicKey) ID() [32]byte { return k.id }

// Equal reports whether two keys have the same encoding.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return o != nil && subtle.ConstantTimeCompare(k.enc[:], o.enc[:]) == 1
}

// KeyID returns SHA-256("sealfeed v1 key id" || 0x00 || pub) (spec §4.1).
func KeyID(pub []byte) [32]byte { return keyschedule.LabelledHash(keyschedule.HashKeyID, pub) }

// Fingerprint returns the lower-case hex of KeyID(pub), the form shown to
// people.
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

// Sign returns Ed25519(priv, label || 0x00 || msg).
func Sign(priv ed25519.PrivateKey, label string, msg []byte) []byte {
	return ed25519.Sign(priv, labelled(label, msg))
}

// Verify checks sig over label || 0x00 || msg under k with the pinned rule
// (SIG-002 … SIG-005). Every failure is bad_signature.
func Verify(k *PublicKey, label string, msg, sig []byte) error {
	if len(sig) != SignatureSize {
		return alert.Errorf(alert.BadSignature, "signature of %d bytes", len(sig))
	}
	if subtle.ConstantTimeCompare(sig[:32], identityEncoding) == 1 {
		return alert.New(alert.BadSignature, "signature R is the identity (SIG-004)")
	}
	// crypto/ed25519 rejects S ≥ L (SIG-002) and compares R byte-wise with
	// the canonical encoding of [S]B − [k]A (SIG-003).
	if !ed25519.Verify(k.enc[:], labelled(label, msg), sig) {
		return alert.New(alert.BadSignature, "signature does not verify")
	}
	return nil
}

// Witness returns W = [8⁻¹ mod L]R for a signature (SIG-010). Anyone can
// compute it from the signature; it exists so that verifiers can check that
// R is torsion-free with three doublings.
func Witness(sig []byte) ([]byte, error) {
	if len(sig) != SignatureSize {
		return nil, alert.Errorf(alert.BadSignature, "signature of %d bytes", len(sig))
	}
	r, ok := decodeCanonical(sig[:32])
	if !ok {
		return nil, alert.New(alert.BadSignature, "signature R is not a canonical point")
	}
	// R is public: variable time is safe.
	return new(edwards25519.Point).VarTimeDoubleScalarBaseMult(invEight, r, zeroScalar).Bytes(), nil
}

// SignWitnessed signs label || 0x00 || msg and returns the signature and its
// witness, checked before it is returned (BATCH-022).
func SignWitnessed(priv ed25519.PrivateKey, label string, msg []byte) (sig, witness []byte, err error) {
	sig = Sign(priv, label, msg)
	if witness, err = Witness(sig); err != nil {
		return nil, nil, alert.New(alert.InternalError, "sig: own signature has no witness")
	}
	if err := checkWitness(sig, witness); err != nil {
		return nil, nil, alert.New(alert.InternalError, "sig: own signature fails its witness")
	}
	return sig, witness, nil
}

// checkWitness applies SIG-010 and returns the decoded R.
func checkWitness(sig, witness []byte) error {
	_, err := witnessedR(sig, witness)
	return err
}

func witnessedR(sig, witness []byte) (*edwards25519.Point, error) {
	if len(sig) != SignatureSize {
		return nil, alert.Errorf(alert.BadSignature, "signature of %d bytes", len(sig))
	}
	if len(witness) != WitnessSize {
		return nil, alert.Errorf(alert.BadSignature, "witness of %d bytes", len(witness))
	}
	r, ok := decodeCanonical(sig[:32])
	if !ok {
		return nil, alert.New(alert.BadSignature, "signature R is not a canonical point")
	}
	w, ok := decodeCanonical(witness)
	if !ok {
		return nil, alert.New(alert.BadSignature, "witness is not a canonical point")
	}
	if new(edwards25519.Point).MultByCofactor(w).Equal(r) != 1 {
		return nil, alert.New(alert.BadSignature, "witness does not match R (SIG-010)")
	}
	return r, nil
}

// VerifyWitnessed checks a batch signature: the witness (SIG-010), then
// Verify.
func VerifyWitnessed(k *PublicKey, label string, msg, sig, witness []byte) error {
	if err := checkWitness(sig, witness); err != nil {
		return err
	}
	return Verify(k, label, msg, sig)
}
