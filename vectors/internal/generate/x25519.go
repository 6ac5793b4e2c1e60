package generate

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"encoding/hex"
	"fmt"
	"math/big"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/internal/detrand"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("RFC7748", "BASIC", "A test vector printed in RFC 7748 (§5.2, §6.1).", "")
	note("LowOrderPublic", "WEAK_KEY",
		"The peer's share is a u-coordinate of small order: the shared secret is all zero (SUITE-002).",
		"An implementation that accepts it lets the attacker fix the shared secret and removes the honest side's contribution.")
	note("NonCanonicalPublic", "EDGE_CASE",
		"A u-coordinate ≥ p. RFC 7748 reduces it modulo p; it is accepted unless it reduces to a low-order point.", "")
	note("HighBitSet", "EDGE_CASE",
		"Bit 255 of the u-coordinate is set. RFC 7748 ignores it.", "An implementation that rejects it fails to interoperate.")
	note("Twist", "EDGE_CASE", "The u-coordinate lies on the quadratic twist, not on Curve25519. X25519 still computes a result.", "")
	note("WrongLength", "MALFORMED", "A key share or ciphertext whose length does not match its group.", "")
	note("InvalidEncapsulationKey", "MALFORMED",
		"An ML-KEM-768 encapsulation key with a coefficient ≥ q: the FIPS 203 modulus check fails (SUITE-003).", "")
	note("ImplicitRejection", "MODIFIED",
		"A modified ML-KEM ciphertext decapsulates, by FIPS 203 implicit rejection, to a pseudorandom secret; the handshake then fails later, at Finished.",
		"An implementation that reports an error here instead reveals a decapsulation failure.")
}

// p is the field prime 2^255 - 19.
var p = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// uBytes encodes u as 32 little-endian bytes, optionally with bit 255 set.
func uBytes(u *big.Int, high bool) []byte {
	b := make([]byte, 32)
	be := u.FillBytes(make([]byte, 32))
	for i := range b {
		b[i] = be[31-i]
	}
	if high {
		b[31] |= 0x80
	}
	return b
}

func uInt(b []byte) *big.Int {
	be := make([]byte, 32)
	for i := range be {
		be[i] = b[31-i]
	}
	be[0] &= 0x7f
	return new(big.Int).SetBytes(be)
}

// lowOrderU returns the u-coordinates of the points of order dividing 8 on
// Curve25519 and its twist, each once, canonical values first: 0, 1, the two
// of order 8, p-1, then the non-canonical p and p+1.
func lowOrderU() ([]*big.Int, error) {
	t, err := torsionGenerator()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*big.Int
	q := edwards25519.NewIdentityPoint()
	for k := 0; k < 8; k++ {
		u := uInt(q.BytesMontgomery())
		if !seen[u.String()] {
			seen[u.String()] = true
			out = append(out, u)
		}
		q.Add(q, t)
	}
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	out = append(out, pm1, new(big.Int).Set(p), new(big.Int).Add(p, big.NewInt(1)))
	return out, nil
}

