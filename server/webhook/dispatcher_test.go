package webhook

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// receiver is an httptest server that verifies every POST with the
// webhook key and records what it got; fail answers the first calls with
// 500.
type receiver struct {
	srv  *httptest.Server
	key  publisher.WebhookKey
	mu   sync.Mutex
	got  []*publisher.WebhookBatch
	keys []string // Idempotency-Key of every attempt, failed ones included
	errs []error
	fail int
	code int // answer after the failures; 0: 204
	// redirected counts requests that followed a redirect
	redirected int
}

func newReceiver(t *testing.T, key ed25519.PrivateKey) *receiver {
	rc := &receiver{key: publisher.WebhookKey{KeyID: KeyID(key), PublicKey: key.Public().(ed25519.PublicKey)}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" { // the target of the redirects: it takes anything
			rc.mu.Lock()
			rc.redirected++
			rc.mu.Unlock()
			w.WriteHeader(204)
			return
		}
		b, err := publisher.VerifyWebhook(r, rc.key, time.Now())
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
		if err != nil {
			rc.errs = append(rc.errs, err)
			w.WriteHeader(400)
			return
		}
		if rc.fail > 0 {
			rc.fail--
			w.WriteHeader(500)
			return
		}
		if rc.code != 0 {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(rc.code)
			return
		}
		rc.got = append(rc.got, b)
		w.WriteHeader(204)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) snapshot() (got []*publisher.WebhookBatch, keys []string, errs []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*publisher.WebhookBatch(nil), rc.got...), append([]string(nil), rc.keys...), append([]error(nil), rc.errs...)
}

type fixture struct {
	st   *memstore.Store
	key  ed25519.PrivateKey
	rc   *receiver
	d    *Dispatcher
	mu   sync.Mutex
	urls map[string]string
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	st, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{st: st, key: key, urls: map[string]string{}}
	f.rc = newReceiver(t, key)
	f.urls["pub"] = f.rc.srv.URL + "/hooks/sealfeed"
	st.SetOutboxFilter(func(p string) bool { return p == "pub" })
	cfg := Config{Outbox: st, Key: key, Interval: 10 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		URL: func(p string) (string, bool) { f.mu.Lock(); defer f.mu.Unlock(); u, ok := f.urls[p]; return u, ok }}
	if mod != nil {
		mod(&cfg)
	}
	if f.d, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// ack publishes n messages for client c from pub and acknowledges them.
func (f *fixture) ack(t *testing.T, c byte, n int, pub string) []store.Assigned {
	t.Helper()
	var ps []store.Publication
	for range n {
		ps = append(ps, store.Publication{To: [][32]byte{{c}}, Payload: []byte("x"), TTL: time.Hour})
	}
	res, _, err := f.st.Publish(context.Background(), &store.PublishRequest{Publisher: pub, Publications: ps}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range res {
		seqs = append(seqs, r.Seq)
	}
	if _, err := f.st.Ack(context.Background(), map[[32]byte][]uint64{{c}: seqs}); err != nil {
		t.Fatal(err)
	}
	return res
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) outboxLen(t *testing.T) int {
	n, err := f.st.OutboxLen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// API-101, API-103, API-105: an acknowledgement arrives as a signed batch
// that verifies with the webhook key, naming the message; after the 2xx
// the event leaves the outbox.
func TestDeliversSignedBatch(t *testing.T) {
	f := newFixture(t, nil)
	res := f.ack(t, 1, 1, "pub")
	waitFor(t, "the outbox to empty", func() bool { return f.outboxLen(t) == 0 })
	got, _, errs := f.rc.snapshot()
	if len(errs) != 0 || len(got) != 1 {
		t.Fatalf("receiver got %d batches, errors %v", len(got), errs)
	}
	e := got[0].Events
	if got[0].Publisher != "pub" || len(e) != 1 || e[0].Type != publisher.EventAcknowledged || e[0].ID != res[0].Handle ||
		e[0].ClientID != hex.EncodeToString([]byte{1, 31: 0}) || e[0].MessageID != res[0].Seq {
		t.Fatalf("batch %+v for %+v", got[0], res[0])
	}
	if f.d.Stats.Batches.Load() != 1 || f.d.Stats.Events.Load() != 1 || f.d.Stats.Queued.Load() != 0 {
		t.Fatalf("stats: batches %d events %d queued %d", f.d.Stats.Batches.Load(), f.d.Stats.Events.Load(), f.d.Stats.Queued.Load())
	}
}

// API-106: a receiver that fails gets the same batch again, with the same
// Idempotency-Key, until it answers 2xx.
func TestRetriesWithTheSameKey(t *testing.T) {
	f := newFixture(t, nil)
	f.rc.mu.Lock()
	f.rc.fail = 2
	f.rc.mu.Unlock()
	f.ack(t, 1, 3, "pub")
	waitFor(t, "the outbox to empty", func() bool { return f.outboxLen(t) == 0 })
	got, keys, errs := f.rc.snapshot()
	if len(errs) != 0 || len(got) != 1 || len(keys) != 3 {
		t.Fatalf("%d batches in %d attempts, errors %v", len(got), len(keys), errs)
	}
	if keys[0] != keys[1] || keys[1] != keys[2] || keys[0] != got[0].IdempotencyKey {
		t.Fatalf("idempotency keys of the attempts: %v", keys)
	}
	if n := f.d.Stats.Failures.Load(); n != 2 {
		t.Fatalf("%d failures counted, want 2", n)
	}
}

// API-102: batches hold at most MaxBatch events, in the order they were
// recorded, and different batches have different keys.
func TestBatchesAreBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBatch = 4; c.Interval = 200 * time.Millisecond })
	f.ack(t, 1, 10, "pub")
	waitFor(t, "the outbox to empty", func() bool { return f.outboxLen(t) == 0 })
	got, keys, _ := f.rc.snapshot()
	var sizes []int
	var ids []uint64
	for _, b := range got {
		sizes = append(sizes, len(b.Events))
		for _, e := range b.Events {
			ids = append(ids, e.MessageID)
		}
	}
	if len(got) != 3 || sizes[0] != 4 || sizes[1] != 4 || sizes[2] != 2 {
		t.Fatalf("batch sizes %v, want [4 4 2]", sizes)
	}
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Fatalf("message IDs in the order sent: %v", ids)
		}
	}
	if keys[0] == keys[1] || keys[1] == keys[2] {
		t.Fatalf("batches share a key: %v", keys)
	}
}

