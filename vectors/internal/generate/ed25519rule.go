package generate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"math/big"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// This file is the generator's own statement of the pinned Ed25519 rule
// (spec §4.2), written from the spec with filippo.io/edwards25519, so that
// the expected result of each edge case does not come from the package it
// tests. The runner test checks that protocol/sig agrees.

var (
	identityEnc = func() []byte { b := make([]byte, 32); b[0] = 1; return b }()
	scalarL, _  = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
)

// canonicalY reports whether the y coordinate of enc (bit 255 cleared) is
// below p.
func canonicalY(enc []byte) bool {
	return uInt(enc).Cmp(p) < 0
}

// torsionFree reports whether P has no small-order component:
// [8][8⁻¹ mod L]P = P exactly when P lies in the prime-order subgroup.
func torsionFree(P *edwards25519.Point) bool {
	q := new(edwards25519.Point).ScalarMult(scalarInv8(), P)
	q.MultByCofactor(q)
	return q.Equal(P) == 1
}

// smallOrder reports whether [8]P is the identity.
func smallOrder(P *edwards25519.Point) bool {
	q := new(edwards25519.Point).MultByCofactor(P)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}

// ruleKey applies SIG-001.
func ruleKey(pk []byte) alert.Code {
	if len(pk) != 32 || !canonicalY(pk) {
		return alert.BadKey
	}
	A, err := new(edwards25519.Point).SetBytes(pk)
	if err != nil || smallOrder(A) || !torsionFree(A) {
		return alert.BadKey
	}
	return 0
}

// challenge is k = SHA-512(R || A || M) mod L.
func challenge(R, A, M []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(R)
	h.Write(A)
	h.Write(M)
	k, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	return k
}

// ruleVerify applies SIG-001 … SIG-004 to a signature over M (which
// already includes label || 0x00).
func ruleVerify(pk, M, sig []byte) alert.Code {
	if c := ruleKey(pk); c != 0 {
		return c
	}
	if len(sig) != 64 {
		return alert.BadSignature
	}
	R, Sb := sig[:32], sig[32:]
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(Sb)
	if err != nil { // SIG-002
		return alert.BadSignature
	}
	if bytes.Equal(R, identityEnc) { // SIG-004
		return alert.BadSignature
	}
	A, _ := new(edwards25519.Point).SetBytes(pk)
	k := challenge(R, pk, M)
	// R' = [S]B − [k]A (SIG-003), compared as canonical encodings.
	negA := new(edwards25519.Point).Negate(A)
	Rp := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, negA, S)
	if !bytes.Equal(Rp.Bytes(), R) {
		return alert.BadSignature
	}
	return 0
}

// cofactoredAccepts reports whether the cofactored equation
// [8]([S]B − [k]A − R) = identity holds, with any decodable A and R and S
// reduced: what a lenient verifier accepts.
func cofactoredAccepts(pk, M, sig []byte) bool {
	A, err := new(edwards25519.Point).SetBytes(pk)
	if err != nil {
		return false
	}
	R, err := new(edwards25519.Point).SetBytes(sig[:32])
	if err != nil {
		return false
	}
	var wide [64]byte
	copy(wide[:], sig[32:])
	S, _ := new(edwards25519.Scalar).SetUniformBytes(wide[:])
	k := challenge(sig[:32], pk, M)
	negA := new(edwards25519.Point).Negate(A)
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, negA, S)
	q.Subtract(q, R)
	return smallOrder(q)
}

// goAccepts reports whether crypto/ed25519.Verify accepts: the pinned rule
// without public-key validation.
func goAccepts(pk, M, sig []byte) bool {
	if len(pk) != 32 || len(sig) != 64 {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pk), M, sig)
}

// labelled is label || 0x00 || msg, what Sign signs (spec §4.2).
func labelled(label string, msg []byte) []byte {
	return append(append([]byte(label), 0), msg...)
}

// signer is an Ed25519 key with its secret scalar and nonce prefix.
type signer struct {
	seed   []byte
	a      *edwards25519.Scalar
	prefix []byte
	pub    []byte
}

func newSigner(seed []byte) *signer {
	h := sha512.Sum512(seed)
	a, _ := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	return &signer{seed: seed, a: a, prefix: h[32:], pub: new(edwards25519.Point).ScalarBaseMult(a).Bytes()}
}

// nonce returns the deterministic RFC 8032 nonce r for M.
func (s *signer) nonce(M []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(s.prefix)
	h.Write(M)
	r, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	return r
}

// sign is RFC 8032 Ed25519 over M.
func (s *signer) sign(M []byte) []byte {
	return ed25519.Sign(ed25519.NewKeyFromSeed(s.seed), M)
}

// signWith signs M with nonce point R (encoded Renc) and nonce scalar r
// under the public key encoding pk, computing S = r + k·a. It lets the
// generator build signatures with unusual R or A.
func (s *signer) signWith(r *edwards25519.Scalar, Renc, pk, M []byte) []byte {
	k := challenge(Renc, pk, M)
	S := new(edwards25519.Scalar).MultiplyAdd(k, s.a, r)
	return append(bytes.Clone(Renc), S.Bytes()...)
}

// addL returns S + L as 32 little-endian bytes (a non-canonical S).
func addL(S []byte) []byte {
	be := make([]byte, 32)
	for i := range be {
		be[i] = S[31-i]
	}
	v := new(big.Int).SetBytes(be)
	v.Add(v, scalarL)
	out := v.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
