// Package storetest is the contract suite of store.Store: one set of tests
// that every engine (memstore, sqlitestore, jsstore) runs through Run, so
// that the engines keep the same semantics and a new engine is checked the
// same way.
//
// The suite checks only what the Store interface and the spec promise:
// message IDs (DLV-001, DLV-007), paging of pending messages past the
// window of DLV-004, acknowledgements (unknown, repeated, another client's
// and late ones change nothing), expiry (API-030, API-032), status
// tombstones, idempotency keys (API-026, API-027), the pending limit
// (API-023, API-028), broadcasts (API-029), nonces (API-016, API-017),
// presence pairs (API-040), batch sequences (BATCH-020), the store epoch
// (ID-004), the ticket key set and records (HS-045 … HS-047), the device directory of user addressing (STORE-020 …
// STORE-022, API-094), the order of
// onCommit, and, for engines that persist, all of it across Close and
// open. What an engine does with its rows (sealing, STORE-001 …) is tested
// beside the engine.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

// Engine is what Run needs to know about an engine.
type Engine struct {
	// Open returns a new, empty store whose clock is clock, with the
	// default retentions (24 h for tombstones and idempotency keys). It
	// closes the store at the end of the test.
	Open func(t *testing.T, clock func() time.Time) store.Store
	// Reopen closes s and opens the same data again, as a restarted
	// server does; nil for an engine that keeps nothing across Close (the
	// durability subtests are then skipped).
	Reopen func(t *testing.T, s store.Store, clock func() time.Time) store.Store
	// Node, if not nil, opens a second handle on the data of s while s
	// stays open, as another server node of a cluster does; the
	// concurrency subtests then spread their callers over both.
	Node func(t *testing.T, s store.Store, clock func() time.Time) store.Store
	// WallClock says that the engine drops expired entries on the wall
	// clock (JetStream's TTLs) rather than on its clock: the suite then
	// gives it the real clock, waits for short TTLs instead of moving a
	// fake clock, and skips the checks of retentions of hours and days.
	WallClock bool
	// SparseIDs, if not empty, says why the engine's message IDs are not
	// dense. DLV-007 is a SHOULD, so its subtest is skipped with this
	// reason; every other check of IDs still runs.
	SparseIDs string
	// UnorderedCommits, if not empty, says why the engine does not run
	// onCommit in the order of commits (store.Store.Publish allows it of a
	// clustered engine); the order is then not checked, everything else
	// about onCommit still is.
	UnorderedCommits string
	// ForgetsExpired, if not empty, says why the engine loses the status
	// of an expired message when its storage removes the message. API-032
	// keeps the status of a finished message with a SHOULD, so Status may
	// then answer ErrNotFound for it, never another state.
	ForgetsExpired string
}

// Run runs the contract suite against e.
func Run(t *testing.T, e Engine) {
	if e.Open == nil {
		t.Fatal("storetest: Engine.Open is nil")
	}
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *env)
	}{
		{"IDsIncreasePerClient", testIDsIncrease},
		{"IDsDense", testIDsDense},
		{"IDsNeverReused", testIDsNeverReused},
		{"Broadcast", testBroadcast},
		{"PendingPaging", testPendingPaging},
		{"Ack", testAck},
		{"Expiry", testExpiry},
		{"Tombstones", testTombstones},
		{"Idempotency", testIdempotency},
		{"IdempotencyRetention", testIdempotencyRetention},
		{"MaxPending", testMaxPending},
		{"Status", testStatus},
		{"PendingCreated", testPendingCreated},
		{"Payloads", testPayloads},
		{"CancelledContext", testCancelled},
		{"Seen", testSeen},
		{"PublishNonce", testPublishNonce},
		{"Ready", testReady},
		{"PublishedTo", testPublishedTo},
		{"PublishedToRetention", testPublishedToRetention},
		{"BatchSeqs", testBatchSeqs},
		{"Epoch", testEpoch},
		{"TicketKeys", testTicketKeys},
		{"TicketRecords", testTicketRecords},
		{"OnCommitOrder", testOnCommitOrder},
		{"Durability", testDurability},
		{"Directory", testDirectory},
		{"DirectoryReplace", testDirectoryReplace},
		{"DirectoryRetention", testDirectoryRetention},
		{"DirectoryLimit", testDirectoryLimit},
		{"DirectoryDurability", testDirectoryDurability},
		{"AnnotatedReplay", testAnnotatedReplay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{wall: e.WallClock, now: time.Unix(1_800_000_000, 0)}
			tc.f(t, &env{e: e, c: c, s: e.Open(t, c.Now), ctx: context.Background()})
		})
	}
}

// clock is the fake clock of a subtest, or the wall clock for an engine
// with WallClock.
type clock struct {
	wall bool
	mu   sync.Mutex
	now  time.Time
}

