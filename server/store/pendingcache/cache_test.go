package pendingcache

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// engine wraps a real store: it counts reads, can fail Ack, and can hold a
// read after the engine answered it, until released (a load racing a
// commit).
type engine struct {
	store.Store
	mu       sync.Mutex
	reads    int
	failAcks bool
	hold     chan struct{} // non-nil: the next Pending signals read and waits
	read     chan struct{}
}

var errDown = errors.New("test engine: down")

func (e *engine) Pending(ctx context.Context, id [32]byte, after uint64, limit int) ([]store.Message, error) {
	msgs, err := e.Store.Pending(ctx, id, after, limit)
	e.mu.Lock()
	e.reads++
	hold, read := e.hold, e.read
	e.hold = nil
	e.mu.Unlock()
	if hold != nil {
		close(read)
		<-hold
	}
	return msgs, err
}

func (e *engine) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	e.mu.Lock()
	fail := e.failAcks
	e.mu.Unlock()
	if fail {
		return 0, errDown
	}
	return e.Store.Ack(ctx, acks)
}

func (e *engine) readCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reads
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newMem(t *testing.T, opt Options) (*Store, *engine, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m, err := memstore.New(memstore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e := &engine{Store: m}
	opt.Now = clk.Now
	return New(e, opt), e, clk
}

var ctx = context.Background()

func client(b byte) [32]byte { return [32]byte{b, 0xcc} }

func publish(t *testing.T, s store.Store, ps ...store.Publication) []store.Assigned {
	t.Helper()
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: ps}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func to(payload string, ttl time.Duration, ids ...[32]byte) store.Publication {
	return store.Publication{To: ids, Payload: []byte(payload), TTL: ttl}
}

// cached returns the client's list from memory, failing if it is not there.
func cached(t *testing.T, s *Store, id [32]byte) []store.Message {
	t.Helper()
	msgs, ok := s.AppendPending(nil, id, 0, 1<<20)
	if !ok {
		t.Fatalf("client %x: list not in memory", id[:1])
	}
	return msgs
}

func describe(msgs []store.Message) string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%d:%s", m.Seq, m.Payload))
	}
	return fmt.Sprint(out)
}

