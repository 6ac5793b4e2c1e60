package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/server/store"
)

// schemaFormat1 is the layout of data format 1, as every build before
// format 2 created it (its tables of messages and clients; the others are
// unchanged).
const schemaFormat1 = `
CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE clients (client_id BLOB PRIMARY KEY, last_seq INTEGER NOT NULL, pending INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE blobs (blob_id INTEGER PRIMARY KEY AUTOINCREMENT, nonce BLOB NOT NULL, data BLOB NOT NULL, refs INTEGER NOT NULL);
CREATE TABLE messages (
	client_id BLOB NOT NULL, seq INTEGER NOT NULL, handle TEXT NOT NULL, blob_id INTEGER, nonce BLOB, data BLOB,
	state INTEGER NOT NULL, publisher TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL, changed INTEGER NOT NULL,
	PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_handle ON messages(handle);
CREATE INDEX messages_pending_expiry ON messages(expires) WHERE state = 0;
CREATE INDEX messages_tombstones ON messages(changed) WHERE state <> 0;
CREATE TABLE idempotency (publisher TEXT NOT NULL, key TEXT NOT NULL, request_hash BLOB NOT NULL,
	response BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (publisher, key)) WITHOUT ROWID;
CREATE TABLE nonces (keyid TEXT NOT NULL, nonce TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (keyid, nonce)) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces(expires);
CREATE TABLE batch_seqs (signer BLOB PRIMARY KEY, hwm INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE published_to (publisher TEXT NOT NULL, client_id BLOB NOT NULL, expires INTEGER NOT NULL,
	PRIMARY KEY (publisher, client_id)) WITHOUT ROWID;
`

// STORE-015: a database of data format 1 opens: its pending message is
// delivered, its old handles still name their messages, its clients'
// message IDs go on from the last one assigned (5 here, above the highest
// row), and it is stamped format 2.
func TestFormat1DatabaseIsMigrated(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	path := filepath.Join(t.TempDir(), "db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schemaFormat1); err != nil {
		t.Fatal(err)
	}
	a, _ := chacha20poly1305.NewX(testKey(7))
	exp := ms(now.Add(time.Hour))
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	sealed := a.Seal(nil, nonce, []byte("from format 1"), messageAD(cidb(1), 4, exp, 0))
	const pendingHandle, ackedHandle = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO messages VALUES (?, 3, ?, NULL, NULL, NULL, 1, 'p', ?, ?, ?)`, []any{cidb(1), ackedHandle, ms(now), exp, ms(now)}},
		{`INSERT INTO messages VALUES (?, 4, ?, NULL, ?, ?, 0, 'p', ?, ?, ?)`, []any{cidb(1), pendingHandle, nonce, sealed, ms(now), exp, ms(now)}},
		{`INSERT INTO clients VALUES (?, 5, 1)`, []any{cidb(1)}},
		{`INSERT INTO clients VALUES (?, 7, 0)`, []any{cidb(2)}}, // no rows left
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := openTest(t, path, nil)
	msgs, err := s.Pending(ctx, cid(1), 0, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Seq != 4 || string(msgs[0].Payload) != "from format 1" {
		t.Fatalf("pending after migration: %+v %v", msgs, err)
	}
	if st, err := s.Status(ctx, pendingHandle); err != nil || st.State != store.Pending || st.Seq != 4 {
		t.Fatalf("old handle of the pending message: %+v %v", st, err)
	}
	if st, err := s.Status(ctx, ackedHandle); err != nil || st.State != store.Acknowledged || st.Seq != 3 {
		t.Fatalf("old handle of the acknowledged message: %+v %v", st, err)
	}
	for c, want := range map[byte]uint64{1: 6, 2: 8} {
		res, _, err := s.Publish(ctx, publishTo(cid(c), 1), nil)
		if err != nil || res[0].Seq != want {
			t.Fatalf("client %d: message ID %v after migration, want %d (%v)", c, res, want, err)
		}
	}
	if n := heldPending(t, s, cid(1)); n != 2 {
		t.Fatalf("client 1: %d pending held after migration and a publish, want 2", n)
	}
	var format, old int
	s.r.QueryRow(`PRAGMA user_version`).Scan(&format)
	s.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('clients', 'messages_format1', 'messages_handle')`).Scan(&old)
	if format != DataFormat || old != 0 {
		t.Fatalf("after migration: data format %d, %d tables of format 1 left", format, old)
	}
	// Reopened, it stays as it is.
	s.Close()
	s = openTest(t, path, nil)
	if st, err := s.Status(ctx, pendingHandle); err != nil || st.Seq != 4 {
		t.Fatalf("old handle after a second open: %+v %v", st, err)
	}
}

// STORE-015: a database of a later data format is refused at Open with
// an error that says what to do.
func TestLaterDataFormatRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, nil)
	s.Close()
	db, _ := sql.Open("sqlite", "file:"+path)
	if _, err := db.Exec(`PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(path, Options{StorageKey: testKey(7)})
	if err == nil || !strings.Contains(err.Error(), "data format 3") || !strings.Contains(err.Error(), "reads up to 2") {
		t.Fatalf("open of data format 3: %v", err)
	}
	if errors.Is(err, store.ErrWrongStorageKey) {
		t.Fatal("reported as a wrong key")
	}
}