func (c *clock) Now() time.Time {
	if c.wall {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// short is the TTL the suite lets pass: long enough for a wall-clock
// engine to store and read back a message before it expires.
func (c *clock) short() time.Duration {
	if c.wall {
		return 2 * time.Second
	}
	return time.Minute
}

// advance moves the clock by d; on the wall clock it sleeps, and skips
// the test for spans too long to wait.
func (c *clock) advance(t *testing.T, d time.Duration) {
	t.Helper()
	if c.wall {
		if d > 10*time.Second {
			t.Skipf("the engine's retentions run on the wall clock; the suite cannot wait %v", d)
		}
		time.Sleep(d)
		return
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	e   Engine
	c   *clock
	s   store.Store
	ctx context.Context
}

// eventually checks cond once for an engine on a fake clock; an engine on
// the wall clock removes expired entries in the background, so there cond
// is polled for up to 30 s.
func (v *env) eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if !v.c.wall || time.Now().After(deadline) {
			t.Fatalf("%s: not so", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodes returns s and, for an engine with Node, a second node's handle.
func (v *env) nodes(t *testing.T) []store.Store {
	if v.e.Node == nil {
		return []store.Store{v.s}
	}
	return []store.Store{v.s, v.e.Node(t, v.s, v.c.Now)}
}

func cid(b byte) [32]byte { return [32]byte{b, 0xc1} }

func pub(to ...[32]byte) store.Publication {
	return store.Publication{To: to, Payload: []byte(fmt.Sprintf("to %x", to[0][:1])), TTL: time.Hour}
}

func (v *env) publish(t *testing.T, req *store.PublishRequest) []store.Assigned {
	t.Helper()
	if req.Publisher == "" {
		req.Publisher = "p"
	}
	res, replayed, err := v.s.Publish(v.ctx, req, nil)
	if err != nil || replayed {
		t.Fatalf("publish: %v (replayed %v)", err, replayed)
	}
	return res
}

func (v *env) pending(t *testing.T, s store.Store, c [32]byte, after uint64, limit int) []store.Message {
	t.Helper()
	msgs, err := s.Pending(v.ctx, c, after, limit)
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	if len(msgs) > limit {
		t.Fatalf("pending returned %d messages with limit %d", len(msgs), limit)
	}
	prev := after
	for _, m := range msgs {
		if m.Seq <= prev || m.ClientID != c {
			t.Fatalf("pending after %d returned client %x's ID %d after %d: not for the client, not after, or not in order", after, m.ClientID[:2], m.Seq, prev)
		}
		prev = m.Seq
	}
	return msgs
}

func seqs(msgs []store.Message) []uint64 {
	var out []uint64
	for _, m := range msgs {
		out = append(out, m.Seq)
	}
	return out
}

func (v *env) count(t *testing.T, c [32]byte) int {
	t.Helper()
	n, err := v.s.PendingCount(v.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (v *env) ack(t *testing.T, acks map[[32]byte][]uint64) int {
	t.Helper()
	n, err := v.s.Ack(v.ctx, acks)
	if err != nil {
		t.Fatalf("ack: %v", err)
	}
	return n
}

func (v *env) state(t *testing.T, handle string) store.MessageState {
	t.Helper()
	st, err := v.s.Status(v.ctx, handle)
	if err != nil {
		t.Fatalf("status %s: %v", handle, err)
	}
	return st.State
}

// DLV-001, API-024: IDs rise per client in the order of acceptance: across
// requests, and within one in the order of the publications and of their
// recipients; each client has its own sequence, and IDs start at 1 or
// above.
func testIDsIncrease(t *testing.T, v *env) {
	a, b := cid(1), cid(2)
	var all [][]store.Assigned
	for i := 0; i < 3; i++ {
		res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{
			pub(a), pub(b, a), pub(a), pub(a, b),
		}})
		want := [][32]byte{a, b, a, a, a, b}
		if len(res) != len(want) {
			t.Fatalf("%d assigned, want %d", len(res), len(want))
		}
		for j, r := range res {
			if r.ClientID != want[j] {
				t.Fatalf("assigned %d is for %x, want %x (API-024 order)", j, r.ClientID[:2], want[j][:2])
			}
		}
		all = append(all, res)
	}
	last := map[[32]byte]uint64{}
	for _, res := range all {
		for _, r := range res {
			if r.Seq == 0 || r.Seq <= last[r.ClientID] {
				t.Fatalf("client %x got ID %d after %d (DLV-001)", r.ClientID[:2], r.Seq, last[r.ClientID])
			}
			last[r.ClientID] = r.Seq
		}
	}
	for _, c := range [][32]byte{a, b} {
		var want []uint64
		for _, res := range all {
			for _, r := range res {
				if r.ClientID == c {
					want = append(want, r.Seq)
				}
			}
		}
		if got := seqs(v.pending(t, v.s, c, 0, 100)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("client %x pending %v, want %v", c[:2], got, want)
		}
	}
}

// DLV-007 (SHOULD): each client's IDs are 1, 2, 3 … whatever other clients
// receive in between.
func testIDsDense(t *testing.T, v *env) {
	if v.e.SparseIDs != "" {
		t.Skip("known deviation from DLV-007 (a SHOULD): " + v.e.SparseIDs)
	}
	a, b := cid(1), cid(2)
	next := map[[32]byte]uint64{a: 1, b: 1}
	for i := 0; i < 4; i++ {
		for _, r := range v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a), pub(a, b), pub(a)}}) {
			if r.Seq != next[r.ClientID] {
				t.Fatalf("client %x got ID %d, want %d (DLV-007)", r.ClientID[:2], r.Seq, next[r.ClientID])
			}
			next[r.ClientID]++
		}
	}
}

// DLV-001: an ID is never reused for a client, after its message was
// acknowledged or expired and its tombstone dropped.
func testIDsNeverReused(t *testing.T, v *env) {
	a := cid(1)
	ttl := v.c.short()
	var max uint64
	for i := 0; i < 3; i++ {
		res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{
			{To: [][32]byte{a}, Payload: []byte("x"), TTL: ttl}, {To: [][32]byte{a}, Payload: []byte("y"), TTL: ttl}}})
		max = res[1].Seq
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {max}}); n != 1 {
		t.Fatalf("ack changed %d", n)
	}
	v.c.advance(t, ttl+time.Second)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	v.eventually(t, "every message expired", func() (bool, error) {
		n, err := v.s.PendingCount(v.ctx, a)
		return n == 0, err
	})
	if !v.c.wall {
		v.c.advance(t, 48*time.Hour) // past the tombstones' retention
		if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if r := v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a)}}); r[0].Seq <= max {
		t.Fatalf("ID %d after %d was assigned, acknowledged and expired (DLV-001)", r[0].Seq, max)
	}
}

// API-029: a broadcast is one payload, delivered to each recipient as a
// blob with its own message ID; the blob outlives the acknowledgement of
// one recipient.
func testBroadcast(t *testing.T, v *env) {
	a, b, c := cid(1), cid(2), cid(3)
	res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{
		{To: [][32]byte{a, b, c}, Payload: []byte("everyone"), TTL: time.Hour},
		{To: [][32]byte{a}, Payload: []byte("only a"), TTL: time.Hour},
		{To: [][32]byte{b, c}, Payload: []byte("b and c"), TTL: time.Hour},
	}})
	ma, mb, mc := v.pending(t, v.s, a, 0, 10), v.pending(t, v.s, b, 0, 10), v.pending(t, v.s, c, 0, 10)
	if len(ma) != 2 || len(mb) != 2 || len(mc) != 2 {
		t.Fatalf("pending %d %d %d, want 2 each", len(ma), len(mb), len(mc))
	}
	if string(ma[0].Payload) != "everyone" || ma[0].BlobID == 0 || ma[0].BlobID != mb[0].BlobID || ma[0].BlobID != mc[0].BlobID {
		t.Fatalf("broadcast not one blob: %+v %+v %+v", ma[0], mb[0], mc[0])
	}
	if string(ma[1].Payload) != "only a" || ma[1].BlobID != 0 {
		t.Fatalf("direct message: %+v", ma[1])
	}
	if mb[1].BlobID == 0 || mb[1].BlobID != mc[1].BlobID || mb[1].BlobID == ma[0].BlobID || string(mc[1].Payload) != "b and c" {
		t.Fatalf("second broadcast: %+v %+v", mb[1], mc[1])
	}
	if res[0].Handle == res[1].Handle || res[0].Seq != ma[0].Seq || res[1].Seq != mb[0].Seq {
		t.Fatalf("recipients of a broadcast share a handle or ID: %+v", res)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {ma[0].Seq}, b: {mb[0].Seq}}); n != 2 {
		t.Fatalf("ack changed %d, want 2", n)
	}
	if m := v.pending(t, v.s, c, 0, 10); len(m) != 2 || string(m[0].Payload) != "everyone" || m[0].BlobID != mc[0].BlobID {
		t.Fatalf("the last recipient lost the blob: %+v", m)
	}
	if n := v.ack(t, map[[32]byte][]uint64{c: {mc[0].Seq}}); n != 1 {
		t.Fatalf("last ack changed %d", n)
	}
	if st, err := v.s.Status(v.ctx, res[2].Handle); err != nil || st.State != store.Acknowledged || st.ClientID != c || st.Seq != mc[0].Seq || st.Publisher != "p" {
		t.Fatalf("status of the last recipient: %+v %v", st, err)
	}
}

