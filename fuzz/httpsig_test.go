package fuzz

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/sealfeed/sealfeed/internal/httpsig"
)

type oneShotNonces map[string]bool

func (n oneShotNonces) Seen(_ context.Context, k, nonce string, _ time.Time) (bool, error) {
	s := n[k+"\x00"+nonce]
	n[k+"\x00"+nonce] = true
	return s, nil
}

// Arbitrary Signature-Input, Signature and Content-Digest values never panic
// the verifier, and never verify without the key's signature.
func FuzzVerifyHTTPSignature(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	r := httptest.NewRequest("POST", "https://push.example/v1/messages", nil)
	httpsig.Sign(r, []byte("body"), "k", fuzzKey, now, "0123456789abcdef")
	sd, _ := httpsfv.UnmarshalDictionary(r.Header.Values("Signature"))
	m, _ := sd.Get(httpsig.Label)
	seedSig := m.(httpsfv.Item).Value.([]byte)
	f.Add(r.Header.Get("Signature-Input"), r.Header.Get("Signature"), r.Header.Get("Content-Digest"), []byte("body"))
	f.Add(`sealfeed=("@method");created=1`, `sealfeed=:AAAA:`, `sha-256=:AA==:`, []byte{})
	f.Fuzz(func(t *testing.T, in, sig, digest string, body []byte) {
		req := httptest.NewRequest("POST", "https://push.example/v1/messages", nil)
		req.Header.Set("Signature-Input", in)
		req.Header.Set("Signature", sig)
		req.Header.Set("Content-Digest", digest)
		v := &httpsig.Verifier{
			Key:    func(string) (ed25519.PublicKey, bool) { return fuzzPub, true },
			Nonces: oneShotNonces{},
			Now:    func() time.Time { return now },
		}
		if _, err := v.Verify(req, body); err == nil {
			// Whatever the spelling of the fields, a verified request carries
			// the seed's signature bytes: nothing else was signed by fuzzKey.
			d, perr := httpsfv.UnmarshalDictionary([]string{sig})
			m, _ := d.Get(httpsig.Label)
			it, _ := m.(httpsfv.Item)
			if got, _ := it.Value.([]byte); perr != nil || !bytes.Equal(got, seedSig) {
				t.Fatalf("forged request verified: %q %q", in, sig)
			}
		}
	})
}
