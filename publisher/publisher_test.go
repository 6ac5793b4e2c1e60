package publisher

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
)

// TestRetryAfter503KeepsKeyAndWaits: a publish answered 503 with
// Retry-After is retried with the same Idempotency-Key, signed anew (a new
// Signature-Input: created and nonce), no sooner than Retry-After
// (API-041, API-027).
func TestRetryAfter503KeepsKeyAndWaits(t *testing.T) {
	type attempt struct {
		at        time.Time
		key, sigs string
	}
	var mu sync.Mutex
	var seen []attempt
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, attempt{time.Now(), r.Header.Get("Idempotency-Key"), r.Header.Get("Signature-Input")})
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(503)
			w.Write([]byte(`{"type":"https://sealfeed.dev/problems/unavailable","title":"Message store unavailable","status":503,"rule":"API-041"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(202)
		w.Write([]byte(`{"messages":[],"replayed":true}`))
	}))
	defer srv.Close()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p := New(srv.URL, k)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := p.Publish(ctx, Message{To: [][32]byte{{1}}, Payload: []byte("x")}, "")
	if err != nil || !res.Replayed {
		t.Fatalf("publish: %v %+v", err, res)
	}
	if len(seen) != 2 {
		t.Fatalf("%d attempts, want 2", len(seen))
	}
	if seen[0].key == "" || seen[0].key != seen[1].key {
		t.Fatalf("Idempotency-Key %q then %q, want one key", seen[0].key, seen[1].key)
	}
	if seen[0].sigs == seen[1].sigs {
		t.Fatal("the retry reused the signature parameters (a replay, API-016)")
	}
	if gap := seen[1].at.Sub(seen[0].at); gap < time.Second {
		t.Fatalf("retried after %v, before Retry-After 1 s", gap)
	}
}