// DLV-004's window is the core's business, but the store must page through
// any number of pending messages: more than W = 1024 for one client, in
// order, with after and limit.
func testPendingPaging(t *testing.T, v *env) {
	const total, perRequest = 1100, 100
	a, b := cid(1), cid(2)
	var assigned []store.Assigned
	for len(assigned) < total {
		req := &store.PublishRequest{}
		for i := 0; i < perRequest; i++ {
			req.Publications = append(req.Publications, store.Publication{To: [][32]byte{a}, Payload: []byte(fmt.Sprint(len(assigned) + i)), TTL: time.Hour})
		}
		assigned = append(assigned, v.publish(t, req)...)
		v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(b)}})
	}
	if n := v.count(t, a); n != total {
		t.Fatalf("pending count %d, want %d", n, total)
	}
	var got []store.Message
	var after uint64
	for {
		page := v.pending(t, v.s, a, after, 256)
		if len(page) > 256 {
			t.Fatalf("page of %d with limit 256", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Seq
	}
	if len(got) != total {
		t.Fatalf("paged %d messages, want %d", len(got), total)
	}
	for i, m := range got {
		if m.Seq != assigned[i].Seq || string(m.Payload) != fmt.Sprint(i) || m.ClientID != a {
			t.Fatalf("message %d: ID %d payload %q, want ID %d payload %d", i, m.Seq, m.Payload, assigned[i].Seq, i)
		}
	}
	if m := v.pending(t, v.s, a, assigned[499].Seq, 1); len(m) != 1 || m[0].Seq != assigned[500].Seq {
		t.Fatalf("after the 500th: %v", seqs(m))
	}
	if m := v.pending(t, v.s, a, assigned[total-1].Seq, 10); len(m) != 0 {
		t.Fatalf("after the last: %v", seqs(m))
	}
	if m := v.pending(t, v.s, cid(9), 0, 10); len(m) != 0 {
		t.Fatalf("a client with no messages: %v", seqs(m))
	}
	var first []uint64
	for _, r := range assigned[:1050] {
		first = append(first, r.Seq)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: first}); n != 1050 {
		t.Fatalf("ack of 1050 changed %d", n)
	}
	if m := v.pending(t, v.s, a, 0, 10); len(m) != 10 || m[0].Seq != assigned[1050].Seq {
		t.Fatalf("after acknowledging the first 1050: %v", seqs(m))
	}
	if n := v.count(t, a); n != total-1050 {
		t.Fatalf("pending count %d, want %d", n, total-1050)
	}
}

// Ack changes only the client's own pending messages, each once: unknown
// IDs, IDs repeated within one call, another client's IDs and IDs already
// acknowledged are ignored and not counted.
func testAck(t *testing.T, v *env) {
	a, b := cid(1), cid(2)
	res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a), pub(a), pub(b), pub(a)}})
	a1, a2, b1, a3 := res[0].Seq, res[1].Seq, res[2].Seq, res[3].Seq
	if n, err := v.s.Ack(v.ctx, nil); err != nil || n != 0 {
		t.Fatalf("empty ack: %d %v", n, err)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {a3 + 1000, 0}, cid(9): {a1}}); n != 0 {
		t.Fatalf("unknown IDs and clients changed %d", n)
	}
	// Each client's IDs under the other client: only the IDs that the
	// other client does not have itself (with dense IDs both have ID 1).
	foreign := map[[32]byte][]uint64{}
	for _, id := range []uint64{a1, a2, a3} {
		if id != b1 {
			foreign[b] = append(foreign[b], id)
		}
	}
	if b1 != a1 && b1 != a2 && b1 != a3 {
		foreign[a] = []uint64{b1}
	}
	if n := v.ack(t, foreign); n != 0 {
		t.Fatalf("acknowledging another client's IDs changed %d", n)
	}
	if n := v.count(t, a); n != 3 {
		t.Fatalf("pending %d after foreign acks, want 3", n)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {a2, a2, a2}}); n != 1 {
		t.Fatalf("one ID three times in one ack changed %d, want 1", n)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {a2}}); n != 0 {
		t.Fatalf("acknowledging again changed %d", n)
	}
	if got := seqs(v.pending(t, v.s, a, 0, 10)); fmt.Sprint(got) != fmt.Sprint([]uint64{a1, a3}) {
		t.Fatalf("pending %v, want [%d %d]", got, a1, a3)
	}
	if n := v.count(t, a); n != 2 {
		t.Fatalf("pending count %d, want 2", n)
	}
	if s := v.state(t, res[1].Handle); s != store.Acknowledged {
		t.Fatalf("acknowledged message is %v", s)
	}
	if s := v.state(t, res[0].Handle); s != store.Pending {
		t.Fatalf("unacknowledged message is %v", s)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {a1, a3}, b: {b1}}); n != 3 {
		t.Fatalf("acknowledging the rest changed %d, want 3", n)
	}
	if n := v.count(t, a) + v.count(t, b); n != 0 {
		t.Fatalf("%d pending after acknowledging all", n)
	}
}

// API-030, API-032: a message past its TTL is never returned by Pending,
// even before Expire ran; its state is expired, and expired is final: an
// acknowledgement after the TTL changes nothing. Expire moves it out of
// the pending count.
func testExpiry(t *testing.T, v *env) {
	a, b := cid(1), cid(2)
	ttl := v.c.short()
	res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{
		{To: [][32]byte{a, b}, Payload: []byte("short"), TTL: ttl},
		{To: [][32]byte{a}, Payload: []byte("long"), TTL: time.Hour},
		{To: [][32]byte{b}, Payload: []byte("short direct"), TTL: ttl},
	}})
	if n := v.ack(t, map[[32]byte][]uint64{b: {res[1].Seq}}); n != 1 {
		t.Fatalf("ack in time changed %d", n)
	}
	if !v.c.wall {
		v.c.advance(t, ttl-time.Millisecond)
		if m := v.pending(t, v.s, a, 0, 10); len(m) != 2 {
			t.Fatalf("a millisecond before the TTL: %v", seqs(m))
		}
		v.c.advance(t, time.Millisecond) // expires is the first instant it is expired
	} else {
		v.c.advance(t, ttl+100*time.Millisecond)
	}
	if m := v.pending(t, v.s, a, 0, 10); len(m) != 1 || string(m[0].Payload) != "long" {
		t.Fatalf("after the TTL, before Expire: %v (API-030)", seqs(m))
	}
	if m := v.pending(t, v.s, b, 0, 10); len(m) != 0 {
		t.Fatalf("client b after the TTL: %v", seqs(m))
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {res[0].Seq}, b: {res[3].Seq}}); n != 0 {
		t.Fatalf("an acknowledgement after the TTL changed %d (API-032)", n)
	}
	for _, i := range []int{0, 3} {
		if s := v.state(t, res[i].Handle); s != store.Expired {
			t.Fatalf("message %d after its TTL and a late ack: %v", i, s)
		}
	}
	if s := v.state(t, res[1].Handle); s != store.Acknowledged {
		t.Fatalf("acknowledged broadcast copy: %v", s)
	}
	counts := func() (bool, error) {
		na, err := v.s.PendingCount(v.ctx, a)
		if err != nil {
			return false, err
		}
		nb, err := v.s.PendingCount(v.ctx, b)
		return na == 1 && nb == 0, err
	}
	v.eventually(t, "pending counts without the expired messages, before Expire (API-033)", counts)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 3} {
		st, err := v.s.Status(v.ctx, res[i].Handle)
		if v.e.ForgetsExpired != "" && errors.Is(err, store.ErrNotFound) {
			t.Logf("known deviation from API-032 (a SHOULD): message %d not found after it expired: %s", i, v.e.ForgetsExpired)
			continue
		}
		if err != nil || st.State != store.Expired {
			t.Fatalf("message %d after Expire: %+v %v", i, st, err)
		}
	}
	v.eventually(t, "pending counts without the expired messages, after Expire", counts)
	if m := v.pending(t, v.s, a, 0, 10); len(m) != 1 || m[0].Seq != res[2].Seq {
		t.Fatalf("after Expire: %v", seqs(m))
	}
}

