package bench

import (
	"fmt"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/suite"
)

// BenchmarkLimitAEAD is the physical limit of the first pass.
func BenchmarkLimitAEAD(b *testing.B) {
	for _, a := range []struct {
		name string
		id   uint16
	}{{"ChaCha20-Poly1305", suite.AEADChaCha20Poly1305}, {"AES-256-GCM", suite.AEADAES256GCM}} {
		for _, size := range []int{64, 256, 1024, 16384} {
			b.Run(fmt.Sprintf("%s/S=%d", a.name, size), func(b *testing.B) { AEAD(b, a.id, size) })
		}
	}
}

// BenchmarkLimitComposite is AEAD plus SHA-256 over the sealed bytes.
func BenchmarkLimitComposite(b *testing.B) {
	for _, size := range []int{64, 1024, 16384} {
		b.Run(fmt.Sprintf("ChaCha20-Poly1305+SHA-256/S=%d", size), func(b *testing.B) { Composite(b, size) })
	}
}

// BenchmarkBaselinePerMessageSign seals and signs every message.
func BenchmarkBaselinePerMessageSign(b *testing.B) { PerMessageSign(b) }
