package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

func testKey(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return k
}

func openTest(t *testing.T, path string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(path, Options{StorageKey: testKey(7), Synchronous: "NORMAL", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func cid(b byte) [32]byte { return [32]byte{b} }

// DLV-001, DLV-007: each client's IDs are dense (1, 2, 3 …) whatever the other
// clients receive: client 2 gets 1, 2, 3 while client 1 gets 1 … 6.
func TestPublishAssignsIncreasingIDsPerClient(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	var committed [][]store.Assigned
	for i := 0; i < 3; i++ {
		res, replayed, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
			{To: [][32]byte{cid(1)}, Payload: []byte{byte(i)}, TTL: time.Hour},
			{To: [][32]byte{cid(1), cid(2)}, Payload: []byte("all"), TTL: time.Hour},
		}}, func(a []store.Assigned) { committed = append(committed, a) })
		if err != nil || replayed {
			t.Fatal(err, replayed)
		}
		if len(res) != 3 || res[0].Seq != uint64(2*i+1) || res[1].Seq != uint64(2*i+2) || res[2].Seq != uint64(i+1) {
			t.Fatalf("round %d: %+v", i, res)
		}
	}
	if len(committed) != 3 {
		t.Fatalf("onCommit ran %d times", len(committed))
	}
	msgs, err := s.Pending(ctx, cid(1), 0, 100)
	if err != nil || len(msgs) != 6 {
		t.Fatal(err, len(msgs))
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("order: %d at %d", m.Seq, i)
		}
		if i%2 == 1 && (m.BlobID == 0 || string(m.Payload) != "all") {
			t.Fatalf("broadcast %d: %+v", i, m)
		}
		if i%2 == 0 && (m.BlobID != 0 || m.Payload[0] != byte(i/2)) {
			t.Fatalf("unicast %d: %+v", i, m)
		}
	}
	if after, _ := s.Pending(ctx, cid(1), 4, 100); len(after) != 2 || after[0].Seq != 5 {
		t.Fatalf("after 4: %+v", after)
	}
	n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {1, 2, 2, 99}})
	if err != nil || n != 2 {
		t.Fatal(err, n)
	}
	if left, _ := s.Pending(ctx, cid(1), 0, 100); len(left) != 4 || left[0].Seq != 3 {
		t.Fatalf("after ack: %+v", left)
	}
	// The blob of message 2 is still needed by client 2.
	if m, _ := s.Pending(ctx, cid(2), 0, 1); len(m) != 1 || string(m[0].Payload) != "all" {
		t.Fatalf("client 2: %+v", m)
	}
	st, err := s.Status(ctx, committed[0][0].Handle)
	if err != nil || st.State != store.Acknowledged || st.Seq != 1 || st.ClientID != cid(1) {
		t.Fatal(err, st)
	}
	if _, err := s.Status(ctx, "00"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestIdempotencyKeyStoresOnce(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	req := &store.PublishRequest{Publisher: "p", IdempotencyKey: "k1", RequestHash: [32]byte{1},
		Publications: []store.Publication{{To: [][32]byte{cid(1)}, Payload: []byte("x"), TTL: time.Hour}}}
	first, _, err := s.Publish(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, replayed, err := s.Publish(ctx, req, func([]store.Assigned) { t.Error("onCommit on a replay") })
	if err != nil || !replayed || again[0].Handle != first[0].Handle {
		t.Fatal(err, replayed, again)
	}
	other := *req
	other.RequestHash = [32]byte{2}
	if _, _, err := s.Publish(ctx, &other, nil); !errors.Is(err, store.ErrIdempotencyReused) {
		t.Fatal(err)
	}
	// Another publisher may use the same key.
	other.Publisher = "q"
	if _, replayed, err := s.Publish(ctx, &other, nil); err != nil || replayed {
		t.Fatal(err, replayed)
	}
	if n, _ := s.PendingCount(ctx, cid(1)); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
}

// API-023, API-028: a request over the limit for one recipient stores
// nothing for any recipient.
func TestMaxPendingRejectsWholeRequest(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	pub := func(to ...[32]byte) error {
		_, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", MaxPending: 2,
			Publications: []store.Publication{{To: to, Payload: []byte("x"), TTL: time.Hour}}}, nil)
		return err
	}
	if err := pub(cid(1)); err != nil {
		t.Fatal(err)
	}
	if err := pub(cid(1), cid(2)); err != nil {
		t.Fatal(err)
	}
	if err := pub(cid(2), cid(1)); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatal(err)
	}
	if n, _ := s.PendingCount(ctx, cid(2)); n != 1 {
		t.Fatalf("rejected request stored a message for client 2: %d", n)
	}
}

