package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
)

// TestWebhookSurvivesCrash: STORE-030, API-106. `sealfeed serve -webhooks
// -webhook-key` is killed with SIGKILL after a client's acknowledgement
// was committed and while its webhook receiver still refuses every POST;
// started again on the same data, it delivers the `acknowledged` event,
// signed with the key GET /v1/server publishes.
func TestWebhookSurvivesCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs server processes")
	}
	rc := newHookReceiver(t)

	dir := t.TempDir()
	pubKey, _ := keyfile.Generate()
	pubID := sig.Fingerprint(pubKey.Public().(ed25519.PublicKey))
	pem, _ := keyfile.MarshalPublic(pubKey.Public().(ed25519.PublicKey))
	hookKey, _ := keyfile.Generate()
	hookPEM, _ := keyfile.MarshalPrivate(hookKey)
	files := map[string][]byte{
		"publisher.pub": pem,
		"webhook.key":   hookPEM,
		"webhooks.json": fmt.Appendf(nil, `{"publishers": {%q: {"url": %q}}}`, pubID, rc.URL+"/hook"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	args := []string{"-data", filepath.Join(dir, "data"), "-publisher", filepath.Join(dir, "publisher.pub"), "-log-level", "warn",
		"-webhooks", filepath.Join(dir, "webhooks.json"), "-webhook-key", filepath.Join(dir, "webhook.key")}
	srv := startServe(t, addr, args...)
	sk, err := keyfile.LoadPrivate(filepath.Join(dir, "data", "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	var pin [32]byte
	fp, _ := hex.DecodeString(sig.Fingerprint(sk.Public().(ed25519.PublicKey)))
	copy(pin[:], fp)

	ctx := context.Background()
	p := publisher.New("http://"+addr, pubKey)
	c, err := client.Dial(ctx, client.Config{URL: "ws://" + addr + "/v1/ws", PinnedKeyID: &pin})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("ack me")}, "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no message")
	}
	handle := r.Messages[0].ID
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := p.Status(ctx, handle)
		if err == nil && st.State == "acknowledged" {
			break // committed, and with it the event (STORE-030)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not acknowledged: %+v %v", st, err)
		}
	}
	c.Close()
	srv.kill()

	srv = startServe(t, addr, args...)
	defer srv.kill()
	k, err := p.WebhookKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey.Equal(hookKey.Public()) {
		t.Fatal("GET /v1/server publishes another webhook key than -webhook-key")
	}
	rc.accept(k)
	var got []*publisher.WebhookBatch
	for deadline := time.Now().Add(60 * time.Second); len(got) == 0; time.Sleep(20 * time.Millisecond) {
		got = rc.verified()
		if time.Now().After(deadline) {
			t.Fatalf("no webhook after the restart\n%s", srv.output())
		}
	}
	rc.noneBad(t)
	e := got[0].Events
	if got[0].Publisher != pubID || len(e) != 1 || e[0].ID != handle || e[0].Type != publisher.EventAcknowledged {
		t.Fatalf("after the crash: %+v", got[0])
	}
}

// hookReceiver is the webhook receiver of these tests: it refuses every
// POST with 503 until accept gives it the key to check them with, then
// verifies each with publisher.VerifyWebhook and answers 204, or 400 if it
// does not verify. It records every attempt.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	key      *publisher.WebhookKey // nil: 503
	attempts []hookAttempt
	bad      []error
}

type hookAttempt struct {
	key    string // its Idempotency-Key
	batch  *publisher.WebhookBatch
	status int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		a := hookAttempt{key: r.Header.Get("Idempotency-Key"), status: 503}
		if h.key != nil {
			b, err := publisher.VerifyWebhook(r, *h.key, time.Now())
			if err != nil {
				h.bad = append(h.bad, err)
				w.WriteHeader(400)
				return
			}
			a.batch, a.status = b, 204
		}
		h.attempts = append(h.attempts, a)
		w.WriteHeader(a.status)
	}))
	t.Cleanup(h.Close)
	return h
}

// accept makes the receiver verify and accept from now on; it returns the
// attempts it refused before.
func (h *hookReceiver) accept(k publisher.WebhookKey) []hookAttempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.key = &k
	return slices.Clone(h.attempts)
}

// all returns every attempt so far.
func (h *hookReceiver) all() []hookAttempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.attempts)
}

// verified returns the batches accepted so far.
func (h *hookReceiver) verified() []*publisher.WebhookBatch {
	var out []*publisher.WebhookBatch
	for _, a := range h.all() {
		if a.status == 204 {
			out = append(out, a.batch)
		}
	}
	return out
}

// noneBad fails t if a POST did not verify.
func (h *hookReceiver) noneBad(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) != 0 {
		t.Fatalf("POSTs that did not verify: %v", h.bad)
	}
}

// TestWebhooksFile: OPS-061. -webhooks is read strictly: an unknown
// member or a plain-http remote URL fails; -webhooks without -webhook-key
// refuses to start.
func TestWebhooksFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"publishers": {"k": {"url": "https://hooks.example.com/h"}}}`)
	r, err := loadReloadable(serveFlags{webhooks: good})
	if err != nil || r.Webhooks["k"] != "https://hooks.example.com/h" {
		t.Fatalf("good file: %v, %v", r.Webhooks, err)
	}
	for name, s := range map[string]string{
		"unknown.json": `{"publishers": {"k": {"url": "https://hooks.example.com/h", "secret": "x"}}}`,
		"http.json":    `{"publishers": {"k": {"url": "http://hooks.example.com/h"}}}`,
		"two.json":     `{"publishers": {}} {}`,
	} {
		if _, err := loadReloadable(serveFlags{webhooks: write(name, s)}); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	pubKey, _ := keyfile.Generate()
	pem, _ := keyfile.MarshalPublic(pubKey.Public().(ed25519.PublicKey))
	pubFile := write("p.pub", string(pem))
	hooks := write("hooks.json", fmt.Sprintf(`{"publishers": {%q: {"url": "https://hooks.example.com/h"}}}`,
		sig.Fingerprint(pubKey.Public().(ed25519.PublicKey))))
	err = serveCommand([]string{"-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"), "-publisher", pubFile, "-webhooks", hooks},
		&strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "webhook key") {
		t.Fatalf("-webhooks without -webhook-key: %v", err)
	}
}
