package bench

import (
	"fmt"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/suite"
)

// BenchmarkLimitAEAD is the physical limit of the first pass.
var aeads = []struct {
	name string
	id   uint16
}{{"ChaCha20-Poly1305", suite.AEADChaCha20Poly1305}, {"AES-256-GCM", suite.AEADAES256GCM}}

func BenchmarkLimitAEAD(b *testing.B) {
	for _, a := range aeads {
		for _, size := range []int{64, 256, 1024, 16384} {
			b.Run(fmt.Sprintf("%s/S=%d", a.name, size), func(b *testing.B) { AEAD(b, a.id, size) })
		}
	}
}

// BenchmarkLimitComposite is AEAD plus SHA-256 over the sealed bytes.
func BenchmarkLimitComposite(b *testing.B) {
	for _, a := range aeads {
		for _, size := range []int{64, 1024, 16384} {
			b.Run(fmt.Sprintf("%s+SHA-256/S=%d", a.name, size), func(b *testing.B) { Composite(b, a.id, size) })
		}
	}
}

// BenchmarkProtocolWork is the work per recipient and per batch that the
// protocol requires besides the passes over every byte.
func BenchmarkProtocolWork(b *testing.B) {
	b.Run("recipient-tag", RecipientTag)
	b.Run("merkle-node", MerkleNode)
	b.Run("sign-batch", SignBatch)
}

// BenchmarkBaselinePerMessageSign seals and signs every message.
func BenchmarkBaselinePerMessageSign(b *testing.B) {
	for _, a := range aeads {
		b.Run(a.name, func(b *testing.B) { PerMessageSign(b, a.id) })
	}
}