// API-108: a redirect is not followed; it is a failed attempt.
func TestRedirectNotFollowed(t *testing.T) {
	f := newFixture(t, nil)
	f.rc.mu.Lock()
	f.rc.code = http.StatusTemporaryRedirect
	f.rc.mu.Unlock()
	f.ack(t, 1, 1, "pub")
	waitFor(t, "two failed attempts", func() bool { return f.d.Stats.Failures.Load() >= 2 })
	if n := f.outboxLen(t); n != 1 {
		t.Fatalf("outbox holds %d events after redirects, want 1", n)
	}
	f.rc.mu.Lock()
	defer f.rc.mu.Unlock()
	if f.rc.redirected != 0 {
		t.Fatalf("the dispatcher followed %d redirects", f.rc.redirected)
	}
}

// API-106, OPS-060: a batch older than MaxAge is dropped after a failed
// attempt and counted; a publisher whose webhook was removed has its
// events dropped.
func TestDrops(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxAge = time.Nanosecond })
	f.rc.mu.Lock()
	f.rc.fail = 1000
	f.rc.mu.Unlock()
	f.ack(t, 1, 2, "pub")
	waitFor(t, "the events to be dropped", func() bool { return f.d.Stats.Dropped.Load() == 2 })
	waitFor(t, "the outbox to empty", func() bool { return f.outboxLen(t) == 0 })

	g := newFixture(t, nil)
	g.mu.Lock()
	delete(g.urls, "pub")
	g.mu.Unlock()
	g.ack(t, 1, 1, "pub")
	waitFor(t, "the event to be dropped", func() bool { return g.d.Stats.Dropped.Load() == 1 })
	if _, keys, _ := g.rc.snapshot(); len(keys) != 0 {
		t.Fatalf("%d POSTs for a publisher without a webhook", len(keys))
	}
}

// API-108: only https, or http to a loopback host.
func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/sealfeed", true},
		{"https://hooks.example.com:8443/a?b=c", true},
		{"http://127.0.0.1:9000/hook", true},
		{"http://[::1]:9000/hook", true},
		{"http://localhost/hook", true},
		{"http://hooks.example.com/hook", false},
		{"http://10.0.0.1/hook", false},
		{"ftp://hooks.example.com/", false},
		{"https://user:pw@hooks.example.com/", false},
		{"https://hooks.example.com/#frag", false},
		{"/relative", false},
		{"", false},
	} {
		if err := CheckURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
	if _, err := ParseConfig([]byte(`{"publishers":{"k":{"url":"https://a.example/h"}},"x":1}`)); err == nil {
		t.Error("ParseConfig accepted an unknown member")
	}
	m, err := ParseConfig([]byte(`{"publishers":{"k":{"url":"https://a.example/h"}}}`))
	if err != nil || m["k"] != "https://a.example/h" {
		t.Errorf("ParseConfig: %v, %v", m, err)
	}
	if _, err := ParseConfig([]byte(`{"publishers":{"k":{"url":"http://a.example/h"}}}`)); err == nil {
		t.Error("ParseConfig accepted plain http to a remote host")
	}
}

