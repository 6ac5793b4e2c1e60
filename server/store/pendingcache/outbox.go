package pendingcache

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealfeed/sealfeed/server/store"
)

// The outbox passes through to the engine (STORE-030): the events are
// recorded by the engine's own Ack and Expire, which this Store calls
// first, so the cache has nothing to keep. With an engine that is not a
// store.Outbox every call fails with errors.ErrUnsupported.

var _ store.Outbox = (*Store)(nil)

func (s *Store) outbox() (store.Outbox, error) {
	o, ok := s.Store.(store.Outbox)
	if !ok {
		return nil, fmt.Errorf("pendingcache: the engine keeps no webhook outbox: %w", errors.ErrUnsupported)
	}
	return o, nil
}

// SetOutboxFilter implements store.Outbox; with an engine that keeps no
// outbox it does nothing (no event is recorded).
func (s *Store) SetOutboxFilter(f func(publisher string) bool) {
	if o, err := s.outbox(); err == nil {
		o.SetOutboxFilter(f)
	}
}

// OutboxEvents implements store.Outbox.
func (s *Store) OutboxEvents(ctx context.Context, after uint64, limit int) ([]store.Event, error) {
	o, err := s.outbox()
	if err != nil {
		return nil, err
	}
	return o.OutboxEvents(ctx, after, limit)
}

// OutboxDelete implements store.Outbox.
func (s *Store) OutboxDelete(ctx context.Context, ids []uint64) error {
	o, err := s.outbox()
	if err != nil {
		return err
	}
	return o.OutboxDelete(ctx, ids)
}

// OutboxLen implements store.Outbox.
func (s *Store) OutboxLen(ctx context.Context) (int, error) {
	o, err := s.outbox()
	if err != nil {
		return 0, err
	}
	return o.OutboxLen(ctx)
}
