package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/sealed"
)

var (
	sealFuzzIdentity  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	sealFuzzPublisher = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	sealFuzzNow       = time.Unix(1_800_000_000, 0)
)

// sealFuzzSeeds returns a key of each suite with an envelope sealed to it.
func sealFuzzSeeds() ([]*sealed.Key, [][]byte) {
	var ks []*sealed.Key
	var envs [][]byte
	for _, s := range []sealed.Suite{sealed.SuiteX25519, sealed.SuiteHybrid} {
		k, err := sealed.NewKey(sealFuzzIdentity, s, sealFuzzNow, 0)
		if err != nil {
			panic(err)
		}
		rec, err := sealed.VerifyRecord(k.Record.Raw(), sealFuzzIdentity.Public().(ed25519.PublicKey), sealFuzzNow)
		if err != nil {
			panic(err)
		}
		env, err := sealed.Seal(rec, sealFuzzPublisher, []byte("fuzz payload"), sealFuzzNow)
		if err != nil {
			panic(err)
		}
		ks, envs = append(ks, k), append(envs, env)
	}
	return ks, envs
}

// FuzzParseSealKeyRecord: no panic; an accepted record keeps its bytes
// (SEAL-003) and names a suite of SEAL-001.
func FuzzParseSealKeyRecord(f *testing.F) {
	ks, _ := sealFuzzSeeds()
	for _, k := range ks {
		raw := k.Record.Raw()
		f.Add(raw)
		f.Add(raw[:len(raw)-1])
		f.Add(append(bytes.Clone(raw), 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := sealed.ParseRecord(b)
		if err != nil {
			if sealed.CodeOf(err) == "" {
				t.Fatalf("rejection without a registry code: %v", err)
			}
			return
		}
		s := k.Suite
		suiteOK := (s.KEM == sealed.KEMX25519 || s.KEM == sealed.KEMMLKEM768X25519) && s.KDF == sealed.KDFHKDFSHA256 &&
			(s.AEAD == sealed.AEADChaCha20 || s.AEAD == sealed.AEADAES128GCM)
		if !bytes.Equal(k.Raw(), b) || !suiteOK {
			t.Fatal("accepted record does not keep its bytes or names another suite")
		}
	})
}

// FuzzOpenSealed: no panic, every rejection carries a registry code, and
// only the envelopes as sealed open: every change to an envelope is
// rejected (SEAL-013, SEAL-023), since the header is in the HPKE info, enc
// in the KEM context and the rest is AEAD ciphertext.
func FuzzOpenSealed(f *testing.F) {
	ks, envs := sealFuzzSeeds()
	pk, _ := sig.ParsePublicKey(sealFuzzPublisher.Public().(ed25519.PublicKey))
	o := &sealed.Opener{Keys: ks, Publishers: []*sig.PublicKey{pk}}
	for _, e := range envs {
		f.Add(e)
		f.Add(e[:len(e)-1])
		f.Add(append(bytes.Clone(e), 0))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := o.Open(b)
		if err != nil {
			if sealed.CodeOf(err) == "" || got != nil {
				t.Fatalf("rejection without a registry code, or with output: %v", err)
			}
			return
		}
		if !bytes.Equal(b, envs[0]) && !bytes.Equal(b, envs[1]) {
			t.Fatal("an altered envelope opened")
		}
		if string(got.Payload) != "fuzz payload" {
			t.Fatal("opened to another payload")
		}
	})
}