// API-030, API-032: expired messages are never delivered, expired is
// final even for a late acknowledgement, IDs are never reused (DLV-001).
func TestExpireAndTombstones(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := openTest(t, filepath.Join(t.TempDir(), "db"), clock)
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1), cid(2)}, Payload: []byte("short"), TTL: time.Minute},
		{To: [][32]byte{cid(1)}, Payload: []byte("long"), TTL: time.Hour},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if m, _ := s.Pending(ctx, cid(1), 0, 10); len(m) != 1 || string(m[0].Payload) != "long" {
		t.Fatalf("expired message still pending: %+v", m)
	}
	if n, _ := s.Ack(ctx, map[[32]byte][]uint64{cid(2): {1}}); n != 0 {
		t.Fatal("an acknowledgement after the TTL changed an expired message")
	}
	changed, err := s.Expire(ctx, clock())
	if err != nil || len(changed) != 2 {
		t.Fatal(err, changed)
	}
	if st, _ := s.Status(ctx, res[0].Handle); st.State != store.Expired {
		t.Fatal(st.State)
	}
	var blobs int
	s.r.QueryRow(`SELECT count(*) FROM blobs`).Scan(&blobs)
	if blobs != 0 {
		t.Fatalf("%d blobs left after every reference expired", blobs)
	}
	// IDs are never reused after expiry (DLV-001).
	res2, _, _ := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(2)}, Payload: []byte("x"), TTL: time.Hour}}}, nil)
	if res2[0].Seq != 2 {
		t.Fatalf("seq %d after expiry, want 2", res2[0].Seq)
	}
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	s.Expire(ctx, clock())
	if _, err := s.Status(ctx, res[0].Handle); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("tombstone kept past retention: %v", err)
	}
}

// API-017 (nonces are durable), BATCH-020 (batch sequence numbers never
// repeat across restarts).
func TestNoncesAndBatchSeqsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{StorageKey: testKey(7)})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if seen, err := s.Seen("k", "n1", exp); err != nil || seen {
		t.Fatal(seen, err)
	}
	if seen, _ := s.Seen("k", "n1", exp); !seen {
		t.Fatal("second use of a nonce not seen")
	}
	first, _ := s.ReserveBatchSeqs(context.Background(), [32]byte{9}, 100)
	if first != 1 {
		t.Fatalf("first batch seq %d", first)
	}
	s.Close()

	if _, err := Open(path, Options{StorageKey: testKey(8)}); !errors.Is(err, store.ErrWrongStorageKey) {
		t.Fatalf("wrong key: %v", err)
	}
	s = openTest(t, path, nil)
	if seen, _ := s.Seen("k", "n1", exp); !seen {
		t.Fatal("nonce forgotten across a restart (API-017)")
	}
	if next, _ := s.ReserveBatchSeqs(context.Background(), [32]byte{9}, 100); next != 101 {
		t.Fatalf("batch seq after restart %d, want 101 (BATCH-020)", next)
	}
}

