package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// The webhook outbox (STORE-030, STORE-031): one row per delivery event,
// inserted by the writer in the transaction that acknowledges or expires
// the message, so the event commits with the state change or not at all.
// The table is created when missing; older builds ignore it, so the data
// format (OPS-013) stays the same.

const outboxSchema = `
CREATE TABLE IF NOT EXISTS webhook_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, publisher TEXT NOT NULL,
	handle TEXT NOT NULL, client_id BLOB NOT NULL, seq INTEGER NOT NULL, state INTEGER NOT NULL, at INTEGER NOT NULL);
`

const (
	selectEventSource = `SELECT publisher, id, legacy_handle, expires FROM messages WHERE client_id = ? AND seq = ?`
	insertEvent       = `INSERT INTO webhook_outbox (publisher, handle, client_id, seq, state, at) VALUES (?, ?, ?, ?, ?, ?)`
	deleteEvent       = `DELETE FROM webhook_outbox WHERE id = ?`
)

var _ store.Outbox = (*Store)(nil)

// outboxState is the Store's part for the outbox.
type outboxState struct {
	filter atomic.Pointer[func(publisher string) bool]
	// the writer's statements, prepared on w at Open (the writer holds
	// w's only connection inside a group, so none can be prepared then)
	source, insert, del *sql.Stmt
	// bound: the group transaction the statements were last bound to
	// (tx.Stmt), reused for every message of the group; only the writer
	// goroutine touches it.
	bound                    *sql.Tx
	boundSource, boundInsert *sql.Stmt
}

// stmts returns source and insert bound to the group's transaction.
func (o *outboxState) stmts(tx *sql.Tx) (source, insert *sql.Stmt) {
	if o.bound != tx {
		o.bound, o.boundSource, o.boundInsert = tx, tx.Stmt(o.source), tx.Stmt(o.insert)
	}
	return o.boundSource, o.boundInsert
}

// openOutbox creates the table and prepares the writer's statements.
func (s *Store) openOutbox() error {
	if _, err := s.w.Exec(outboxSchema); err != nil {
		return err
	}
	var err error
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&s.outbox.source, selectEventSource}, {&s.outbox.insert, insertEvent}, {&s.outbox.del, deleteEvent}} {
		if *p.st, err = s.w.Prepare(p.q); err != nil {
			return fmt.Errorf("sqlitestore: preparing the outbox: %w", err)
		}
	}
	return nil
}

// closeOutbox closes the writer's outbox statements.
func (s *Store) closeOutbox() {
	for _, st := range []*sql.Stmt{s.outbox.source, s.outbox.insert, s.outbox.del} {
		if st != nil {
			st.Close()
		}
	}
}

// SetOutboxFilter implements store.Outbox.
func (s *Store) SetOutboxFilter(f func(publisher string) bool) {
	if f == nil {
		s.outbox.filter.Store(nil)
		return
	}
	s.outbox.filter.Store(&f)
}

// recordEvent is the finisher's hook for one message: in the group's
// transaction, right after stmt (markExpired) changed the message k, it
// inserts the event if the message's publisher has a webhook (STORE-030).
// Without a filter it reads nothing.
func (f *finisher) recordEvent(stmt stmtID, k msgKey, now int64) error {
	s := f.w.s
	if s.outbox.filter.Load() == nil {
		return nil
	}
	source, _ := s.outbox.stmts(f.w.tx)
	var publisher string
	var legacy sql.NullString
	var id, expires int64
	if err := source.QueryRow(k.c[:], k.seq).Scan(&publisher, &id, &legacy, &expires); err != nil {
		return err
	}
	return f.recordFinished(stmt, finishedRow{k: k, publisher: publisher, id: id, legacy: legacy, expires: expires}, now)
}

// finishedRow is what a statement that finished a message says of it:
// enough for its webhook event.
type finishedRow struct {
	k         msgKey
	publisher string
	id        int64
	legacy    sql.NullString
	expires   int64
}

// recordFinished inserts the event of one finished message, acknowledged
// by a markAcked statement or expired by markExpired, if its publisher
// has a webhook (STORE-030).
func (f *finisher) recordFinished(stmt stmtID, m finishedRow, now int64) error {
	s := f.w.s
	fp := s.outbox.filter.Load()
	if fp == nil || !(*fp)(m.publisher) {
		return nil
	}
	// The message's public handle (STORE-012), or the handle it kept from
	// data format 1 (STORE-015).
	handle := s.handles.encode(m.id)
	if m.legacy.Valid {
		handle = m.legacy.String
	}
	state, at := store.Acknowledged, now
	if stmt == markExpired {
		state, at = store.Expired, m.expires
	}
	_, insert := s.outbox.stmts(f.w.tx)
	_, err := insert.Exec(m.publisher, handle, m.k.c[:], m.k.seq, int(state), at)
	return err
}

// OutboxEvents implements store.Outbox.
func (s *Store) OutboxEvents(ctx context.Context, after uint64, limit int) ([]store.Event, error) {
	rows, err := s.rQuery(ctx, `SELECT id, publisher, handle, client_id, seq, state, at FROM webhook_outbox WHERE id > ? ORDER BY id LIMIT ?`,
		int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var c []byte
		var at int64
		var state int
		if err := rows.Scan(&e.ID, &e.Publisher, &e.Handle, &c, &e.Seq, &state, &at); err != nil {
			return nil, err
		}
		if len(c) != 32 {
			return nil, fmt.Errorf("sqlitestore: outbox event %d: client ID of %d bytes", e.ID, len(c))
		}
		copy(e.ClientID[:], c)
		e.State, e.Time = store.MessageState(state), time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// OutboxDelete implements store.Outbox, committed under the configured
// durability as every write but seen nonces (STORE-011); it costs one
// commit per delivered batch of up to 100 events.
func (s *Store) OutboxDelete(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	r := &writeReq{rows: len(ids), apply: func(w *writeTx) error {
		del := w.tx.Stmt(s.outbox.del)
		for _, id := range ids {
			if _, err := del.Exec(int64(id)); err != nil {
				return err
			}
		}
		return nil
	}}
	return s.do(ctx, r)
}

// OutboxLen implements store.Outbox.
func (s *Store) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := s.rQueryRow(ctx, `SELECT count(*) FROM webhook_outbox`).Scan(&n)
	return n, err
}
