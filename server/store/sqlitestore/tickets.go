package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

const ticketSchema = `
CREATE TABLE IF NOT EXISTS ticket_records (client_id BLOB PRIMARY KEY, latest INTEGER NOT NULL, retry INTEGER NOT NULL,
	expires INTEGER NOT NULL) WITHOUT ROWID;
`

// ensureTicketSchema creates the table of ticket records (HS-046).
func (s *Store) ensureTicketSchema() error {
	_, err := s.w.Exec(ticketSchema)
	return err
}

// TicketKeys implements store.Store: the set is kept sealed in the meta
// table (label store.LabelTicketKeys); it is created on first use and
// rotated, by one request of the writer that reads the set again in its
// transaction, when the current key is older than rotate (HS-045).
func (s *Store) TicketKeys(ctx context.Context, now time.Time, rotate time.Duration) (*handshake.TicketKeys, error) {
	set, err := s.readTicketKeys(s.r.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'ticket_keys'`))
	if err != nil || (set != nil && !set.Due(now, rotate)) {
		return set.Keys(), err
	}
	var keys *handshake.TicketKeys
	r := &writeReq{apply: func(w *writeTx) error {
		set, err := s.readTicketKeys(w.queryRow(readMeta, "ticket_keys"))
		if err != nil {
			return err
		}
		if set != nil && !set.Due(now, rotate) {
			keys = set.Keys() // another caller rotated first
			return nil
		}
		next, err := set.Rotate(now)
		if err != nil {
			return err
		}
		v, err := next.Seal(s.aead)
		if err != nil {
			return err
		}
		if _, err := w.exec(writeMeta, "ticket_keys", v); err != nil {
			return err
		}
		keys = next.Keys()
		return nil
	}}
	if err := s.do(ctx, r); err != nil {
		return nil, err
	}
	return keys, nil
}

func (s *Store) readTicketKeys(row *sql.Row) (*store.TicketKeySet, error) {
	var v []byte
	err := row.Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return store.OpenTicketKeySet(s.aead, v)
}

// TicketRecord implements store.Store.
func (s *Store) TicketRecord(ctx context.Context, clientID [32]byte) (handshake.TicketRecord, bool, error) {
	var r handshake.TicketRecord
	err := s.rQueryRow(ctx, `SELECT latest, retry FROM ticket_records WHERE client_id = ? AND expires > ?`,
		clientID[:], ms(s.opt.Now())).Scan(&r.Latest, &r.Retry)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// StartTicketRecord implements store.Store, as one request of the writer.
func (s *Store) StartTicketRecord(ctx context.Context, clientID [32]byte, expires time.Time) error {
	return s.do(ctx, &writeReq{apply: func(w *writeTx) error {
		_, err := w.exec(startTicketRecord, clientID[:], ms(expires))
		return err
	}})
}

// AdvanceTicketRecord implements store.Store: one conditional update by
// the one writer, so of two handshakes that read the same record one
// changes it.
func (s *Store) AdvanceTicketRecord(ctx context.Context, clientID [32]byte, from, to handshake.TicketRecord, expires time.Time) (bool, error) {
	var changed bool
	r := &writeReq{apply: func(w *writeTx) error {
		res, err := w.exec(advanceTicketRecord,
			to.Latest, to.Retry, ms(expires), clientID[:], from.Latest, from.Retry, ms(s.opt.Now()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		changed = n == 1
		return err
	}}
	if err := s.do(ctx, r); err != nil {
		return false, err
	}
	return changed, nil
}