func TestPayloadsAreEncryptedAndBound(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1)}, Payload: []byte("secret-one"), TTL: time.Hour},
		{To: [][32]byte{cid(1)}, Payload: []byte("secret-two"), TTL: time.Hour},
	}}, nil)
	var n int
	s.r.QueryRow(`SELECT count(*) FROM messages WHERE instr(data, 'secret') > 0`).Scan(&n)
	if n != 0 {
		t.Fatal("plaintext payload in the database")
	}
	// Swap the two rows' ciphertexts: both must fail to open.
	if _, err := s.w.Exec(`UPDATE messages SET seq = seq + 10`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE messages SET seq = CASE seq WHEN 11 THEN 2 ELSE 1 END`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pending(ctx, cid(1), 0, 10); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("swapped rows opened: %v", err)
	}
}

// TestRowTamperingIsRefused: a writer of the database without the storage
// key changes rows directly; each change makes Pending fail with
// ErrStoredDataTampered, and no client is ever handed another client's
// payload (STORE-001, STORE-002, STORE-003, STORE-004).
func TestRowTamperingIsRefused(t *testing.T) {
	ctx := context.Background()
	// Two broadcasts: "for-1-and-2" to clients 1 and 2, "for-3-and-4"
	// to clients 3 and 4; and a direct message to client 1.
	setup := func(t *testing.T) *Store {
		s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
		if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
			{To: [][32]byte{cid(1), cid(2)}, Payload: []byte("for-1-and-2"), TTL: time.Hour},
			{To: [][32]byte{cid(3), cid(4)}, Payload: []byte("for-3-and-4"), TTL: time.Hour},
			{To: [][32]byte{cid(1)}, Payload: []byte("direct-1"), TTL: time.Hour},
		}}, nil); err != nil {
			t.Fatal(err)
		}
		return s
	}
	exec := func(t *testing.T, s *Store, q string, args ...any) {
		t.Helper()
		res, err := s.w.Exec(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s changed nothing", q)
		}
	}
	refused := func(t *testing.T, s *Store, client byte) {
		t.Helper()
		msgs, err := s.Pending(ctx, cid(client), 0, 10)
		for _, m := range msgs {
			if want := map[byte]string{1: "for-1-and-2", 2: "for-1-and-2", 3: "for-3-and-4", 4: "for-3-and-4"}[client]; string(m.Payload) != want && string(m.Payload) != "direct-1" {
				t.Fatalf("client %d handed %q", client, m.Payload)
			}
		}
		if !errors.Is(err, store.ErrStoredDataTampered) {
			t.Fatalf("client %d: %v, want ErrStoredDataTampered", client, err)
		}
	}
	blobOf := func(s *Store, client byte) int64 {
		var id int64
		s.r.QueryRow(`SELECT blob_id FROM messages WHERE client_id = ? AND blob_id IS NOT NULL`, cidb(client)).Scan(&id)
		return id
	}
	t.Run("message repointed at another client's blob", func(t *testing.T) {
		s := setup(t)
		exec(t, s, `UPDATE messages SET blob_id = ? WHERE client_id = ? AND blob_id IS NOT NULL`, blobOf(s, 3), cidb(1))
		refused(t, s, 1)
	})
	t.Run("blob payloads swapped", func(t *testing.T) {
		s := setup(t)
		a, b := blobOf(s, 1), blobOf(s, 3)
		exec(t, s, `UPDATE blobs SET blob_id = -1 WHERE blob_id = ?`, a)
		exec(t, s, `UPDATE blobs SET blob_id = ? WHERE blob_id = ?`, a, b)
		exec(t, s, `UPDATE blobs SET blob_id = ? WHERE blob_id = -1`, b)
		// Ciphertexts now sit under each other's blob ID; so do their nonces.
		refused(t, s, 1)
		refused(t, s, 3)
	})
	t.Run("direct message turned into a broadcast", func(t *testing.T) {
		s := setup(t)
		exec(t, s, `UPDATE messages SET blob_id = ? WHERE client_id = ? AND blob_id IS NULL`, blobOf(s, 3), cidb(1))
		refused(t, s, 1)
	})
	t.Run("broadcast message turned into a direct one", func(t *testing.T) {
		s := setup(t)
		exec(t, s, `UPDATE messages SET blob_id = NULL WHERE client_id = ? AND blob_id IS NOT NULL`, cidb(2))
		refused(t, s, 2)
	})
	t.Run("row moved to another client", func(t *testing.T) {
		s := setup(t)
		exec(t, s, `UPDATE messages SET client_id = ? WHERE client_id = ?`, cidb(9), cidb(3))
		refused(t, s, 9)
	})
	t.Run("expiry extended", func(t *testing.T) {
		s := setup(t)
		exec(t, s, `UPDATE messages SET expires = expires + 3600000 WHERE client_id = ?`, cidb(2))
		refused(t, s, 2)
	})
	t.Run("acknowledged broadcast revived", func(t *testing.T) {
		s := setup(t)
		if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(2): {1}}); err != nil || n != 1 {
			t.Fatal(err, n)
		}
		exec(t, s, `UPDATE messages SET state = 0 WHERE client_id = ?`, cidb(2))
		refused(t, s, 2)
	})
	t.Run("blob ID reused after delete", func(t *testing.T) {
		s := setup(t)
		old := blobOf(s, 3)
		var nonce, data []byte
		s.r.QueryRow(`SELECT nonce, data FROM blobs WHERE blob_id = ?`, old).Scan(&nonce, &data)
		if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(3): {1}, cid(4): {1}}); err != nil || n != 2 {
			t.Fatal(err, n)
		}
		var left int
		s.r.QueryRow(`SELECT count(*) FROM blobs WHERE blob_id = ?`, old).Scan(&left)
		if left != 0 {
			t.Fatal("blob not deleted after its last acknowledgement")
		}
		res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
			{To: [][32]byte{cid(5), cid(6)}, Payload: []byte("for-5-and-6"), TTL: time.Hour}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		fresh := blobOf(s, 5)
		if fresh <= old {
			t.Fatalf("blob ID %d after the deleted %d: IDs are reused", fresh, old)
		}
		// The deleted blob's bytes put back under the new blob's ID.
		exec(t, s, `UPDATE blobs SET nonce = ?, data = ? WHERE blob_id = ?`, nonce, data, fresh)
		if _, err := s.Pending(ctx, res[0].ClientID, 0, 10); !errors.Is(err, store.ErrStoredDataTampered) {
			t.Fatalf("old blob under a new ID: %v", err)
		}
		// The writer also resets the ID counter, so that the next blob gets
		// the deleted one's ID, and puts the deleted blob's bytes back under
		// it: the random tag in the new messages' records still tells them
		// apart.
		if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(5): {1}, cid(6): {1}}); err != nil || n != 2 {
			t.Fatal(err, n)
		}
		exec(t, s, `UPDATE sqlite_sequence SET seq = ? WHERE name = 'blobs'`, old-1)
		res, _, err = s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
			{To: [][32]byte{cid(7), cid(8)}, Payload: []byte("for-7-and-8"), TTL: time.Hour}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if reused := blobOf(s, 7); reused != old {
			t.Fatalf("counter reset gave blob ID %d, want %d", reused, old)
		}
		exec(t, s, `UPDATE blobs SET nonce = ?, data = ? WHERE blob_id = ?`, nonce, data, old)
		refused(t, s, 7)
	})
}

func cidb(b byte) []byte { c := cid(b); return c[:] }

// API-040: Publish records (publisher, recipient) with the messages; the
// pair lasts store.PresenceRetention after the publisher's last message to
// the client, and Expire drops it then.
func TestPublishedToForPresence(t *testing.T) {
	ctx := context.Background()
	clock := time.Unix(1_800_000_000, 0)
	s := openTest(t, filepath.Join(t.TempDir(), "db"), func() time.Time { return clock })
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1), cid(2)}, Payload: []byte("x"), TTL: time.Hour}}}, nil); err != nil {
		t.Fatal(err)
	}
	check := func(pub string, c byte, want bool) {
		t.Helper()
		if got, err := s.PublishedTo(ctx, pub, cid(c)); err != nil || got != want {
			t.Fatalf("PublishedTo(%s, %d) = %v %v, want %v", pub, c, got, err, want)
		}
	}
	check("p", 1, true)
	check("p", 2, true)
	check("q", 1, false)
	check("p", 3, false)
	clock = clock.Add(store.PresenceRetention - time.Minute)
	// A later publish to client 1 renews its pair.
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1)}, Payload: []byte("y"), TTL: time.Hour}}}, nil); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := s.Expire(ctx, clock); err != nil {
		t.Fatal(err)
	}
	check("p", 1, true)
	check("p", 2, false)
	var rows int
	s.r.QueryRow(`SELECT count(*) FROM published_to`).Scan(&rows)
	if rows != 1 {
		t.Fatalf("%d pairs left after Expire, want 1", rows)
	}
}
