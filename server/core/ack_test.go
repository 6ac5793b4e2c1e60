package core

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/server/store"
)

// ackStore adds acknowledgements to pendingStore: an acknowledged message
// leaves Pending. The first failFirst Ack calls fail; with block set, an
// Ack call signals entered and waits for release or its context.
type ackStore struct {
	pendingStore
	failFirst int
	calls     int
	stored    map[[32]byte][]uint64 // in the order stored
	block     bool
	entered   chan struct{}
	release   chan struct{}
}

var errStoreDown = errors.New("store down")

func (s *ackStore) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	s.mu.Lock()
	s.calls++
	call, block, failFirst := s.calls, s.block, s.failFirst
	s.mu.Unlock()
	if block && call == 1 {
		close(s.entered)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return 0, err // a store gives up a cancelled write
		}
	}
	if call <= failFirst {
		return 0, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stored == nil {
		s.stored = map[[32]byte][]uint64{}
	}
	n := 0
	for id, ids := range acks {
		s.stored[id] = append(s.stored[id], ids...)
		left := s.pending[id][:0]
		for _, m := range s.pending[id] {
			if slices.Contains(ids, m.Seq) {
				n++
			} else {
				left = append(left, m)
			}
		}
		s.pending[id] = left
	}
	return n, nil
}

func (s *ackStore) Expire(context.Context, time.Time) ([][32]byte, error) { return nil, nil }

func (s *ackStore) storedIDs(id [32]byte) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored[id])
}

