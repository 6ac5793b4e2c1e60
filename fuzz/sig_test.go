package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"testing"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/protocol/sig"
)

const sigFuzzLabel = "sealfeed v1 fuzz"

var sigFuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

// sigFuzzSeeds returns hostile signatures over msg: S = k·a with a chosen R
// (the identity, or a small-order point), and R = [r]B + T with a
// small-order T made by the signer.
func sigFuzzSeeds(msg []byte) [][]byte {
	priv := sigFuzzKey
	pub := priv.Public().(ed25519.PublicKey)
	h := sha512.Sum512(priv.Seed())
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	k := func(rEnc []byte) *edwards25519.Scalar {
		d := sha512.New()
		d.Write(rEnc)
		d.Write(pub)
		d.Write([]byte(sigFuzzLabel + "\x00"))
		d.Write(msg)
		s, _ := edwards25519.NewScalar().SetUniformBytes(d.Sum(nil))
		return s
	}
	// A point of order 2: (0, −1).
	t2 := bytes.Repeat([]byte{0xff}, 32)
	t2[0], t2[31] = 0xec, 0x7f
	T, _ := new(edwards25519.Point).SetBytes(t2)
	var out [][]byte
	for _, rEnc := range [][]byte{append([]byte{1}, make([]byte, 31)...), t2} {
		out = append(out, append(bytes.Clone(rEnc), edwards25519.NewScalar().Multiply(k(rEnc), a).Bytes()...))
	}
	r, _ := edwards25519.NewScalar().SetUniformBytes(bytes.Repeat([]byte{7}, 64))
	R := new(edwards25519.Point).ScalarBaseMult(r)
	rEnc := R.Add(R, T).Bytes()
	return append(out, append(rEnc, edwards25519.NewScalar().MultiplyAdd(k(rEnc), a, r).Bytes()...))
}

// FuzzParsePublicKey: no panic; an accepted key is the canonical encoding of
// a torsion-free point that is not the identity (SIG-001), checked here with
// the constant-time multiplication instead of the package's variable-time one.
func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte(sigFuzzKey.Public().(ed25519.PublicKey)))
	f.Add(make([]byte, 32))
	f.Add(append([]byte{1}, make([]byte, 31)...))
	f.Add(append([]byte{1}, append(make([]byte, 30), 0x80)...))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add(append([]byte{0xee}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...))
	f.Add([]byte{1, 2, 3})
	lMinusOne := edwards25519.NewScalar().Negate(scalarOne())
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := sig.ParsePublicKey(b)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		if !bytes.Equal(k.Bytes(), b) || k.ID() != sig.KeyID(b) {
			t.Fatal("accepted key re-encodes differently")
		}
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil || !bytes.Equal(p.Bytes(), b) {
			t.Fatal("accepted key is not a canonical point encoding")
		}
		q := new(edwards25519.Point).ScalarMult(lMinusOne, p)
		if q.Add(q, p).Equal(edwards25519.NewIdentityPoint()) != 1 || p.Equal(edwards25519.NewIdentityPoint()) == 1 {
			t.Fatal("accepted key is not torsion-free or is the identity")
		}
	})
}

func scalarOne() *edwards25519.Scalar {
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	return s
}

// FuzzVerify: no panic; Verify is exactly crypto/ed25519's rule minus an
// identity R (SIG-002 … SIG-004), for any key that passes SIG-001. Batch
// signatures are checked by the same Verify (§10.4).
func FuzzVerify(f *testing.F) {
	msg := []byte("message")
	s := sig.Sign(sigFuzzKey, sigFuzzLabel, msg)
	pub := []byte(sigFuzzKey.Public().(ed25519.PublicKey))
	f.Add(pub, msg, s)
	f.Add(pub, msg, make([]byte, 64))
	for _, bad := range sigFuzzSeeds(msg) {
		f.Add(pub, msg, bad)
	}
	plusL := bytes.Clone(s)
	plusL[63] += 0x10
	f.Add(pub, msg, plusL)
	f.Add([]byte{}, msg, s[:63])
	defKey, _ := sig.ParsePublicKey(pub)
	f.Fuzz(func(t *testing.T, keyBytes, msg, s []byte) {
		pk, err := sig.ParsePublicKey(keyBytes)
		if err != nil {
			pk = defKey
		}
		plain := sig.Verify(pk, sigFuzzLabel, msg, s)
		std := len(s) == 64 && ed25519.Verify(pk.Bytes(), append([]byte(sigFuzzLabel+"\x00"), msg...), s)
		identityR := len(s) == 64 && bytes.Equal(s[:32], append([]byte{1}, make([]byte, 31)...))
		if (plain == nil) != (std && !identityR) {
			t.Fatalf("Verify %v, crypto/ed25519 %v, identity R %v", plain, std, identityR)
		}
	})
}