// API-032: a finished message keeps its status for the retention (24 h)
// and is not found afterwards; a pending one keeps it while pending.
func testTombstones(t *testing.T, v *env) {
	a := cid(1)
	res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{
		{To: [][32]byte{a}, Payload: []byte("acked"), TTL: 72 * time.Hour},
		{To: [][32]byte{a}, Payload: []byte("expires"), TTL: time.Hour},
		{To: [][32]byte{a}, Payload: []byte("stays"), TTL: 72 * time.Hour},
	}})
	if n := v.ack(t, map[[32]byte][]uint64{a: {res[0].Seq}}); n != 1 {
		t.Fatal(n)
	}
	v.c.advance(t, time.Hour)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	v.c.advance(t, 22*time.Hour) // 23 h after the ack, 22 h after the expiry
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	if s := v.state(t, res[0].Handle); s != store.Acknowledged {
		t.Fatalf("within the retention: %v", s)
	}
	if s := v.state(t, res[1].Handle); s != store.Expired {
		t.Fatalf("within the retention: %v", s)
	}
	v.c.advance(t, 3*time.Hour)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		if _, err := v.s.Status(v.ctx, res[i].Handle); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("message %d after the retention: %v, want ErrNotFound", i, err)
		}
	}
	if s := v.state(t, res[2].Handle); s != store.Pending {
		t.Fatalf("pending message after 26 h: %v", s)
	}
}

// API-026, API-027: a retry with the same key and request hash stores
// nothing and gets the first answer; another hash is refused and stores
// nothing; keys of different publishers never collide; a request that was
// refused records no key.
func testIdempotency(t *testing.T, v *env) {
	a := cid(1)
	req := &store.PublishRequest{Publisher: "p", IdempotencyKey: "key-1", RequestHash: [32]byte{1},
		Publications: []store.Publication{pub(a), pub(a, cid(2))}}
	commits := 0
	first, replayed, err := v.s.Publish(v.ctx, req, func([]store.Assigned) { commits++ })
	if err != nil || replayed || commits != 1 {
		t.Fatalf("first: %v %v %d", err, replayed, commits)
	}
	again, replayed, err := v.s.Publish(v.ctx, req, func([]store.Assigned) { commits++ })
	if err != nil || !replayed {
		t.Fatalf("retry: %v replayed %v", err, replayed)
	}
	if commits != 1 {
		t.Fatal("onCommit ran for a replayed request")
	}
	if len(again) != len(first) {
		t.Fatalf("retry answered %d messages, the first %d", len(again), len(first))
	}
	for i := range first {
		if again[i].Handle != first[i].Handle || again[i].Seq != first[i].Seq || again[i].ClientID != first[i].ClientID || !again[i].Expires.Equal(first[i].Expires) {
			t.Fatalf("retry answer %d: %+v, first %+v", i, again[i], first[i])
		}
	}
	if n := v.count(t, a); n != 2 {
		t.Fatalf("pending %d after a retry, want 2", n)
	}
	other := *req
	other.RequestHash = [32]byte{2}
	if _, _, err := v.s.Publish(v.ctx, &other, nil); !errors.Is(err, store.ErrIdempotencyReused) {
		t.Fatalf("same key, other request: %v, want ErrIdempotencyReused", err)
	}
	if n := v.count(t, a); n != 2 {
		t.Fatalf("pending %d after a reused key, want 2", n)
	}
	other.Publisher = "q"
	if _, replayed, err := v.s.Publish(v.ctx, &other, nil); err != nil || replayed {
		t.Fatalf("another publisher's key: %v %v", err, replayed)
	}
	plain := &store.PublishRequest{Publisher: "p", Publications: []store.Publication{pub(a)}}
	v.publish(t, plain)
	v.publish(t, plain)
	if n := v.count(t, a); n != 6 {
		t.Fatalf("pending %d, want 6 (requests without a key are stored each time)", n)
	}
	// Refused by the pending limit: no key is recorded, so the same
	// request is stored once there is room.
	full := &store.PublishRequest{Publisher: "p", IdempotencyKey: "key-2", RequestHash: [32]byte{3}, MaxPending: 6,
		Publications: []store.Publication{pub(a)}}
	if _, _, err := v.s.Publish(v.ctx, full, nil); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("over the limit: %v", err)
	}
	if n := v.ack(t, map[[32]byte][]uint64{a: {first[0].Seq}}); n != 1 {
		t.Fatal(n)
	}
	if _, replayed, err := v.s.Publish(v.ctx, full, nil); err != nil || replayed {
		t.Fatalf("after room was made: %v replayed %v (a refused request recorded its key)", err, replayed)
	}
}

// API-026: the key is kept for the retention, 24 h, and may be used for a
// new request after it.
func testIdempotencyRetention(t *testing.T, v *env) {
	req := &store.PublishRequest{Publisher: "p", IdempotencyKey: "k", RequestHash: [32]byte{1},
		Publications: []store.Publication{pub(cid(1))}}
	first := v.publish(t, req)
	v.c.advance(t, 23*time.Hour)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	if again, replayed, err := v.s.Publish(v.ctx, req, nil); err != nil || !replayed || again[0].Handle != first[0].Handle {
		t.Fatalf("retry within the retention: %v %v", err, replayed)
	}
	v.c.advance(t, 2*time.Hour)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	req.RequestHash = [32]byte{2}
	if res, replayed, err := v.s.Publish(v.ctx, req, nil); err != nil || replayed || res[0].Handle == first[0].Handle {
		t.Fatalf("the key after the retention: %v replayed %v", err, replayed)
	}
}

// API-023, API-028: a request that would take any recipient over the limit
// is refused whole and stores nothing, counting its own messages; an
// acknowledgement or an expiry makes room; 0 is no limit.
func testMaxPending(t *testing.T, v *env) {
	a, b, c := cid(1), cid(2), cid(3)
	try := func(max int, ps ...store.Publication) error {
		_, _, err := v.s.Publish(v.ctx, &store.PublishRequest{Publisher: "p", MaxPending: max, Publications: ps}, nil)
		return err
	}
	ttl := v.c.short()
	if err := try(2, store.Publication{To: [][32]byte{a}, Payload: []byte("x"), TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if err := try(2, pub(a, b)); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	if err := try(2, pub(b, a)); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("over the limit for the second recipient: %v, want ErrTooManyPending", err)
	}
	if err := try(2, pub(b), pub(a)); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("over the limit in the second publication: %v", err)
	}
	if err := try(1, pub(c), pub(c)); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("two messages for one recipient with a limit of 1: %v (a request counts its own messages)", err)
	}
	if na, nb, nc := v.count(t, a), v.count(t, b), v.count(t, c); na != 2 || nb != 1 || nc != 0 {
		t.Fatalf("refused requests stored messages: pending %d %d %d, want 2 1 0 (API-023)", na, nb, nc)
	}
	if err := try(0, pub(a), pub(a)); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	m := v.pending(t, v.s, a, 0, 10)
	if n := v.ack(t, map[[32]byte][]uint64{a: {m[1].Seq, m[2].Seq, m[3].Seq}}); n != 3 {
		t.Fatal(n)
	}
	if err := try(2, pub(a)); err != nil {
		t.Fatalf("after acknowledgements made room: %v", err)
	}
	if err := try(2, pub(a)); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("full again: %v", err)
	}
	v.c.advance(t, ttl+time.Second)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	v.eventually(t, "an expiry made room", func() (bool, error) {
		err := try(2, pub(a))
		if errors.Is(err, store.ErrTooManyPending) {
			return false, nil
		}
		return err == nil, err
	})
}

var handleRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// API-024, API-031, API-032: handles are 32 lower-case hex digits, one per
// message; Status reports what was assigned; an unknown or malformed
// handle is ErrNotFound.
func testStatus(t *testing.T, v *env) {
	before := v.c.Now()
	res := v.publish(t, &store.PublishRequest{Publisher: "pub-1", Publications: []store.Publication{
		pub(cid(1), cid(2)), pub(cid(1))}})
	after := v.c.Now()
	seen := map[string]bool{}
	for _, r := range res {
		if !handleRE.MatchString(r.Handle) || seen[r.Handle] {
			t.Fatalf("handle %q (duplicate %v)", r.Handle, seen[r.Handle])
		}
		seen[r.Handle] = true
		st, err := v.s.Status(v.ctx, r.Handle)
		if err != nil {
			t.Fatal(err)
		}
		if st.Handle != r.Handle || st.ClientID != r.ClientID || st.Seq != r.Seq || st.State != store.Pending || st.Publisher != "pub-1" || !st.Expires.Equal(r.Expires) {
			t.Fatalf("status %+v for %+v", st, r)
		}
		if st.Created.Before(before.Truncate(time.Second)) || st.Created.After(after.Add(time.Second)) {
			t.Fatalf("created %v, published between %v and %v", st.Created, before, after)
		}
		if d := r.Expires.Sub(st.Created); d < time.Hour-time.Second || d > time.Hour+time.Second {
			t.Fatalf("expires %v after creation, TTL 1 h", d)
		}
	}
	for _, h := range []string{"", "00", "0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF", res[0].Handle + "0", res[0].Handle[:31]} {
		if _, err := v.s.Status(v.ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status of %q: %v, want ErrNotFound", h, err)
		}
	}
}

// Pending says when each message was committed, by the store's clock
// (store.Message.Created): the metrics measure publish to sent from it
// (OPS-044).
func testPendingCreated(t *testing.T, v *env) {
	before := v.c.Now()
	v.publish(t, &store.PublishRequest{Publisher: "pub-1", Publications: []store.Publication{pub(cid(1), cid(2)), pub(cid(1))}})
	after := v.c.Now()
	v.c.advance(t, time.Second)
	msgs := v.pending(t, v.s, cid(1), 0, 10)
	if len(msgs) != 2 {
		t.Fatalf("%d pending, want 2", len(msgs))
	}
	for _, m := range msgs {
		if m.Created.Before(before.Truncate(time.Second)) || m.Created.After(after.Add(time.Second)) {
			t.Fatalf("message %d created %v, published between %v and %v", m.Seq, m.Created, before, after)
		}
	}
}

// Payloads come back byte for byte, whatever the caller does with its
// buffers afterwards.
func testPayloads(t *testing.T, v *env) {
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	buf := bytes.Clone(all)
	v.publish(t, &store.PublishRequest{Publications: []store.Publication{
		{To: [][32]byte{cid(1)}, Payload: big, TTL: time.Hour},
		{To: [][32]byte{cid(1), cid(2)}, Payload: buf, TTL: time.Hour},
		{To: [][32]byte{cid(1)}, Payload: buf, TTL: time.Hour},
	}})
	clear(buf)
	m := v.pending(t, v.s, cid(1), 0, 10)
	if len(m) != 3 || !bytes.Equal(m[0].Payload, big) || !bytes.Equal(m[1].Payload, all) || !bytes.Equal(m[2].Payload, all) {
		t.Fatal("payloads changed in the store, or by the caller's buffer")
	}
	clear(m[1].Payload)
	clear(m[2].Payload)
	if m := v.pending(t, v.s, cid(1), 0, 10); !bytes.Equal(m[1].Payload, all) || !bytes.Equal(m[2].Payload, all) {
		t.Fatal("a returned payload aliases the stored one")
	}
	if m := v.pending(t, v.s, cid(2), 0, 10); len(m) != 1 || !bytes.Equal(m[0].Payload, all) {
		t.Fatal("the other recipient's copy of the broadcast changed")
	}
}

// A cancelled publish or acknowledgement fails and changes nothing.
func testCancelled(t *testing.T, v *env) {
	a := cid(1)
	res := v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a)}})
	ctx, cancel := context.WithCancel(v.ctx)
	cancel()
	if _, _, err := v.s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{pub(a)}}, func([]store.Assigned) {
		t.Error("onCommit ran for a cancelled publish")
	}); err == nil {
		t.Fatal("a publish with a cancelled context succeeded")
	}
	if _, err := v.s.Ack(ctx, map[[32]byte][]uint64{a: {res[0].Seq}}); err == nil {
		t.Fatal("an acknowledgement with a cancelled context succeeded")
	}
	if m := v.pending(t, v.s, a, 0, 10); len(m) != 1 || m[0].Seq != res[0].Seq {
		t.Fatalf("after cancelled calls: %v", seqs(m))
	}
}

