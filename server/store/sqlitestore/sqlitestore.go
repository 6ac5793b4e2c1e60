// Package sqlitestore is the embedded default Store: one SQLite database in
// WAL mode (modernc.org/sqlite, pure Go). Payloads are encrypted at rest
// with XChaCha20-Poly1305 under the server's storage key. Every message row
// holds a sealed record bound to its client ID, message ID, expiry and blob
// ID; a broadcast message's record holds the random tag of its blob, which
// the blob's additional data binds too (STORE-001 … STORE-004), so that
// rows cannot be swapped or repointed undetected.
//
// Writes go to one writer goroutine on one connection, which commits what
// is queued in groups (writer.go, STORE-010); reads use a separate pool in
// WAL mode, concurrent with the writer, and see committed data only.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/sealfeed/sealfeed/server/store"
)

// Storage labels: the additional data of each encrypted row starts with
// one, so a message row and a blob row never open under each other's label.
const (
	labelMessage = "sealfeed v1 storage message"
	labelBlob    = "sealfeed v1 storage blob"
	labelCheck   = "sealfeed v1 storage key check"
)

// Options configure a Store.
type Options struct {
	// StorageKey is the 32-byte key payloads are encrypted under.
	StorageKey []byte
	// Synchronous is SQLite's synchronous pragma: "FULL" (default) makes
	// every commit survive power loss, "NORMAL" survives a process crash.
	Synchronous string
	// TombstoneRetention is how long acknowledged and expired messages keep
	// their status row; 0: 24 h.
	TombstoneRetention time.Duration
	// IdempotencyRetention is how long an Idempotency-Key is remembered; 0: 24 h.
	IdempotencyRetention time.Duration
	Now                  func() time.Time
}

