package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// HS-011: the server picks the AEAD by its own preference — by default
// suite.SupportedAEADs (ChaCha20-Poly1305 first), else the configured list —
// and batches are delivered under either.
func TestServerAEADPreference(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aeads []uint16
		want  uint16
	}{
		{"default", nil, suite.AEADChaCha20Poly1305},
		{"aes-256-gcm first", []uint16{suite.AEADAES256GCM, suite.AEADChaCha20Poly1305}, suite.AEADAES256GCM},
		{"chacha20-poly1305 only", []uint16{suite.AEADChaCha20Poly1305}, suite.AEADChaCha20Poly1305},
		{"aes-256-gcm only", []uint16{suite.AEADAES256GCM}, suite.AEADAES256GCM},
		{"chacha20-poly1305 first", []uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM}, suite.AEADChaCha20Poly1305},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.AEADs = tc.aeads })
			// The handshake client offers both, ChaCha20-Poly1305 first.
			ws, s := connected(t, tn)
			ws.Close()
			if s.State().AEAD != tc.want {
				t.Fatalf("negotiated AEAD %#04x, want %#04x", s.State().AEAD, tc.want)
			}
			c := tn.dial(t, nil)
			msg := []byte("sealed under " + tc.name)
			if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: msg}, ""); err != nil {
				t.Fatal(err)
			}
			if got := collect(t, c, 1, 5*time.Second); !bytes.Equal(got[0].Payload, msg) {
				t.Fatalf("got %q", got[0].Payload)
			}
		})
	}
}
