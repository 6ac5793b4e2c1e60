package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/webhook"
)

// hookReceiver is a publisher's webhook endpoint on a loopback port: it
// verifies each POST with the key it was given (from GET /v1/server),
// answers the first `fail` valid ones 500, and records the rest.
type hookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	key     publisher.WebhookKey
	fail    int
	keys    []string // Idempotency-Key of every valid attempt
	batches []*publisher.WebhookBatch
	errs    []error
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.key.PublicKey == nil {
			w.WriteHeader(503)
			return
		}
		b, err := publisher.VerifyWebhook(r, h.key, time.Now())
		if err != nil {
			h.errs = append(h.errs, err)
			w.WriteHeader(400)
			return
		}
		h.keys = append(h.keys, b.IdempotencyKey)
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(500)
			return
		}
		h.batches = append(h.batches, b)
		w.WriteHeader(200)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// events returns the events received so far by message handle.
func (h *hookReceiver) events() map[string]publisher.WebhookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]publisher.WebhookEvent{}
	for _, b := range h.batches {
		for _, e := range b.Events {
			out[e.ID] = e
		}
	}
	return out
}

func fastHooks(c *server.Config) {
	c.Webhook = webhook.Config{Interval: 20 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
}

// TestWebhookEndToEnd: API-100 … API-107 on real sockets. A client's
// acknowledgement arrives at the publisher's receiver as a signed
// `acknowledged` event that verifies with the key GET /v1/server
// publishes; a message that expires arrives as `expired`; a receiver that
// answers 500 twice gets the batch a third time with the same
// Idempotency-Key; another publisher's messages send nothing.
func TestWebhookEndToEnd(t *testing.T) {
	_, hookKey, _ := ed25519.GenerateKey(rand.Reader)
	rc := newHookReceiver(t)
	rc.fail = 2
	var pubID string
	tn := startNode(t, t.TempDir(), 2, func(c *server.Config) {
		fastHooks(c)
		c.WebhookKey = hookKey
		for id := range c.Publishers {
			pubID = id
			break
		}
		c.Webhooks = map[string]string{pubID: rc.srv.URL + "/sealfeed/events?tenant=7"}
	})
	var hooked, other *publisher.Publisher
	for _, p := range tn.pubs {
		if p.KeyID == pubID {
			hooked = p
		} else {
			other = p
		}
	}
	ctx := context.Background()
	key, err := hooked.WebhookKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(hookKey.Public()) || key.KeyID != sig.Fingerprint(hookKey.Public().(ed25519.PublicKey)) {
		t.Fatal("GET /v1/server does not publish the webhook key")
	}
	rc.mu.Lock()
	rc.key = key
	rc.mu.Unlock()

	c := tn.dial(t, nil)
	acked, err := hooked.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("ack me")}, "")
	if err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)
	if _, err := other.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("not hooked")}, ""); err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)
	away := [32]byte{0xaa, 1}
	expired, err := hooked.Publish(ctx, publisher.Message{To: [][32]byte{away}, Payload: []byte("nobody reads this"), TTL: time.Second}, "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both events at the receiver", func() bool { return len(rc.events()) == 2 })
	evs := rc.events()
	a, e := evs[acked.Messages[0].ID], evs[expired.Messages[0].ID]
	if a.Type != publisher.EventAcknowledged || a.ClientID != acked.Messages[0].ClientID || a.MessageID != acked.Messages[0].MessageID {
		t.Fatalf("acknowledged event %+v for %+v", a, acked.Messages[0])
	}
	if e.Type != publisher.EventExpired || e.MessageID != expired.Messages[0].MessageID {
		t.Fatalf("expired event %+v for %+v", e, expired.Messages[0])
	}
	exp, _ := time.Parse(time.RFC3339Nano, expired.Messages[0].Expires)
	if at, _ := time.Parse(time.RFC3339Nano, e.Time); !at.Equal(exp.Truncate(time.Millisecond)) {
		t.Fatalf("expired at %s, the message expired at %s", e.Time, expired.Messages[0].Expires)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.errs) != 0 {
		t.Fatalf("POSTs that did not verify: %v", rc.errs)
	}
	if len(rc.keys) < 3 || rc.keys[0] != rc.keys[1] || rc.keys[1] != rc.keys[2] || rc.keys[2] != rc.batches[0].IdempotencyKey {
		t.Fatalf("the first batch's attempts had keys %v; want one key for the two failures and the success", rc.keys)
	}
	for _, b := range rc.batches {
		if b.Publisher != pubID {
			t.Fatalf("a batch for publisher %s", b.Publisher)
		}
	}
	// OPS-060: the node's registry counts them (once the dispatcher read
	// the answers the receiver already wrote).
	want := []string{"sealfeed_webhook_batches_sent_total ", "sealfeed_webhook_events_sent_total 2",
		"sealfeed_webhook_failures_total 2", "sealfeed_webhook_events_dropped_total 0", "sealfeed_webhook_queued_events 0"}
	waitUntil(t, fmt.Sprintf("/metrics to show %q", want), func() bool {
		_, metrics := getBody(t, tn.base+"/metrics")
		for _, w := range want {
			if !strings.Contains(string(metrics), "\n"+w) {
				return false
			}
		}
		return true
	})
}