func (s *ackStore) ackCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *ackStore) add(id [32]byte, seqs ...uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range seqs {
		s.pending[id] = append(s.pending[id], store.Message{ClientID: id, Seq: q, Payload: []byte{byte(q)}})
	}
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newHub(t testing.TB, st store.Store, mod ...func(*Config)) *Hub {
	t.Helper()
	cfg := Config{Key: serverKey, Store: st, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// frame seals messages into one record of c's session.
func (c *client) frame(t testing.TB, msgs ...[]byte) []byte {
	t.Helper()
	f, err := c.sess.Seal(nil, slices.Concat(msgs...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// ack sends one Ack of ids on c's connection.
func (c *client) ack(t testing.TB, ids ...uint64) {
	t.Helper()
	if len(ids) == 0 {
		return
	}
	for i := 0; i < len(ids); i += session.MaxAckIDs {
		part := ids[i:min(i+session.MaxAckIDs, len(ids))]
		if err := c.conn.Receive(c.frame(t, session.AppendAck(nil, part))); err != nil {
			t.Fatal(err)
		}
	}
	if c.acked == nil {
		c.acked = map[uint64]bool{}
	}
	for _, id := range ids {
		c.acked[id] = true
	}
}

func deliver(t testing.TB, h *Hub) {
	t.Helper()
	if err := h.tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func flush(t testing.TB, h *Hub) {
	t.Helper()
	if _, _, err := h.flushAcks(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

// DLV-020: an Ack changes the store only for IDs in flight on the
// connection it arrives on. Each case fails when Receive stores the IDs
// without that check, or keeps an acknowledged ID in flight.
func TestAckOfIDNotInFlightChangesNothing(t *testing.T) {
	t.Run("never sent", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st)
		c := attach(t, h, 1)
		st.add(c.id, 1)
		deliver(t, h)
		st.add(c.id, 2) // pending, not sent yet
		c.ack(t, 1, 2, 3)
		flush(t, h)
		if got := st.storedIDs(c.id); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("stored acknowledgements %v, want [1]", got)
		}
		deliver(t, h)
		if got, _ := c.received(t); !slices.Equal(c.ids, []uint64{1, 2}) {
			t.Fatalf("delivered %v %q, want IDs 1 and 2", c.ids, got)
		}
		if n := h.M.Acked.Load(); n != 1 {
			t.Fatalf("Acked %d, want 1", n)
		}
	})
	t.Run("sent to another client", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st)
		a, b := attach(t, h, 1), attach(t, h, 2)
		st.add(a.id, 1)
		deliver(t, h)
		st.add(b.id, 1) // b's message 1, pending, not sent to b
		b.ack(t, 1)
		h.Wake(b.id)
		flush(t, h)
		if got := st.storedIDs(b.id); len(got) != 0 {
			t.Fatalf("b's Ack of an ID sent only to a stored %v", got)
		}
		deliver(t, h)
		b.received(t)
		if !slices.Equal(b.ids, []uint64{1}) {
			t.Fatalf("b got %v, want its message 1", b.ids)
		}
	})
	t.Run("sent on an earlier connection", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st, func(c *Config) { c.ReplaceGrace = -1 })
		old := attach(t, h, 1)
		st.add(old.id, 1, 2)
		deliver(t, h)
		old.received(t)
		now := attach(t, h, 1) // replaces old at once (no grace), before the redelivery
		now.ack(t, 1, 2)
		if err := old.conn.Receive(old.frame(t, session.AppendAck(nil, []uint64{1}))); err == nil {
			t.Fatal("the replaced connection still accepts frames")
		}
		flush(t, h)
		if got := st.storedIDs(now.id); len(got) != 0 {
			t.Fatalf("stored %v acknowledged on a connection they were not sent on", got)
		}
		deliver(t, h)
		now.received(t)
		if !slices.Equal(now.ids, []uint64{1, 2}) {
			t.Fatalf("redelivered %v, want [1 2]", now.ids)
		}
	})
	t.Run("sent on the connection being replaced", func(t *testing.T) {
		// DLV-052: within ReplaceGrace the replaced connection still
		// reads what its client sent before reconnecting; its Ack counts
		// for what it sent, the new connection's Ack of the same IDs
		// does not, and the new connection's first delivery waits for
		// the old one to end.
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st, func(c *Config) { c.ReplaceGrace = time.Hour })
		old := attach(t, h, 1)
		st.add(old.id, 1, 2)
		deliver(t, h)
		old.received(t)
		now := attach(t, h, 1)
		now.ack(t, 1, 2)
		deliver(t, h)
		if now.received(t); len(now.ids) != 0 {
			t.Fatalf("delivered %v on the new connection while the old one may still read an Ack", now.ids)
		}
		old.ack(t, 1)
		old.conn.Detach() // its client closed it after that Ack
		waitFor(t, "the new connection released", func() bool {
			now.conn.mu.Lock()
			defer now.conn.mu.Unlock()
			return !now.conn.held
		})
		deliver(t, h)
		now.received(t)
		if !slices.Equal(now.ids, []uint64{2}) {
			t.Fatalf("the new connection received %v, want [2] (1 was acknowledged on the old one)", now.ids)
		}
		if got := st.storedIDs(now.id); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("stored %v, want [1]", got)
		}
	})
	t.Run("replaced connection that does not end", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st, func(c *Config) { c.ReplaceGrace = 20 * time.Millisecond })
		old := attach(t, h, 1)
		st.add(old.id, 1)
		deliver(t, h)
		old.received(t)
		now := attach(t, h, 1)
		waitFor(t, "the old connection closed after the grace", func() bool {
			_, code := old.received(t)
			return code == alert.CloseNotify
		})
		waitFor(t, "the redelivery", func() bool { deliver(t, h); now.received(t); return len(now.ids) == 1 })
	})
	t.Run("acknowledged again on the next connection", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st)
		old := attach(t, h, 1)
		st.add(old.id, 1)
		deliver(t, h)
		old.ack(t, 1) // accepted, not stored yet
		now := attach(t, h, 1)
		deliver(t, h) // 1 is still pending: redelivered
		now.received(t)
		now.ack(t, now.ids...)
		flush(t, h)
		if got := st.storedIDs(now.id); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("stored %v, want [1] once", got)
		}
	})
	t.Run("already acknowledged", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st)
		c := attach(t, h, 1)
		st.add(c.id, 1, 2)
		deliver(t, h)
		c.ack(t, 1)
		flush(t, h)
		c.ack(t, 1, 2)
		flush(t, h)
		if got := st.storedIDs(c.id); !slices.Equal(got, []uint64{1, 2}) {
			t.Fatalf("stored %v, want [1 2], each once", got)
		}
		if n := h.M.Acked.Load(); n != 2 {
			t.Fatalf("Acked %d, want 2", n)
		}
	})
	t.Run("repeated within one record", func(t *testing.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st)
		c := attach(t, h, 1)
		st.add(c.id, 1, 2, 3)
		deliver(t, h)
		// Two Ack messages in one record, both with ID 2: POST-005 keeps
		// IDs strictly ascending within one Ack only.
		f := c.frame(t, session.AppendAck(nil, []uint64{1, 2}), session.AppendAck(nil, []uint64{2, 3}))
		if err := c.conn.Receive(f); err != nil {
			t.Fatal(err)
		}
		flush(t, h)
		if got := st.storedIDs(c.id); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("stored %v, want [1 2 3]", got)
		}
		if n := h.M.Acked.Load(); n != 3 {
			t.Fatalf("Acked %d, want 3", n)
		}
	})
}

