package server_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/restapi"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// fault is what a faultyStore does on a call.
type fault int

const (
	healthy fault = iota
	failing       // returns errStoreDown at once
	hanging       // blocks until the fault is cleared, then runs the call: an engine that ignores its context
)

var errStoreDown = errors.New("test store: unreachable")

// faultyStore is a memstore whose calls a test makes fail or hang, per
// method name or for every method ("*").
type faultyStore struct {
	store.Store
	mu  sync.Mutex
	ops map[string]*opFault
}

type opFault struct {
	f       fault
	cleared chan struct{} // closed when a hanging fault is cleared
}

func newFaultyStore(t *testing.T) *faultyStore {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultyStore{Store: s, ops: map[string]*opFault{}}
	t.Cleanup(func() { // release every hung call before the node stops
		fs.mu.Lock()
		var ops []string
		for op := range fs.ops {
			ops = append(ops, op)
		}
		fs.mu.Unlock()
		for _, op := range ops {
			fs.set(op, healthy)
		}
	})
	return fs
}

// set gives op (a method name, or "*" for all) the fault f; clearing a
// hanging fault lets its blocked calls go on.
func (s *faultyStore) set(op string, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.ops[op]; old != nil {
		if old.f == hanging {
			close(old.cleared)
		}
		delete(s.ops, op)
	}
	if f != healthy {
		s.ops[op] = &opFault{f: f, cleared: make(chan struct{})}
	}
}

// enter applies op's fault: it returns the context the call goes on
// with, or the error it fails with.
func (s *faultyStore) enter(ctx context.Context, op string) (context.Context, error) {
	s.mu.Lock()
	f := s.ops[op]
	if f == nil {
		f = s.ops["*"]
	}
	s.mu.Unlock()
	if f == nil {
		return ctx, nil
	}
	if f.f == failing {
		return ctx, errStoreDown
	}
	<-f.cleared
	return context.WithoutCancel(ctx), nil
}

func (s *faultyStore) Publish(ctx context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	ctx, err := s.enter(ctx, "Publish")
	if err != nil {
		return nil, false, err
	}
	return s.Store.Publish(ctx, req, onCommit)
}

func (s *faultyStore) Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	ctx, err := s.enter(ctx, "Seen")
	if err != nil {
		return false, err
	}
	return s.Store.Seen(ctx, keyID, nonce, expires)
}

func (s *faultyStore) Pending(ctx context.Context, id [32]byte, after uint64, limit int) ([]store.Message, error) {
	ctx, err := s.enter(ctx, "Pending")
	if err != nil {
		return nil, err
	}
	return s.Store.Pending(ctx, id, after, limit)
}

func (s *faultyStore) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	ctx, err := s.enter(ctx, "Ack")
	if err != nil {
		return 0, err
	}
	return s.Store.Ack(ctx, acks)
}

func (s *faultyStore) PendingCount(ctx context.Context, id [32]byte) (int, error) {
	ctx, err := s.enter(ctx, "PendingCount")
	if err != nil {
		return 0, err
	}
	return s.Store.PendingCount(ctx, id)
}

func (s *faultyStore) ReserveBatchSeqs(ctx context.Context, signer [32]byte, n uint64) (uint64, error) {
	ctx, err := s.enter(ctx, "ReserveBatchSeqs")
	if err != nil {
		return 0, err
	}
	return s.Store.ReserveBatchSeqs(ctx, signer, n)
}

func (s *faultyStore) Epoch(ctx context.Context) ([16]byte, error) {
	ctx, err := s.enter(ctx, "Epoch")
	if err != nil {
		return [16]byte{}, err
	}
	return s.Store.Epoch(ctx)
}

func (s *faultyStore) TicketKeys(ctx context.Context, now time.Time, rotate time.Duration) (*handshake.TicketKeys, error) {
	ctx, err := s.enter(ctx, "TicketKeys")
	if err != nil {
		return nil, err
	}
	return s.Store.TicketKeys(ctx, now, rotate)
}

// publishWithin publishes one message with p (no retries) and fails the
// test unless the answer came within limit; it returns the error.
func publishWithin(t *testing.T, p *publisher.Publisher, key string, limit time.Duration) (*publisher.Result, error) {
	t.Helper()
	var to [32]byte
	to[0] = 7
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit+10*time.Second)
	defer cancel()
	res, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("x")}, key)
	took := time.Since(start)
	if took > limit {
		t.Fatalf("publish answered after %v, want within %v (API-041): %v", took, limit, err)
	}
	t.Logf("publish answered in %v: %v", took.Round(time.Millisecond), err)
	return res, err
}

