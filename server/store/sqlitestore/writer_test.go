package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// writerHold stops the writer before each commit while active: the group
// size goes to entered, and the commit waits for a verdict (nil: commit,
// an error: fail the group). With it a test builds a known group: it
// holds the writer on one request, queues the group's requests, and lets
// the first commit go.
type writerHold struct {
	active  atomic.Bool
	entered chan int
	verdict chan error
}

func holdWriter(s *Store) *writerHold {
	h := &writerHold{entered: make(chan int), verdict: make(chan error)}
	h.active.Store(true)
	s.testHookBeforeCommit = func(n int) error {
		if !h.active.Load() {
			return nil
		}
		h.entered <- n
		return <-h.verdict
	}
	return h
}

// block puts one request (a nonce) before the writer and waits until the
// writer holds it; the next group is then everything queued meanwhile.
func (h *writerHold) block(t *testing.T, s *Store) (done chan error) {
	t.Helper()
	done = make(chan error, 1)
	go func() {
		_, err := s.Seen(context.Background(), "blocker", fmt.Sprint(time.Now().UnixNano()), time.Now().Add(time.Hour))
		done <- err
	}()
	if n := <-h.entered; n != 1 {
		t.Fatalf("blocking group of %d", n)
	}
	return done
}

// waitQueued waits until n requests are queued.
func waitQueued(s *Store, n int) {
	for {
		s.qmu.Lock()
		q := len(s.queue)
		s.qmu.Unlock()
		if q >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func publishTo(c [32]byte, n int) *store.PublishRequest {
	req := &store.PublishRequest{Publisher: "p"}
	for i := range n {
		req.Publications = append(req.Publications, store.Publication{To: [][32]byte{c}, Payload: []byte(fmt.Sprint("m", i)), TTL: time.Hour})
	}
	return req
}

type result struct {
	res []store.Assigned
	err error
}

// publishAll publishes reqs concurrently; results come back in reqs' order.
func publishAll(s *Store, reqs []*store.PublishRequest, onCommit func([]store.Assigned)) (wait func() []result) {
	out := make([]result, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			out[i].res, _, out[i].err = s.Publish(context.Background(), req, onCommit)
		})
	}
	return func() []result { wg.Wait(); return out }
}

// TestGroupCommitRollsBackOnlyTheFailingRequest: STORE-010. Eight
// publishes commit in one group; the one over its client's pending limit
// and the one that reuses an idempotency key with another request fail
// and leave nothing behind (not the message to another client before the
// limit was hit, not the raised message-ID counter); the six others are
// stored.
func TestGroupCommitRollsBackOnlyTheFailingRequest(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", IdempotencyKey: "k", RequestHash: [32]byte{1},
		Publications: publishTo(cid(50), 1).Publications}, nil); err != nil {
		t.Fatal(err)
	}
	h := holdWriter(s)
	blocked := h.block(t, s)
	var reqs []*store.PublishRequest
	for i := range 6 {
		reqs = append(reqs, publishTo(cid(byte(10+i)), 2))
	}
	// To client 20 first (fine), then three to client 21 with a limit of 2.
	over := &store.PublishRequest{Publisher: "p", MaxPending: 2, Publications: []store.Publication{
		{To: [][32]byte{cid(20)}, Payload: []byte("rolled back"), TTL: time.Hour},
		{To: [][32]byte{cid(21)}, Payload: []byte("a"), TTL: time.Hour},
		{To: [][32]byte{cid(21)}, Payload: []byte("b"), TTL: time.Hour},
		{To: [][32]byte{cid(21)}, Payload: []byte("c"), TTL: time.Hour},
	}}
	reused := &store.PublishRequest{Publisher: "p", IdempotencyKey: "k", RequestHash: [32]byte{2},
		Publications: publishTo(cid(22), 1).Publications}
	reqs = slices.Insert(reqs, 3, over, reused)
	commits := s.commits.Load()
	wait := publishAll(s, reqs, nil)
	waitQueued(s, len(reqs))
	h.verdict <- nil
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if n := <-h.entered; n != len(reqs) {
		t.Fatalf("group of %d, want %d", n, len(reqs))
	}
	h.active.Store(false)
	h.verdict <- nil
	got := wait()
	if c := s.commits.Load() - commits; c != 2 {
		t.Fatalf("%d commits for the blocker and one group", c)
	}
	for i, r := range got {
		switch reqs[i] {
		case over:
			if !errors.Is(r.err, store.ErrTooManyPending) {
				t.Fatalf("request over the limit: %v", r.err)
			}
		case reused:
			if !errors.Is(r.err, store.ErrIdempotencyReused) {
				t.Fatalf("reused idempotency key: %v", r.err)
			}
		default:
			if r.err != nil || len(r.res) != 2 {
				t.Fatalf("request %d: %v, %d assigned", i, r.err, len(r.res))
			}
			if n, err := s.PendingCount(ctx, r.res[0].ClientID); err != nil || n != 2 {
				t.Fatalf("request %d: %d pending after its 2xx (%v)", i, n, err)
			}
		}
	}
	for _, c := range []byte{20, 21, 22} {
		if n, err := s.PendingCount(ctx, cid(c)); err != nil || n != 0 {
			t.Fatalf("client %d: %d pending from a failed request (%v)", c, n, err)
		}
	}
	// The failed request's message IDs and pending counts went with it.
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", MaxPending: 2, Publications: []store.Publication{
		{To: [][32]byte{cid(20)}, Payload: []byte("x"), TTL: time.Hour},
		{To: [][32]byte{cid(21)}, Payload: []byte("a"), TTL: time.Hour},
		{To: [][32]byte{cid(21)}, Payload: []byte("b"), TTL: time.Hour},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Seq != 1 || res[1].Seq != 1 || res[2].Seq != 2 {
		t.Fatalf("message IDs %d, %d, %d after a rolled-back request; want 1, 1, 2", res[0].Seq, res[1].Seq, res[2].Seq)
	}
}