// DLV-021: a failed store write of acknowledgements is retried, after a
// backoff, until it is stored; nothing is lost and nothing is tried during
// the backoff. Acknowledgements that arrive meanwhile join the retry.
func TestFailedAckWriteIsRetriedUntilStored(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}, failFirst: 3}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	h := newHub(t, st, func(c *Config) { c.Now = clk.now; c.Tick = 10 * time.Millisecond })
	c := attach(t, h, 1)
	st.add(c.id, 1, 2, 3)
	deliver(t, h)
	c.ack(t, 1, 2)
	for attempt := 1; attempt <= 3; attempt++ {
		if _, left, err := h.flushAcks(context.Background(), false); err == nil || left == 0 {
			t.Fatalf("attempt %d: err %v, %d left", attempt, err, left)
		}
		calls := st.ackCalls()
		if _, _, err := h.flushAcks(context.Background(), false); err != nil || st.ackCalls() != calls {
			t.Fatalf("attempt %d: tried again during the backoff (%v)", attempt, err)
		}
		if attempt == 2 {
			c.ack(t, 3)
		}
		clk.advance(h.ackBackoff(attempt))
	}
	stored, left, err := h.flushAcks(context.Background(), false)
	if err != nil || stored != 3 || left != 0 {
		t.Fatalf("after the backoff: stored %d, %d left, %v", stored, left, err)
	}
	if got := st.storedIDs(c.id); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("stored %v, want [1 2 3]", got)
	}
	if h.M.AckRetries.Load() != 3 || h.M.AcksAbandoned.Load() != 0 {
		t.Fatalf("%d retries, %d abandoned", h.M.AckRetries.Load(), h.M.AcksAbandoned.Load())
	}
	// Backoff doubles from the tick up to a second.
	if h.ackBackoff(1) != 10*time.Millisecond || h.ackBackoff(2) != 20*time.Millisecond || h.ackBackoff(30) != time.Second {
		t.Fatalf("backoff %v %v %v", h.ackBackoff(1), h.ackBackoff(2), h.ackBackoff(30))
	}
}

// DLV-021: when the connection ends before its acknowledgements are
// stored, they are given up and the messages stay pending: the next
// connection gets them again.
func TestAcksOfEndedConnectionAreRedelivered(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}, failFirst: 1}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	h := newHub(t, st, func(c *Config) { c.Now = clk.now })
	c := attach(t, h, 1)
	st.add(c.id, 1, 2)
	deliver(t, h)
	c.ack(t, 1, 2)
	if _, _, err := h.flushAcks(context.Background(), false); err == nil {
		t.Fatal("the first Ack call did not fail")
	}
	c.conn.Detach()
	clk.advance(time.Second)
	flush(t, h)
	if got := st.storedIDs(c.id); len(got) != 0 || h.M.AcksAbandoned.Load() != 2 {
		t.Fatalf("stored %v, %d abandoned; want none stored, 2 abandoned", got, h.M.AcksAbandoned.Load())
	}
	again := attach(t, h, 1)
	deliver(t, h)
	again.received(t)
	if !slices.Equal(again.ids, []uint64{1, 2}) {
		t.Fatalf("next connection got %v, want [1 2]", again.ids)
	}
}

