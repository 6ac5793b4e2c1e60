package restapi

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// auditFixture is a publishFixture whose API logs JSON into buf.
func auditFixture(t *testing.T) (*publishFixture, *bytes.Buffer) {
	t.Helper()
	f := newPublishFixture(t, 3, 1)
	var buf bytes.Buffer
	f.api.log = slog.New(slog.NewJSONHandler(&buf, nil))
	f.api.cfg.ClientIP = func(*http.Request) string { return "203.0.113.9" }
	return f, &buf
}

// auditLines parses every line of buf as JSON (OPS-050) and returns the
// audit lines.
func auditLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if rec["msg"] == AuditMessage {
			out = append(out, rec)
		}
	}
	return out
}

var generatedRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAuditAcceptedPublish: one audit line per accepted publish with the
// key ID, the resolved client address, the request ID the answer carries,
// the message count and the status, and nothing of the payload or the
// signature (OPS-052, OPS-053).
func TestAuditAcceptedPublish(t *testing.T) {
	f, buf := auditFixture(t)
	w := httptest.NewRecorder()
	f.api.ServeHTTP(w, f.reqs[0])
	if w.Code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", w.Code, w.Body)
	}
	lines := auditLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("%d audit lines, want 1:\n%s", len(lines), buf)
	}
	rec := lines[0]
	rid := w.Header().Get(HeaderRequestID)
	if !generatedRequestID.MatchString(rid) {
		t.Errorf("Request-Id %q, want 32 hex digits", rid)
	}
	key := f.reqs[0].Header.Get("Signature")
	keyID := sig.Fingerprint(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey))
	want := map[string]any{"outcome": "accepted", "request_id": rid, "keyid": keyID, "remote": "203.0.113.9",
		"path": "/v1/messages/bulk", "messages": 3.0, "status": 202.0}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("audit %s = %v, want %v", k, rec[k], v)
		}
	}
	if _, ok := rec["problem"]; ok {
		t.Errorf("accepted publish logged a problem: %v", rec)
	}
	payload := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 256))
	sigValue := key[strings.Index(key, ":")+1:]
	for _, secret := range []string{payload[:40], sigValue} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// TestAuditRefusedPublish: a refused publish, whether its signature fails,
// its body is invalid or the node drains, gets one audit line with the
// status and problem type, and its problem detail names the Request-Id of
// the answer (OPS-052, OPS-053).
func TestAuditRefusedPublish(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	keyID := sig.Fingerprint(key.Public().(ed25519.PublicKey))
	signed := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "http://sealfeed.test/v1/messages", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := httpsig.Sign(r, []byte(body), keyID, key, time.Now(), base64.RawURLEncoding.EncodeToString([]byte(body[:min(len(body), 12)]+"nonce-pad"))); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tampered := signed(`{"to":["` + strings.Repeat("00", 32) + `"],"text":"hello"}`)
	tampered.Body = http.NoBody // the digest no longer matches
	for _, tc := range []struct {
		name     string
		req      *http.Request
		drain    bool
		status   int
		problem  string
		keyID    string
		messages float64
	}{
		{"unsigned", httptest.NewRequest("POST", "http://sealfeed.test/v1/messages", strings.NewReader(`{}`)), false, 401, "unsigned", "", 0},
		{"bad digest", tampered, false, 400, "bad-digest", "", 0},
		{"invalid message", signed(`{"to":["` + strings.Repeat("00", 32) + `"],"text":"hi","ttl":0}`), false, 422, "invalid-message", keyID, 1},
		{"draining", signed(`{"to":[]}`), true, 503, "unavailable", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, buf := auditFixture(t)
			if tc.drain {
				f.api.Drain()
			}
			w := httptest.NewRecorder()
			f.api.ServeHTTP(w, tc.req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			rid := w.Header().Get(HeaderRequestID)
			if rid == "" || p.RequestID != rid {
				t.Errorf("problem request_id %q, header %q", p.RequestID, rid)
			}
			lines := auditLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("%d audit lines, want 1:\n%s", len(lines), buf)
			}
			rec := lines[0]
			want := map[string]any{"outcome": "refused", "request_id": rid, "keyid": tc.keyID, "remote": "203.0.113.9",
				"messages": tc.messages, "status": float64(tc.status), "problem": tc.problem}
			for k, v := range want {
				if rec[k] != v {
					t.Errorf("audit %s = %v, want %v", k, rec[k], v)
				}
			}
		})
	}
}

// TestRequestIDFromRequest: a well-formed Request-Id is kept, one that is
// repeated, too long or holds characters that could forge a log line is
// replaced by a generated one; requests other than publishes carry one too
// but are not audited (OPS-053).
func TestRequestIDFromRequest(t *testing.T) {
	f, buf := auditFixture(t)
	for _, tc := range []struct {
		ids  []string
		keep bool
	}{
		{[]string{"req-42_a.b:c"}, true},
		{[]string{strings.Repeat("a", maxRequestIDLen)}, true},
		{[]string{strings.Repeat("a", maxRequestIDLen+1)}, false},
		{[]string{"a b"}, false},
		{[]string{"a\"}"}, false},
		{[]string{""}, false},
		{[]string{"one", "two"}, false},
		{nil, false},
	} {
		r := httptest.NewRequest("GET", "http://sealfeed.test/healthz", nil)
		for _, id := range tc.ids {
			r.Header.Add(HeaderRequestID, id)
		}
		w := httptest.NewRecorder()
		f.api.ServeHTTP(w, r)
		got := w.Header().Get(HeaderRequestID)
		if tc.keep && got != tc.ids[0] {
			t.Errorf("Request-Id %q: answered %q, want it kept", tc.ids, got)
		}
		if !tc.keep && !generatedRequestID.MatchString(got) {
			t.Errorf("Request-Id %q: answered %q, want a generated one", tc.ids, got)
		}
	}
	if n := len(auditLines(t, buf)); n != 0 {
		t.Errorf("%d audit lines for requests that are not publishes", n)
	}
}
