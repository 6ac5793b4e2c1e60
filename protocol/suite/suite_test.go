package suite

import (
	"bytes"
	"errors"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/internal/detrand"
	"github.com/sealfeed/sealfeed/protocol/alert"
)

type seeded struct{ r *mrand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func newSeeded(seed byte) seeded { return seeded{mrand.NewChaCha8([32]byte{seed})} }

func alertOf(t *testing.T, err error) alert.Code {
	t.Helper()
	var e *alert.Error
	if !errors.As(err, &e) {
		t.Fatalf("no alert in %v", err)
	}
	return e.Code
}

// SUITE-001, SUITE-003, SUITE-004.
func TestKeyExchangeAgrees(t *testing.T) {
	for _, g := range []uint16{GroupX25519, GroupX25519MLKEM768} {
		c, err := NewClientShare(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Public()) != ClientShareLen(g) {
			t.Fatalf("group %d: client share %d bytes", g, len(c.Public()))
		}
		pub, ss, err := ServerRespond(g, c.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(pub) != ServerShareLen(g) {
			t.Fatalf("group %d: server share %d bytes", g, len(pub))
		}
		cs, err := c.Finish(pub)
		if err != nil {
			t.Fatal(err)
		}
		want := 32
		if g == GroupX25519MLKEM768 {
			want = 64
		}
		if !bytes.Equal(cs, ss) || len(ss) != want {
			t.Fatalf("group %d: shared secrets differ or wrong length", g)
		}
	}
}

func TestDeterministicWithInjectedRand(t *testing.T) {
	for _, g := range []uint16{GroupX25519, GroupX25519MLKEM768} {
		run := func() ([]byte, []byte, []byte) {
			r := newSeeded(7)
			c, err := NewClientShare(g, r)
			if err != nil {
				t.Fatal(err)
			}
			pub, ss, err := ServerRespond(g, c.Public(), detrand.New(r))
			if err != nil {
				t.Fatal(err)
			}
			return c.Public(), pub, ss
		}
		a1, b1, s1 := run()
		a2, b2, s2 := run()
		if !bytes.Equal(a1, a2) || !bytes.Equal(b1, b2) || !bytes.Equal(s1, s2) {
			t.Fatalf("group %d: injected randomness is not deterministic", g)
		}
	}
}

// Low-order X25519 u-coordinates (RFC 7748 §6.1 discussion; the list used by
// libsodium and Wycheproof), including their non-canonical encodings.
var lowOrder = [][]byte{
	hex32("0000000000000000000000000000000000000000000000000000000000000000"),
	hex32("0100000000000000000000000000000000000000000000000000000000000000"),
	hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
	hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
	hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
}

func hex32(s string) []byte {
	b := make([]byte, 32)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b
}

func TestLowOrderSharesRejected(t *testing.T) {
	for i, p := range lowOrder {
		if _, _, err := ServerRespond(GroupX25519, p, nil); err == nil || alertOf(t, err) != alert.IllegalParameter {
			t.Errorf("server accepted low-order point %d: %v", i, err)
		}
		c, _ := NewClientShare(GroupX25519, nil)
		if _, err := c.Finish(p); err == nil || alertOf(t, err) != alert.IllegalParameter {
			t.Errorf("client accepted low-order point %d: %v", i, err)
		}
		h, _ := NewClientShare(GroupX25519MLKEM768, nil)
		// A valid ML-KEM half with a low-order X25519 half is still rejected.
		ct, _, _ := ServerRespond(GroupX25519MLKEM768, h.Public(), nil)
		bad := append(append([]byte{}, ct[:mlkemCTLen]...), p...)
		if _, err := h.Finish(bad); err == nil || alertOf(t, err) != alert.IllegalParameter {
			t.Errorf("hybrid accepted low-order X25519 half %d: %v", i, err)
		}
	}
}

// SUITE-003: lengths and the FIPS 203 modulus check.
func TestShareLengthsAndMalformedMLKEM(t *testing.T) {
	c, _ := NewClientShare(GroupX25519MLKEM768, nil)
	pub := c.Public()
	for _, n := range []int{0, 31, 33, len(pub) - 1, len(pub) + 1} {
		in := make([]byte, n)
		copy(in, pub)
		if _, _, err := ServerRespond(GroupX25519MLKEM768, in, nil); err == nil || alertOf(t, err) != alert.IllegalParameter {
			t.Errorf("length %d accepted", n)
		}
	}
	// FIPS 203 modulus check: a coefficient of 0xfff (>= q) in the encapsulation key.
	bad := append([]byte{}, pub...)
	bad[0], bad[1] = 0xff, 0x0f
	if _, _, err := ServerRespond(GroupX25519MLKEM768, bad, nil); err == nil || alertOf(t, err) != alert.IllegalParameter {
		t.Errorf("non-reduced ML-KEM key accepted: %v", err)
	}
	if _, err := c.Finish(make([]byte, 10)); err == nil {
		t.Error("short server share accepted")
	}
	if _, _, err := ServerRespond(0x0a0a, make([]byte, 32), nil); err == nil {
		t.Error("unknown group accepted")
	}
}

func TestNewAEAD(t *testing.T) {
	key := make([]byte, 32)
	for _, a := range []uint16{AEADChaCha20Poly1305, AEADAES256GCM} {
		aead, err := NewAEAD(a, key)
		if err != nil || aead.NonceSize() != NonceSize || aead.Overhead() != TagSize {
			t.Fatalf("AEAD %d: %v", a, err)
		}
	}
	if _, err := NewAEAD(0x0a0a, key); err == nil {
		t.Fatal("GREASE AEAD constructed")
	}
	if _, err := NewAEAD(AEADAES256GCM, key[:16]); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestParseAEADs(t *testing.T) {
	if AEADName(AEADAES256GCM) != "AES-256-GCM" || AEADName(0x0003) != "0x0003" {
		t.Fatalf("AEADName: %q, %q", AEADName(AEADAES256GCM), AEADName(0x0003))
	}
	for in, want := range map[string][]uint16{
		"chacha20-poly1305":              {AEADChaCha20Poly1305},
		"AES-256-GCM, chacha20-poly1305": {AEADAES256GCM, AEADChaCha20Poly1305},
	} {
		if got, err := ParseAEADs(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseAEADs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                               `unknown AEAD ""`,
		"aes-128-gcm":                    `unknown AEAD "aes-128-gcm"`,
		"aes-256-gcm,,chacha20-poly1305": `unknown AEAD ""`,
		"aes-256-gcm, aes-256-gcm":       `AEAD "aes-256-gcm" listed twice`,
	} {
		if _, err := ParseAEADs(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseAEADs(%q) error %v, want %q", in, err, msg)
		}
	}
}

// Only the vectors' detrand.Reader derandomizes the ML-KEM encapsulation: a
// plain deterministic reader still gets a fresh encapsulation each time, and
// reads only the X25519 seed.
func TestMLKEMEncapsulationDerandomizedOnlyByDetrand(t *testing.T) {
	c, err := NewClientShare(GroupX25519MLKEM768, nil)
	if err != nil {
		t.Fatal(err)
	}
	respond := func(r io.Reader) []byte {
		pub, _, err := ServerRespond(GroupX25519MLKEM768, c.Public(), r)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	seed := bytes.Repeat([]byte{7}, 64)
	plain := bytes.NewReader(seed)
	p1, p2 := respond(plain), respond(bytes.NewReader(seed))
	if bytes.Equal(p1[:mlkemCTLen], p2[:mlkemCTLen]) {
		t.Error("a plain reader derandomized the ML-KEM encapsulation")
	}
	if plain.Len() != 32 {
		t.Errorf("a plain reader gave %d bytes, want 32 (the X25519 seed only)", 64-plain.Len())
	}
	d1, d2 := respond(detrand.New(bytes.NewReader(seed))), respond(detrand.New(bytes.NewReader(seed)))
	if !bytes.Equal(d1, d2) {
		t.Error("detrand.Reader did not derandomize the ML-KEM encapsulation")
	}
}