// torsionGenerator returns a point of order exactly 8: the small-order
// component of a point decoded from a fixed hash, retrying until it has
// order 8.
func torsionGenerator() (*edwards25519.Point, error) {
	inv8 := scalarInv8()
	for i := 0; i < 256; i++ {
		enc := randBytes("torsion", fmt.Sprint(i), 32)
		enc[31] &= 0x7f
		P, err := new(edwards25519.Point).SetBytes(enc)
		if err != nil {
			continue
		}
		// [8][8⁻¹ mod L]P − P = [mL]P lies in the torsion subgroup.
		t := new(edwards25519.Point).ScalarMult(inv8, P)
		t.MultByCofactor(t)
		t.Subtract(t, P)
		q := new(edwards25519.Point).Add(t, t)
		q.Add(q, q)
		if q.Equal(edwards25519.NewIdentityPoint()) == 0 {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no torsion generator found")
}

// scalarInv8 returns 8⁻¹ mod L.
func scalarInv8() *edwards25519.Scalar {
	eight := scalarFromUint(8)
	return new(edwards25519.Scalar).Invert(eight)
}

func scalarFromUint(v uint64) *edwards25519.Scalar {
	b := make([]byte, 32)
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(b)
	if err != nil {
		panic(err)
	}
	return s
}

// onTwist reports whether u is the u-coordinate of a point of the twist
// rather than of Curve25519: u³ + 486662u² + u is not a square mod p.
func onTwist(u *big.Int) bool {
	v := new(big.Int).Exp(u, big.NewInt(3), p)
	u2 := new(big.Int).Mul(u, u)
	v.Add(v, u2.Mul(u2, big.NewInt(486662)))
	v.Add(v, u)
	v.Mod(v, p)
	return v.Sign() != 0 && big.Jacobi(v, p) == -1
}

// x25519 computes the shared secret, or nil when it is all zero.
func x25519(priv, pub []byte) []byte {
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		panic(err)
	}
	P, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil
	}
	s, err := k.ECDH(P)
	if err != nil {
		return nil
	}
	return s
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var x25519Area = areaDef{
	name: "x25519",
	build: func(a *area) (any, error) {
		g := vectors.X25519Group{Type: "X25519", Curve: "curve25519"}
		add := func(t vectors.X25519Test) { g.Tests = append(g.Tests, t) }
		valid := func(name, comment string, priv, pub []byte, flags ...string) {
			s := x25519(priv, pub)
			if s == nil {
				a.fail("%s: unexpected zero shared secret", name)
			}
			add(vectors.X25519Test{Test: a.valid(name, comment, "SUITE-002", flags...), Private: priv, Public: pub, Shared: s})
		}
		invalid := func(name, comment, req string, priv, pub []byte, flags ...string) {
			if len(pub) == 32 && x25519(priv, pub) != nil {
				a.fail("%s: low-order point gives a non-zero secret", name)
			}
			add(vectors.X25519Test{Test: a.invalid(name, comment, req, "illegal_parameter", flags...),
				Private: priv, Public: pub, Shared: vectors.Hex{}})
		}

		valid("rfc7748-5.2-1", "RFC 7748 §5.2, first vector", mustHex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
			mustHex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"), "RFC7748")
		valid("rfc7748-5.2-2", "RFC 7748 §5.2, second vector (bit 255 of u set)", mustHex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
			mustHex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"), "RFC7748", "HighBitSet")
		valid("rfc7748-6.1", "RFC 7748 §6.1, Alice's private key and Bob's public key", mustHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
			mustHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"), "RFC7748")
		for i := 0; i < 4; i++ {
			name := fmt.Sprintf("random-%d", i)
			priv := randBytes(a.name, name+"/priv", 32)
			k, _ := ecdh.X25519().NewPrivateKey(randBytes(a.name, name+"/peer", 32))
			valid(name, "ephemeral keys from the generator's seed", priv, k.PublicKey().Bytes(), "Normal")
		}
		priv := randBytes(a.name, "edge/priv", 32)
		k, _ := ecdh.X25519().NewPrivateKey(randBytes(a.name, "edge/peer", 32))
		pub := k.PublicKey().Bytes()
		valid("high-bit-set", "a valid share with bit 255 set: the same secret as without it", priv,
			func() []byte { b := bytes.Clone(pub); b[31] |= 0x80; return b }(), "HighBitSet")
		for _, v := range []int64{2, 3, 4, 9} {
			u := big.NewInt(v)
			flags := []string{"Normal"}
			where := "on the curve"
			if onTwist(u) {
				flags, where = []string{"Twist"}, "on the twist"
			}
			valid(fmt.Sprintf("u-%d", v), fmt.Sprintf("u = %d, %s", v, where), priv, uBytes(u, false), flags...)
			nc := new(big.Int).Add(p, u)
			valid(fmt.Sprintf("u-p-plus-%d", v), fmt.Sprintf("u = p + %d, non-canonical encoding of %d", v, v), priv,
				uBytes(nc, false), "NonCanonicalPublic")
		}
		low, err := lowOrderU()
		if err != nil {
			return nil, err
		}
		names := []string{"zero", "one", "order-8-a", "order-8-b", "p-minus-1", "p", "p-plus-1"}
		if len(low) != len(names) {
			return nil, fmt.Errorf("found %d low-order u-coordinates, want %d", len(low), len(names))
		}
		for i, u := range low {
			flags := []string{"LowOrderPublic"}
			if u.Cmp(p) >= 0 {
				flags = append(flags, "NonCanonicalPublic")
			}
			invalid("low-order-"+names[i], fmt.Sprintf("low-order u-coordinate %s", names[i]), "SUITE-002", priv, uBytes(u, false), flags...)
			invalid("low-order-"+names[i]+"-high-bit", fmt.Sprintf("low-order u-coordinate %s with bit 255 set", names[i]),
				"SUITE-002", priv, uBytes(u, true), append(flags, "HighBitSet")...)
		}
		invalid("length-31", "a 31-byte share", "HS-003", priv, pub[:31], "WrongLength")
		invalid("length-33", "a 33-byte share", "HS-003", priv, append(bytes.Clone(pub), 0), "WrongLength")
		invalid("length-0", "an empty share", "HS-003", priv, []byte{}, "WrongLength")
		invalid("length-64", "two shares concatenated", "HS-003", priv, append(bytes.Clone(pub), pub...), "WrongLength")
		return file(a, []string{
			"X25519 key agreement (RFC 7748) as SealFeed uses it for group 0x0001 (SUITE-002).",
			"Run each test both as the server (respond to the client's share Public with the ephemeral Private) and as the client (finish with the server's share Public).",
			"An all-zero shared secret and a share of the wrong length are rejected with illegal_parameter.",
		}, []vectors.X25519Group{g}), nil
	},
	schema: func() map[string]any {
		return fileSchema("x25519", "SealFeed v1 X25519 vectors",
			obj{"type": constant("X25519"), "curve": constant("curve25519")}, nil,
			obj{"private": hexLen(32), "public": hexAny(), "shared": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}}, nil)
	},
}

const (
	mlkemEKLen = mlkem.EncapsulationKeySize768
	mlkemCTLen = mlkem.CiphertextSize768
)

var hybridArea = areaDef{
	name: "x25519mlkem768",
	build: func(a *area) (any, error) {
		g := vectors.HybridGroup{Type: "X25519MLKEM768", Group: suite.GroupX25519MLKEM768}
		type kex struct{ clientSeed, clientShare, serverRandom, serverShare, shared []byte }
		run := func(name string) (kex, error) {
			var k kex
			k.clientSeed = randBytes(a.name, name+"/client", 96)
			k.serverRandom = randBytes(a.name, name+"/server", 64)
			cs, err := suite.NewClientShare(suite.GroupX25519MLKEM768, bytes.NewReader(k.clientSeed))
			if err != nil {
				return k, err
			}
			k.clientShare = cs.Public()
			k.serverShare, k.shared, err = suite.ServerRespond(suite.GroupX25519MLKEM768, k.clientShare, detrand.New(bytes.NewReader(k.serverRandom)))
			if err != nil {
				return k, err
			}
			// Independent check of the layout with crypto/mlkem and crypto/ecdh.
			dk, _ := mlkem.NewDecapsulationKey768(k.clientSeed[:64])
			ek, _ := mlkem.NewEncapsulationKey768(k.clientShare[:mlkemEKLen])
			ss, ct, _ := mlkemtest.Encapsulate768(ek, k.serverRandom[:32])
			if !bytes.Equal(dk.EncapsulationKey().Bytes(), k.clientShare[:mlkemEKLen]) ||
				!bytes.Equal(ct, k.serverShare[:mlkemCTLen]) || !bytes.Equal(ss, k.shared[:32]) ||
				!bytes.Equal(x25519(k.clientSeed[64:], k.serverShare[mlkemCTLen:]), k.shared[32:]) {
				return k, fmt.Errorf("%s: hybrid layout differs from SUITE-003", name)
			}
			return k, nil
		}
		add := func(t vectors.HybridTest) { g.Tests = append(g.Tests, t) }
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("exchange-%d", i)
			k, err := run(name)
			if err != nil {
				return nil, err
			}
			add(vectors.HybridTest{Test: a.valid(name, "a complete hybrid exchange", "SUITE-003", "Normal"), Operation: "exchange",
				ClientSeed: k.clientSeed, ClientShare: k.clientShare, ServerRandom: k.serverRandom, ServerShare: k.serverShare, Shared: k.shared})
		}
		base, err := run("mutations")
		if err != nil {
			return nil, err
		}
		respond := func(name, comment, req string, share []byte, flags ...string) {
			add(vectors.HybridTest{Test: a.invalid(name, comment, req, "illegal_parameter", flags...), Operation: "respond",
				ClientSeed: vectors.Hex{}, ClientShare: share, ServerRandom: base.serverRandom, ServerShare: vectors.Hex{}, Shared: vectors.Hex{}})
		}
		finish := func(name, comment, req string, share []byte, flags ...string) {
			add(vectors.HybridTest{Test: a.invalid(name, comment, req, "illegal_parameter", flags...), Operation: "finish",
				ClientSeed: base.clientSeed, ClientShare: base.clientShare, ServerRandom: vectors.Hex{}, ServerShare: share, Shared: vectors.Hex{}})
		}
		// setCoeff writes the 12-bit coefficient i of the encoded vector t̂.
		setCoeff := func(ek []byte, i int, v uint16) []byte {
			ek = bytes.Clone(ek)
			j := i / 2 * 3
			if i%2 == 0 {
				ek[j] = byte(v)
				ek[j+1] = ek[j+1]&0xf0 | byte(v>>8)
			} else {
				ek[j+1] = ek[j+1]&0x0f | byte(v<<4)
				ek[j+2] = byte(v >> 4)
			}
			return ek
		}
		respond("ek-coefficient-0-is-q", "the first coefficient of the encapsulation key equals q = 3329", "SUITE-003",
			setCoeff(base.clientShare, 0, 3329), "InvalidEncapsulationKey")
		respond("ek-coefficient-0-is-4095", "the first coefficient of the encapsulation key is 4095", "SUITE-003",
			setCoeff(base.clientShare, 0, 4095), "InvalidEncapsulationKey")
		respond("ek-coefficient-767-is-q", "the last coefficient of the encapsulation key equals q", "SUITE-003",
			setCoeff(base.clientShare, 767, 3329), "InvalidEncapsulationKey")
		respond("ek-coefficient-301-is-q-plus-1", "coefficient 301 (the odd half of a byte triple) equals q + 1", "SUITE-003",
			setCoeff(base.clientShare, 301, 3330), "InvalidEncapsulationKey")
		respond("client-share-short", "client share one byte short (1215 bytes)", "HS-003", base.clientShare[:len(base.clientShare)-1], "WrongLength")
		respond("client-share-long", "client share one byte long (1217 bytes)", "HS-003", append(bytes.Clone(base.clientShare), 0), "WrongLength")
		respond("client-share-x25519-only", "only the 32-byte X25519 half", "HS-003", base.clientShare[mlkemEKLen:], "WrongLength")
		respond("client-x25519-zero", "the X25519 half is the low-order point u = 0", "SUITE-002",
			append(bytes.Clone(base.clientShare[:mlkemEKLen]), make([]byte, 32)...), "LowOrderPublic")
		respond("client-x25519-one", "the X25519 half is the low-order point u = 1", "SUITE-002",
			append(bytes.Clone(base.clientShare[:mlkemEKLen]), uBytes(big.NewInt(1), false)...), "LowOrderPublic")
		finish("server-share-short", "ciphertext one byte short (server share 1119 bytes)", "SUITE-003", base.serverShare[:len(base.serverShare)-1], "WrongLength")
		finish("server-share-long", "server share one byte long (1121 bytes)", "SUITE-003", append(bytes.Clone(base.serverShare), 0), "WrongLength")
		finish("server-share-x25519-only", "only the 32-byte X25519 half", "SUITE-003", base.serverShare[mlkemCTLen:], "WrongLength")
		finish("server-x25519-zero", "the X25519 half of the server share is u = 0", "SUITE-002",
			append(bytes.Clone(base.serverShare[:mlkemCTLen]), make([]byte, 32)...), "LowOrderPublic")
		finish("server-x25519-p", "the X25519 half of the server share is u = p (non-canonical zero)", "SUITE-002",
			append(bytes.Clone(base.serverShare[:mlkemCTLen]), uBytes(p, false)...), "LowOrderPublic", "NonCanonicalPublic")
		// Implicit rejection: the client obtains a different secret, no error.
		for _, pos := range []int{0, 500, mlkemCTLen - 1} {
			name := fmt.Sprintf("ciphertext-bit-flip-%d", pos)
			share := bytes.Clone(base.serverShare)
			share[pos] ^= 0x01
			cs, err := suite.NewClientShare(suite.GroupX25519MLKEM768, bytes.NewReader(base.clientSeed))
			if err != nil {
				return nil, err
			}
			shared, err := cs.Finish(share)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			if bytes.Equal(shared[:32], base.shared[:32]) {
				return nil, fmt.Errorf("%s: implicit rejection gave the same secret", name)
			}
			add(vectors.HybridTest{Test: a.valid(name, fmt.Sprintf("ciphertext byte %d flipped: implicit rejection yields another ML-KEM secret", pos), "SUITE-003", "ImplicitRejection"),
				Operation: "finish", ClientSeed: base.clientSeed, ClientShare: base.clientShare, ServerRandom: vectors.Hex{}, ServerShare: share, Shared: shared})
		}
		return file(a, []string{
			"The hybrid group X25519MLKEM768 (0x0002, SUITE-003): client share ek (1184) || x25519 (32); server share ct (1088) || x25519 (32); shared secret ML-KEM secret (32) || X25519 secret (32).",
			"clientSeed is d || z (64 bytes, FIPS 203 ML-KEM.KeyGen_internal) || X25519 private key (32); serverRandom is the encapsulation randomness m (32) || X25519 private key (32).",
		}, []vectors.HybridGroup{g}), nil
	},
	schema: func() map[string]any {
		return fileSchema("x25519mlkem768", "SealFeed v1 X25519MLKEM768 vectors",
			obj{"type": constant("X25519MLKEM768"), "group": constant(2)}, nil,
			obj{"operation": enum("exchange", "respond", "finish"), "clientSeed": obj{"type": "string", "pattern": "^([0-9a-f]{192})?$"},
				"clientShare": hexAny(), "serverRandom": obj{"type": "string", "pattern": "^([0-9a-f]{128})?$"},
				"serverShare": hexAny(), "shared": obj{"type": "string", "pattern": "^([0-9a-f]{128})?$"}}, nil)
	},
}