// runHub runs h until cancel is called; wait waits for Run to return.
func runHub(t *testing.T, h *Hub) (cancel, wait func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel, func() { <-done }
}

// waitFor polls cond until it holds; the limit only ends a test that is
// stuck, it measures nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// DLV-022: when Run's context ends, every connection is closed with
// going_away, and every Ack accepted before is stored, even when the
// store fails the first attempts: the final flush is not cancelled and
// retries.
func TestShutdownStoresEveryAcceptedAck(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}, failFirst: 2}
	h := newHub(t, st, func(c *Config) {
		c.Now, c.Tick, c.ShutdownFlushTimeout = time.Now, time.Millisecond, time.Minute
		c.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	})
	cancel, wait := runHub(t, h)
	c := attach(t, h, 1)
	st.add(c.id, 1, 2, 3)
	h.Wake(c.id)
	waitFor(t, "three messages", func() bool { c.received(t); return len(c.ids) == 3 })
	// From now on the writer fails every attempt, so only the final
	// flush can store the Acks.
	st.mu.Lock()
	st.failFirst = 1 << 30
	st.mu.Unlock()
	c.ack(t, 1, 2, 3)
	waitFor(t, "a failed attempt", func() bool { return h.M.AckRetries.Load() > 0 })
	st.mu.Lock()
	st.failFirst = st.calls + 2 // the final flush fails twice, then stores
	st.mu.Unlock()
	cancel()
	wait()
	if got := st.storedIDs(c.id); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("stored %v after shutdown, want [1 2 3]", got)
	}
	if _, code := c.received(t); code != alert.GoingAway {
		t.Fatalf("closed with %v, want going_away", code)
	}
	if _, err := h.Attach(c.sess, &recordingPeer{}); err == nil {
		t.Fatal("a stopped hub attached a session")
	} else if code, _ := alert.CodeOf(err); code != alert.GoingAway {
		t.Fatalf("Attach after shutdown: %v, want going_away", err)
	}
}

// DLV-022: an Ack write in progress when Run's context ends is not
// cancelled by it (a cancelled write used to drop its batch): it completes
// and the final flush finds nothing lost.
func TestShutdownDoesNotCancelAckWriteInProgress(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}, block: true,
		entered: make(chan struct{}), release: make(chan struct{})}
	h := newHub(t, st, func(c *Config) { c.Now = time.Now; c.Tick = time.Millisecond })
	cancel, wait := runHub(t, h)
	c := attach(t, h, 1)
	st.add(c.id, 1)
	h.Wake(c.id)
	waitFor(t, "the message", func() bool { c.received(t); return len(c.ids) == 1 })
	c.ack(t, 1)
	<-st.entered // the writer is inside Store.Ack
	cancel()
	close(st.release) // the write completes after Run's context ended
	wait()
	if got := st.storedIDs(c.id); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("stored %v, want [1]", got)
	}
	if h.M.AckRetries.Load() != 0 {
		t.Fatalf("the write in progress failed (%d retries)", h.M.AckRetries.Load())
	}
	if _, code := c.received(t); code != alert.GoingAway {
		t.Fatalf("closed with %v, want going_away", code)
	}
}

// A connection whose queue is full when its delivery is ready is closed
// without an Alert (the dropped frame took a record sequence number, so an
// Alert after it would not open: the client saw bad_record_mac); nothing
// is in flight on it, and the client's next connection gets the messages
// (DLV-002).
func TestSlowConsumerKeepsItsMessages(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st)
	c := attach(t, h, 1)
	st.add(c.id, 1, 2)
	c.peer.mu.Lock()
	c.peer.full = true
	c.peer.mu.Unlock()
	deliver(t, h)
	c.peer.mu.Lock()
	closed, final := c.peer.closed, c.peer.final
	c.peer.mu.Unlock()
	if !closed || final != nil {
		t.Fatalf("closed %v with a final frame %x, want closed without one", closed, final)
	}
	if h.InFlight(c.id, 1) || h.M.SlowConsumers.Load() != 1 {
		t.Fatalf("in flight %v, %d slow consumers", h.InFlight(c.id, 1), h.M.SlowConsumers.Load())
	}
	again := attach(t, h, 1)
	deliver(t, h)
	again.received(t)
	if !slices.Equal(again.ids, []uint64{1, 2}) {
		t.Fatalf("next connection got %v, want [1 2]", again.ids)
	}
	again.ack(t, 1, 2)
	flush(t, h)
	if got := st.storedIDs(again.id); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("stored %v", got)
	}
}

