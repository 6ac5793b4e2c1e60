package publisher

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/vectors"
)

// API-104, API-105: VerifyWebhook, what a publisher's receiver runs,
// accepts the valid webhook vectors and returns their batch with its
// Idempotency-Key, and refuses every invalid one with its alert.
func TestVerifyWebhookVectors(t *testing.T) {
	f, err := vectors.Load[vectors.WebhookGroup]("v1/webhook.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range f.TestGroups {
		key, err := ParseWebhookKey(g.KeyID, base64.StdEncoding.EncodeToString(g.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range g.Tests {
			r, _ := http.NewRequest(tc.Method, tc.TargetURI, bytes.NewReader(tc.Body))
			for _, h := range tc.Headers {
				r.Header.Add(h.Name, h.Value)
			}
			b, err := VerifyWebhook(r, key, time.Unix(int64(g.Now), 0))
			if tc.Result == vectors.Valid {
				if err != nil || len(b.Events) != 2 || b.IdempotencyKey != r.Header.Get("Idempotency-Key") || b.Events[0].MessageID != 41 {
					t.Errorf("tcId %d (%s): %+v, %v", tc.TcID, tc.Comment, b, err)
				}
				continue
			}
			if c, _ := alert.CodeOf(err); err == nil || c.String() != tc.Alert {
				t.Errorf("tcId %d (%s): %v, want %s", tc.TcID, tc.Comment, err, tc.Alert)
			}
		}
	}
}

// API-101: a correctly signed body that is not a batch is refused.
func TestVerifyWebhookBody(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(nil)
	key := WebhookKey{KeyID: sig.Fingerprint(k.Public().(ed25519.PublicKey)), PublicKey: k.Public().(ed25519.PublicKey)}
	ok := `{"publisher":"p","events":[{"type":"expired","id":"00112233445566778899aabbccddeeff","client_id":"` + strings.Repeat("ab", 32) + `","message_id":1,"time":"2026-01-01T00:00:00.000Z"}],"later":1}`
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{ok, true},
		{strings.Replace(ok, `"expired"`, `"delivered"`, 1), false},
		{strings.Replace(ok, `"00112233445566778899aabbccddeeff"`, `"00112233445566778899AABBCCDDEEFF"`, 1), false},
		{strings.Replace(ok, strings.Repeat("ab", 32), strings.Repeat("ab", 31), 1), false},
		{strings.Replace(ok, `"2026-01-01T00:00:00.000Z"`, `"yesterday"`, 1), false},
		{`{"publisher":"p","events":[]}`, false},
		{ok + ` {}`, false},
	} {
		r, _ := http.NewRequest("POST", "https://hooks.example/x", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "k1")
		if _, err := httpsig.SignWebhook(r, []byte(tc.body), key.KeyID, k, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyWebhook(r, key, time.Now()); (err == nil) != tc.ok {
			t.Errorf("body %s: %v, want ok %v", tc.body, err, tc.ok)
		}
	}
}

// API-107: a key ID that is not the key's fingerprint is refused.
func TestParseWebhookKey(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(nil)
	pub := k.Public().(ed25519.PublicKey)
	b64 := base64.StdEncoding.EncodeToString(pub)
	if _, err := ParseWebhookKey(sig.Fingerprint(pub), b64); err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := ParseWebhookKey(sig.Fingerprint(other.Public().(ed25519.PublicKey)), b64); err == nil {
		t.Fatal("a key ID of another key was accepted")
	}
}
