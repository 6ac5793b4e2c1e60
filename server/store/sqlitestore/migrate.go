package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// migrate brings the database on the writer's connection to DataFormat,
// in one transaction: a database of a later format is refused, a new one
// gets the schema, and one of data format 1 (messages keyed by client and
// ID, with a random handle each; the format of every build before 2, whose
// live databases carry no stamp) is rewritten in the layout of format 2
// (STORE-012, STORE-015). Its rows keep their sealed records, whose
// additional data names neither row ID nor handle, and their handles, kept
// in legacy_handle so that Status still finds them; its clients' last
// message IDs move to client_seqs.
func migrate(w *sql.DB) error {
	ctx := context.Background()
	var format int
	if err := w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&format); err != nil {
		return err
	}
	if format > DataFormat {
		return fmt.Errorf("data format %d; this build reads up to %d (run a build that reads it, or restore a backup made by this one)", format, DataFormat)
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v1 int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'handle'`).Scan(&v1); err != nil {
		return err
	}
	if v1 > 0 {
		// The old indexes go first: the new ones take their names.
		for _, q := range []string{
			`DROP INDEX IF EXISTS messages_handle`,
			`DROP INDEX IF EXISTS messages_pending_expiry`,
			`DROP INDEX IF EXISTS messages_tombstones`,
			`ALTER TABLE messages RENAME TO messages_format1`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrating data format 1: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	if v1 > 0 {
		for _, q := range []string{
			// Row IDs in the order the messages were stored.
			`INSERT INTO messages (client_id, seq, blob_id, nonce, data, state, publisher, created, expires, changed, legacy_handle)
				SELECT client_id, seq, blob_id, nonce, data, state, publisher, created, expires, changed, handle
				FROM messages_format1 ORDER BY created, client_id, seq`,
			`INSERT INTO client_seqs (client_id, last_seq) SELECT client_id, last_seq FROM clients WHERE true
				ON CONFLICT (client_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`,
			`DROP TABLE messages_format1`,
			`DROP TABLE clients`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrating data format 1: %w", err)
			}
		}
	}
	if format != DataFormat {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, DataFormat)); err != nil {
			return err
		}
	}
	return tx.Commit()
}