// DLV-022: when the store never takes the acknowledgements, the shutdown
// gives up after ShutdownFlushTimeout instead of hanging: Run returns and
// counts them abandoned (their messages stay pending).
func TestShutdownFlushGivesUp(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}, failFirst: 1 << 30}
	h := newHub(t, st, func(c *Config) {
		c.Now, c.Tick, c.ShutdownFlushTimeout = time.Now, time.Millisecond, 20*time.Millisecond
	})
	cancel, wait := runHub(t, h)
	c := attach(t, h, 1)
	st.add(c.id, 1, 2)
	h.Wake(c.id)
	waitFor(t, "two messages", func() bool { c.received(t); return len(c.ids) == 2 })
	c.ack(t, 1, 2)
	cancel()
	wait()
	if h.M.AcksAbandoned.Load() == 0 || len(st.storedIDs(c.id)) != 0 {
		t.Fatalf("%d abandoned, stored %v", h.M.AcksAbandoned.Load(), st.storedIDs(c.id))
	}
}

// GoAway closes every connection with going_away and refuses later
// attachments with it, without stopping Run: it is the signal a node that
// gives up its clients sends (POST-022).
func TestGoAwayClosesEveryConnection(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st)
	a, b := attach(t, h, 1), attach(t, h, 2)
	if n := h.GoAway("draining"); n != 2 {
		t.Fatalf("GoAway closed %d connections, want 2", n)
	}
	for _, c := range []*client{a, b} {
		if _, code := c.received(t); code != alert.GoingAway {
			t.Fatalf("client %d closed with %v, want going_away", c.id[0], code)
		}
	}
	if h.M.Connections.Load() != 0 {
		t.Fatalf("%d connections left", h.M.Connections.Load())
	}
	if _, err := h.Attach(a.sess, &recordingPeer{}); err == nil {
		t.Fatal("attached after GoAway")
	} else if code, _ := alert.CodeOf(err); code != alert.GoingAway {
		t.Fatalf("Attach after GoAway: %v, want going_away", err)
	}
}

// DLV-022: Acks that race the shutdown are either refused (the connection
// is closed) or stored: every Ack that Receive accepted is in the store
// once Run has returned.
func TestAckRacingShutdownIsStoredOrRefused(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st, func(c *Config) { c.Now, c.Tick = time.Now, time.Millisecond })
	cancel, wait := runHub(t, h)
	const clients, msgs = 20, 50
	var cs []*client
	for i := byte(1); i <= clients; i++ {
		c := attach(t, h, i)
		st.add(c.id, span(1, msgs)...)
		h.Wake(c.id)
		cs = append(cs, c)
	}
	for _, c := range cs {
		waitFor(t, "the messages", func() bool { c.received(t); return len(c.ids) == msgs })
	}
	accepted := make([][]uint64, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, id := range c.ids {
				f, err := c.sess.Seal(nil, session.AppendAck(nil, []uint64{id}))
				if err != nil {
					t.Error(err)
					return
				}
				if c.conn.Receive(f) != nil {
					return
				}
				accepted[i] = append(accepted[i], id)
			}
		}()
	}
	close(start)
	cancel()
	wait()
	wg.Wait()
	total := 0
	for i, c := range cs {
		stored := st.storedIDs(c.id)
		for _, id := range accepted[i] {
			if !slices.Contains(stored, id) {
				t.Fatalf("client %d: Ack of %d accepted, not stored", c.id[0], id)
			}
		}
		total += len(accepted[i])
	}
	t.Logf("%d of %d Acks accepted before the connections closed", total, clients*msgs)
}

