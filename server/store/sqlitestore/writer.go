package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/sealfeed/sealfeed/server/store"
)

// One writer with group commit (STORE-010).
//
// Every write of the Store — Publish, Ack, Seen, Expire, ReserveBatchSeqs,
// the ticket keys and records, NewEpoch — is a request on one queue. One
// goroutine, the writer, takes everything queued when it is free (the
// requests that arrived while the previous commit ran; nothing waits for a
// timer, so an idle store commits a lone request at once), at most
// maxGroupRequests requests or maxGroupRows message rows, and applies them
// in one transaction with one commit: one fsync of the WAL under
// synchronous=FULL for the whole group instead of one per request.
//
// Each request runs inside its own SAVEPOINT, so a request that fails
// (ErrTooManyPending, ErrIdempotencyReused, a failing statement) is rolled
// back alone and the others of the group commit. A request is answered only
// after the commit that holds it; if the commit fails, every request of the
// group fails with that error and none of them is stored. The onCommit
// callbacks of a group run on the writer, in queue order, after its commit
// and before the next group begins, so they run in commit order.
//
// The Ack requests of a group are merged: their IDs go through statements
// of up to 128 IDs each (markAckedSQL), and the pending counts and blob
// references they release are updated once per client and once per blob.

// Bounds of one group: a group holds at least one request, and more only
// while it stays within both.
const (
	maxGroupRequests = 256
	maxGroupRows     = 4096
)

// errClosed answers a write submitted after Close began.
var errClosed = errors.New("sqlitestore: store closed")

// Statements of the writer, prepared once at Open on the writer's
// connection (SQLite spends more time parsing SQL than running these).
type stmtID int

const (
	findIdempotency stmtID = iota
	saveIdempotency
	insertBlob
	sealBlob
	loadClient
	insertMessage
	recordPublishedTo
	markAcked1
	markAcked16
	markAcked128
	markExpired
	releaseBlob
	deleteReleasedBlob
	selectExpired
	saveLastSeqs
	deleteTombstones
	deleteIdempotency
	deleteNonces
	deletePublishedTo
	deleteTicketRecords
	recordNonce
	reserveBatchSeqs
	startTicketRecord
	advanceTicketRecord
	readMeta
	writeMeta
	savepoint
	releaseSavepoint
	rollbackSavepoint
	numStmts
)