// TestWebhookEventSurvivesRestart: STORE-030. An acknowledgement whose
// event could not be delivered (the receiver down) is still delivered by
// the node started again on the same data.
func TestWebhookEventSurvivesRestart(t *testing.T) {
	_, hookKey, _ := ed25519.GenerateKey(rand.Reader)
	rc := newHookReceiver(t) // no key yet: answers 503
	dir := t.TempDir()
	var pubKeys map[string]ed25519.PublicKey
	var pubID string
	mod := func(c *server.Config) {
		fastHooks(c)
		c.WebhookKey = hookKey
		if pubKeys == nil {
			pubKeys = c.Publishers
			for id := range c.Publishers {
				pubID = id
			}
		}
		c.Publishers = pubKeys
		c.Webhooks = map[string]string{pubID: rc.srv.URL}
	}
	tn := startNode(t, dir, 1, mod)
	ctx := context.Background()
	c := tn.dial(t, func(c *client.Config) {})
	r, err := tn.pubs[0].Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("x")}, "")
	if err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)
	waitState(t, tn.pubs[0], r.Messages[0].ID, "acknowledged")
	c.Close()
	tn.stop()
	if n := len(rc.events()); n != 0 {
		t.Fatalf("%d events delivered to a receiver that refused them", n)
	}

	key, err := publisher.ParseWebhookKey(sig.Fingerprint(hookKey.Public().(ed25519.PublicKey)), encodeKey(hookKey))
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.key = key
	rc.mu.Unlock()
	tn2 := startNode(t, dir, 0, mod)
	waitUntil(t, "the event after the restart", func() bool { return len(rc.events()) == 1 })
	if e := rc.events()[r.Messages[0].ID]; e.Type != publisher.EventAcknowledged {
		t.Fatalf("event %+v", e)
	}
	waitUntil(t, "the outbox to empty", func() bool {
		n, err := tn2.Store.(store.Outbox).OutboxLen(ctx)
		return err == nil && n == 0
	})
}

func encodeKey(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// TestWebhookReload: API-108, OPS-061. A reload replaces the webhook URLs
// at once (the next event goes to the new receiver); one naming a key
// that is not a publisher, or a plain-http remote URL, is refused and
// changes nothing; webhooks without a webhook key do not start.
func TestWebhookReload(t *testing.T) {
	_, hookKey, _ := ed25519.GenerateKey(rand.Reader)
	oldRC, newRC := newHookReceiver(t), newHookReceiver(t)
	var pubID string
	var pubs map[string]ed25519.PublicKey
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) {
		fastHooks(c)
		c.WebhookKey = hookKey
		for id := range c.Publishers {
			pubID = id
		}
		pubs = c.Publishers
		c.Webhooks = map[string]string{pubID: oldRC.srv.URL}
	})
	key, err := tn.pubs[0].WebhookKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range []*hookReceiver{oldRC, newRC} {
		rc.mu.Lock()
		rc.key = key
		rc.mu.Unlock()
	}
	for _, bad := range []map[string]string{
		{"0123": newRC.srv.URL},
		{pubID: "http://hooks.example.com/x"},
	} {
		if err := tn.Reload(server.Reloadable{Publishers: pubs, Webhooks: bad}); err == nil {
			t.Fatalf("reload with webhooks %v accepted", bad)
		}
	}
	if err := tn.Reload(server.Reloadable{Publishers: pubs, Webhooks: map[string]string{pubID: newRC.srv.URL}}); err != nil {
		t.Fatal(err)
	}
	c := tn.dial(t, nil)
	r, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("x")}, "")
	if err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)
	waitUntil(t, "the event at the new receiver", func() bool { return len(newRC.events()) == 1 })
	if _, ok := newRC.events()[r.Messages[0].ID]; !ok || len(oldRC.events()) != 0 {
		t.Fatalf("new receiver %v, old receiver %v", newRC.events(), oldRC.events())
	}

	// Without any webhook the store records nothing (the filter is off).
	if err := tn.Reload(server.Reloadable{Publishers: pubs}); err != nil {
		t.Fatal(err)
	}
	r, err = tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("y")}, "")
	if err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)
	waitState(t, tn.pubs[0], r.Messages[0].ID, "acknowledged")
	if n, err := tn.Store.(store.Outbox).OutboxLen(context.Background()); err != nil || n != 0 {
		t.Fatalf("outbox holds %d events (%v) with no webhook configured", n, err)
	}

	_, err = server.New(server.Config{DataDir: t.TempDir(), Publishers: pubs, Webhooks: map[string]string{pubID: newRC.srv.URL}})
	if err == nil {
		t.Fatal("webhooks without a webhook key started")
	}
}