// Store is the SQLite Store.
type Store struct {
	w, r *sql.DB
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
	handles handleCodec
	opt     Options

	// The writer's memory (writer.go), used by the writer goroutine only.
	clients  map[[32]byte]*clientState // every client with pending messages, and some others
	presence map[presenceKey]int64     // published_to expiries as written

	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // the readers' statements

	wstmts [numStmts]*sql.Stmt // the writer's statements, on w
	outbox outboxState         // delivery events for webhooks (outbox.go)

	qmu        sync.Mutex
	queue      []*writeReq
	closing    bool
	maxGroup   int // maxGroupRequests; 1 in the benchmark of one transaction per request
	wake       chan struct{}
	writerDone chan struct{}
	commits    atomic.Uint64 // commits of the writer, for tests and benchmarks
	// syncedCommits counts the commits made under synchronous FULL or
	// EXTRA: one fsync of the WAL each (checkpoints add theirs).
	syncedCommits atomic.Uint64
	syncMode      string // the writer connection's synchronous mode; "": unknown (only the writer goroutine uses it)

	// The checkpointer (checkpoint.go) and its connection.
	cp             *sql.DB
	cpStop, cpDone chan struct{}
	checkpoints    atomic.Uint64 // checkpoints it ran, for tests

	// testHookBeforeCommit, set only by this package's tests, runs on the
	// writer before each commit; an error fails the group.
	testHookBeforeCommit func(requests int) error

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// schema is data format 2 (DataFormat, migrate.go). Messages are rows of
// an append-only table keyed by an AUTOINCREMENT row ID (STORE-012): a
// group's inserts fill the table's last pages instead of one random page
// each, the handle is the row ID under a keyed permutation (handle.go) and
// needs no index, and an acknowledgement updates a recent row, on one of
// those same pages. (client_id, seq) is the one index with a random key.
// A client's last message ID is the highest seq of its rows, or, once
// those rows are gone, client_seqs.last_seq, written when the sweep deletes
// a client's newest row (STORE-013). Every statement is CREATE … IF NOT
// EXISTS, so that other tables can be added beside these.
const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS client_seqs (client_id BLOB PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (blob_id INTEGER PRIMARY KEY AUTOINCREMENT, nonce BLOB NOT NULL, data BLOB NOT NULL, refs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	client_id BLOB NOT NULL,
	seq INTEGER NOT NULL,
	blob_id INTEGER,
	nonce BLOB,
	data BLOB,
	state INTEGER NOT NULL,
	publisher TEXT NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	changed INTEGER NOT NULL,
	legacy_handle TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_seq ON messages(client_id, seq);
CREATE INDEX IF NOT EXISTS messages_pending_expiry ON messages(expires) WHERE state = 0;
CREATE INDEX IF NOT EXISTS messages_tombstones ON messages(changed) WHERE state <> 0;
CREATE UNIQUE INDEX IF NOT EXISTS messages_legacy_handle ON messages(legacy_handle) WHERE legacy_handle IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (publisher TEXT NOT NULL, key TEXT NOT NULL, request_hash BLOB NOT NULL,
	response BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (publisher, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (keyid TEXT NOT NULL, nonce TEXT NOT NULL, expires INTEGER NOT NULL,
	PRIMARY KEY (keyid, nonce)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires);
CREATE TABLE IF NOT EXISTS batch_seqs (signer BLOB PRIMARY KEY, hwm INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS published_to (publisher TEXT NOT NULL, client_id BLOB NOT NULL, expires INTEGER NOT NULL,
	PRIMARY KEY (publisher, client_id)) WITHOUT ROWID;
`

// Open opens or creates the database at path.
func Open(path string, opt Options) (*Store, error) {
	if len(opt.StorageKey) != chacha20poly1305.KeySize {
		return nil, errors.New("sqlitestore: storage key must be 32 bytes")
	}
	if opt.Synchronous == "" {
		opt.Synchronous = "FULL"
	}
	switch opt.Synchronous {
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlitestore: synchronous must be FULL, NORMAL or EXTRA, not %q", opt.Synchronous)
	}
	if opt.TombstoneRetention == 0 {
		opt.TombstoneRetention = 24 * time.Hour
	}
	if opt.IdempotencyRetention == 0 {
		opt.IdempotencyRetention = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	a, err := chacha20poly1305.NewX(opt.StorageKey)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(" + opt.Synchronous + ")", "busy_timeout(10000)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	// The writer's page cache holds the pages a group touches (the
	// default, 2 MiB, made it read pages back from the file).
	w, err := sql.Open("sqlite", dsn+"&_pragma="+url.QueryEscape("cache_size(-16384)")+
		"&_pragma="+url.QueryEscape(fmt.Sprintf("wal_autocheckpoint(%d)", writerAutocheckpoint)))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	cp, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	hc, err := newHandleCodec(opt.StorageKey)
	if err != nil {
		w.Close()
		r.Close()
		cp.Close()
		return nil, err
	}
	s := &Store{w: w, r: r, aead: a, handles: hc, opt: opt, clients: map[[32]byte]*clientState{}, presence: map[presenceKey]int64{}, stmts: map[stmtKey]*sql.Stmt{}, syncMode: opt.Synchronous,
		maxGroup: maxGroupRequests, wake: make(chan struct{}, 1), writerDone: make(chan struct{}),
		cp: cp, cpStop: make(chan struct{}), cpDone: make(chan struct{})}
	if err := s.loadClients(); err != nil {
		w.Close()
		r.Close()
		cp.Close()
		return nil, err
	}
	go s.writeLoop()
	go s.checkpointer(cp, s.cpStop, s.cpDone)
	if err := s.ensureTicketSchema(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensureDeviceSchema(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepareWriter(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openOutbox(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkKey(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensureEpoch(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkKey stores an encryption of nothing under labelCheck on first open
// and opens it on every later one, so a wrong storage key fails at start,
// not at the first delivery.
func (s *Store) checkKey() error {
	var v []byte
	err := s.w.QueryRow(`SELECT v FROM meta WHERE k = 'key_check'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		nonce := make([]byte, chacha20poly1305.NonceSizeX)
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		v = s.aead.Seal(nonce, nonce, nil, []byte(labelCheck))
		_, err = s.w.Exec(`INSERT INTO meta (k, v) VALUES ('key_check', ?)`, v)
		return err
	}
	if err != nil {
		return err
	}
	if len(v) < chacha20poly1305.NonceSizeX {
		return store.ErrWrongStorageKey
	}
	if _, err := s.aead.Open(nil, v[:chacha20poly1305.NonceSizeX], v[chacha20poly1305.NonceSizeX:], []byte(labelCheck)); err != nil {
		return store.ErrWrongStorageKey
	}
	return nil
}

// prep returns the statement for q prepared on db, preparing it once:
// SQLite spends more time parsing SQL than running these statements.
func (s *Store) prep(db *sql.DB, q string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	k := stmtKey{db, q}
	if st, ok := s.stmts[k]; ok {
		return st, nil
	}
	st, err := db.Prepare(q)
	if err != nil {
		return nil, err
	}
	s.stmts[k] = st
	return st, nil
}

type stmtKey struct {
	db *sql.DB
	q  string
}

func (s *Store) rQuery(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prep(s.r, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) rQueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prep(s.r, q)
	if err != nil {
		return s.r.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Close stops taking writes, lets the writer commit everything queued
// before it (each caller gets its answer), and closes the database. A
// write submitted after Close began fails.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.qmu.Lock()
		s.closing = true
		s.qmu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.writerDone
		close(s.cpStop)
		<-s.cpDone
		s.stmtMu.Lock()
		for _, st := range s.stmts {
			st.Close()
		}
		s.stmts = map[stmtKey]*sql.Stmt{}
		s.stmtMu.Unlock()
		for _, st := range s.wstmts {
			if st != nil {
				st.Close()
			}
		}
		s.closeOutbox()
		s.closeErr = errors.Join(s.r.Close(), s.cp.Close(), s.w.Close())
	})
	return s.closeErr
}

// blobTagLen is the length of a blob's random tag (STORE-003).
const blobTagLen = 16

// messageAD is the additional data of a message record (STORE-001):
// label || 0x00 || client_id[32] || uint64 seq || uint64 expires (Unix ms)
// || uint64 blob_id (0: the record holds the payload itself). A record
// holds the payload, or for a broadcast the blob's tag (STORE-002).
func messageAD(clientID []byte, seq uint64, expires, blobID int64) []byte {
	ad := make([]byte, 0, len(labelMessage)+1+32+3*8)
	ad = append(ad, labelMessage...)
	ad = append(ad, 0)
	ad = append(ad, clientID...)
	ad = binary.BigEndian.AppendUint64(ad, seq)
	ad = binary.BigEndian.AppendUint64(ad, uint64(expires))
	return binary.BigEndian.AppendUint64(ad, uint64(blobID))
}

// blobAD is the additional data of a broadcast blob (STORE-003):
// label || 0x00 || uint64 blob_id || tag[16].
func blobAD(id int64, tag []byte) []byte {
	ad := append([]byte(labelBlob), 0)
	ad = binary.BigEndian.AppendUint64(ad, uint64(id))
	return append(ad, tag...)
}

func (s *Store) seal(payload, ad []byte) (nonce, data []byte, err error) {
	nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, s.aead.Seal(nil, nonce, payload, ad), nil
}

func (s *Store) open(nonce, data, ad []byte) ([]byte, error) {
	if len(nonce) != chacha20poly1305.NonceSizeX {
		return nil, store.ErrStoredDataTampered
	}
	p, err := s.aead.Open(nil, nonce, data, ad)
	if err != nil {
		return nil, store.ErrStoredDataTampered
	}
	return p, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

type idemRecord struct {
	Assigned []store.Assigned `json:"assigned"`
}

// Publish implements store.Store. The request goes to the writer
// (writer.go) and is committed with the others queued with it, inside its
// own savepoint: it is stored entirely or not at all, whatever the others
// do (STORE-010). Publish returns, and onCommit runs on the writer, only
// after that commit; onCommit must not call the Store's writes. If ctx
// ends while the request is still queued, Publish returns ctx.Err() and
// nothing is stored; once the writer took it, ctx no longer matters and
// Publish returns the committed result.
func (s *Store) Publish(ctx context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	var out []store.Assigned
	var replayed bool
	r := &writeReq{apply: func(w *writeTx) (err error) {
		out, replayed, err = s.publish(w, req)
		return err
	}}
	for _, p := range req.Publications {
		r.rows += len(p.To)
	}
	if onCommit != nil {
		r.committed = func() {
			if !replayed {
				onCommit(out)
			}
		}
	}
	if err := s.do(ctx, r); err != nil {
		return nil, false, err
	}
	return out, replayed, nil
}

// publish applies one publish request in the writer's transaction.
func (s *Store) publish(w *writeTx, req *store.PublishRequest) ([]store.Assigned, bool, error) {
	now := s.opt.Now()
	// STORE-016: the signature's nonce, first, in the request's savepoint:
	// a failing request leaves it unrecorded (the caller then records it
	// with Seen).
	if n := req.Nonce; n != nil {
		if seen, err := w.recordNonce(n.KeyID, n.Nonce, n.Expires, now); err != nil {
			return nil, false, err
		} else if seen {
			return nil, false, store.ErrReplayedNonce
		}
	}
	if req.IdempotencyKey != "" {
		var h, resp []byte
		var exp int64
		err := w.queryRow(findIdempotency, req.Publisher, req.IdempotencyKey).Scan(&h, &resp, &exp)
		switch {
		case err == nil && exp > ms(now):
			if string(h) != string(req.RequestHash[:]) {
				return nil, false, store.ErrIdempotencyReused
			}
			var rec idemRecord
			if err := json.Unmarshal(resp, &rec); err != nil {
				return nil, false, fmt.Errorf("sqlitestore: idempotency record: %w", err)
			}
			return rec.Assigned, true, nil
		case err == nil || errors.Is(err, sql.ErrNoRows):
		default:
			return nil, false, err
		}
	}

	var out []store.Assigned
	for _, p := range req.Publications {
		exp := now.Add(p.TTL)
		var blobID int64
		var blobTag []byte
		if len(p.To) > 1 {
			res, err := w.exec(insertBlob, len(p.To))
			if err != nil {
				return nil, false, err
			}
			if blobID, err = res.LastInsertId(); err != nil {
				return nil, false, err
			}
			blobTag = make([]byte, blobTagLen)
			if _, err := rand.Read(blobTag); err != nil {
				return nil, false, err
			}
			nonce, data, err := s.seal(p.Payload, blobAD(blobID, blobTag))
			if err != nil {
				return nil, false, err
			}
			if _, err := w.exec(sealBlob, nonce, data, blobID); err != nil {
				return nil, false, err
			}
		}
		for _, to := range p.To {
			// The next message ID (DLV-001) and the pending count for the
			// limit (API-028), from the writer's memory (STORE-013).
			st, err := w.client(to)
			if err != nil {
				return nil, false, err
			}
			st.lastSeq++
			st.pending++
			seq := st.lastSeq
			if req.MaxPending > 0 && st.pending > req.MaxPending {
				return nil, false, fmt.Errorf("%w: client %x has %d", store.ErrTooManyPending, to[:4], st.pending-1)
			}
			// The record: the payload, or the blob's tag (STORE-002).
			record, blob := p.Payload, any(nil)
			if blobID != 0 {
				record, blob = blobTag, blobID
			}
			nonce, data, err := s.seal(record, messageAD(to[:], seq, ms(exp), blobID))
			if err != nil {
				return nil, false, err
			}
			res, err := w.exec(insertMessage, to[:], seq, blob, nonce, data, req.Publisher, ms(now), ms(exp), ms(now))
			if err != nil {
				return nil, false, err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return nil, false, err
			}
			out = append(out, store.Assigned{Handle: s.handles.encode(id), ClientID: to, Seq: seq, Expires: time.UnixMilli(ms(exp))})
		}
	}
	// One presence pair per client of the request (API-040), written
	// when the last one written does not cover it (STORE-014).
	for i, a := range out {
		if slices.ContainsFunc(out[:i], func(b store.Assigned) bool { return b.ClientID == a.ClientID }) {
			continue
		}
		if err := w.recordPresence(req.Publisher, a.ClientID, now); err != nil {
			return nil, false, err
		}
	}
	store.Annotate(req.Publications, out) // the replayed answer names the devices (API-094)
	if req.IdempotencyKey != "" {
		resp, err := json.Marshal(idemRecord{Assigned: out})
		if err != nil {
			return nil, false, err
		}
		if _, err := w.exec(saveIdempotency,
			req.Publisher, req.IdempotencyKey, req.RequestHash[:], resp, ms(now.Add(s.opt.IdempotencyRetention))); err != nil {
			return nil, false, err
		}
	}
	return out, false, nil
}

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, clientID [32]byte, after uint64, limit int) ([]store.Message, error) {
	rows, err := s.rQuery(ctx, `SELECT m.seq, m.blob_id, m.nonce, m.data, m.expires, m.created, b.nonce, b.data
		FROM messages m LEFT JOIN blobs b ON b.blob_id = m.blob_id
		WHERE m.client_id = ? AND m.seq > ? AND m.state = 0 AND m.expires > ?
		ORDER BY m.seq LIMIT ?`, clientID[:], after, ms(s.opt.Now()), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var blob sql.NullInt64
		var nonce, data, bnonce, bdata []byte
		var exp, created int64
		if err := rows.Scan(&m.Seq, &blob, &nonce, &data, &exp, &created, &bnonce, &bdata); err != nil {
			return nil, err
		}
		m.ClientID, m.Expires, m.BlobID, m.Created = clientID, time.UnixMilli(exp), blob.Int64, time.UnixMilli(created)
		// The record is bound to this row's client, ID, expiry and blob
		// ID; a broadcast's blob opens only under the tag in the record.
		m.Payload, err = s.open(nonce, data, messageAD(clientID[:], m.Seq, exp, m.BlobID))
		if err == nil && blob.Valid {
			if len(m.Payload) != blobTagLen {
				err = store.ErrStoredDataTampered
			} else {
				m.Payload, err = s.open(bnonce, bdata, blobAD(m.BlobID, m.Payload))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: client %x message %d: %w", clientID[:4], m.Seq, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Ack implements store.Store. The IDs of the Ack calls the writer takes
// in one group are applied in one pass and one commit (writer.go); the
// call returns after that commit. ctx is treated as in Publish.
func (s *Store) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	if len(acks) == 0 {
		return 0, nil
	}
	r := &writeReq{acks: acks}
	for _, ids := range acks {
		r.rows += len(ids)
	}
	if err := s.do(ctx, r); err != nil {
		return 0, err
	}
	return r.acked, nil
}

// Status implements store.Store.
func (s *Store) Status(ctx context.Context, handle string) (*store.Status, error) {
	st := &store.Status{Handle: handle}
	var cid []byte
	var created, expires int64
	// The handle names its row (STORE-012); a handle of data format 1 is
	// found by the index of those (STORE-015).
	q, arg := `SELECT client_id, seq, state, publisher, created, expires FROM messages WHERE legacy_handle = ?`, any(handle)
	if id, ok := s.handles.decode(handle); ok {
		q, arg = `SELECT client_id, seq, state, publisher, created, expires FROM messages WHERE id = ?`, id
	}
	err := s.rQueryRow(ctx, q, arg).Scan(&cid, &st.Seq, &st.State, &st.Publisher, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	copy(st.ClientID[:], cid)
	st.Created, st.Expires = time.UnixMilli(created), time.UnixMilli(expires)
	if st.State == store.Pending && !st.Expires.After(s.opt.Now()) {
		st.State = store.Expired
	}
	return st, nil
}

// PendingCount implements store.Store.
func (s *Store) PendingCount(ctx context.Context, clientID [32]byte) (int, error) {
	var n int
	err := s.rQueryRow(ctx, `SELECT count(*) FROM messages WHERE client_id = ? AND state = 0 AND expires > ?`,
		clientID[:], ms(s.opt.Now())).Scan(&n)
	return n, err
}

// Backlog implements store.Backlogger: one read of the pending messages
// through their partial index (OPS-045).
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.rQueryRow(ctx, `SELECT count(*), min(created) FROM messages WHERE state = 0 AND expires > ?`,
		ms(s.opt.Now())).Scan(&n, &oldest)
	if err != nil || !oldest.Valid {
		return n, time.Time{}, err
	}
	return n, time.UnixMilli(oldest.Int64), nil
}

// PublishedTo implements store.Store.
func (s *Store) PublishedTo(ctx context.Context, publisher string, clientID [32]byte) (bool, error) {
	var n int
	err := s.rQueryRow(ctx, `SELECT count(*) FROM published_to WHERE publisher = ? AND client_id = ? AND expires > ?`,
		publisher, clientID[:], ms(s.opt.Now())).Scan(&n)
	return n > 0, err
}

// Expire implements store.Store, as one request of the writer.
func (s *Store) Expire(ctx context.Context, now time.Time) ([][32]byte, error) {
	var out [][32]byte
	r := &writeReq{apply: func(w *writeTx) (err error) {
		out, err = s.expire(w, now)
		return err
	}}
	if err := s.do(ctx, r); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) expire(w *writeTx, now time.Time) ([][32]byte, error) {
	rows, err := w.stmt(selectExpired).Query(ms(now))
	if err != nil {
		return nil, err
	}
	var ks []msgKey
	for rows.Next() {
		var c []byte
		var k msgKey
		if err := rows.Scan(&c, &k.seq); err != nil {
			rows.Close()
			return nil, err
		}
		copy(k.c[:], c)
		ks = append(ks, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	f := newFinisher(w)
	for _, k := range ks {
		if _, err := f.finish(markExpired, k, ms(now)); err != nil {
			return nil, err
		}
	}
	if err := f.release(); err != nil {
		return nil, err
	}
	// Tombstones: status rows go after the retention; a client's newest
	// row is first recorded in client_seqs, so that DLV-001 never reuses
	// an ID (STORE-013).
	for _, d := range []struct {
		stmt   stmtID
		before time.Time
	}{
		{saveLastSeqs, now.Add(-s.opt.TombstoneRetention)},
		{deleteTombstones, now.Add(-s.opt.TombstoneRetention)},
		{deleteIdempotency, now},
		{deleteNonces, now},
		{deletePublishedTo, now},
		{deleteTicketRecords, now}, // client IDs whose tickets all expired (HS-046)
	} {
		if _, err := w.exec(d.stmt, ms(d.before)); err != nil {
			return nil, err
		}
	}
	if err := expireDevices(w, now); err != nil {
		return nil, err
	}
	out := make([][32]byte, 0, len(f.pending))
	for c := range f.pending {
		out = append(out, c)
	}
	return out, nil
}

// Seen implements store.Store and httpsig.NonceStore, as one request of
// the writer.
func (s *Store) Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	var seen bool
	// lazy (STORE-011): a nonce protects against the replay of a request
	// that changed something, and that change (a publish) is committed
	// with an fsync after this returns, which makes the nonce durable too.
	r := &writeReq{lazy: true, apply: func(w *writeTx) (err error) {
		seen, err = w.recordNonce(keyID, nonce, expires, s.opt.Now())
		return err
	}}
	if err := s.do(ctx, r); err != nil {
		return false, err
	}
	return seen, nil
}

// recordNonce records (keyID, nonce) until expires and reports whether it
// was recorded already and not expired at now.
func (w *writeTx) recordNonce(keyID, nonce string, expires, now time.Time) (bool, error) {
	res, err := w.exec(recordNonce, keyID, nonce, ms(expires), ms(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

// Ready implements store.Store: a trivial query on the reading and on the
// writing connection, each of which a publish and a delivery need.
func (s *Store) Ready(ctx context.Context) error {
	for _, db := range []*sql.DB{s.r, s.w} {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return fmt.Errorf("sqlitestore: not ready: %w", err)
		}
	}
	return nil
}

// ReserveBatchSeqs implements store.Store, as one request of the writer.
func (s *Store) ReserveBatchSeqs(ctx context.Context, signer [32]byte, n uint64) (uint64, error) {
	if n == 0 {
		return 0, errors.New("sqlitestore: reserve at least one sequence number")
	}
	var hwm uint64
	r := &writeReq{apply: func(w *writeTx) error {
		return w.queryRow(reserveBatchSeqs, signer[:], n).Scan(&hwm)
	}}
	if err := s.do(ctx, r); err != nil {
		return 0, err
	}
	return hwm - n + 1, nil
}