// STORE-016, API-016: a publish that carries its signature's nonce
// records it as Seen does, in its own commit: a second publish, or a Seen,
// with the pair finds it; a publish with a pair already recorded (by
// either) is refused with ErrReplayedNonce before its idempotency record
// is consulted, and stores nothing; of concurrent publishes with one pair
// exactly one stores.
func testPublishNonce(t *testing.T, v *env) {
	a := cid(1)
	exp := v.c.Now().Add(time.Hour)
	nonce := func(n string) *store.Nonce { return &store.Nonce{KeyID: "k", Nonce: n, Expires: exp} }
	req := func(n *store.Nonce, idem string) *store.PublishRequest {
		return &store.PublishRequest{Publisher: "p", IdempotencyKey: idem, RequestHash: [32]byte{7},
			Publications: []store.Publication{pub(a)}, Nonce: n}
	}
	refused := func(s store.Store, r *store.PublishRequest, why string) {
		t.Helper()
		before := v.count(t, a)
		if res, _, err := s.Publish(v.ctx, r, nil); !errors.Is(err, store.ErrReplayedNonce) {
			t.Fatalf("%s: Publish answered %v, %v; want ErrReplayedNonce", why, res, err)
		}
		if n := v.count(t, a); n != before {
			t.Fatalf("%s: a refused publish changed the pending count from %d to %d", why, before, n)
		}
	}
	v.publish(t, req(nonce("n1"), "i1"))
	if s, err := v.s.Seen(v.ctx, "k", "n1", exp); err != nil || !s {
		t.Fatalf("Seen after a publish with the nonce: %v, %v; want seen", s, err)
	}
	refused(v.s, req(nonce("n1"), ""), "the nonce of an earlier publish")
	// The replay of the whole request, idempotency key included, is a
	// replayed nonce (API-016 comes before API-027).
	refused(v.s, req(nonce("n1"), "i1"), "the same request again")
	if s, err := v.s.Seen(v.ctx, "k", "n2", exp); err != nil || s {
		t.Fatal(s, err)
	}
	refused(v.s, req(nonce("n2"), ""), "a nonce recorded by Seen")
	// Another key's pair, and a request without a nonce, are not refused.
	v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a)}, Nonce: &store.Nonce{KeyID: "k2", Nonce: "n1", Expires: exp}})
	v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a)}})

	stores := v.nodes(t)
	before := v.count(t, a)
	var stored, replayed int
	var mu sync.Mutex
	together(16, func(i int) {
		_, _, err := stores[i%len(stores)].Publish(v.ctx, req(nonce("racing"), ""), nil)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			stored++
		case errors.Is(err, store.ErrReplayedNonce):
			replayed++
		default:
			t.Error(err)
		}
	})
	if stored != 1 || replayed != 15 {
		t.Fatalf("16 concurrent publishes with one nonce: %d stored, %d refused as replayed; want 1 and 15", stored, replayed)
	}
	if n := v.count(t, a); n != before+1 {
		t.Fatalf("pending count %d after the race, want %d", n, before+1)
	}
}

// OPS-001: an open store that answers is ready; a call whose context is
// done is not, so a probe cannot pass without asking the engine.
func testReady(t *testing.T, v *env) {
	if err := v.s.Ready(v.ctx); err != nil {
		t.Fatalf("an open store is not ready: %v", err)
	}
	ctx, cancel := context.WithCancel(v.ctx)
	cancel()
	if err := v.s.Ready(ctx); err == nil {
		t.Fatal("Ready with a cancelled context answered nil")
	}
}

// API-016, API-017: a (key ID, nonce) pair is fresh once until it expires;
// of concurrent callers with one pair exactly one finds it fresh.
func testSeen(t *testing.T, v *env) {
	exp := v.c.Now().Add(time.Hour)
	seen := func(k, n string, exp time.Time) bool {
		t.Helper()
		s, err := v.s.Seen(v.ctx, k, n, exp)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen("k1", "n1", exp) {
		t.Fatal("a fresh nonce was seen")
	}
	if !seen("k1", "n1", exp) {
		t.Fatal("a nonce was fresh twice (API-016)")
	}
	if seen("k2", "n1", exp) || seen("k1", "n2", exp) {
		t.Fatal("another key's nonce, or another nonce, was seen")
	}
	stores := v.nodes(t)
	var fresh int
	var mu sync.Mutex
	together(16, func(i int) {
		s, err := stores[i%len(stores)].Seen(v.ctx, "k1", "racing", exp)
		if err != nil {
			t.Error(err)
		}
		if !s {
			mu.Lock()
			fresh++
			mu.Unlock()
		}
	})
	if fresh != 1 {
		t.Fatalf("%d of 16 concurrent callers found one nonce fresh, want 1", fresh)
	}
	short := v.c.Now().Add(v.c.short())
	if seen("k1", "brief", short) {
		t.Fatal("fresh nonce seen")
	}
	v.c.advance(t, v.c.short()+time.Second)
	// Fresh again once expired, whether Expire ran or not.
	v.eventually(t, "a nonce is fresh again after it expired", func() (bool, error) {
		s, err := v.s.Seen(v.ctx, "k1", "brief", v.c.Now().Add(time.Hour))
		return !s, err
	})
	if !seen("k1", "brief", v.c.Now().Add(time.Hour)) {
		t.Fatal("a nonce recorded again was fresh twice")
	}
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	if !seen("k1", "brief", v.c.Now().Add(time.Hour)) {
		t.Fatal("Expire dropped a nonce recorded again before it expired")
	}
	if !seen("k1", "n1", exp) {
		t.Fatal("Expire dropped a nonce before it expired")
	}
}

// API-040: Publish records each (publisher, recipient) pair.
func testPublishedTo(t *testing.T, v *env) {
	v.publish(t, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{pub(cid(1), cid(2)), pub(cid(3))}})
	for _, c := range []struct {
		pub    string
		client byte
		want   bool
	}{{"p", 1, true}, {"p", 2, true}, {"p", 3, true}, {"q", 1, false}, {"p", 4, false}} {
		if got, err := v.s.PublishedTo(v.ctx, c.pub, cid(c.client)); err != nil || got != c.want {
			t.Fatalf("PublishedTo(%s, %d) = %v %v, want %v", c.pub, c.client, got, err, c.want)
		}
	}
	// A refused request records nothing.
	if _, _, err := v.s.Publish(v.ctx, &store.PublishRequest{Publisher: "q", MaxPending: 1,
		Publications: []store.Publication{pub(cid(1))}}, nil); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatal(err)
	}
	if got, _ := v.s.PublishedTo(v.ctx, "q", cid(1)); got {
		t.Fatal("a refused publish recorded its pair")
	}
}

// API-040: a pair lasts store.PresenceRetention after the publisher's last
// message to the client; each publish renews it.
func testPublishedToRetention(t *testing.T, v *env) {
	v.publish(t, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{pub(cid(1), cid(2))}})
	v.c.advance(t, store.PresenceRetention-time.Minute)
	v.publish(t, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{pub(cid(1))}})
	v.c.advance(t, 2*time.Minute)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := v.s.PublishedTo(v.ctx, "p", cid(1)); err != nil || !got {
		t.Fatalf("renewed pair: %v %v", got, err)
	}
	if got, err := v.s.PublishedTo(v.ctx, "p", cid(2)); err != nil || got {
		t.Fatalf("pair past the retention: %v %v", got, err)
	}
}

// BATCH-020: reserved blocks never overlap, per signer, however callers
// race (the restart case is in Durability).
func testBatchSeqs(t *testing.T, v *env) {
	s1, s2 := [32]byte{1}, [32]byte{2}
	reserve := func(s store.Store, signer [32]byte, n uint64) uint64 {
		first, err := s.ReserveBatchSeqs(v.ctx, signer, n)
		if err != nil {
			t.Error(err)
		}
		return first
	}
	a := reserve(v.s, s1, 10)
	b := reserve(v.s, s1, 1)
	c := reserve(v.s, s1, 100)
	if a < 1 || b < a+10 || c < b+1 {
		t.Fatalf("blocks at %d (10), %d (1), %d: overlap or zero", a, b, c)
	}
	if d := reserve(v.s, s2, 5); d < 1 {
		t.Fatalf("another signer's first block at %d", d)
	}
	if e := reserve(v.s, s1, 1); e < c+100 {
		t.Fatalf("block at %d after %d (100)", e, c)
	}
	stores := v.nodes(t)
	type block struct{ first, n uint64 }
	blocks := make([]block, 16)
	together(len(blocks), func(i int) {
		n := uint64(i%3 + 1)
		blocks[i] = block{reserve(stores[i%len(stores)], s2, n), n}
	})
	used := map[uint64]bool{}
	for _, bl := range blocks {
		for x := bl.first; x < bl.first+bl.n; x++ {
			if x == 0 || used[x] {
				t.Fatalf("concurrent reservations both got %d", x)
			}
			used[x] = true
		}
	}
}