// The dispatcher holds at most MaxQueued events in memory; the rest wait
// in the outbox and are all delivered in the end.
func TestMemoryBound(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxQueued = 3; c.MaxBatch = 2 })
	f.rc.mu.Lock()
	f.rc.fail = 3
	f.rc.mu.Unlock()
	f.ack(t, 1, 9, "pub")
	waitFor(t, "a failed attempt", func() bool { return f.d.Stats.Failures.Load() >= 1 })
	if q := f.d.Stats.Queued.Load(); q > 3 {
		t.Fatalf("%d events in memory, bound 3", q)
	}
	waitFor(t, "the outbox to empty", func() bool { return f.outboxLen(t) == 0 })
	got, _, _ := f.rc.snapshot()
	n := 0
	for _, b := range got {
		n += len(b.Events)
	}
	if n != 9 {
		t.Fatalf("%d events delivered, want 9", n)
	}
}

// claimer is a store.OutboxClaimer over a fixed list of events, handed out
// once in the list's order; it records renewals and deletions.
type claimer struct {
	mu      sync.Mutex
	events  []store.Event
	renewed [][]uint64
	deleted []uint64
}

func (c *claimer) SetOutboxFilter(func(string) bool) {}
func (c *claimer) OutboxEvents(context.Context, uint64, int) ([]store.Event, error) {
	panic("a dispatcher on a store.OutboxClaimer must claim, not read after a cursor (STORE-034)")
}
func (c *claimer) OutboxLen(context.Context) (int, error) { return 0, nil }
func (c *claimer) OutboxDelete(_ context.Context, ids []uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = append(c.deleted, ids...)
	return nil
}
func (c *claimer) ClaimEvents(_ context.Context, limit int) ([]store.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(limit, len(c.events))
	out := c.events[:n]
	c.events = c.events[n:]
	return out, nil
}
func (c *claimer) RenewClaims(_ context.Context, ids []uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renewed = append(c.renewed, ids)
	return nil
}
func (c *claimer) ClaimTTL() time.Duration { return 30 * time.Millisecond }

// STORE-034, STORE-035: on a shared outbox the dispatcher claims events,
// renews its claims while it retries, forms the batch in ID order whatever
// order they were handed out in, keys it by its events, and settles the
// events once the receiver answered 2xx.
func TestDispatcherOnAClaimer(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	rc := newReceiver(t, key)
	rc.fail = 2
	ev := func(id uint64) store.Event {
		return store.Event{ID: id, Publisher: "p", State: store.Acknowledged, Handle: fmt.Sprintf("%032x", id),
			Seq: id, Time: time.UnixMilli(1_800_000_000_000)}
	}
	c := &claimer{events: []store.Event{ev(3), ev(1), ev(2)}} // 3 handed out again after a node died
	d, err := New(Config{Outbox: c, Key: key, URL: func(string) (string, bool) { return rc.srv.URL, true },
		Interval: 10 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); d.Stats.Batches.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, k, e := rc.snapshot()
			t.Fatalf("no batch delivered: %d attempts, %d refused", len(k), len(e))
		}
	}
	got, keys, errs := rc.snapshot()
	if len(errs) != 0 || len(got) != 1 {
		t.Fatalf("batches %+v, errors %v", got, errs)
	}
	sorted := []store.Event{ev(1), ev(2), ev(3)}
	for i, e := range got[0].Events {
		if e.ID != sorted[i].Handle {
			t.Fatalf("event %d of the batch is %s, want %s (ID order, STORE-035)", i, e.ID, sorted[i].Handle)
		}
	}
	for _, k := range keys {
		if k != batchKey("p", sorted) {
			t.Fatalf("Idempotency-Key %s, want the one of the events %s (STORE-035)", k, batchKey("p", sorted))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.renewed) == 0 || len(c.renewed[0]) != 3 {
		t.Fatalf("renewals %v while the batch was retried: want the three held events (STORE-034)", c.renewed)
	}
	if len(c.deleted) != 3 {
		t.Fatalf("settled %v, want the three events", c.deleted)
	}
}
