package store

import (
	"context"
	"time"
)

// Event is a delivery event kept for a publisher's webhook (spec/api.md,
// API-100): a message of the publisher was acknowledged or expired.
type Event struct {
	// ID is assigned by the store; it rises in commit order and is never
	// reused. It orders events and names them to OutboxDelete; it is not
	// sent (the message handle identifies an event: a message is
	// acknowledged or expires once, API-032).
	ID        uint64
	Publisher string       // key ID of the publisher that stored the message
	State     MessageState // Acknowledged or Expired
	Handle    string
	ClientID  [32]byte
	Seq       uint64
	// Time is when the message was acknowledged, or when it expired (its
	// expiry time), by the store's clock, to the millisecond.
	Time time.Time
}

// Outbox is a Store that records delivery events for webhooks (STORE-030):
// each acknowledgement or expiry of a message whose publisher the filter
// selects is recorded in the same commit as the state change, so a crash
// cannot lose an event between the change and its delivery; an event
// stays until OutboxDelete removes it.
type Outbox interface {
	// SetOutboxFilter says which publishers' messages get events; nil (the
	// default): none. f is called on the store's write path, for every
	// message that is acknowledged or expires, and must be cheap and safe
	// for concurrent use.
	SetOutboxFilter(f func(publisher string) bool)
	// OutboxEvents returns up to limit events with ID > after, in ID order.
	OutboxEvents(ctx context.Context, after uint64, limit int) ([]Event, error)
	// OutboxDelete removes events by ID; unknown IDs are ignored. A
	// deletion lost in a crash only sends the events again (at least once,
	// API-106).
	OutboxDelete(ctx context.Context, ids []uint64) error
	// OutboxLen reports how many events the outbox holds.
	OutboxLen(ctx context.Context) (int, error)
}

// OutboxClaimer is an Outbox that several nodes share (jsstore, STORE-034):
// instead of each node reading every event after a cursor, the store hands
// each event to one node at a time. A node's claim lapses ClaimTTL after it
// was handed the event or last renewed it, and a node that died holding
// events lets them go to another node that way. OutboxDelete settles the
// events this node holds.
type OutboxClaimer interface {
	Outbox
	// ClaimEvents returns up to limit events no other node holds, and
	// holds them for this one; it does not wait for events to arrive.
	ClaimEvents(ctx context.Context, limit int) ([]Event, error)
	// RenewClaims keeps the events named held for another ClaimTTL.
	RenewClaims(ctx context.Context, ids []uint64) error
	// ClaimTTL is how long a claim lasts without a renewal.
	ClaimTTL() time.Duration
}