// wantUnavailable asserts a 503 unavailable problem of API-041 with
// Retry-After.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	var pr *publisher.Problem
	if !errors.As(err, &pr) || pr.Status != 503 || pr.Rule != "API-041" {
		t.Fatalf("%s: %v, want 503 with rule API-041", what, err)
	}
	if pr.RetryAfter != time.Second {
		t.Fatalf("%s: Retry-After %v, want %s s", what, pr.RetryAfter, restapi.RetryAfterUnavailable)
	}
}

// TestPublishFailsFastWhenTheStoreHangs: API-041. Every store call of a
// publish — the nonce check and the write — is bounded by the store timeout
// even when the engine ignores its context: the publisher gets 503 with
// Retry-After within the bound, never a hang. A write that went on after
// the 503 leaves the outcome unknown; the retry with the same
// Idempotency-Key is answered with the stored request, once.
func TestPublishFailsFastWhenTheStoreHangs(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const limit = timeout + 3*time.Second // margin for a slow shared machine
	fs := newFaultyStore(t)
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.Store = fs; c.StoreTimeout = timeout })
	p := tn.pubs[0]
	p.Retries = -1
	first, err := publishWithin(t, p, "", limit)
	if err != nil {
		t.Fatal(err)
	}

	// A publish records its nonce in its own write (STORE-016): a nonce
	// check that hangs or fails touches only the other signed requests,
	// such as a status query, and a publish refused before its write.
	statusWithin := func(what string) {
		t.Helper()
		start := time.Now()
		_, err := p.Status(context.Background(), first.Messages[0].ID)
		if took := time.Since(start); took > limit {
			t.Fatalf("%s: status answered after %v, want within %v (API-041)", what, took, limit)
		}
		wantUnavailable(t, what, err)
	}
	for _, c := range []struct {
		name string
		mode fault
	}{{"hangs", hanging}, {"fails", failing}} {
		fs.set("Seen", c.mode)
		if _, err := publishWithin(t, p, "", limit); err != nil {
			t.Fatalf("publish while the nonce check %s: %v, want stored (STORE-016)", c.name, err)
		}
		statusWithin("nonce check " + c.name + ", status query")
		start := time.Now()
		err := p.Do(context.Background(), "POST", "/v1/messages", []byte(`{"to":`), "", nil)
		if took := time.Since(start); took > limit {
			t.Fatalf("malformed publish while the nonce check %s: answered after %v", c.name, took)
		}
		wantUnavailable(t, "nonce check "+c.name+", malformed publish", err)
		fs.set("Seen", healthy)
	}

	fs.set("Publish", failing)
	_, err = publishWithin(t, p, "", limit)
	wantUnavailable(t, "store write fails", err)
	fs.set("Publish", healthy)

	var to [32]byte
	to[0] = 7
	base, err := fs.Store.PendingCount(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	fs.set("Publish", hanging)
	_, err = publishWithin(t, p, "retry-me", limit)
	wantUnavailable(t, "store write hangs", err)
	fs.set("Publish", healthy) // the hung write goes on and stores the message
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := fs.Store.PendingCount(context.Background(), to)
		if err != nil {
			t.Fatal(err)
		}
		if n == base+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending, want %d: the write released after its 503 did not complete", n, base+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := publishWithin(t, p, "retry-me", limit)
	if err != nil || !res.Replayed {
		t.Fatalf("retry with the same Idempotency-Key: %v, %+v; want the stored answer, replayed", err, res)
	}
	if n, _ := fs.Store.PendingCount(context.Background(), to); n != base+1 {
		t.Fatalf("%d pending after the retry, want %d: stored twice", n, base+1)
	}
}

// TestStatusAndPresenceFailFast: the other signed endpoints share the
// bound (API-041).
func TestStatusAndPresenceFailFast(t *testing.T) {
	const timeout = 300 * time.Millisecond
	fs := newFaultyStore(t)
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.Store = fs; c.StoreTimeout = timeout })
	p := tn.pubs[0]
	p.Retries = -1
	res, err := publishWithin(t, p, "", timeout+3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fs.set("PendingCount", hanging)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	var to [32]byte
	to[0] = 7
	_, err = p.Presence(ctx, to)
	if took := time.Since(start); took > timeout+3*time.Second {
		t.Fatalf("presence answered after %v", took)
	}
	wantUnavailable(t, "presence while the store hangs", err)
	fs.set("PendingCount", healthy)
	if st, err := p.Status(ctx, res.Messages[0].ID); err != nil || st.State != "pending" {
		t.Fatalf("status: %v %+v", err, st)
	}
}

func (s *faultyStore) Ready(ctx context.Context) error {
	ctx, err := s.enter(ctx, "Ready")
	if err != nil {
		return err
	}
	return s.Store.Ready(ctx)
}