// TestGroupCommitAnswersOnlyAfterTheCommit: STORE-010, API-025. While the
// writer holds a group's commit, none of its callers has returned nor had
// its onCommit called; after the commit each has, and what it got is
// readable.
func TestGroupCommitAnswersOnlyAfterTheCommit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	h := holdWriter(s)
	blocked := h.block(t, s)
	var returned, notified atomic.Int32
	var wg sync.WaitGroup
	const n = 16
	for i := range n {
		wg.Go(func() {
			res, _, err := s.Publish(ctx, publishTo(cid(byte(i)), 1), func([]store.Assigned) { notified.Add(1) })
			returned.Add(1)
			if err != nil || len(res) != 1 {
				t.Errorf("publish %d: %v", i, err)
				return
			}
			if msgs, err := s.Pending(ctx, res[0].ClientID, 0, 10); err != nil || len(msgs) != 1 {
				t.Errorf("publish %d returned, its message is not readable: %d, %v", i, len(msgs), err)
			}
		})
	}
	waitQueued(s, n)
	h.verdict <- nil
	<-blocked
	if g := <-h.entered; g != n {
		t.Fatalf("group of %d, want %d", g, n)
	}
	// The group is applied and waits for its commit.
	time.Sleep(10 * time.Millisecond)
	if r, c := returned.Load(), notified.Load(); r != 0 || c != 0 {
		t.Fatalf("before the commit: %d publishes returned, %d onCommit calls", r, c)
	}
	h.active.Store(false)
	h.verdict <- nil
	wg.Wait()
	if c := notified.Load(); c != n {
		t.Fatalf("%d onCommit calls for %d publishes", c, n)
	}
}

