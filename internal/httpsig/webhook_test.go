package httpsig

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/vectors"
)

func webhookVectors(t *testing.T) *vectors.File[vectors.WebhookGroup] {
	t.Helper()
	f, err := vectors.Load[vectors.WebhookGroup]("v1/webhook.json")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func vectorRequest(t *testing.T, tc vectors.WebhookTest) *http.Request {
	t.Helper()
	r, err := http.NewRequest(tc.Method, tc.TargetURI, bytes.NewReader(tc.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range tc.Headers {
		r.Header.Add(h.Name, h.Value)
	}
	return r
}

func header(tc vectors.WebhookTest, name string) string {
	for _, h := range tc.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// API-103: SignWebhook, the dispatcher's signer, reproduces the valid
// vectors signed in the profile's order byte for byte, from the key's
// seed, the target, the body, the Idempotency-Key and created.
func TestSignWebhookReproducesVectors(t *testing.T) {
	f := webhookVectors(t)
	n := 0
	for _, g := range f.TestGroups {
		key := ed25519.NewKeyFromSeed(g.SigningSeed)
		for _, tc := range g.Tests {
			si := header(tc, "Signature-Input")
			if tc.Result != vectors.Valid || !regexp.MustCompile(`^sealfeed-webhook=\("@method" "@authority" "@path" "@query" "content-digest" "content-type" "idempotency-key"\)`).MatchString(si) {
				continue
			}
			created, _ := strconv.ParseInt(regexp.MustCompile(`;created=(\d+)`).FindStringSubmatch(si)[1], 10, 64)
			r, _ := http.NewRequest(tc.Method, tc.TargetURI, bytes.NewReader(tc.Body))
			r.Header.Set("Content-Type", header(tc, "Content-Type"))
			r.Header.Set("Idempotency-Key", header(tc, "Idempotency-Key"))
			base, err := SignWebhook(r, tc.Body, g.KeyID, key, time.Unix(created, 0))
			if err != nil {
				t.Fatal(err)
			}
			if created+int64(WebhookLifetime/time.Second) != mustExpires(t, si) {
				continue // a vector with another lifetime
			}
			if !bytes.Equal(base, tc.SignatureBase) || r.Header.Get("Signature-Input") != si || r.Header.Get("Signature") != header(tc, "Signature") ||
				r.Header.Get("Content-Digest") != header(tc, "Content-Digest") {
				t.Errorf("tcId %d: SignWebhook gives\n%s\n%s\nwant\n%s\n%s", tc.TcID, r.Header.Get("Signature-Input"), r.Header.Get("Signature"),
					si, header(tc, "Signature"))
			}
			n++
		}
	}
	if n < 2 {
		t.Fatalf("only %d vectors reproduced", n)
	}
}

func mustExpires(t *testing.T, si string) int64 {
	m := regexp.MustCompile(`;expires=(\d+)`).FindStringSubmatch(si)
	if m == nil {
		t.Fatal("no expires")
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// API-104: VerifyWebhook accepts exactly the valid vectors, refuses each
// invalid one with its alert, and a valid one's base is the vector's.
func TestVerifyWebhookVectors(t *testing.T) {
	f := webhookVectors(t)
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			r := vectorRequest(t, tc)
			err := VerifyWebhook(r, tc.Body, ed25519.PublicKey(g.PublicKey), g.KeyID, time.Unix(int64(g.Now), 0))
			if tc.Result == vectors.Valid {
				if err != nil {
					t.Errorf("tcId %d (%s): %v", tc.TcID, tc.Comment, err)
				}
				continue
			}
			if c, _ := alert.CodeOf(err); err == nil || c.String() != tc.Alert {
				t.Errorf("tcId %d (%s): %v, want %s", tc.TcID, tc.Comment, err, tc.Alert)
			}
		}
	}
}

// API-109: a webhook signature does not pass the publisher-request
// verifier, whatever key it trusts: it has no signature labelled sealfeed.
func TestWebhookSignatureIsNoPublisherSignature(t *testing.T) {
	f := webhookVectors(t)
	g := f.TestGroups[0]
	tc := g.Tests[0]
	r := vectorRequest(t, tc)
	v := &Verifier{Key: func(string) (ed25519.PublicKey, bool) { return ed25519.PublicKey(g.PublicKey), true },
		Nonces: nonceFunc(func() bool { return false }), Now: func() time.Time { return time.Unix(int64(g.Now), 0) }}
	if _, err := v.Verify(r, tc.Body); !errors.Is(err, ErrMissingSignature) {
		t.Fatalf("the publisher verifier on a webhook: %v, want ErrMissingSignature", err)
	}
}

type nonceFunc func() bool

func (f nonceFunc) Seen(context.Context, string, string, time.Time) (bool, error) { return f(), nil }

// countMembers finds repeated labels where the parser keeps one, and is
// not fooled by commas, parentheses or colons inside strings and byte
// sequences.
func TestCountMembers(t *testing.T) {
	for _, tc := range []struct {
		vals []string
		want int
		err  bool
	}{
		{[]string{`a=("x");k="a,b",b=:AA==:`}, 1, false},
		{[]string{`a=:AA==:, a=:AB==:`}, 2, false},
		{[]string{`b=1`, `a=2`, `a=3`}, 2, false},
		{[]string{`b="a=1, a=2"`}, 0, false},
		{[]string{`b=("a" "a,a");p="(,)", a`}, 1, false},
		{[]string{`a="unterminated`}, 0, true},
		{[]string{`a=:AA==`}, 0, true},
		{[]string{`a=("x"`}, 0, true},
	} {
		n, err := countMembers(tc.vals, "a")
		if (err != nil) != tc.err || (!tc.err && n != tc.want) {
			t.Errorf("countMembers(%q) = %d, %v; want %d, error %v", tc.vals, n, err, tc.want, tc.err)
		}
	}
}
