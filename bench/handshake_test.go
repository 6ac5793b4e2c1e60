package bench

import (
	"crypto/tls"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/suite"
)

// BenchmarkHandshake measures full handshakes per second, SealFeed's and
// TLS 1.3's with an Ed25519 certificate, for X25519 and the hybrid.
func BenchmarkHandshake(b *testing.B) {
	b.Run("sealfeed/X25519", func(b *testing.B) { Handshake(b, suite.GroupX25519) })
	b.Run("tls13/X25519", func(b *testing.B) { TLSHandshake(b, tls.X25519) })
	b.Run("sealfeed/X25519MLKEM768", func(b *testing.B) { Handshake(b, suite.GroupX25519MLKEM768) })
	b.Run("tls13/X25519MLKEM768", func(b *testing.B) { TLSHandshake(b, tls.X25519MLKEM768) })
}

// BenchmarkBaselineWebPush is the per-message RFC 8291 shape.
func BenchmarkBaselineWebPush(b *testing.B) { WebPush(b) }
