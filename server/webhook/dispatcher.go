package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/store"
)

// Defaults of Config (API-102, API-106).
const (
	DefaultInterval   = time.Second
	DefaultMaxBatch   = 100
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 10 * time.Minute
	DefaultMaxAge     = 24 * time.Hour
	DefaultTimeout    = 10 * time.Second
)

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	Outbox store.Outbox
	// Key is the deployment's webhook key, the same on every node
	// (API-107); never the node's identity key.
	Key ed25519.PrivateKey
	// URL returns the URL configured for a publisher key (API-108); it is
	// asked at every attempt, so a reload takes effect at the next one.
	URL func(publisher string) (string, bool)
	// Client sends the POSTs; nil: one with Timeout that follows no
	// redirect (API-108). A given Client's redirects are refused too.
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
	// Interval is how often the outbox is read, and so the longest an
	// event waits for its batch to fill (API-102); 0: 1 s.
	Interval time.Duration
	MaxBatch int // events per POST; 0: 100
	// Retry backoff: the n-th retry waits a random time between half and
	// all of min(MinBackoff·2ⁿ⁻¹, MaxBackoff) (API-106).
	MinBackoff, MaxBackoff time.Duration
	// MaxAge: a batch whose oldest event is older than this is dropped
	// after its next failed attempt, logged and counted; 0: 24 h.
	MaxAge  time.Duration
	Timeout time.Duration // of one POST; 0: 10 s
	// MaxQueued bounds the events held in memory; the rest wait in the
	// outbox until batches finish; 0: 10 000.
	MaxQueued int
}

// Stats are the dispatcher's counters (OPS-060).
type Stats struct {
	Batches  atomic.Uint64 // batches a receiver answered 2xx
	Events   atomic.Uint64 // events in those batches
	Failures atomic.Uint64 // attempts that failed (error, timeout, non-2xx)
	Dropped  atomic.Uint64 // events given up: too old, or their publisher lost its webhook
	Queued   atomic.Int64  // events read from the outbox and neither delivered nor dropped
}

// Dispatcher sends one node's webhook events. Run it once. On a
// store.OutboxClaimer (a cluster's shared outbox) it sends the events the
// store hands this node, and no other node sends them meanwhile
// (STORE-034).
type Dispatcher struct {
	cfg   Config
	keyID string
	Stats Stats

	mu     sync.Mutex
	queues map[string]*queue // by publisher key ID
	cursor uint64            // the highest event ID read

	// With a store.OutboxClaimer (a cluster's shared outbox) events are
	// claimed instead of read after the cursor; held are the IDs this node
	// holds, renewed every third of the claim's lifetime.
	claimer store.OutboxClaimer
	held    map[uint64]bool
	renewed time.Time
}

// queue is one publisher's events, and the batch being sent or waiting
// for its retry.
type queue struct {
	events []store.Event
	batch  *batch
}

type batch struct {
	events   []store.Event
	key      string // Idempotency-Key, the same on every attempt (API-106)
	attempts int
	next     time.Time // when the next attempt may start
	sending  bool
}

