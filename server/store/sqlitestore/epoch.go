package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/server/store"
)

// labelEpoch is the additional data of the sealed store epoch (ID-004).
const labelEpoch = "sealfeed v1 storage epoch"

// ensureEpoch creates the store epoch of a store that has none: a new
// store, or one from before epochs. An existing epoch is left as it is.
func (s *Store) ensureEpoch() error {
	var n int
	if err := s.w.QueryRow(`SELECT count(*) FROM meta WHERE k = 'epoch'`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		_, err := s.Epoch(context.Background())
		return err
	}
	_, err := s.writeEpoch(context.Background())
	return err
}

// Epoch implements store.Store: the epoch is read and opened on every
// call, so a node states the epoch of the data it serves. A sealed value
// that does not open under the storage key is ErrStoredDataTampered.
func (s *Store) Epoch(ctx context.Context) ([16]byte, error) {
	var e [16]byte
	var v []byte
	err := s.rQueryRow(ctx, `SELECT v FROM meta WHERE k = 'epoch'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sqlitestore: no store epoch: %w", store.ErrStoredDataTampered)
	}
	if err != nil {
		return e, err
	}
	if len(v) < chacha20poly1305.NonceSizeX {
		return e, fmt.Errorf("sqlitestore: store epoch: %w", store.ErrStoredDataTampered)
	}
	p, err := s.open(v[:chacha20poly1305.NonceSizeX], v[chacha20poly1305.NonceSizeX:], []byte(labelEpoch))
	if err != nil || len(p) != len(e) {
		return e, fmt.Errorf("sqlitestore: store epoch: %w", store.ErrStoredDataTampered)
	}
	copy(e[:], p)
	return e, nil
}

// NewEpoch starts a new store epoch (ID-004): a restore calls it after
// putting the data back, so clients start new message-ID windows
// (REPLAY-021) instead of dropping reassigned IDs as duplicates.
func (s *Store) NewEpoch(ctx context.Context) ([16]byte, error) {
	return s.writeEpoch(ctx)
}

// writeEpoch seals a new random epoch and stores it, as one request of
// the writer.
func (s *Store) writeEpoch(ctx context.Context) ([16]byte, error) {
	var e [16]byte
	if _, err := rand.Read(e[:]); err != nil {
		return e, err
	}
	nonce, data, err := s.seal(e[:], []byte(labelEpoch))
	if err != nil {
		return e, err
	}
	err = s.do(ctx, &writeReq{apply: func(w *writeTx) error {
		_, err := w.exec(writeMeta, "epoch", append(nonce, data...))
		return err
	}})
	return e, err
}