var writeSQL = [numStmts]string{
	findIdempotency: `SELECT request_hash, response, expires FROM idempotency WHERE publisher = ? AND key = ?`,
	saveIdempotency: `INSERT INTO idempotency (publisher, key, request_hash, response, expires) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (publisher, key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response, expires = excluded.expires`,
	insertBlob: `INSERT INTO blobs (nonce, data, refs) VALUES (x'', x'', ?)`,
	sealBlob:   `UPDATE blobs SET nonce = ?, data = ? WHERE blob_id = ?`,
	// A client's last message ID (DLV-001, STORE-013), read when the
	// writer first needs it; its pending count is 0 then (loadClients).
	loadClient: `SELECT max(coalesce((SELECT max(seq) FROM messages WHERE client_id = ?1), 0),
		coalesce((SELECT last_seq FROM client_seqs WHERE client_id = ?1), 0))`,
	insertMessage: `INSERT INTO messages (client_id, seq, blob_id, nonce, data, state, publisher, created, expires, changed)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
	// Publisher–client pairs for presence (API-040), kept
	// PresenceRetention after the publisher's last message to the client.
	recordPublishedTo: `INSERT INTO published_to (publisher, client_id, expires) VALUES (?, ?, ?)
		ON CONFLICT (publisher, client_id) DO UPDATE SET expires = max(expires, excluded.expires)`,
	// An acknowledgement that arrives after the TTL does not change an
	// expired message: expired is final (api.md API-032).
	markAcked1:   markAckedSQL(1),
	markAcked16:  markAckedSQL(16),
	markAcked128: markAckedSQL(128),
	markExpired: `UPDATE messages SET state = 2, nonce = NULL, data = NULL, changed = ?
		WHERE client_id = ? AND seq = ? AND state = 0 RETURNING blob_id`,
	releaseBlob:        `UPDATE blobs SET refs = refs - ? WHERE blob_id = ?`,
	deleteReleasedBlob: `DELETE FROM blobs WHERE blob_id = ? AND refs <= 0`,
	selectExpired:      `SELECT client_id, seq FROM messages WHERE state = 0 AND expires <= ? LIMIT 10000`,
	// Before a client's newest row goes, its ID is kept (STORE-013).
	saveLastSeqs: `INSERT INTO client_seqs (client_id, last_seq)
		SELECT t.client_id, t.seq FROM messages t
		WHERE t.state <> 0 AND t.changed <= ?1 AND t.seq = (SELECT max(seq) FROM messages m WHERE m.client_id = t.client_id)
		ON CONFLICT (client_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
	deleteTombstones:    `DELETE FROM messages WHERE state <> 0 AND changed <= ?`,
	deleteIdempotency:   `DELETE FROM idempotency WHERE expires <= ?`,
	deleteNonces:        `DELETE FROM nonces WHERE expires <= ?`,
	deletePublishedTo:   `DELETE FROM published_to WHERE expires <= ?`,
	deleteTicketRecords: `DELETE FROM ticket_records WHERE expires <= ?`,
	recordNonce: `INSERT INTO nonces (keyid, nonce, expires) VALUES (?, ?, ?)
		ON CONFLICT (keyid, nonce) DO UPDATE SET expires = excluded.expires WHERE nonces.expires <= ?`,
	reserveBatchSeqs: `INSERT INTO batch_seqs (signer, hwm) VALUES (?, ?)
		ON CONFLICT (signer) DO UPDATE SET hwm = hwm + excluded.hwm RETURNING hwm`,
	startTicketRecord: `INSERT INTO ticket_records (client_id, latest, retry, expires) VALUES (?, 1, 0, ?)
		ON CONFLICT (client_id) DO UPDATE SET latest = 1, retry = 0, expires = excluded.expires`,
	advanceTicketRecord: `UPDATE ticket_records SET latest = ?, retry = ?, expires = ?
		WHERE client_id = ? AND latest = ? AND retry = ? AND expires > ?`,
	readMeta:          `SELECT v FROM meta WHERE k = ?`,
	writeMeta:         `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
	savepoint:         `SAVEPOINT request`,
	releaseSavepoint:  `RELEASE request`,
	rollbackSavepoint: `ROLLBACK TO request`,
}

// markAckedSQL acknowledges up to n messages in one statement (one step
// of the statement machinery instead of n), each found by the index of (client_id, seq); a message named twice is
// changed, and returned, once. An acknowledgement that arrives after the
// TTL does not change an expired message: expired is final (api.md
// API-032).
func markAckedSQL(n int) string {
	var b strings.Builder
	b.WriteString(`UPDATE messages SET state = 1, nonce = NULL, data = NULL, changed = ?1
		WHERE state = 0 AND expires > ?1 AND (client_id, seq) IN (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(?%d, ?%d)", 2+2*i, 3+2*i)
	}
	b.WriteString(`) RETURNING client_id, blob_id, seq, publisher, id, legacy_handle, expires`)
	return b.String()
}

// markAckedSizes are the statements of markAckedSQL, by the number of
// messages each names, largest first.
var markAckedSizes = []struct {
	stmt stmtID
	n    int
}{{markAcked128, 128}, {markAcked16, 16}, {markAcked1, 1}}

// prepareWriter prepares the writer's statements.
func (s *Store) prepareWriter() error {
	for id, q := range writeSQL {
		st, err := s.w.Prepare(q)
		if err != nil {
			return fmt.Errorf("sqlitestore: preparing statement %d: %w", id, err)
		}
		s.wstmts[id] = st
	}
	return nil
}

// writeTx is the transaction of one group, with the writer's statements
// bound to it as they are first used.
type writeTx struct {
	tx    *sql.Tx
	s     *Store
	stmts [numStmts]*sql.Stmt

	// What the writer's memory held before the current request and the
	// group changed it, to put back when their writes roll back: a
	// client's state (nil: not held), and published_to expiries that
	// become s.presence only after the commit.
	undoRequest, undoGroup map[[32]byte]*clientState
	presenceWrites         []presenceWrite
	// savepoints: each request of the group runs in its own savepoint.
	savepoints bool
}

func (w *writeTx) stmt(id stmtID) *sql.Stmt {
	if w.stmts[id] == nil {
		w.stmts[id] = w.tx.Stmt(w.s.wstmts[id])
	}
	return w.stmts[id]
}

func (w *writeTx) exec(id stmtID, args ...any) (sql.Result, error) {
	return w.stmt(id).Exec(args...)
}

func (w *writeTx) queryRow(id stmtID, args ...any) *sql.Row {
	return w.stmt(id).QueryRow(args...)
}

// Request states: a caller may give up a request only while it is queued.
const (
	queued int32 = iota
	taken
	abandoned
)

// writeReq is one caller's write. apply runs in the group's transaction
// inside the request's savepoint; for an Ack request (acks not nil) the
// writer applies the merged acknowledgements instead. committed, if not
// nil, runs on the writer after the commit when the request succeeded.
type writeReq struct {
	state atomic.Int32
	apply func(w *writeTx) error
	acks  map[[32]byte][]uint64
	acked int
	rows  int
	// lazy: the write may commit without an fsync of its own; it becomes
	// durable with the next commit that has one (STORE-011).
	lazy      bool
	committed func()
	err       error
	done      chan struct{}
}

// do queues r for the writer and waits for its answer. A caller whose ctx
// ends while r is still queued gets ctx.Err() and r is never applied; once
// the writer took r, the caller waits for the commit and gets its result
// (the request is committed or fails with its group), whatever ctx says.
func (s *Store) do(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.submit(r); err != nil {
		return err
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// submit queues r for the writer without waiting for it; r.done closes
// once r is committed or failed.
func (s *Store) submit(r *writeReq) error {
	r.done = make(chan struct{})
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return errClosed
	}
	s.queue = append(s.queue, r)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// writeLoop is the writer goroutine; it returns once Close began and the
// queue is empty.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	for {
		group := s.takeGroup()
		if group == nil {
			return
		}
		s.commitGroup(group)
	}
}

// takeGroup waits for queued requests and takes a group of them: every
// request queued now, within the group bounds. It returns nil when the
// store is closing and nothing is queued.
func (s *Store) takeGroup() []*writeReq {
	for {
		s.qmu.Lock()
		var group []*writeReq
		rows, n := 0, 0
		for n < len(s.queue) && len(group) < s.maxGroup {
			r := s.queue[n]
			if len(group) > 0 && rows+r.rows > maxGroupRows {
				break
			}
			n++
			if r.state.CompareAndSwap(queued, taken) {
				group = append(group, r)
				rows += r.rows
			}
		}
		rest := copy(s.queue, s.queue[n:])
		clear(s.queue[rest:])
		s.queue = s.queue[:rest]
		closing := s.closing
		s.qmu.Unlock()
		if len(group) > 0 {
			return group
		}
		if closing && rest == 0 {
			return nil
		}
		if n == 0 {
			<-s.wake
		}
	}
}

// commitGroup applies a group in one transaction, commits it, runs the
// onCommit callbacks in order and answers every caller.
func (s *Store) commitGroup(group []*writeReq) {
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil {
				r.err = err
			}
		}
	}
	lazy := true
	for _, r := range group {
		lazy = lazy && r.lazy
	}
	if err := s.setSync(lazy); err != nil {
		fail(err)
		return
	}
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		fail(err)
		return
	}
	s.forget()
	w := &writeTx{tx: tx, s: s, undoGroup: map[[32]byte]*clientState{}}
	var acks []*writeReq
	for _, r := range group {
		if r.acks != nil {
			acks = append(acks, r)
		}
	}
	// A group of one request needs no savepoint: the rollback of the
	// transaction undoes it (STORE-010). The savepoint's price is a copy
	// of every page the request changes, to the savepoint's journal.
	w.savepoints = len(group) > 1
	var groupErr error
	if len(acks) > 0 {
		groupErr = s.inSavepoint(w, func() error { return s.applyAcks(w, acks) }, acks)
	}
	for _, r := range group {
		if groupErr != nil {
			break
		}
		if r.acks == nil {
			groupErr = s.inSavepoint(w, func() error { return r.apply(w) }, []*writeReq{r})
		}
	}
	if groupErr == nil && s.testHookBeforeCommit != nil {
		groupErr = s.testHookBeforeCommit(len(group))
	}
	if groupErr == nil {
		groupErr = tx.Commit()
		s.commits.Add(1)
		if s.syncMode != "NORMAL" {
			s.syncedCommits.Add(1)
		}
	}
	if groupErr != nil {
		tx.Rollback()
		s.restore(w.undoGroup)
		fail(groupErr)
		return
	}
	for _, p := range w.presenceWrites {
		s.presence[p.k] = p.expires
	}
	for _, r := range group {
		if r.err == nil && r.committed != nil {
			r.committed()
		}
	}
}