// TestGroupCommitFailureFailsEveryCaller: STORE-010. When the commit of a
// group fails, every caller in it gets an error, no onCommit runs, and
// nothing of the group is stored.
func TestGroupCommitFailureFailsEveryCaller(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	h := holdWriter(s)
	blocked := h.block(t, s)
	var reqs []*store.PublishRequest
	for i := range 8 {
		reqs = append(reqs, publishTo(cid(byte(i)), 3))
	}
	var notified atomic.Int32
	wait := publishAll(s, reqs, func([]store.Assigned) { notified.Add(1) })
	var seen atomic.Value
	go func() {
		dup, err := s.Seen(ctx, "k", "nonce-in-failed-group", time.Now().Add(time.Hour))
		seen.Store(fmt.Sprint(dup, err))
	}()
	waitQueued(s, len(reqs)+1)
	h.verdict <- nil
	<-blocked
	if g := <-h.entered; g != len(reqs)+1 {
		t.Fatalf("group of %d, want %d", g, len(reqs)+1)
	}
	injected := errors.New("injected commit failure")
	h.active.Store(false)
	h.verdict <- injected
	for i, r := range wait() {
		if !errors.Is(r.err, injected) {
			t.Fatalf("publish %d in a failed group: %v", i, r.err)
		}
	}
	if c := notified.Load(); c != 0 {
		t.Fatalf("%d onCommit calls in a failed group", c)
	}
	for i := range reqs {
		if n, err := s.PendingCount(ctx, cid(byte(i))); err != nil || n != 0 {
			t.Fatalf("client %d: %d pending after a failed group (%v)", i, n, err)
		}
	}
	// The nonce of the failed group was not recorded either.
	for seen.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	if dup, err := s.Seen(ctx, "k", "nonce-in-failed-group", time.Now().Add(time.Hour)); err != nil || dup {
		t.Fatalf("nonce of a failed group recorded: %v %v (first call: %v)", dup, err, seen.Load())
	}
	// The writer goes on, and its memory went back with the failed
	// commit (STORE-013): client 1's IDs 1 … 3 were never stored.
	res, _, err := s.Publish(ctx, publishTo(cid(1), 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Seq != 1 {
		t.Fatalf("message ID %d after a failed group, want 1", res[0].Seq)
	}
	if n := heldPending(t, s, cid(1)); n != 1 {
		t.Fatalf("writer's pending count %d after a failed group and one publish, want 1", n)
	}
}

// TestWriteErrorOnAClosedDatabase: a writer whose database is
// gone (closed under it) fails each group's callers instead of answering
// them as stored.
func TestWriteErrorOnAClosedDatabase(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	if err := s.w.Close(); err != nil {
		t.Fatal(err)
	}
	wait := publishAll(s, []*store.PublishRequest{publishTo(cid(1), 1), publishTo(cid(2), 1)}, func([]store.Assigned) {
		t.Error("onCommit on a closed database")
	})
	for i, r := range wait() {
		if r.err == nil {
			t.Fatalf("publish %d on a closed database succeeded", i)
		}
	}
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {1}}); err == nil {
		t.Fatal("ack on a closed database succeeded")
	}
}

// TestOnCommitRunsInCommitOrder: concurrent publishes to one client get
// message IDs in commit order, and onCommit sees them in that order (the
// store.Store contract for an engine with one writer).
func TestOnCommitRunsInCommitOrder(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	h := holdWriter(s)
	// Several groups: the writer is held twice, with requests queued each
	// time, then let go.
	var mu sync.Mutex
	var order []uint64
	onCommit := func(as []store.Assigned) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range as {
			order = append(order, a.Seq)
		}
	}
	var waits []func() []result
	for range 2 {
		blocked := h.block(t, s)
		reqs := make([]*store.PublishRequest, 24)
		for i := range reqs {
			reqs[i] = publishTo(cid(1), 2)
		}
		waits = append(waits, publishAll(s, reqs, onCommit))
		waitQueued(s, len(reqs))
		h.verdict <- nil
		<-blocked
		<-h.entered
		h.verdict <- nil
	}
	h.active.Store(false)
	for _, w := range waits {
		for _, r := range w() {
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
	}
	if len(order) != 2*24*2 {
		t.Fatalf("%d messages seen by onCommit", len(order))
	}
	for i, seq := range order {
		if seq != uint64(i+1) {
			t.Fatalf("onCommit saw message IDs out of commit order: %v", order)
		}
	}
}

// TestCloseCommitsQueuedWrites: Close waits for what was queued before it
// and commits it; a write after Close began fails; what was answered is
// there after a reopen.
func TestCloseCommitsQueuedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, nil)
	h := holdWriter(s)
	blocked := h.block(t, s)
	var reqs []*store.PublishRequest
	for i := range 10 {
		reqs = append(reqs, publishTo(cid(byte(i)), 1))
	}
	wait := publishAll(s, reqs, nil)
	waitQueued(s, len(reqs))
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	for {
		s.qmu.Lock()
		c := s.closing
		s.qmu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, _, err := s.Publish(ctx, publishTo(cid(99), 1), nil); !errors.Is(err, errClosed) {
		t.Fatalf("publish after Close began: %v", err)
	}
	h.active.Store(false)
	h.verdict <- nil
	<-blocked
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	answered := make(chan []result)
	go func() { answered <- wait() }()
	var got []result
	select {
	case got = <-answered:
	case <-time.After(time.Minute):
		t.Fatal("queued publishes still unanswered a minute after Close returned")
	}
	for i, r := range got {
		if r.err != nil {
			t.Fatalf("queued publish %d: %v", i, r.err)
		}
	}
	s = openTest(t, path, nil)
	for i := range reqs {
		if n, err := s.PendingCount(ctx, cid(byte(i))); err != nil || n != 1 {
			t.Fatalf("client %d: %d pending after Close and reopen (%v)", i, n, err)
		}
	}
	if n, _ := s.PendingCount(ctx, cid(99)); n != 0 {
		t.Fatal("a publish refused at Close was stored")
	}
}

