package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

var _ store.Outbox = (*Store)(nil)

// outbox holds the delivery events for webhooks (STORE-030); guarded by
// Store.mu, recorded by finish with the state change it reports.
type outbox struct {
	filter func(publisher string) bool
	events []store.Event // ascending ID
	last   uint64
}

// record keeps the event of m reaching state at now, if its publisher
// has a webhook. An expiry is dated by the message's expiry time.
func (o *outbox) record(m *message, state store.MessageState, now time.Time) {
	if o.filter == nil || !o.filter(m.publisher) {
		return
	}
	at := now
	if state == store.Expired {
		at = m.expires
	}
	o.last++
	o.events = append(o.events, store.Event{ID: o.last, Publisher: m.publisher, State: state, Handle: m.handle,
		ClientID: m.clientID, Seq: m.seq, Time: at.Truncate(time.Millisecond)})
}

// SetOutboxFilter implements store.Outbox.
func (s *Store) SetOutboxFilter(f func(publisher string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox.filter = f
}

// OutboxEvents implements store.Outbox.
func (s *Store) OutboxEvents(ctx context.Context, after uint64, limit int) ([]store.Event, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.outbox.events, after+1, func(e store.Event, id uint64) int { return compareSeq(e.ID, id) })
	out := s.outbox.events[i:]
	if len(out) > limit {
		out = out[:limit]
	}
	return slices.Clone(out), nil
}

// OutboxDelete implements store.Outbox.
func (s *Store) OutboxDelete(ctx context.Context, ids []uint64) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	drop := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		drop[id] = true
	}
	s.outbox.events = slices.DeleteFunc(s.outbox.events, func(e store.Event) bool { return drop[e.ID] })
	return nil
}

// OutboxLen implements store.Outbox.
func (s *Store) OutboxLen(ctx context.Context) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return len(s.outbox.events), nil
}