// setSync sets the writer connection's synchronous mode for the next
// commit: NORMAL for a group of lazy writes only (no fsync: in WAL mode
// the frames they append are flushed by the fsync of any later commit
// under FULL, or before a checkpoint), the configured mode otherwise. A
// group holding anything else never commits under NORMAL (STORE-011).
func (s *Store) setSync(lazy bool) error {
	want := s.opt.Synchronous
	if lazy {
		want = "NORMAL"
	}
	if s.syncMode == want {
		return nil
	}
	s.syncMode = "" // unknown until the pragma succeeded
	if _, err := s.w.Exec("PRAGMA synchronous=" + want); err != nil {
		return err
	}
	s.syncMode = want
	return nil
}

// inSavepoint runs f inside the savepoint of the requests rs. When f
// fails, its changes are rolled back and every request of rs gets the
// error; the returned error is one that ends the whole group: a savepoint
// that cannot be taken, released or rolled back (SQLite rolls back the
// whole transaction on some errors, and the group cannot then commit).
//
// Without savepoints (a group of one request), a failing f fails the
// group, whose rollback undoes it.
func (s *Store) inSavepoint(w *writeTx, f func() error, rs []*writeReq) error {
	if !w.savepoints {
		w.undoRequest = map[[32]byte]*clientState{}
		if err := f(); err != nil {
			for _, r := range rs {
				r.err = err
			}
			return err
		}
		return nil
	}
	if _, err := w.exec(savepoint); err != nil {
		return err
	}
	w.undoRequest = map[[32]byte]*clientState{}
	presenceMark := len(w.presenceWrites)
	if err := f(); err != nil {
		for _, r := range rs {
			r.err = err
		}
		s.restore(w.undoRequest)
		w.presenceWrites = w.presenceWrites[:presenceMark]
		if _, err := w.exec(rollbackSavepoint); err != nil {
			return err
		}
	}
	_, err := w.exec(releaseSavepoint)
	return err
}