// OPS-004: Resume undoes GoAway — a node that gave its clients up while
// its store was away takes sessions again — but not a shutdown: once Run's
// context has ended, Attach keeps refusing with going_away.
func TestResumeAfterGoAwayButNotAfterShutdown(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st, func(c *Config) { c.Now, c.Tick = time.Now, time.Millisecond })
	a := attach(t, h, 1)
	h.GoAway("store unreachable")
	h.Resume()
	b := attach(t, h, 2) // fails the test if refused
	if _, code := a.received(t); code != alert.GoingAway {
		t.Fatalf("client closed with %v before Resume, want going_away", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	cancel()
	<-done
	if _, code := b.received(t); code != alert.GoingAway {
		t.Fatalf("shutdown closed the resumed client with %v, want going_away", code)
	}
	h.Resume()
	if _, err := h.Attach(a.sess, &recordingPeer{}); err == nil {
		t.Fatal("attached after a shutdown and Resume")
	} else if code, _ := alert.CodeOf(err); code != alert.GoingAway {
		t.Fatalf("Attach after shutdown: %v, want going_away", err)
	}
}

// OPS-003: DeliveryFailingSince reports the first failed tick since the
// last good one, and a good tick clears it.
func TestDeliveryFailingSince(t *testing.T) {
	st := &failingPending{ackStore: ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}}
	st.fail.Store(true)
	h := newHub(t, st, func(c *Config) { c.Now, c.Tick = time.Now, time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, ok := h.DeliveryFailingSince(); ok {
		t.Fatal("failing before any tick")
	}
	before := time.Now()
	attach(t, h, 1) // work for the next tick, which fails
	waitFor(t, "a failed tick", func() bool { _, ok := h.DeliveryFailingSince(); return ok })
	first, _ := h.DeliveryFailingSince()
	if first.Before(before) {
		t.Fatalf("failing since %v, before the first failure at %v", first, before)
	}
	time.Sleep(20 * time.Millisecond) // more failed ticks keep the first time
	if again, _ := h.DeliveryFailingSince(); !again.Equal(first) {
		t.Fatalf("failing since moved from %v to %v", first, again)
	}
	st.fail.Store(false)
	waitFor(t, "a good tick", func() bool { _, ok := h.DeliveryFailingSince(); return !ok })
}

// failingPending fails Pending while fail is set.
type failingPending struct {
	ackStore
	fail atomic.Bool
}

func (s *failingPending) Pending(ctx context.Context, id [32]byte, after uint64, limit int) ([]store.Message, error) {
	if s.fail.Load() {
		return nil, errStoreDown
	}
	return s.ackStore.Pending(ctx, id, after, limit)
}

// DLV-051: acknowledgements are stored every AckInterval, not every tick:
// Acks received over many ticks wait for one write, and meanwhile nothing
// acknowledged is sent again on the connection.
func TestAcksAreStoredEveryAckInterval(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st, func(c *Config) {
		c.Now, c.Tick, c.AckInterval, c.ShutdownFlushTimeout = time.Now, time.Millisecond, time.Hour, time.Minute
	})
	cancel, wait := runHub(t, h)
	c := attach(t, h, 1)
	st.add(c.id, 1, 2)
	h.Wake(c.id)
	waitFor(t, "two messages", func() bool { c.received(t); return len(c.ids) == 2 })
	c.ack(t, 1)
	time.Sleep(30 * time.Millisecond) // 30 ticks
	c.ack(t, 2)
	st.add(c.id, 3)
	h.Wake(c.id)
	waitFor(t, "a third message", func() bool { c.received(t); return len(c.ids) == 3 })
	time.Sleep(30 * time.Millisecond)
	st.mu.Lock()
	calls := st.calls
	st.mu.Unlock()
	if calls != 0 {
		t.Fatalf("%d Store.Ack calls within the first AckInterval, want 0", calls)
	}
	if got := c.ids; !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("received %v on the acknowledging connection, want [1 2 3] (nothing sent again)", got)
	}
	cancel()
	wait()
	if st.calls != 1 || !slices.Equal(st.storedIDs(c.id), []uint64{1, 2}) {
		t.Fatalf("%d Store.Ack calls storing %v at shutdown, want one storing [1 2]", st.calls, st.storedIDs(c.id))
	}
}