type newEpocher interface {
	NewEpoch(context.Context) ([16]byte, error)
}

// ID-004: the epoch is random, the same on every call and every node, and
// changes only by the engine's NewEpoch (the restart case is in
// Durability).
func testEpoch(t *testing.T, v *env) {
	e1, err := v.s.Epoch(v.ctx)
	if err != nil || e1 == ([16]byte{}) {
		t.Fatalf("epoch %x %v", e1, err)
	}
	stores := v.nodes(t)
	for _, s := range stores {
		if e, err := s.Epoch(v.ctx); err != nil || e != e1 {
			t.Fatalf("epoch %x %v, want %x", e, err, e1)
		}
	}
	other := v.e.Open(t, v.c.Now)
	if e, _ := other.Epoch(v.ctx); e == e1 {
		t.Fatal("two new stores have one epoch")
	}
	ne, ok := v.s.(newEpocher)
	if !ok {
		return
	}
	e2, err := ne.NewEpoch(v.ctx)
	if err != nil || e2 == e1 || e2 == ([16]byte{}) {
		t.Fatalf("new epoch %x %v", e2, err)
	}
	for _, s := range stores {
		if e, err := s.Epoch(v.ctx); err != nil || e != e2 {
			t.Fatalf("after NewEpoch: %x %v, want %x", e, err, e2)
		}
	}
}

// HS-045: the ticket key set is created on first use and rotates when the
// current key has been current for the period, the old current key
// becoming the previous one; concurrent callers, on one node or several,
// see one rotation.
func testTicketKeys(t *testing.T, v *env) {
	base := time.Unix(1_800_000_000, 0)
	keys := func(s store.Store, now time.Time) *handshake.TicketKeys {
		k, err := s.TicketKeys(v.ctx, now, time.Hour)
		if err != nil || k == nil {
			t.Fatalf("ticket keys: %v", err)
		}
		return k
	}
	k1 := keys(v.s, base)
	if k1.Current.ID != 1 || k1.Previous != nil || k1.Current.Key == ([32]byte{}) {
		t.Fatalf("first set: ID %d, previous %v", k1.Current.ID, k1.Previous != nil)
	}
	if k := keys(v.s, base.Add(59*time.Minute)); k.Current != k1.Current || k.Previous != nil {
		t.Fatal("rotated before the period")
	}
	k2 := keys(v.s, base.Add(time.Hour))
	if k2.Current.ID != 2 || k2.Current.Key == k1.Current.Key || k2.Previous == nil || *k2.Previous != k1.Current {
		t.Fatalf("first rotation: ID %d", k2.Current.ID)
	}
	if k := keys(v.s, base.Add(90*time.Minute)); k.Current != k2.Current || *k.Previous != k1.Current {
		t.Fatal("rotated again within the period")
	}
	stores := v.nodes(t)
	// Several rounds, each at the next rotation time, to give the race
	// between reading a due set and writing its successor a chance.
	prev := k2
	var sets []*handshake.TicketKeys
	for round := range 10 {
		at := base.Add(time.Duration(round+2) * time.Hour)
		sets = make([]*handshake.TicketKeys, 16)
		together(len(sets), func(i int) {
			k, err := stores[i%len(stores)].TicketKeys(v.ctx, at, time.Hour)
			if err != nil {
				t.Error(err)
			}
			sets[i] = k
		})
		for i, k := range sets {
			if k == nil || k.Current != sets[0].Current || k.Current.ID != prev.Current.ID+1 || k.Previous == nil || *k.Previous != prev.Current {
				t.Fatalf("round %d, concurrent caller %d: %+v, want the one rotation to key %d with key %d previous", round, i, k, prev.Current.ID+1, prev.Current.ID)
			}
		}
		prev = sets[0]
	}
	last := base.Add(11 * time.Hour)
	for _, s := range stores {
		if k := keys(s, last); k.Current != sets[0].Current {
			t.Fatal("a node reads another set")
		}
	}
}

// HS-046, HS-047: a record starts at generation 1; of concurrent advances
// from one record exactly one succeeds; an advance from a record that is
// no longer current fails; an expired record is gone.
func testTicketRecords(t *testing.T, v *env) {
	id, other := cid(7), cid(8)
	if _, ok, err := v.s.TicketRecord(v.ctx, id); ok || err != nil {
		t.Fatalf("a record before Start: %v %v", ok, err)
	}
	long := v.c.Now().Add(time.Hour)
	if err := v.s.StartTicketRecord(v.ctx, id, long); err != nil {
		t.Fatal(err)
	}
	r, ok, err := v.s.TicketRecord(v.ctx, id)
	if err != nil || !ok || r != (handshake.TicketRecord{Latest: 1}) {
		t.Fatalf("after Start: %+v %v %v", r, ok, err)
	}
	if _, ok, _ := v.s.TicketRecord(v.ctx, other); ok {
		t.Fatal("another client has a record")
	}
	stores := v.nodes(t)
	var wins int
	var mu sync.Mutex
	together(8, func(i int) {
		ok, err := stores[i%len(stores)].AdvanceTicketRecord(v.ctx, id, r, r.After(1), long)
		if err != nil {
			t.Error(err)
		}
		if ok {
			mu.Lock()
			wins++
			mu.Unlock()
		}
	})
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent advances from one record succeeded (HS-047)", wins)
	}
	r2 := r.After(1)
	for _, s := range stores {
		if got, ok, err := s.TicketRecord(v.ctx, id); err != nil || !ok || got != r2 {
			t.Fatalf("after the advance: %+v %v %v, want %+v", got, ok, err, r2)
		}
	}
	if ok, err := v.s.AdvanceTicketRecord(v.ctx, id, r, r.After(1), long); ok || err != nil {
		t.Fatalf("advance from a superseded record: %v %v", ok, err)
	}
	if ok, err := v.s.AdvanceTicketRecord(v.ctx, other, r, r.After(1), long); ok || err != nil {
		t.Fatalf("advance of a client without a record: %v %v", ok, err)
	}
	if ok, err := v.s.AdvanceTicketRecord(v.ctx, id, r2, r2.After(2), long); !ok || err != nil {
		t.Fatalf("advance from the current record: %v %v", ok, err)
	}
	if err := v.s.StartTicketRecord(v.ctx, id, long); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := v.s.TicketRecord(v.ctx, id); got != (handshake.TicketRecord{Latest: 1}) {
		t.Fatalf("Start again: %+v, want generation 1", got)
	}

	// Expiry: expires is whole seconds in some engines.
	brief := v.c.Now().Add(v.c.short() + time.Second)
	if err := v.s.StartTicketRecord(v.ctx, other, brief); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v.s.TicketRecord(v.ctx, other); !ok {
		t.Fatal("a record before it expired is gone")
	}
	v.c.advance(t, v.c.short()+2*time.Second)
	if _, ok, err := v.s.TicketRecord(v.ctx, other); ok || err != nil {
		t.Fatalf("an expired record: %v %v", ok, err)
	}
	one := handshake.TicketRecord{Latest: 1}
	if ok, err := v.s.AdvanceTicketRecord(v.ctx, other, one, one.After(1), long); ok || err != nil {
		t.Fatalf("advance of an expired record: %v %v", ok, err)
	}
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := v.s.TicketRecord(v.ctx, id); !ok || got != one {
		t.Fatalf("Expire dropped a live record: %+v %v", got, ok)
	}
}

