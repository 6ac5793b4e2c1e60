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

// Expire deletes what it finished: a broadcast's blob goes with its last
// reference, a publisher–client pair after store.PresenceRetention (the
// contract suite checks what the Store reports; this checks the rows).
func TestExpireDeletesRows(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := openTest(t, filepath.Join(t.TempDir(), "db"), clock)
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1), cid(2)}, Payload: []byte("short"), TTL: time.Minute},
	}}, nil); err != nil {
		t.Fatal(err)
	}
	rows := func(table string) int {
		var n int
		if err := s.r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if rows("blobs") != 1 || rows("published_to") != 2 {
		t.Fatalf("%d blobs, %d pairs after a broadcast to two", rows("blobs"), rows("published_to"))
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if _, err := s.Expire(ctx, clock()); err != nil {
		t.Fatal(err)
	}
	if n := rows("blobs"); n != 0 {
		t.Fatalf("%d blobs left after every reference expired", n)
	}
	mu.Lock()
	now = now.Add(store.PresenceRetention)
	mu.Unlock()
	if _, err := s.Expire(ctx, clock()); err != nil {
		t.Fatal(err)
	}
	if n := rows("published_to"); n != 0 {
		t.Fatalf("%d pairs left after the retention", n)
	}
}

// A store opened with another storage key fails at Open, not at the first
// delivery.
func TestWrongStorageKeyRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	openTest(t, path, nil).Close()
	if _, err := Open(path, Options{StorageKey: testKey(8)}); !errors.Is(err, store.ErrWrongStorageKey) {
		t.Fatalf("wrong key: %v", err)
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

// TestReadyQueriesTheDatabase: OPS-001. Ready is a query on the database,
// so a closed store is not ready.
func TestReadyQueriesTheDatabase(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), time.Now)
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("open store not ready: %v", err)
	}
	s.Close()
	if err := s.Ready(context.Background()); err == nil {
		t.Fatal("a closed store is ready")
	}
}