// DLV-051: a client that acknowledged messages and reconnects before the
// next AckInterval is not sent them again: its queued acknowledgements are
// stored before the new connection's first delivery.
func TestReconnectBeforeAckIntervalGetsNothingAgain(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st, func(c *Config) {
		c.Now, c.Tick, c.AckInterval, c.ShutdownFlushTimeout = time.Now, time.Millisecond, time.Hour, time.Minute
	})
	cancel, wait := runHub(t, h)
	defer func() { cancel(); wait() }()
	a := attach(t, h, 1)
	st.add(a.id, 1, 2, 3)
	h.Wake(a.id)
	waitFor(t, "three messages", func() bool { a.received(t); return len(a.ids) == 3 })
	a.ack(t, 1, 2)
	a.conn.Detach()
	b := attach(t, h, 1) // the same client, at once
	h.Wake(b.id)
	waitFor(t, "a delivery on the new connection", func() bool { b.received(t); return len(b.ids) > 0 })
	time.Sleep(20 * time.Millisecond) // 20 more ticks
	b.received(t)
	if !slices.Equal(b.ids, []uint64{3}) {
		t.Fatalf("the new connection received %v, want [3] (1 and 2 were acknowledged)", b.ids)
	}
	if got := st.storedIDs(b.id); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("stored %v before the new connection's delivery, want [1 2]", got)
	}
}

// DLV-051: a client that reconnects while the ack writer is storing its
// acknowledgements (taken from the queue, not yet stored) is not sent
// those messages again: its new connection's first delivery waits for the
// write. Without the wait the tick read them as pending from the store.
func TestReconnectDuringAckWriteGetsNothingAgain(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}},
		block: true, entered: make(chan struct{}), release: make(chan struct{})}
	h := newHub(t, st)
	a := attach(t, h, 1)
	st.add(a.id, 1, 2, 3)
	deliver(t, h)
	a.received(t)
	a.ack(t, 1, 2)
	done := make(chan error, 1)
	go func() { _, _, err := h.flushAcks(context.Background(), false); done <- err }()
	<-st.entered // the write holds 1 and 2
	a.conn.Detach()
	b := attach(t, h, 1)
	deliver(t, h)
	if b.received(t); len(b.ids) != 0 {
		t.Fatalf("the new connection was sent %v while its client's acknowledgements were being stored", b.ids)
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deliver(t, h)
	b.received(t)
	if !slices.Equal(b.ids, []uint64{3}) {
		t.Fatalf("the new connection received %v, want [3]", b.ids)
	}
}

// The same with the delivery loop running: the new connection, deferred
// while its client's acknowledgements are written, is delivered to once
// the write is done (the loop ticks only when poked, so a deferred
// connection that is not poked again would wait forever).
func TestReconnectDuringAckWriteIsDeliveredAfterIt(t *testing.T) {
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}},
		block: true, entered: make(chan struct{}), release: make(chan struct{})}
	h := newHub(t, st, func(c *Config) {
		c.Now, c.Tick, c.AckInterval, c.ShutdownFlushTimeout = time.Now, time.Millisecond, 2*time.Millisecond, time.Minute
	})
	cancel, wait := runHub(t, h)
	defer func() { cancel(); wait() }()
	a := attach(t, h, 1)
	st.add(a.id, 1, 2, 3)
	h.Wake(a.id)
	waitFor(t, "three messages", func() bool { a.received(t); return len(a.ids) == 3 })
	a.ack(t, 1, 2)
	<-st.entered // the ack writer holds 1 and 2
	a.conn.Detach()
	b := attach(t, h, 1)
	h.Wake(b.id)
	time.Sleep(20 * time.Millisecond) // 20 ticks
	if b.received(t); len(b.ids) != 0 {
		t.Fatalf("the new connection was sent %v while its client's acknowledgements were being stored", b.ids)
	}
	close(st.release)
	waitFor(t, "the delivery after the write", func() bool { b.received(t); return len(b.ids) > 0 })
	if !slices.Equal(b.ids, []uint64{3}) {
		t.Fatalf("the new connection received %v, want [3]", b.ids)
	}
}
