package jsstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealfeed/sealfeed/server/store"
)

// labelEpoch is the additional data of the sealed store epoch (ID-004).
const (
	labelEpoch = "sealfeed v1 storage epoch"
	keyEpoch   = "epoch"
)

// ensureEpoch creates the store epoch if the meta bucket has none; when
// nodes start together, the first create wins and the others read it.
func (s *Store) ensureEpoch(ctx context.Context) error {
	_, err := s.Epoch(ctx)
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	v, err := s.sealEpoch()
	if err != nil {
		return err
	}
	if _, err := s.meta.Create(ctx, keyEpoch, v); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("jsstore: store epoch: %w", err)
	}
	_, err = s.Epoch(ctx)
	return err
}

func (s *Store) sealEpoch() ([]byte, error) {
	var e [16]byte
	if _, err := rand.Read(e[:]); err != nil {
		return nil, err
	}
	return s.seal(e[:], []byte(labelEpoch))
}

// Epoch implements store.Store: read from the meta bucket on every call, so
// every node states the epoch of the data it serves. A value that does not
// open under the storage key is ErrStoredDataTampered.
func (s *Store) Epoch(ctx context.Context) ([16]byte, error) {
	var e [16]byte
	v, err := get(ctx, s.meta, keyEpoch)
	if err != nil {
		return e, err
	}
	p, err := s.open(v.Value(), []byte(labelEpoch))
	if err != nil || len(p) != len(e) {
		return e, fmt.Errorf("jsstore: store epoch: %w", store.ErrStoredDataTampered)
	}
	copy(e[:], p)
	return e, nil
}

// NewEpoch starts a new store epoch (ID-004), for a restore: clients start
// new message-ID windows (REPLAY-021) instead of dropping reassigned IDs
// as duplicates.
func (s *Store) NewEpoch(ctx context.Context) ([16]byte, error) {
	v, err := s.sealEpoch()
	if err != nil {
		return [16]byte{}, err
	}
	if _, err := s.meta.Put(ctx, keyEpoch, v); err != nil {
		return [16]byte{}, err
	}
	return s.Epoch(ctx)
}
