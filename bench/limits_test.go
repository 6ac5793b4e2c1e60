package bench

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

// BenchmarkLimitAEAD is the physical limit of the batch path's first pass:
// one AEAD seal per message at the sizes of the benchmark issue.
func BenchmarkLimitAEAD(b *testing.B) {
	for _, a := range []struct {
		name string
		id   uint16
	}{{"ChaCha20-Poly1305", suite.AEADChaCha20Poly1305}, {"AES-256-GCM", suite.AEADAES256GCM}} {
		for _, size := range []int{64, 256, 1024, 16384} {
			b.Run(fmt.Sprintf("%s/S=%d", a.name, size), func(b *testing.B) {
				aead, err := suite.NewAEAD(a.id, make([]byte, 32))
				if err != nil {
					b.Fatal(err)
				}
				pt := make([]byte, size)
				buf := make([]byte, 0, size+16)
				nonce := make([]byte, 12)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					buf = aead.Seal(buf[:0], nonce, pt, nil)
				}
			})
		}
	}
}

// BenchmarkLimitComposite is the composite limit of the passes the design
// makes over every byte: one AEAD seal and one SHA-256 of the sealed leaf
// (the signature commits to ciphertext hashes, spec §10.4).
func BenchmarkLimitComposite(b *testing.B) {
	for _, size := range []int{64, 1024, 16384} {
		b.Run(fmt.Sprintf("ChaCha20-Poly1305+SHA-256/S=%d", size), func(b *testing.B) {
			aead, _ := suite.NewAEAD(suite.AEADChaCha20Poly1305, make([]byte, 32))
			pt := make([]byte, size)
			buf := make([]byte, 0, size+16)
			nonce := make([]byte, 12)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = aead.Seal(buf[:0], nonce, pt, nil)
				_ = sha256.Sum256(buf)
			}
		})
	}
}

// BenchmarkBaselinePerMessageSign is what a user would build instead of
// batches: seal each message and sign each one.
func BenchmarkBaselinePerMessageSign(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	aead, _ := suite.NewAEAD(suite.AEADChaCha20Poly1305, make([]byte, 32))
	pt := make([]byte, 1024)
	buf := make([]byte, 0, 1024+16)
	nonce := make([]byte, 12)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = aead.Seal(buf[:0], nonce, pt, nil)
		_ = sig.Sign(key, keyschedule.SigBatch, buf)
	}
}