// New returns a dispatcher for cfg.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Outbox == nil || cfg.Key == nil || cfg.URL == nil {
		return nil, errors.New("webhook: Outbox, Key and URL are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, DefaultInterval)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.MaxAge, DefaultMaxAge)
	def(&cfg.Timeout, DefaultTimeout)
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &http.Client{Timeout: cfg.Timeout}
	if cfg.Client != nil {
		cc := *cfg.Client
		c = &cc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = c
	d := &Dispatcher{cfg: cfg, keyID: KeyID(cfg.Key), queues: map[string]*queue{}, held: map[uint64]bool{}}
	d.claimer, _ = cfg.Outbox.(store.OutboxClaimer)
	return d, nil
}

// KeyID is the key ID of a webhook key: its public key's fingerprint, as
// GET /v1/server publishes it (API-107).
func KeyID(k ed25519.PrivateKey) string { return sig.Fingerprint(k.Public().(ed25519.PublicKey)) }

// Run reads the outbox and sends batches until ctx ends; it returns once
// no POST is in flight.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		if err := d.read(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: reading the outbox", "err", err)
		}
		if err := d.renew(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: renewing the claims on held events", "err", err)
		}
		for _, s := range d.due() {
			wg.Add(1)
			go func() { defer wg.Done(); d.send(ctx, s.publisher, s.b) }()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read appends the events recorded since the last read to their queues,
// holding at most MaxQueued in memory.
func (d *Dispatcher) read(ctx context.Context) error {
	for {
		room := d.cfg.MaxQueued - int(d.Stats.Queued.Load())
		if room <= 0 {
			return nil
		}
		d.mu.Lock()
		after := d.cursor
		d.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		var evs []store.Event
		var err error
		if d.claimer != nil {
			evs, err = d.claimer.ClaimEvents(rctx, min(1000, room))
		} else {
			evs, err = d.cfg.Outbox.OutboxEvents(rctx, after, min(1000, room))
		}
		cancel()
		if err != nil && len(evs) == 0 {
			return err
		}
		d.mu.Lock()
		n := len(evs)
		for _, e := range evs {
			if d.claimer != nil {
				if d.held[e.ID] {
					n-- // handed out again after its claim lapsed: queued already
					continue
				}
				d.held[e.ID] = true
			}
			q := d.queues[e.Publisher]
			if q == nil {
				q = &queue{}
				d.queues[e.Publisher] = q
			}
			q.events = append(q.events, e)
			d.cursor = e.ID
		}
		d.Stats.Queued.Add(int64(n))
		d.mu.Unlock()
		if err != nil {
			return err
		}
		if len(evs) < min(1000, room) {
			return nil
		}
	}
}

// renew keeps the claims on the events this node holds (STORE-034), every
// third of their lifetime, so no other node is handed an event while this
// one retries its batch.
func (d *Dispatcher) renew(ctx context.Context) error {
	if d.claimer == nil || d.cfg.Now().Sub(d.renewed) < d.claimer.ClaimTTL()/3 {
		return nil
	}
	d.mu.Lock()
	ids := make([]uint64, 0, len(d.held))
	for id := range d.held {
		ids = append(ids, id)
	}
	d.renewed = d.cfg.Now()
	d.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.claimer.RenewClaims(rctx, ids)
}

type dueBatch struct {
	publisher string
	b         *batch
}

// due forms the batches of publishers with queued events and returns
// those whose attempt may start now.
func (d *Dispatcher) due() []dueBatch {
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []dueBatch
	for p, q := range d.queues {
		if q.batch == nil && len(q.events) > 0 {
			n := min(len(q.events), d.cfg.MaxBatch)
			// In ID order (API-101): an event handed out again after a
			// node died arrives after later ones.
			slices.SortFunc(q.events[:n], func(a, b store.Event) int { return cmp.Compare(a.ID, b.ID) })
			q.batch = &batch{events: q.events[:n:n], key: batchKey(p, q.events[:n])}
			q.events = q.events[n:]
		}
		if q.batch == nil {
			delete(d.queues, p)
			continue
		}
		if !q.batch.sending && !now.Before(q.batch.next) {
			q.batch.sending = true
			out = append(out, dueBatch{p, q.batch})
		}
	}
	return out
}

// batchKey is a batch's Idempotency-Key: 32 hex digits of SHA-256 over
// the publisher and its events' handles, so the same batch has the same
// key on every attempt, also on another node or after a restart that
// forms it again (API-106).
func batchKey(publisher string, evs []store.Event) string {
	h := sha256.New()
	h.Write([]byte("sealfeed v1 webhook batch\x00" + publisher))
	for _, e := range evs {
		h.Write([]byte{0})
		h.Write([]byte(e.Handle))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// body is the JSON of a batch (API-101).
func body(publisherID string, evs []store.Event) ([]byte, error) {
	b := publisher.WebhookBatch{Publisher: publisherID, Events: make([]publisher.WebhookEvent, len(evs))}
	for i, e := range evs {
		typ := publisher.EventAcknowledged
		if e.State == store.Expired {
			typ = publisher.EventExpired
		}
		b.Events[i] = publisher.WebhookEvent{Type: typ, ID: e.Handle, ClientID: hex.EncodeToString(e.ClientID[:]),
			MessageID: e.Seq, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000Z")}
	}
	return json.Marshal(b)
}

// send makes one attempt at b and settles it: deleted on 2xx, scheduled
// again on a failure, dropped when too old or when the publisher no longer
// has a webhook.
func (d *Dispatcher) send(ctx context.Context, publisherID string, b *batch) {
	log := d.cfg.Logger.With("publisher", publisherID, "idempotency_key", b.key, "events", len(b.events))
	target, ok := d.cfg.URL(publisherID)
	if !ok {
		log.Warn("webhook: the publisher has no webhook any more; its events are dropped", "rule", "API-108")
		d.finish(ctx, publisherID, b, false)
		return
	}
	err := d.post(ctx, target, publisherID, b)
	if err == nil {
		d.Stats.Batches.Add(1)
		d.Stats.Events.Add(uint64(len(b.events)))
		d.finish(ctx, publisherID, b, true)
		return
	}
	if ctx.Err() != nil {
		d.mu.Lock()
		b.sending = false
		d.mu.Unlock()
		return // shutting down: the events stay in the outbox
	}
	d.Stats.Failures.Add(1)
	b.attempts++
	oldest := b.events[0].Time
	for _, e := range b.events {
		if e.Time.Before(oldest) {
			oldest = e.Time
		}
	}
	if d.cfg.Now().Sub(oldest) > d.cfg.MaxAge {
		log.Error("webhook: giving up a batch older than the retry limit; its events are dropped", "attempts", b.attempts,
			"err", err, "max_age", d.cfg.MaxAge, "rule", "API-106")
		d.finish(ctx, publisherID, b, false)
		return
	}
	wait := min(d.cfg.MinBackoff<<min(b.attempts-1, 30), d.cfg.MaxBackoff)
	wait = wait/2 + rand.N(wait/2+1)
	log.Warn("webhook: attempt failed; retrying", "attempts", b.attempts, "err", err, "retry_in", wait.Round(time.Millisecond))
	d.mu.Lock()
	b.next, b.sending = d.cfg.Now().Add(wait), false
	d.mu.Unlock()
}

// finish removes a delivered or dropped batch from the outbox and from
// its queue.
func (d *Dispatcher) finish(ctx context.Context, publisherID string, b *batch, delivered bool) {
	if !delivered {
		d.Stats.Dropped.Add(uint64(len(b.events)))
	}
	ids := make([]uint64, len(b.events))
	for i, e := range b.events {
		ids[i] = e.ID
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	if err := d.cfg.Outbox.OutboxDelete(dctx, ids); err != nil {
		// They stay in the outbox and are sent again after a restart
		// (at least once).
		d.cfg.Logger.Warn("webhook: deleting delivered events", "err", err)
	}
	cancel()
	d.Stats.Queued.Add(-int64(len(b.events)))
	d.mu.Lock()
	if q := d.queues[publisherID]; q != nil && q.batch == b {
		q.batch = nil
	}
	for _, id := range ids {
		delete(d.held, id)
	}
	d.mu.Unlock()
}

// post sends b once, signed anew (API-103); nil only for a 2xx answer.
func (d *Dispatcher) post(ctx context.Context, target, publisherID string, b *batch) error {
	js, err := body(publisherID, b.events)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(js))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", b.key)
	req.Header.Set("User-Agent", "sealfeed-webhook/1")
	if _, err := httpsig.SignWebhook(req, js, d.keyID, d.cfg.Key, d.cfg.Now()); err != nil {
		return err
	}
	resp, err := d.cfg.Client.Do(req)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		// The URL may carry a secret of the receiver's: not logged.
		return fmt.Errorf("POST: %w", ue.Err)
	}
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}