// TestCancelledCallers: a caller whose ctx ends while its request is
// queued gets ctx.Err() and nothing is stored; once the writer took the
// request, the caller gets the committed result whatever its ctx.
func TestCancelledCallers(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	h := holdWriter(s)
	blocked := h.block(t, s)
	qctx, cancelQueued := context.WithCancel(context.Background())
	queuedErr := make(chan error)
	go func() {
		_, _, err := s.Publish(qctx, publishTo(cid(1), 1), nil)
		queuedErr <- err
	}()
	waitQueued(s, 1)
	cancelQueued()
	if err := <-queuedErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("publish cancelled while queued: %v", err)
	}
	tctx, cancelTaken := context.WithCancel(context.Background())
	takenErr := make(chan error)
	go func() {
		_, _, err := s.Publish(tctx, publishTo(cid(2), 1), nil)
		takenErr <- err
	}()
	waitQueued(s, 2) // the abandoned request stays queued until the writer skips it
	h.verdict <- nil
	<-blocked
	if g := <-h.entered; g != 1 {
		t.Fatalf("group of %d: the abandoned request was taken", g)
	}
	cancelTaken()
	h.active.Store(false)
	h.verdict <- nil
	if err := <-takenErr; err != nil {
		t.Fatalf("publish cancelled after the writer took it: %v", err)
	}
	ctx := context.Background()
	if n, _ := s.PendingCount(ctx, cid(1)); n != 0 {
		t.Fatal("a publish cancelled while queued was stored")
	}
	if n, _ := s.PendingCount(ctx, cid(2)); n != 1 {
		t.Fatal("a publish taken by the writer was not stored")
	}
}

// TestAcksOfAGroupAreMerged: Ack calls in one group are applied in one
// pass: an ID named by several calls (or twice in one) counts once, the
// pending counters and blob references end as they would one call at a
// time, and one commit holds them all.
func TestAcksOfAGroupAreMerged(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	// A broadcast to clients 1 … 4 and three direct messages to each.
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1), cid(2), cid(3), cid(4)}, Payload: []byte("all"), TTL: time.Hour},
	}}, nil); err != nil {
		t.Fatal(err)
	}
	for c := byte(1); c <= 4; c++ {
		if _, _, err := s.Publish(ctx, publishTo(cid(c), 3), nil); err != nil {
			t.Fatal(err)
		}
	}
	h := holdWriter(s)
	blocked := h.block(t, s)
	calls := []map[[32]byte][]uint64{
		{cid(1): {1, 2, 2}, cid(2): {1}},
		{cid(1): {2, 3}, cid(3): {2, 9}}, // 2 of client 1 again; 9 does not exist
		{cid(4): {1}, cid(2): {1, 4}},    // 1 of client 2 again
	}
	counts := make([]int, len(calls))
	var wg sync.WaitGroup
	for i, acks := range calls {
		wg.Go(func() {
			n, err := s.Ack(ctx, acks)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	waitQueued(s, len(calls))
	commits := s.commits.Load()
	h.verdict <- nil
	<-blocked
	if g := <-h.entered; g != len(calls) {
		t.Fatalf("group of %d", g)
	}
	h.active.Store(false)
	h.verdict <- nil
	wg.Wait()
	if c := s.commits.Load() - commits; c != 2 {
		t.Fatalf("%d commits for the blocker and one group of acks", c)
	}
	// Distinct existing IDs: 1/1 1/2 1/3 2/1 2/4 3/2 4/1.
	if total := counts[0] + counts[1] + counts[2]; total != 7 {
		t.Fatalf("acks counted %v, %d in all; want 7", counts, total)
	}
	want := map[byte]int{1: 1, 2: 2, 3: 3, 4: 3}
	for c, w := range want {
		n, err := s.PendingCount(ctx, cid(c))
		counter := heldPending(t, s, cid(c))
		if err != nil || n != w || counter != w {
			t.Fatalf("client %d: %d pending, counter %d, want %d (%v)", c, n, counter, w, err)
		}
	}
	var refs int
	if err := s.r.QueryRow(`SELECT refs FROM blobs`).Scan(&refs); err != nil || refs != 1 {
		t.Fatalf("broadcast blob: %d references left, want 1 (%v)", refs, err)
	}
	if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(3): {1}}); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	var blobs int
	s.r.QueryRow(`SELECT count(*) FROM blobs`).Scan(&blobs)
	if blobs != 0 {
		t.Fatal("the blob outlived its last reference")
	}
}

