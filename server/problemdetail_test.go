package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/internal/keyfile"
)

// TestProblemDetailsNameWhatTheServerUsed: a signature failure's problem
// says what the server compared, so a publisher can find its mistake, and
// repeats no key, signature, digest or body; a malformed-json problem names
// the field.
//
// API-083 (malformed-signature and incomplete-signature say which part
// is at fault), API-080 (bad-signature names the covered components and the derived
// values the server built its base from), API-081 (stale-request gives
// created, the server's clock and the window), API-082 (malformed-json
// names an unknown field, cut to 64 bytes, or the field of a wrong type),
// API-019 (no echo).
func TestProblemDetailsNameWhatTheServerUsed(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	key, keyID := tn.pubs[0].Key, tn.pubs[0].KeyID
	other, _ := keyfile.Generate()
	to := strings.Repeat("ab", 32)
	body := []byte(`{"to":["` + to + `"],"text":"the body text"}`)
	authority := strings.TrimPrefix(tn.base, "http://")
	n := 0
	send := func(path string, body []byte, sign func(r *http.Request)) (int, problemJSON, string) {
		t.Helper()
		r, _ := http.NewRequest("POST", tn.base+path, bytes.NewReader(body))
		sign(r)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var p problemJSON
		json.Unmarshal(raw, &p)
		for _, secret := range []string{r.Header.Get("Signature")[len("sealfeed=:") : len("sealfeed=:")+20],
			r.Header.Get("Content-Digest")[len("sha-256=:") : len("sha-256=:")+20], keyID, "the body text"} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("problem repeats %q: %s", secret, raw)
			}
		}
		return resp.StatusCode, p, string(raw)
	}
	signed := func(k []byte, created time.Time) func(r *http.Request) {
		return func(r *http.Request) {
			n++
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if err := httpsig.Sign(r, b, keyID, k, created, fmt.Sprintf("problem-detail-nonce-%04d", n)); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("bad signature", func(t *testing.T) {
		st, p, raw := send("/v1/messages", body, signed(other, time.Now()))
		if st != 401 || p.Rule != "API-015" {
			t.Fatalf("%d %s", st, raw)
		}
		for _, want := range []string{
			`covered ("@method" "@authority" "@path" "@query" "content-digest")`,
			`@method "POST"`, `@authority "` + authority + `"`, `@path "/v1/messages"`, `@query "?"`,
		} {
			if !strings.Contains(p.Detail, want) {
				t.Errorf("detail %q lacks %q", p.Detail, want)
			}
		}
	})
	t.Run("signed for another path", func(t *testing.T) {
		// Signed for /v1/messages, sent to /v1/messages/bulk?x=1 (a proxy
		// rewriting the target looks the same): the detail shows the path
		// and query the server used.
		st, p, raw := send("/v1/messages/bulk?x=1", body, func(r *http.Request) {
			orig := *r.URL
			r.URL, _ = url.Parse(tn.base + "/v1/messages")
			signed(key, time.Now())(r)
			r.URL = &orig
		})
		if st != 401 || !strings.Contains(p.Detail, `@path "/v1/messages/bulk"`) || !strings.Contains(p.Detail, `@query "?x=1"`) {
			t.Fatalf("%d %s", st, raw)
		}
	})
	for _, c := range []struct {
		name, input, want, rule string
		status                  int
	}{
		{"unparsable Signature-Input", `sealfeed=(((`, "Signature-Input: ", "API-010", 400},
		{"short nonce", `sealfeed=("@method" "@authority" "@path" "@query" "content-digest");created=%d;nonce="short";keyid="k"`, "nonce must be 16 to 128 characters", "API-010", 400},
		{"no keyid", `sealfeed=("@method" "@authority" "@path" "@query" "content-digest");created=%d;nonce="0123456789abcdef"`, "created, nonce and keyid are required", "API-011", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			input := c.input
			if strings.Contains(input, "%d") {
				input = fmt.Sprintf(input, time.Now().Unix())
			}
			st, p, raw := send("/v1/messages", body, func(r *http.Request) {
				signed(key, time.Now())(r)
				r.Header.Set("Signature-Input", input)
			})
			if st != c.status || p.Rule != c.rule || !strings.Contains(p.Detail, c.want) {
				t.Fatalf("%d %s, want %d %s with %q", st, raw, c.status, c.rule, c.want)
			}
		})
	}
	t.Run("stale", func(t *testing.T) {
		created := time.Now().Add(-10 * time.Minute)
		st, p, raw := send("/v1/messages", body, signed(key, created))
		if st != 401 || p.Rule != "API-013" ||
			!strings.Contains(p.Detail, fmt.Sprintf("created %d is -6", created.Unix())) || !strings.Contains(p.Detail, "the window is ±300 s") {
			t.Fatalf("%d %s", st, raw)
		}
	})
	for _, c := range []struct{ name, body, want string }{
		{"unknown field", `{"to":["` + to + `"],"text":"x","colour":"the body text"}`, `unknown field "colour"`},
		{"long unknown field", `{"to":["` + to + `"],"text":"x","` + strings.Repeat("f", 200) + `":1}`, `unknown field "` + strings.Repeat("f", 64) + `…"`},
		{"wrong type", `{"to":["` + to + `"],"text":"x","ttl":"1h"}`, `wrong JSON type for field "ttl"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, p, raw := send("/v1/messages", []byte(c.body), signed(key, time.Now()))
			if st != 400 || !strings.Contains(p.Type, "malformed-json") || !strings.Contains(p.Detail, c.want) {
				t.Fatalf("%d %s, want detail with %s", st, raw, c.want)
			}
			if strings.Contains(p.Detail, strings.Repeat("f", 65)) {
				t.Fatalf("detail repeats more than 64 bytes of the name: %s", raw)
			}
		})
	}
}

type problemJSON struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Rule   string `json:"rule"`
}