// truth is the engine's answer, bypassing the cache.
func truth(t *testing.T, s *Store, id [32]byte) []store.Message {
	t.Helper()
	msgs, err := s.Store.Pending(ctx, id, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func sameAsEngine(t *testing.T, s *Store, id [32]byte) {
	t.Helper()
	if got, want := describe(cached(t, s, id)), describe(truth(t, s, id)); got != want {
		t.Fatalf("client %x: memory holds %s, the engine %s", id[:1], got, want)
	}
}

// DLV-050: once loaded, a tracked client's reads come from memory, and
// what is published afterwards is there at once, in ID order, without a
// read of the engine.
func TestTrackedClientIsServedFromMemory(t *testing.T) {
	s, e, _ := newMem(t, Options{})
	a, b, other := client(1), client(2), client(3)
	publish(t, s, to("before", time.Hour, a))
	if _, ok := s.AppendPending(nil, a, 0, 10); ok {
		t.Fatal("an untracked client's list is in memory")
	}
	if s.Unwrap() != store.Store(e) {
		t.Fatal("Unwrap does not return the engine")
	}
	s.Track(a)
	s.Track(b)
	if m, err := s.Pending(ctx, a, 0, 10); err != nil || describe(m) != "[1:before]" {
		t.Fatalf("first read: %s %v", describe(m), err)
	}
	if _, err := s.Pending(ctx, b, 0, 10); err != nil {
		t.Fatal(err)
	}
	reads := e.readCount()
	// One request: several messages for a, a broadcast to a and b, one to
	// an untracked client.
	publish(t, s, to("one", time.Hour, a), to("all", time.Hour, a, b, other), to("two", time.Hour, a))
	got := cached(t, s, a)
	if describe(got) != "[1:before 2:one 3:all 4:two]" {
		t.Fatalf("a's list %s", describe(got))
	}
	gb := cached(t, s, b)
	if got[2].BlobID == 0 || got[2].BlobID != gb[0].BlobID || &got[2].Payload[0] != &gb[0].Payload[0] {
		t.Fatalf("the broadcast is not one shared payload: %+v %+v", got[2], gb[0])
	}
	if got[1].BlobID != 0 || got[3].BlobID != 0 {
		t.Fatalf("direct messages carry a blob: %+v", got)
	}
	if m, ok := s.AppendPending(nil, a, 2, 1); !ok || describe(m) != "[3:all]" {
		t.Fatalf("after 2, limit 1: %s", describe(m))
	}
	if e.readCount() != reads {
		t.Fatalf("%d engine reads for clients in memory", e.readCount()-reads)
	}
	if clients, _ := s.Stats(); clients != 2 {
		t.Fatalf("%d clients held, want the 2 tracked", clients)
	}
	s.Untrack(a)
	s.Untrack(b)
	if clients, msgs := s.Stats(); clients != 0 || msgs != 0 || len(s.blobs) != 0 {
		t.Fatalf("after Untrack: %d clients, %d messages, %d blobs", clients, msgs, len(s.blobs))
	}
}

// DLV-050: the caller's buffer may be reused once Publish returns; the
// cache keeps its own copy, and Pending hands out copies.
func TestPayloadsAreCopied(t *testing.T) {
	s, _, _ := newMem(t, Options{})
	a := client(1)
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	buf := []byte("payload")
	publish(t, s, store.Publication{To: [][32]byte{a}, Payload: buf, TTL: time.Hour})
	copy(buf, "XXXXXXX")
	m, _ := s.Pending(ctx, a, 0, 10)
	copy(m[0].Payload, "YYYYYYY")
	if got := cached(t, s, a); string(got[0].Payload) != "payload" {
		t.Fatalf("cached payload %q", got[0].Payload)
	}
}

// DLV-050: a message committed while the list is being read is neither
// lost nor duplicated, whichever side of the read its commit falls on.
func TestCommitDuringLoad(t *testing.T) {
	t.Run("committed after the read", func(t *testing.T) {
		s, e, _ := newMem(t, Options{})
		a := client(1)
		publish(t, s, to("old", time.Hour, a))
		s.Track(a)
		e.hold, e.read = make(chan struct{}), make(chan struct{})
		hold := e.hold
		done := make(chan error)
		go func() { _, err := s.Pending(ctx, a, 0, 10); done <- err }()
		<-e.read // the engine answered without the new message
		publish(t, s, to("new", time.Hour, a))
		close(hold)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := describe(cached(t, s, a)); got != "[1:old 2:new]" {
			t.Fatalf("list %s", got)
		}
	})
	t.Run("read before its onCommit", func(t *testing.T) {
		// The engine committed; the read saw it; onCommit comes late.
		s, _, _ := newMem(t, Options{})
		a := client(1)
		req := &store.PublishRequest{Publisher: "p", Publications: []store.Publication{to("m", time.Hour, a)}}
		var late []store.Assigned
		if _, _, err := s.Store.Publish(ctx, req, func(as []store.Assigned) { late = as }); err != nil {
			t.Fatal(err)
		}
		s.Track(a)
		if _, err := s.Pending(ctx, a, 0, 10); err != nil {
			t.Fatal(err)
		}
		s.committed(req, late)
		if got := describe(cached(t, s, a)); got != "[1:m]" {
			t.Fatalf("list %s", got)
		}
		// Acknowledged before its onCommit came: it stays out.
		if _, err := s.Ack(ctx, map[[32]byte][]uint64{a: {1}}); err != nil {
			t.Fatal(err)
		}
		s.committed(req, late)
		if got := describe(cached(t, s, a)); got != "[]" {
			t.Fatalf("an acknowledged message came back by a late onCommit: %s", got)
		}
	})
	t.Run("acknowledged during the read", func(t *testing.T) {
		s, e, _ := newMem(t, Options{})
		a := client(1)
		publish(t, s, to("x", time.Hour, a), to("y", time.Hour, a))
		s.Track(a)
		e.hold, e.read = make(chan struct{}), make(chan struct{})
		hold := e.hold
		done := make(chan error)
		go func() { _, err := s.Pending(ctx, a, 0, 10); done <- err }()
		<-e.read // the engine answered with both
		if _, err := s.Ack(ctx, map[[32]byte][]uint64{a: {1}}); err != nil {
			t.Fatal(err)
		}
		close(hold)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := describe(cached(t, s, a)); got != "[2:y]" {
			t.Fatalf("list %s", got)
		}
	})
}

// DLV-050: publishers, acknowledgements and clients that connect and
// disconnect race; whatever a tracked client's list holds at the end is
// what the engine says.
func TestRacingWritersAgreeWithTheEngine(t *testing.T) {
	for _, name := range []string{"memstore", "sqlitestore"} {
		t.Run(name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			var eng store.Store
			if name == "memstore" {
				m, err := memstore.New(memstore.Options{Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				eng = m
			} else {
				eng = openSQLite(t, filepath.Join(t.TempDir(), "db"), clk.Now)
			}
			s := New(eng, Options{Now: clk.Now})
			ids := [][32]byte{client(1), client(2), client(3)}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						p := to(fmt.Sprintf("w%d-%d", w, i), time.Hour, ids[(w+i)%3])
						if i%4 == 0 {
							p = to(fmt.Sprintf("w%d-%d", w, i), time.Hour, ids...)
						}
						if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{p}}, nil); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			for c := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := ids[c]
					for round := 0; round < 40; round++ {
						s.Track(id)
						msgs, err := s.Pending(ctx, id, 0, 5)
						if err != nil {
							t.Error(err)
							return
						}
						var acks []uint64
						for i, m := range msgs {
							if i%2 == 0 {
								acks = append(acks, m.Seq)
							}
						}
						if _, err := s.Ack(ctx, map[[32]byte][]uint64{id: acks}); err != nil {
							t.Error(err)
							return
						}
						if round%5 != 4 {
							s.Untrack(id)
						}
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)
			for c := range ids {
				for {
					if _, ok := s.AppendPending(nil, ids[c], 0, 1); ok {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(20 * time.Millisecond) // publishes to lists in memory
			close(stop)
			wg.Wait()
			for _, id := range ids {
				sameAsEngine(t, s, id)
			}
		})
	}
}

// DLV-040, DLV-050: the engine's clock decides expiry: a message in
// memory is not returned once that clock passed its expiry, before any
// sweep; Expire then drops it from memory.
func TestExpiryWhileCached(t *testing.T) {
	s, _, clk := newMem(t, Options{})
	a := client(1)
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	publish(t, s, to("short", time.Minute, a), to("long", time.Hour, a))
	clk.advance(time.Minute)
	if got := describe(cached(t, s, a)); got != "[2:long]" {
		t.Fatalf("at the expiry instant: %s", got)
	}
	if m, err := s.Pending(ctx, a, 0, 10); err != nil || describe(m) != "[2:long]" {
		t.Fatalf("Pending at the expiry instant: %s %v", describe(m), err)
	}
	if _, msgs := s.Stats(); msgs != 2 {
		t.Fatalf("%d messages held before the sweep", msgs)
	}
	if _, err := s.Expire(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, msgs := s.Stats(); msgs != 1 {
		t.Fatalf("%d messages held after the sweep, want 1", msgs)
	}
	sameAsEngine(t, s, a)
}

// DLV-021, DLV-050: a failed Ack leaves the messages pending in memory as
// in the engine; they leave memory only once the engine stored the Ack.
func TestFailedAckKeepsMessages(t *testing.T) {
	s, e, _ := newMem(t, Options{})
	a := client(1)
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	publish(t, s, to("x", time.Hour, a), to("y", time.Hour, a))
	e.failAcks = true
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{a: {1, 2}}); !errors.Is(err, errDown) {
		t.Fatalf("Ack: %v", err)
	}
	if got := describe(cached(t, s, a)); got != "[1:x 2:y]" {
		t.Fatalf("after a failed Ack memory holds %s", got)
	}
	sameAsEngine(t, s, a)
	e.failAcks = false
	if n, err := s.Ack(ctx, map[[32]byte][]uint64{a: {1}}); err != nil || n != 1 {
		t.Fatalf("Ack: %d %v", n, err)
	}
	if got := describe(cached(t, s, a)); got != "[2:y]" {
		t.Fatalf("after the Ack memory holds %s", got)
	}
}

// DLV-050: the engine is the truth across a restart: a new cache over the
// reopened engine starts empty and reads what is pending.
func TestRestartReadsTheEngine(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	path := filepath.Join(t.TempDir(), "db")
	eng := openSQLite(t, path, clk.Now)
	s := New(eng, Options{Now: clk.Now})
	a := client(1)
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	publish(t, s, to("x", time.Hour, a), to("y", time.Hour, a, client(2)), to("z", time.Hour, a))
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{a: {2}}); err != nil {
		t.Fatal(err)
	}
	before := describe(cached(t, s, a))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = New(openSQLite(t, path, clk.Now), Options{Now: clk.Now})
	if clients, msgs := s.Stats(); clients != 0 || msgs != 0 {
		t.Fatalf("a new cache holds %d clients, %d messages", clients, msgs)
	}
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	if after := describe(cached(t, s, a)); after != before || after != "[1:x 3:z]" {
		t.Fatalf("after the restart %s, before %s", after, before)
	}
}

// DLV-050: a client's list holds at most MaxPerClient messages; beyond it
// the engine serves the client, and the list is read again once about
// half of the bound was acknowledged.
func TestListIsBounded(t *testing.T) {
	s, e, _ := newMem(t, Options{MaxPerClient: 4})
	a, b := client(1), client(2)
	for i := range 5 {
		publish(t, s, to(fmt.Sprint(i), time.Hour, a))
	}
	s.Track(a)
	if m, err := s.Pending(ctx, a, 0, 3); err != nil || describe(m) != "[1:0 2:1 3:2]" {
		t.Fatalf("over the bound at load: %s %v", describe(m), err)
	}
	if _, ok := s.AppendPending(nil, a, 0, 10); ok {
		t.Fatal("a list over the bound is in memory")
	}
	reads := e.readCount()
	if m, err := s.Pending(ctx, a, 3, 10); err != nil || describe(m) != "[4:3 5:4]" {
		t.Fatalf("served by the engine: %s %v", describe(m), err)
	}
	if e.readCount() != reads+1 {
		t.Fatal("the engine did not serve the client over the bound")
	}
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{a: {1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	if got := describe(cached(t, s, a)); got != "[4:3 5:4]" {
		t.Fatalf("read again after the acknowledgements: %s", got)
	}
	// Growing past the bound by publishes gives the list up too.
	s.Track(b)
	if _, err := s.Pending(ctx, b, 0, 10); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		publish(t, s, to(fmt.Sprint(i), time.Hour, b))
	}
	if _, ok := s.AppendPending(nil, b, 0, 10); ok {
		t.Fatal("a list grown over the bound is in memory")
	}
	if m, err := s.Pending(ctx, b, 0, 10); err != nil || len(m) != 5 {
		t.Fatalf("client over the bound: %s %v", describe(m), err)
	}
}

// DLV-050: messages committed for a client arrive in ID order whatever
// order the engine reports commits in (a clustered engine does not order
// them; the ones the cache serves do).
func TestOutOfOrderCommitsAreSorted(t *testing.T) {
	s, _, _ := newMem(t, Options{})
	a := client(1)
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	var reqs []*store.PublishRequest
	var commits [][]store.Assigned
	for i := range 3 {
		req := &store.PublishRequest{Publisher: "p", Publications: []store.Publication{to(fmt.Sprint(i), time.Hour, a)}}
		if _, _, err := s.Store.Publish(ctx, req, func(as []store.Assigned) { commits = append(commits, as) }); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	for _, i := range []int{2, 0, 1} {
		s.committed(reqs[i], commits[i])
	}
	if got := describe(cached(t, s, a)); got != "[1:0 2:1 3:2]" {
		t.Fatalf("list %s", got)
	}
	if !slices.IsSortedFunc(cached(t, s, a), func(x, y store.Message) int { return int(x.Seq) - int(y.Seq) }) {
		t.Fatal("not sorted")
	}
}

// TestCachedCopiesSayWhenCommitted: OPS-044. A message added to a tracked
// client's list at its commit carries the commit time, as the engine's
// copy does, for the publish to sent latency.
func TestCachedCopiesSayWhenCommitted(t *testing.T) {
	s, _, clk := newMem(t, Options{})
	a := client(1)
	s.Track(a)
	if _, err := s.Pending(ctx, a, 0, 10); err != nil {
		t.Fatal(err)
	}
	at := clk.Now()
	publish(t, s, to("m", time.Hour, a))
	clk.advance(time.Minute)
	msgs := cached(t, s, a)
	if len(msgs) != 1 || !msgs[0].Created.Equal(at) {
		t.Fatalf("cached %s created %v, committed at %v", describe(msgs), msgs[0].Created, at)
	}
}
