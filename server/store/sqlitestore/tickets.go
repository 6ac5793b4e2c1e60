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
// rotated, under the write lock, when the current key is older than
// rotate (HS-045).
func (s *Store) TicketKeys(ctx context.Context, now time.Time, rotate time.Duration) (*handshake.TicketKeys, error) {
	set, err := s.readTicketKeys(ctx, s.r)
	if err != nil || (set != nil && !set.Due(now, rotate)) {
		return set.Keys(), err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if set, err = s.readTicketKeys(ctx, s.w); err != nil {
		return nil, err
	}
	if set != nil && !set.Due(now, rotate) {
		return set.Keys(), nil // another caller rotated first
	}
	next, err := set.Rotate(now)
	if err != nil {
		return nil, err
	}
	v, err := next.Seal(s.aead)
	if err != nil {
		return nil, err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('ticket_keys', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, v); err != nil {
		return nil, err
	}
	return next.Keys(), nil
}

func (s *Store) readTicketKeys(ctx context.Context, db *sql.DB) (*store.TicketKeySet, error) {
	var v []byte
	err := db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'ticket_keys'`).Scan(&v)
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

// StartTicketRecord implements store.Store.
func (s *Store) StartTicketRecord(ctx context.Context, clientID [32]byte, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.ExecContext(ctx, `INSERT INTO ticket_records (client_id, latest, retry, expires) VALUES (?, 1, 0, ?)
		ON CONFLICT (client_id) DO UPDATE SET latest = 1, retry = 0, expires = excluded.expires`, clientID[:], ms(expires))
	return err
}

// AdvanceTicketRecord implements store.Store: one conditional update, so
// of two handshakes that read the same record one changes it.
func (s *Store) AdvanceTicketRecord(ctx context.Context, clientID [32]byte, from, to handshake.TicketRecord, expires time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, `UPDATE ticket_records SET latest = ?, retry = ?, expires = ?
		WHERE client_id = ? AND latest = ? AND retry = ? AND expires > ?`,
		to.Latest, to.Retry, ms(expires), clientID[:], from.Latest, from.Retry, ms(s.opt.Now()))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// expireTicketRecords drops the records of client IDs whose tickets have
// all expired.
func (s *Store) expireTicketRecords(tx *sql.Tx, now time.Time) error {
	_, err := tx.Exec(`DELETE FROM ticket_records WHERE expires <= ?`, ms(now))
	return err
}
