package generate

import (
	"bytes"
	"fmt"
	"math/big"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("NonCanonicalS", "MALLEABILITY", "S ≥ L (SIG-002).",
		"Accepting S + L lets anyone turn one valid signature into another.")
	note("NonCanonicalR", "MALLEABILITY", "R is a non-canonical encoding (SIG-003): the recomputed R' never encodes to it.", "")
	note("IdentityR", "EDGE_CASE", "R is the identity point: SIG-003 alone would accept it for S = k·a; SIG-004 rejects it.",
		"Signatures with R = identity reveal k·a and keep small-order points out of the rule.")
	note("SmallOrderR", "EDGE_CASE", "R is a point of small order other than the identity.", "")
	note("MixedOrderR", "EDGE_CASE", "R = [r]B + T with T of small order: R has a small-order component.",
		"A verifier using the cofactored equation, or a randomised batch equation, accepts it; the cofactorless rule of SIG-003 rejects it.")
	note("CofactoredAccepts", "EDGE_CASE", "The cofactored equation [8]([S]B − [k]A − R) = identity accepts this signature; the pinned rule does not.",
		"A verifier using the cofactored equation disagrees with SealFeed verifiers.")
	note("GoVerifyAccepts", "WEAK_KEY", "crypto/ed25519.Verify alone accepts this signature; SealFeed rejects it by the checks it adds: key validation (SIG-001), R ≠ identity (SIG-004).",
		"Without key validation one signature can be valid for many messages, or under several keys.")
	note("SmallOrderKey", "WEAK_KEY", "The public key is a point of small order (SIG-001).", "")
	note("MixedOrderKey", "WEAK_KEY", "The public key has a small-order component: [L]A ≠ identity (SIG-001).", "")
	note("NonCanonicalKey", "MALLEABILITY", "The public key's y coordinate is ≥ p (SIG-001).", "")
	note("InvalidKeyEncoding", "MALFORMED", "The public key does not decode to a curve point (SIG-001).", "")
	note("WrongKey", "WRONG_KEY", "Valid material checked under another key: a signature under another public key, a record under another traffic key.", "")
	note("WrongLabel", "WRONG_KEY", "A signature made with another label, or without the 0x00 separator (SUITE-010).",
		"Without domain separation a signature for one purpose is valid for another.")
	note("ModifiedSignature", "MODIFIED", "A valid signature with a changed bit or byte.", "")
	note("ModifiedMessage", "MODIFIED", "A valid signature over a message that was changed.", "")
}

// Ed25519 labels of the two groups: the handshake's and the batch
// signature's (§10.4), both checked by the one rule of §4.2.
const (
	plainLabel = keyschedule.SigServer
	batchLabel = keyschedule.SigBatch
)

type edCase struct {
	name, comment, req string
	pk, msg, sig       []byte
	flags              []string
}

