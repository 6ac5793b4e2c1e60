package restapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/server/core"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// nonceStore is a memstore that counts Seen calls, keeps the nonce of
// each Publish and fails Publish with failWith when set.
type nonceStore struct {
	store.Store
	mu       sync.Mutex
	seen     int
	nonces   []*store.Nonce
	failWith error
}

func (s *nonceStore) Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	s.mu.Lock()
	s.seen++
	s.mu.Unlock()
	return s.Store.Seen(ctx, keyID, nonce, expires)
}

func (s *nonceStore) Publish(ctx context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	s.mu.Lock()
	s.nonces = append(s.nonces, req.Nonce)
	fail := s.failWith
	s.mu.Unlock()
	if fail != nil {
		return nil, false, fail
	}
	return s.Store.Publish(ctx, req, onCommit)
}

func (s *nonceStore) counts() (seen, published int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen, len(s.nonces)
}

type nonceFixture struct {
	api   *API
	st    *nonceStore
	key   ed25519.PrivateKey
	keyID string
	n     int
}

func newNonceFixture(t *testing.T) *nonceFixture {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	keyID := sig.Fingerprint(key.Public().(ed25519.PublicKey))
	mem, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &nonceStore{Store: mem}
	hub, err := core.New(core.Config{Key: key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	api := New(Config{Store: st, Hub: hub, Publishers: map[string]ed25519.PublicKey{keyID: key.Public().(ed25519.PublicKey)}})
	return &nonceFixture{api: api, st: st, key: key, keyID: keyID}
}

// signed returns a function that sends one signed request, the same one
// each time it is called.
func (f *nonceFixture) signed(t *testing.T, path, body string) func() (int, string) {
	t.Helper()
	f.n++
	nonce := strings.Repeat("q", 20) + hex.EncodeToString([]byte{byte(f.n)})
	created := time.Now()
	return func() (int, string) {
		r := httptest.NewRequest("POST", "http://sealfeed.test"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := httpsig.Sign(r, []byte(body), f.keyID, f.key, created, nonce); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		f.api.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
}

const nonceTestClient = "c1" + "00000000000000000000000000000000000000000000000000000000000000"

// TestPublishRecordsItsNonceInItsCommit (STORE-016): a publish hands its
// verified nonce to the store's Publish instead of recording it with Seen
// first, and its replay is refused 409 by that Publish.
func TestPublishRecordsItsNonceInItsCommit(t *testing.T) {
	f := newNonceFixture(t)
	send := f.signed(t, "/v1/messages", `{"to":["`+nonceTestClient+`"],"text":"hi"}`)
	if code, body := send(); code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", code, body)
	}
	seen, published := f.st.counts()
	if seen != 0 || published != 1 || f.st.nonces[0] == nil || f.st.nonces[0].KeyID != f.keyID || !strings.HasPrefix(f.st.nonces[0].Nonce, "qqqq") {
		t.Fatalf("after one publish: %d Seen calls, %d Publish calls, nonce %+v; want 0, 1 and the request's nonce", seen, published, f.st.nonces)
	}
	if code, body := send(); code != http.StatusConflict || !strings.Contains(body, "replayed-request") {
		t.Fatalf("the same request again: %d %s, want 409 replayed-request", code, body)
	}
	if n, _ := f.st.PendingCount(context.Background(), [32]byte{0xc1}); n != 1 {
		t.Fatalf("%d messages pending after a publish and its replay, want 1", n)
	}
}

// TestRefusedPublishRecordsItsNonce (API-016, STORE-016): a publish
// refused before or by the store has its nonce recorded before the answer,
// so its replay is answered 409 first, as spec/api.md orders the checks;
// a store that cannot tell makes the answer 503.
func TestRefusedPublishRecordsItsNonce(t *testing.T) {
	for _, c := range []struct {
		name, path, body string
		failWith         error
		status           int
	}{
		{"malformed JSON", "/v1/messages", `{"to":`, nil, 400},
		{"invalid message", "/v1/messages/bulk", `{"messages":[]}`, nil, 422},
		{"pending limit", "/v1/messages", `{"to":["` + nonceTestClient + `"],"text":"hi"}`, store.ErrTooManyPending, 429},
		{"store failure", "/v1/messages", `{"to":["` + nonceTestClient + `"],"text":"hi"}`, errors.New("disk on fire"), 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newNonceFixture(t)
			f.st.failWith = c.failWith
			send := f.signed(t, c.path, c.body)
			if code, body := send(); code != c.status {
				t.Fatalf("first: %d %s, want %d", code, body, c.status)
			}
			if seen, _ := f.st.counts(); seen != 1 {
				t.Fatalf("%d Seen calls for a refused publish, want 1", seen)
			}
			f.st.failWith = nil
			if code, body := send(); code != http.StatusConflict || !strings.Contains(body, "replayed-request") {
				t.Fatalf("its replay: %d %s, want 409 replayed-request", code, body)
			}
		})
	}
	// memstore records the nonce and then refuses the publish: the
	// answer is still the refusal, not a replay of itself.
	t.Run("pending limit, nonce recorded by the store", func(t *testing.T) {
		f := newNonceFixture(t)
		f.api.cfg.MaxPendingPerClient = 1
		body := `{"to":["` + nonceTestClient + `"],"text":"hi"}`
		if code, resp := f.signed(t, "/v1/messages", body)(); code != http.StatusAccepted {
			t.Fatalf("first publish: %d %s", code, resp)
		}
		send := f.signed(t, "/v1/messages", body)
		if code, resp := send(); code != http.StatusTooManyRequests {
			t.Fatalf("over the limit: %d %s, want 429", code, resp)
		}
		if code, resp := send(); code != http.StatusConflict {
			t.Fatalf("its replay: %d %s, want 409", code, resp)
		}
	})
	t.Run("store cannot record the nonce", func(t *testing.T) {
		f := newNonceFixture(t)
		send := f.signed(t, "/v1/messages", `{"to":`)
		f.st.Store.Close()
		if code, body := send(); code != http.StatusServiceUnavailable {
			t.Fatalf("malformed body, store closed: %d %s, want 503", code, body)
		}
	})
}