// Store.Publish: onCommit runs once per stored request, with what Publish
// returns, before Publish returns; concurrent publishes get distinct IDs;
// unless the engine says otherwise (UnorderedCommits), onCommit runs
// before any later Publish commits, so commits are seen in ID order.
func testOnCommitOrder(t *testing.T, v *env) {
	a, b := cid(1), cid(2)
	const workers, each = 8, 15
	var mu sync.Mutex
	var order []store.Assigned
	together(workers, func(w int) {
		for i := range each {
			ps := []store.Publication{pub(a)}
			if (w+i)%3 == 0 {
				ps = append(ps, pub(b, a))
			}
			var got []store.Assigned
			res, _, err := v.s.Publish(v.ctx, &store.PublishRequest{Publisher: "p", Publications: ps}, func(as []store.Assigned) {
				mu.Lock()
				order = append(order, as...)
				mu.Unlock()
				got = as
			})
			if err != nil {
				t.Error(err)
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(res) {
				t.Errorf("onCommit got %v, Publish returned %v", got, res)
			}
		}
	})
	if v.e.UnorderedCommits != "" {
		t.Log("order of onCommit not checked: " + v.e.UnorderedCommits)
	}
	last := map[[32]byte]uint64{}
	ids := map[[32]byte]map[uint64]bool{a: {}, b: {}}
	for _, r := range order {
		if ids[r.ClientID][r.Seq] {
			t.Fatalf("client %x got ID %d twice", r.ClientID[:2], r.Seq)
		}
		ids[r.ClientID][r.Seq] = true
		if r.Seq <= last[r.ClientID] && v.e.UnorderedCommits == "" {
			t.Fatalf("onCommit saw client %x's ID %d after %d: commits out of order", r.ClientID[:2], r.Seq, last[r.ClientID])
		}
		last[r.ClientID] = r.Seq
	}
	if n := v.count(t, a); n != len(ids[a]) {
		t.Fatalf("client a has %d pending, onCommit saw %d", n, len(ids[a]))
	}
}

// API-017, API-025, BATCH-020, ID-004, HS-045, HS-046, DLV-001: what a
// store returned survives Close and open: pending messages with their
// payloads and blobs, acknowledgements, idempotency keys, nonces, batch
// sequences, the epoch, the ticket key set and records; IDs continue.
func testDurability(t *testing.T, v *env) {
	if v.e.Reopen == nil {
		t.Skip("the engine keeps nothing across Close")
	}
	a, b := cid(1), cid(2)
	req := &store.PublishRequest{Publisher: "p", IdempotencyKey: "k", RequestHash: [32]byte{1}, Publications: []store.Publication{
		{To: [][32]byte{a}, Payload: []byte("acked"), TTL: time.Hour},
		{To: [][32]byte{a, b}, Payload: []byte("broadcast"), TTL: time.Hour},
		{To: [][32]byte{a}, Payload: []byte("direct"), TTL: time.Hour},
	}}
	res := v.publish(t, req)
	if n := v.ack(t, map[[32]byte][]uint64{a: {res[0].Seq}}); n != 1 {
		t.Fatal(n)
	}
	before := v.pending(t, v.s, a, 0, 10)
	exp := v.c.Now().Add(time.Hour)
	if s, err := v.s.Seen(v.ctx, "k", "n", exp); err != nil || s {
		t.Fatal(s, err)
	}
	signer := [32]byte{9}
	first, err := v.s.ReserveBatchSeqs(v.ctx, signer, 100)
	if err != nil {
		t.Fatal(err)
	}
	epoch, _ := v.s.Epoch(v.ctx)
	base := time.Unix(1_800_000_000, 0)
	keys, err := v.s.TicketKeys(v.ctx, base, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.s.StartTicketRecord(v.ctx, a, v.c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	one := handshake.TicketRecord{Latest: 1}
	if ok, err := v.s.AdvanceTicketRecord(v.ctx, a, one, one.After(1), v.c.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}

	s := v.e.Reopen(t, v.s, v.c.Now)
	v.s = s
	after := v.pending(t, s, a, 0, 10)
	if len(after) != len(before) {
		t.Fatalf("%d pending after reopening, %d before", len(after), len(before))
	}
	for i := range after {
		if after[i].Seq != before[i].Seq || !bytes.Equal(after[i].Payload, before[i].Payload) || (after[i].BlobID == 0) != (before[i].BlobID == 0) {
			t.Fatalf("message %d after reopening: %+v, before %+v", i, after[i], before[i])
		}
	}
	if m := v.pending(t, s, b, 0, 10); len(m) != 1 || string(m[0].Payload) != "broadcast" {
		t.Fatalf("client b after reopening: %+v", m)
	}
	if st := v.state(t, res[0].Handle); st != store.Acknowledged {
		t.Fatalf("acknowledged message after reopening: %v", st)
	}
	if again, replayed, err := s.Publish(v.ctx, req, nil); err != nil || !replayed || again[1].Handle != res[1].Handle {
		t.Fatalf("retry after reopening: %v replayed %v (API-026)", err, replayed)
	}
	if seen, err := s.Seen(v.ctx, "k", "n", exp); err != nil || !seen {
		t.Fatalf("nonce forgotten across a restart (API-017): %v %v", seen, err)
	}
	if next, err := s.ReserveBatchSeqs(v.ctx, signer, 1); err != nil || next < first+100 {
		t.Fatalf("batch sequence %d after reopening, the block before was %d … %d (BATCH-020): %v", next, first, first+99, err)
	}
	if e, err := s.Epoch(v.ctx); err != nil || e != epoch {
		t.Fatalf("epoch %x after reopening, %x before: %v", e, epoch, err)
	}
	if k, err := s.TicketKeys(v.ctx, base.Add(time.Minute), time.Hour); err != nil || k.Current != keys.Current {
		t.Fatalf("ticket keys changed across reopening: %v", err)
	}
	if r, ok, err := s.TicketRecord(v.ctx, a); err != nil || !ok || r != one.After(1) {
		t.Fatalf("ticket record after reopening: %+v %v %v", r, ok, err)
	}
	if ne, ok := s.(newEpocher); ok {
		e2, err := ne.NewEpoch(v.ctx)
		if err != nil {
			t.Fatal(err)
		}
		s = v.e.Reopen(t, s, v.c.Now)
		v.s = s
		if e, err := s.Epoch(v.ctx); err != nil || e != e2 {
			t.Fatalf("new epoch %x lost across reopening: %x %v", e2, e, err)
		}
	}
	last := res[len(res)-1].Seq
	if r := v.publish(t, &store.PublishRequest{Publications: []store.Publication{pub(a)}}); r[0].Seq <= last {
		t.Fatalf("ID %d after reopening, %d assigned before (DLV-001)", r[0].Seq, last)
	}
}

// together runs f(0) … f(n-1) on n goroutines released at the same moment,
// so that the callers race, and returns when every one has returned.
func together(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}