var ed25519Area = areaDef{
	name: "ed25519",
	build: func(a *area) (any, error) {
		T, err := torsionGenerator()
		if err != nil {
			return nil, err
		}
		mult := func(k int) *edwards25519.Point {
			q := edwards25519.NewIdentityPoint()
			for i := 0; i < k; i++ {
				q.Add(q, T)
			}
			return q
		}
		s1 := newSigner(randBytes(a.name, "key-1", 32))
		s2 := newSigner(randBytes(a.name, "key-2", 32))

		// group builds one test group; prefix starts its test names.
		group := func(label, prefix string, cases []edCase) (vectors.Ed25519Group, error) {
			g := vectors.Ed25519Group{Type: "Ed25519Verify", Label: label}
			for _, c := range cases {
				M := labelled(label, c.msg)
				code := ruleVerify(c.pk, M, c.sig)
				flags := c.flags
				t := vectors.Ed25519Test{PublicKey: c.pk, Msg: nonNil(c.msg), Sig: c.sig}
				if code == 0 {
					t.Test = a.valid(prefix+c.name, c.comment, c.req, flags...)
				} else {
					if goAccepts(c.pk, M, c.sig) {
						flags = append(flags, "GoVerifyAccepts")
					}
					if cofactoredAccepts(c.pk, M, c.sig) {
						flags = append(flags, "CofactoredAccepts")
					}
					t.Test = a.invalid(prefix+c.name, c.comment, c.req, code.String(), flags...)
				}
				g.Tests = append(g.Tests, t)
			}
			return g, nil
		}

		msg := func(n string) []byte { return randBytes(a.name, "msg/"+n, 32) }
		// sigOver signs label || 0 || m with s1.
		sigOver := func(s *signer, label string, m []byte) []byte { return s.sign(labelled(label, m)) }

		// findMsg returns a message m for which k = H(R || pk || label||0||m)
		// is a multiple of order: then [k]T vanishes for T of that order.
		findMsg := func(base string, Renc, pk []byte, label string, order byte) ([]byte, error) {
			for i := 0; i < 4096; i++ {
				m := append([]byte(base), byte(i>>8), byte(i))
				k := challenge(Renc, pk, labelled(label, m))
				if k.Bytes()[0]%order == 0 {
					return m, nil
				}
			}
			return nil, fmt.Errorf("no message found for %s", base)
		}

		// Signatures under small-order and mixed-order keys that
		// crypto/ed25519.Verify accepts.
		keyCases := func(label string) ([]edCase, error) {
			var cs []edCase
			S := randBytes(a.name, "small-order-key/S", 64)
			Ss, _ := new(edwards25519.Scalar).SetUniformBytes(S)
			Renc := new(edwards25519.Point).ScalarBaseMult(Ss).Bytes()
			sig := append(bytes.Clone(Renc), Ss.Bytes()...)
			orders := []byte{1, 8, 4, 8, 2, 8, 4, 8}
			for k := 0; k < 8; k++ {
				pk := mult(k).Bytes()
				m, err := findMsg(fmt.Sprintf("small order key %d", k), Renc, pk, label, orders[k])
				if err != nil {
					return nil, err
				}
				cs = append(cs, edCase{name: fmt.Sprintf("key-small-order-%d", k),
					comment: fmt.Sprintf("public key [%d]T, of order %d; R = [S]B and k ≡ 0 mod %d", k, orders[k], orders[k]),
					req:     "SIG-001", pk: pk, msg: m, sig: sig, flags: []string{"SmallOrderKey"}})
			}
			// Non-canonical encodings of small-order points: y = p, p + 1.
			for _, c := range []struct {
				name string
				y    *big.Int
				sign bool
			}{
				{"key-noncanonical-identity", new(big.Int).Add(p, big.NewInt(1)), false},
				{"key-noncanonical-y-zero", new(big.Int).Set(p), false},
				{"key-noncanonical-y-zero-sign", new(big.Int).Set(p), true},
			} {
				pk := uBytes(c.y, c.sign)
				m, err := findMsg(c.name, Renc, pk, label, 4)
				if err != nil {
					return nil, err
				}
				cs = append(cs, edCase{name: c.name, comment: fmt.Sprintf("public key y = p + %s (≥ p), sign bit %v", new(big.Int).Sub(c.y, p), c.sign),
					req: "SIG-001", pk: pk, msg: m, sig: sig, flags: []string{"NonCanonicalKey", "SmallOrderKey"}})
			}
			// A non-canonical y that is not small order: y = p + 2..18 that decodes.
			for v := int64(2); v < 19; v++ {
				pk := uBytes(new(big.Int).Add(p, big.NewInt(v)), false)
				if _, err := new(edwards25519.Point).SetBytes(pk); err != nil {
					continue
				}
				cs = append(cs, edCase{name: "key-noncanonical-y-p-plus-small", comment: fmt.Sprintf("public key y = p + %d, a non-canonical encoding of a curve point", v),
					req: "SIG-001", pk: pk, msg: []byte("m"), sig: sig, flags: []string{"NonCanonicalKey"}})
				break
			}
			cs = append(cs, edCase{name: "key-all-ff", comment: "public key ff…ff: y = 2^255 − 1 ≥ p", req: "SIG-001",
				pk: bytes.Repeat([]byte{0xff}, 32), msg: []byte("m"), sig: sig, flags: []string{"NonCanonicalKey"}})
			for v := int64(2); ; v++ {
				pk := uBytes(big.NewInt(v), false)
				if _, err := new(edwards25519.Point).SetBytes(pk); err == nil {
					continue
				}
				cs = append(cs, edCase{name: "key-not-on-curve", comment: fmt.Sprintf("public key y = %d: no x satisfies the curve equation", v),
					req: "SIG-001", pk: pk, msg: []byte("m"), sig: sig, flags: []string{"InvalidKeyEncoding"}})
				break
			}
			// Mixed-order keys A + T: a signature made with a and a k that is
			// a multiple of the order of T verifies under crypto/ed25519.
			A, _ := new(edwards25519.Point).SetBytes(s1.pub)
			for _, c := range []struct {
				k     int
				order byte
			}{{1, 8}, {4, 2}} {
				pk := new(edwards25519.Point).Add(A, mult(c.k)).Bytes()
				r := s1.nonce([]byte(fmt.Sprintf("mixed key %d", c.k)))
				Renc := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
				m, err := findMsg(fmt.Sprintf("mixed order key %d", c.k), Renc, pk, label, c.order)
				if err != nil {
					return nil, err
				}
				cs = append(cs, edCase{name: fmt.Sprintf("key-mixed-order-%d", c.order),
					comment: fmt.Sprintf("public key A + T with T of order %d; S = r + k·a with k ≡ 0 mod %d", c.order, c.order),
					req:     "SIG-001", pk: pk, msg: m, sig: s1.signWith(r, Renc, pk, labelled(label, m)), flags: []string{"MixedOrderKey"}})
			}
			return cs, nil
		}

		// sigCases are the signature edge cases under the valid key s1.
		sigCases := func(label string) []edCase {
			m := msg("base")
			good := sigOver(s1, label, m)
			M := labelled(label, m)
			flip := func(b []byte, i int, bit byte) []byte { b = bytes.Clone(b); b[i] ^= bit; return b }
			withS := func(S []byte) []byte { return append(bytes.Clone(good[:32]), S...) }
			// R = identity with S = k·a: SIG-003 holds, SIG-004 rejects.
			zero := edwards25519.NewScalar()
			idSig := s1.signWith(zero, identityEnc, s1.pub, M)
			ncIdentity := uBytes(new(big.Int).Add(p, big.NewInt(1)), false)
			ncSig := s1.signWith(zero, ncIdentity, s1.pub, M)
			// R = T (small order) with S = k·a: only the cofactored equation holds.
			tSig := s1.signWith(zero, mult(1).Bytes(), s1.pub, M)
			t4Sig := s1.signWith(zero, mult(4).Bytes(), s1.pub, M)
			// R = [r]B + T with S = r + k·a.
			r := s1.nonce([]byte("mixed R"))
			Rm := new(edwards25519.Point).ScalarBaseMult(r)
			mixed := s1.signWith(r, new(edwards25519.Point).Add(Rm, mult(1)).Bytes(), s1.pub, M)
			mixed2 := s1.signWith(r, new(edwards25519.Point).Add(Rm, mult(4)).Bytes(), s1.pub, M)
			L := addL(make([]byte, 32))
			return []edCase{
				{name: "s-plus-l", comment: "S + L instead of S", req: "SIG-002", pk: s1.pub, msg: m, sig: withS(addL(good[32:])), flags: []string{"NonCanonicalS"}},
				{name: "s-equals-l", comment: "S = L", req: "SIG-002", pk: s1.pub, msg: m, sig: withS(L), flags: []string{"NonCanonicalS"}},
				{name: "s-high-bit", comment: "bit 255 of S set", req: "SIG-002", pk: s1.pub, msg: m, sig: flip(good, 63, 0x80), flags: []string{"NonCanonicalS"}},
				{name: "s-all-ff", comment: "S = 2^256 − 1", req: "SIG-002", pk: s1.pub, msg: m, sig: withS(bytes.Repeat([]byte{0xff}, 32)), flags: []string{"NonCanonicalS"}},
				{name: "r-identity", comment: "R = identity and S = k·a: the equation holds, SIG-004 rejects", req: "SIG-004", pk: s1.pub, msg: m, sig: idSig, flags: []string{"IdentityR"}},
				{name: "r-noncanonical-identity", comment: "R = non-canonical identity (y = p + 1) and S = k·a", req: "SIG-003", pk: s1.pub, msg: m, sig: ncSig, flags: []string{"NonCanonicalR", "IdentityR"}},
				{name: "r-small-order-8", comment: "R = T of order 8 and S = k·a", req: "SIG-003", pk: s1.pub, msg: m, sig: tSig, flags: []string{"SmallOrderR"}},
				{name: "r-small-order-2", comment: "R = (0, −1) of order 2 and S = k·a", req: "SIG-003", pk: s1.pub, msg: m, sig: t4Sig, flags: []string{"SmallOrderR"}},
				{name: "r-mixed-order-8", comment: "R = [r]B + T, T of order 8, and S = r + k·a", req: "SIG-003", pk: s1.pub, msg: m, sig: mixed, flags: []string{"MixedOrderR"}},
				{name: "r-mixed-order-2", comment: "R = [r]B + T, T of order 2, and S = r + k·a", req: "SIG-003", pk: s1.pub, msg: m, sig: mixed2, flags: []string{"MixedOrderR"}},
				{name: "r-bit-flip", comment: "bit 0 of R flipped", req: "SIG-003", pk: s1.pub, msg: m, sig: flip(good, 0, 1), flags: []string{"ModifiedSignature"}},
				{name: "r-sign-bit-flip", comment: "the sign bit of R flipped", req: "SIG-003", pk: s1.pub, msg: m, sig: flip(good, 31, 0x80), flags: []string{"ModifiedSignature"}},
				{name: "s-bit-flip", comment: "bit 0 of S flipped", req: "SIG-003", pk: s1.pub, msg: m, sig: flip(good, 32, 1), flags: []string{"ModifiedSignature"}},
				{name: "zero-signature", comment: "R = 0…0 (a point of order 4) and S = 0", req: "SIG-003", pk: s1.pub, msg: m, sig: make([]byte, 64), flags: []string{"ModifiedSignature", "SmallOrderR"}},
				{name: "msg-bit-flip", comment: "bit 0 of the message flipped", req: "SIG-003", pk: s1.pub, msg: flip(m, 0, 1), sig: good, flags: []string{"ModifiedMessage"}},
				{name: "msg-appended", comment: "a byte appended to the message", req: "SIG-003", pk: s1.pub, msg: append(bytes.Clone(m), 0), sig: good, flags: []string{"ModifiedMessage"}},
				{name: "msg-truncated", comment: "the message without its last byte", req: "SIG-003", pk: s1.pub, msg: m[:len(m)-1], sig: good, flags: []string{"ModifiedMessage"}},
				{name: "wrong-key", comment: "a valid signature of key 1 checked under key 2", req: "SIG-003", pk: s2.pub, msg: m, sig: good, flags: []string{"WrongKey"}},
				{name: "wrong-label", comment: "signed with the credential label", req: "SUITE-010", pk: s1.pub, msg: m, sig: sigOver(s1, keyschedule.SigCredential, m), flags: []string{"WrongLabel"}},
				{name: "no-separator", comment: "signed over label || msg without the 0x00 separator", req: "SUITE-010", pk: s1.pub, msg: m,
					sig: s1.sign(append([]byte(label), m...)), flags: []string{"WrongLabel"}},
				{name: "unlabelled", comment: "signed over the bare message", req: "SUITE-010", pk: s1.pub, msg: m, sig: s1.sign(m), flags: []string{"WrongLabel"}},
			}
		}

		validCases := func(label string) []edCase {
			var cs []edCase
			for i, m := range [][]byte{{}, msg("hash"), randBytes(a.name, "msg/long", 1000)} {
				cs = append(cs, edCase{name: fmt.Sprintf("valid-%d", i), comment: fmt.Sprintf("a valid signature over a %d-byte message", len(m)),
					req: "SIG-003", pk: s1.pub, msg: m, sig: sigOver(s1, label, m), flags: []string{"Normal"}})
			}
			m := msg("key2")
			cs = append(cs, edCase{name: "valid-key-2", comment: "a valid signature under a second key", req: "SIG-003",
				pk: s2.pub, msg: m, sig: sigOver(s2, label, m), flags: []string{"Normal"}})
			return cs
		}

		plainKeys, err := keyCases(plainLabel)
		if err != nil {
			return nil, err
		}
		plain, err := group(plainLabel, "plain/", append(append(validCases(plainLabel), sigCases(plainLabel)...), plainKeys...))
		if err != nil {
			return nil, err
		}

		// The batch signature's group (§10.4): the same cases under its
		// label. Batch signatures are checked by the same rule (SIG-003).
		batchKeys, err := keyCases(batchLabel)
		if err != nil {
			return nil, err
		}
		batchSigs, err := group(batchLabel, "batch/", append(append(validCases(batchLabel), sigCases(batchLabel)...), batchKeys...))
		if err != nil {
			return nil, err
		}
		if a.err == nil {
			// The invariant the vectors rest on: every test the rule rejects
			// is rejected with the alert of its requirement.
			for _, g := range []vectors.Ed25519Group{plain, batchSigs} {
				for _, t := range g.Tests {
					if t.Result == vectors.Invalid && t.Alert != alert.BadKey.String() && t.Alert != alert.BadSignature.String() {
						return nil, fmt.Errorf("tcId %d: alert %s", t.TcID, t.Alert)
					}
				}
			}
		}
		return file(a, []string{
			"The pinned Ed25519 rule (spec §4.2): Go's crypto/ed25519.Verify rule plus public-key validation (SIG-001 … SIG-005), for handshake and batch signatures alike.",
			"The signed message is label || 0x00 || msg with the group's label. A key that fails SIG-001 is bad_key; every other failure is bad_signature.",
		}, []vectors.Ed25519Group{plain, batchSigs}), nil
	},
	schema: func() map[string]any {
		return fileSchema("ed25519", "SealFeed v1 Ed25519 verification vectors",
			obj{"type": constant("Ed25519Verify"), "label": str()}, nil,
			obj{"publicKey": hexLen(32), "msg": hexAny(), "sig": hexLen(64)}, nil)
	},
}