type msgKey struct {
	c   [32]byte
	seq uint64
}

// applyAcks applies the acknowledgements of several Ack requests, each
// request's IDs in statements of up to 128 (markAckedSQL), then one
// change per client's pending count and one update per blob. An ID named
// again (in the same call or another of the group) finds the message no
// longer pending and counts once, for the first.
func (s *Store) applyAcks(w *writeTx, rs []*writeReq) error {
	now := ms(s.opt.Now())
	f := newFinisher(w)
	var keys []msgKey
	var args []any
	for _, r := range rs {
		r.acked = 0
		keys = keys[:0]
		for c, ids := range r.acks {
			for _, id := range ids {
				keys = append(keys, msgKey{c, id})
			}
		}
		for len(keys) > 0 {
			// The smallest statement that takes what is left, or the
			// largest; the pairs it has room for beyond are the last
			// one again, which changes nothing more.
			size := markAckedSizes[0]
			for _, sz := range markAckedSizes[1:] {
				if sz.n >= len(keys) {
					size = sz
				}
			}
			take := min(size.n, len(keys))
			args = append(args[:0], now)
			for i := range size.n {
				k := &keys[min(i, take-1)]
				args = append(args, k.c[:], k.seq)
			}
			keys = keys[take:]
			n, err := f.finishRows(size.stmt, args)
			if err != nil {
				return err
			}
			r.acked += n
		}
	}
	return f.release()
}

