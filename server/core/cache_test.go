package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
	"github.com/sealfeed/sealfeed/server/store/pendingcache"
)

// countingEngine is a memstore that counts Pending and Ack calls and can
// fail Acks.
type countingEngine struct {
	store.Store
	mu       sync.Mutex
	pendings int
	acks     []map[[32]byte][]uint64
	failAcks bool
}

func (e *countingEngine) Pending(ctx context.Context, id [32]byte, after uint64, limit int) ([]store.Message, error) {
	e.mu.Lock()
	e.pendings++
	e.mu.Unlock()
	return e.Store.Pending(ctx, id, after, limit)
}

func (e *countingEngine) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	e.mu.Lock()
	e.acks = append(e.acks, acks)
	fail := e.failAcks
	e.mu.Unlock()
	if fail {
		return 0, errStoreDown
	}
	return e.Store.Ack(ctx, acks)
}

func (e *countingEngine) counts() (pendings, acks int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pendings, len(e.acks)
}

func newCachedHub(t *testing.T) (*Hub, *pendingcache.Store, *countingEngine) {
	t.Helper()
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	m, err := memstore.New(memstore.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e := &countingEngine{Store: m}
	pc := pendingcache.New(e, pendingcache.Options{Now: now})
	return newHub(t, pc, func(c *Config) { c.Now = now }), pc, e
}

func (h *Hub) publishTo(t *testing.T, st store.Store, payload string, ids ...[32]byte) {
	t.Helper()
	req := &store.PublishRequest{Publisher: "p", Publications: []store.Publication{{To: ids, Payload: []byte(payload), TTL: time.Hour}}}
	if _, _, err := st.Publish(context.Background(), req, h.Notify); err != nil {
		t.Fatal(err)
	}
}

// DLV-050: with a caching Store, a tick reads the store once per
// connection (the first read of its list); later ticks deliver what was
// published from memory, and one flush stores the acknowledgements of
// every connection in one Store.Ack call.
func TestTickReadsNoStoreWhenCached(t *testing.T) {
	h, pc, e := newCachedHub(t)
	a, b := attach(t, h, 1), attach(t, h, 2)
	h.publishTo(t, pc, "first", a.id)
	deliver(t, h)
	if p, _ := e.counts(); p != 2 {
		t.Fatalf("%d store reads for the first tick of 2 connections, want 2", p)
	}
	for i := range 3 {
		h.publishTo(t, pc, fmt.Sprint("all ", i), a.id, b.id)
		h.publishTo(t, pc, fmt.Sprint("b ", i), b.id)
		deliver(t, h)
	}
	if p, _ := e.counts(); p != 2 {
		t.Fatalf("%d store reads after 3 more ticks, want none", p-2)
	}
	ga, _ := a.received(t)
	gb, _ := b.received(t)
	if fmt.Sprint(ga) != "[first all 0 all 1 all 2]" || fmt.Sprint(gb) != "[all 0 b 0 all 1 b 1 all 2 b 2]" {
		t.Fatalf("received %q and %q", ga, gb)
	}
	a.ack(t, a.ids...)
	b.ack(t, b.ids[:3]...)
	flush(t, h)
	if _, acks := e.counts(); acks != 1 {
		t.Fatalf("%d Store.Ack calls for one flush of two connections", acks)
	}
	if left, ok := pc.AppendPending(nil, b.id, 0, 100); !ok || len(left) != 3 {
		t.Fatalf("b's list after the Ack: %d %v", len(left), ok)
	}
	if left, _ := pc.AppendPending(nil, a.id, 0, 100); len(left) != 0 {
		t.Fatalf("a's list after the Ack: %d", len(left))
	}
	// The connection's end untracks the client: nothing held for it.
	a.conn.Detach()
	if _, ok := pc.AppendPending(nil, a.id, 0, 100); ok {
		t.Fatal("an ended connection's client is still held")
	}
}

// DLV-021, DLV-050: a failed Ack write leaves the messages pending in the
// cache; once the retry succeeds they leave it.
func TestFailedAckKeepsCachedMessages(t *testing.T) {
	h, pc, e := newCachedHub(t)
	a := attach(t, h, 1)
	deliver(t, h)
	h.publishTo(t, pc, "x", a.id)
	h.publishTo(t, pc, "y", a.id)
	deliver(t, h)
	a.received(t)
	e.mu.Lock()
	e.failAcks = true
	e.mu.Unlock()
	a.ack(t, a.ids...)
	if _, left, err := h.flushAcks(context.Background(), false); !errors.Is(err, errStoreDown) || left != 2 {
		t.Fatalf("flush: %d left, %v", left, err)
	}
	if m, ok := pc.AppendPending(nil, a.id, 0, 100); !ok || len(m) != 2 {
		t.Fatalf("after a failed Ack the cache holds %d (%v)", len(m), ok)
	}
	e.mu.Lock()
	e.failAcks = false
	e.mu.Unlock()
	if _, _, err := h.flushAcks(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if m, _ := pc.AppendPending(nil, a.id, 0, 100); len(m) != 0 {
		t.Fatalf("after the retry the cache holds %d", len(m))
	}
	// A newer connection of the client sees only what is pending.
	a.conn.Detach()
	a2 := attach(t, h, 1)
	h.publishTo(t, pc, "z", a.id)
	deliver(t, h)
	if got, _ := a2.received(t); !slices.Equal(got, []string{"z"}) {
		t.Fatalf("the next connection got %q", got)
	}
}