// STORE-011: a group of nonces only commits without an fsync (synchronous
// NORMAL on the writer's connection); any other write commits under the
// configured mode, whose fsync also makes the nonces before it durable.
func TestNoncesCommitWithoutTheirOwnFsync(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{StorageKey: testKey(7), Synchronous: "FULL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mode := func() int { // the mode of the writer's connection, that the last commit used
		var m int
		if err := s.w.QueryRow("PRAGMA synchronous").Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	const normal, full = 1, 2
	exp := time.Now().Add(time.Minute)
	if seen, err := s.Seen(ctx, "k", "n1", exp); err != nil || seen {
		t.Fatalf("first Seen: %v, %v", seen, err)
	}
	if m := mode(); m != normal {
		t.Fatalf("a nonce alone committed with synchronous=%d, want NORMAL (%d)", m, normal)
	}
	if _, _, err := s.Publish(ctx, publishTo(cid(1), 2), nil); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != full {
		t.Fatalf("a publish committed with synchronous=%d, want FULL (%d)", m, full)
	}
	if seen, err := s.Seen(ctx, "k", "n1", exp); err != nil || !seen {
		t.Fatalf("second Seen of the same nonce: %v, %v", seen, err)
	}
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {1}}); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != full {
		t.Fatalf("an ack committed with synchronous=%d, want FULL (%d)", m, full)
	}
	// A group that mixes a nonce with a publish commits under FULL.
	h := holdWriter(s)
	blocked := h.block(t, s)
	var wg sync.WaitGroup
	wg.Go(func() { s.Seen(ctx, "k", "n2", exp) })
	wg.Go(func() { s.Publish(ctx, publishTo(cid(2), 1), nil) })
	waitQueued(s, 2)
	h.verdict <- nil
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if n := <-h.entered; n != 2 {
		t.Fatalf("group of %d, want 2", n)
	}
	h.active.Store(false)
	h.verdict <- nil
	wg.Wait()
	if m := mode(); m != full {
		t.Fatalf("a group of a nonce and a publish committed with synchronous=%d, want FULL (%d)", m, full)
	}
}

// heldPending is the writer's pending count of client c (STORE-013), read
// on the writer while no group runs.
func heldPending(t *testing.T, s *Store, c [32]byte) int {
	t.Helper()
	n := -1
	if err := s.do(context.Background(), &writeReq{apply: func(w *writeTx) error {
		if st := s.clients[c]; st != nil {
			n = st.pending
		} else {
			n = 0
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Acknowledgements go in statements of 128, 16 and 1 IDs, the last
// filled up with its last ID again: every count from 1 to 300 IDs in one
// call acknowledges each named message once and no other.
func TestAckStatementsCoverEveryID(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	for _, n := range []int{1, 2, 15, 16, 17, 127, 128, 129, 145, 300} {
		c := cid(byte(n))
		if _, _, err := s.Publish(ctx, publishTo(c, n+1), nil); err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for id := range uint64(n) {
			ids = append(ids, id+1)
		}
		if got, err := s.Ack(ctx, map[[32]byte][]uint64{c: ids}); err != nil || got != n {
			t.Fatalf("%d IDs acknowledged as %d (%v)", n, got, err)
		}
		left, err := s.Pending(ctx, c, 0, 1000)
		if err != nil || len(left) != 1 || left[0].Seq != uint64(n+1) {
			t.Fatalf("after acknowledging %d of %d: pending %d (%v)", n, n+1, len(left), err)
		}
		if p := heldPending(t, s, c); p != 1 {
			t.Fatalf("after acknowledging %d of %d: the writer holds %d pending", n, n+1, p)
		}
	}
}