// finisher moves messages out of Pending (acknowledged or expired) and
// releases what they held: the client's pending count and the blob's
// references, counted up and written once per client and blob.
type finisher struct {
	w       *writeTx
	pending map[[32]byte]int
	blobs   map[int64]int
}

func newFinisher(w *writeTx) *finisher {
	return &finisher{w: w, pending: map[[32]byte]int{}, blobs: map[int64]int{}}
}

// finishRows runs a statement that finishes messages and returns the
// client_id and blob_id of each it changed; it returns how many.
func (f *finisher) finishRows(stmt stmtID, args []any) (int, error) {
	rows, err := f.w.stmt(stmt).Query(args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	var c []byte
	var blob sql.NullInt64
	var m finishedRow
	var events []finishedRow // inserted after the statement's rows are read
	for rows.Next() {
		if err := rows.Scan(&c, &blob, &m.k.seq, &m.publisher, &m.id, &m.legacy, &m.expires); err != nil {
			return n, err
		}
		if len(c) != 32 {
			return n, fmt.Errorf("sqlitestore: a message row's client ID has %d bytes: %w", len(c), store.ErrStoredDataTampered)
		}
		m.k.c = [32]byte(c)
		f.pending[m.k.c]++
		if blob.Valid {
			f.blobs[blob.Int64]++
		}
		if f.w.s.outbox.filter.Load() != nil {
			events = append(events, m)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	rows.Close()
	for _, e := range events { // STORE-030, outbox.go
		if err := f.recordFinished(stmt, e, ackTime(args)); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ackTime is the time argument (?1) of a markAcked statement.
func ackTime(args []any) int64 {
	t, _ := args[0].(int64)
	return t
}

// finish marks one message with markExpired; it reports whether the
// message changed (it was pending).
func (f *finisher) finish(stmt stmtID, k msgKey, now int64) (bool, error) {
	var blob sql.NullInt64
	err := f.w.queryRow(stmt, now, k.c[:], k.seq).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := f.recordEvent(stmt, k, now); err != nil { // STORE-030, outbox.go
		return false, err
	}
	f.pending[k.c]++
	if blob.Valid {
		f.blobs[blob.Int64]++
	}
	return true, nil
}

// release counts what the finished messages held off the clients'
// pending counts (in the writer's memory) and the blobs' references; a
// blob goes with its last reference.
func (f *finisher) release() error {
	for c, n := range f.pending {
		st, err := f.w.client(c)
		if err != nil {
			return err
		}
		st.pending = max(st.pending-n, 0)
	}
	for b, n := range f.blobs {
		if _, err := f.w.exec(releaseBlob, n, b); err != nil {
			return err
		}
		if _, err := f.w.exec(deleteReleasedBlob, b); err != nil {
			return err
		}
	}
	return nil
}
