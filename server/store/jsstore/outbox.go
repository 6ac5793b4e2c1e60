package jsstore

// The webhook outbox of a cluster (STORE-032 … STORE-036): a work-queue
// stream that every node shares.
//
//   - <prefix>.webhook.event holds the events. An acknowledgement publishes
//     its event before it writes the status record and deletes the message
//     (STORE-032), with a Nats-Msg-Id derived from (client ID, message ID,
//     state), so a node that crashes between the two leaves a pending
//     message whose next acknowledgement publishes the same event again,
//     and JetStream's duplicate window drops it: at least once, never lost.
//   - <prefix>.webhook.watch holds one record per message of a publisher
//     with a webhook, written when the message is stored. Messages expire by
//     JetStream's TTL, which says nothing when it removes one, so the expiry
//     sweep (Expire) reads the records whose message's TTL passed by the
//     store's clock and publishes an `expired` event for each message that
//     was not acknowledged (STORE-033).
//   - One durable pull consumer on the event subject, bound by every node's
//     dispatcher, hands each event to one node at a time (STORE-034); the
//     node acknowledges it once its batch was answered 2xx or dropped, and a
//     node that dies holding events lets their claim lapse (AckWait), after
//     which the consumer hands them to another node.
//
// A work queue rather than a limits stream with a consumer: an acknowledged
// event is removed by the acknowledgement itself, so the stream's message
// count is the outbox's length and nothing else has to trim it; the
// stream allows no second consumer on the event subject, which is what
// keeps two dispatchers from sending the same event at once.
//
// The events are not encrypted: they hold a message's handle, client ID,
// ID and publisher, which the message stream's headers hold in the clear
// already; never a payload.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealfeed/sealfeed/server/store"
)

var _ store.OutboxClaimer = (*Store)(nil)

const (
	// DefaultClaimTTL is how long an event handed to a node stays its own
	// without a renewal: the consumer's AckWait (STORE-034).
	DefaultClaimTTL = 30 * time.Second
	// expirySlack: the sweep sends an `expired` event only once a message
	// expired by this much on the store's clock, so an acknowledgement that
	// passed its own expiry check just before has written its status
	// record by then (STORE-033).
	expirySlack = 500 * time.Millisecond
	// maxClaimed bounds the events the consumer hands out and holds
	// unacknowledged, across the nodes.
	maxClaimed = 100_000

	hWatchSeq = "Sf-Seq"
)

// outbox is the Store's part for webhooks.
type outbox struct {
	stream   jetstream.Stream
	consumer jetstream.Consumer
	events   string // subject of the events
	watches  string // subject of the expiry watch records
	filter   atomic.Pointer[func(publisher string) bool]

	mu      sync.Mutex
	claimed map[uint64]jetstream.Msg // events this node was handed and holds

	// crashBeforeAck, set by tests only, is called after an
	// acknowledgement's event was published and before its status record
	// and deletion: an error stands for the node dying there.
	crashBeforeAck func() error
}

func (s *Store) openOutbox(ctx context.Context) error {
	o := &s.ob
	o.events, o.watches = s.opt.Prefix+".webhook.event", s.opt.Prefix+".webhook.watch"
	o.claimed = map[uint64]jetstream.Msg{}
	name := strings.ToUpper(s.opt.Prefix) + "_WEBHOOK"
	err := retry(ctx, func(ctx context.Context) (err error) {
		o.stream, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{o.events, o.watches}, Storage: jetstream.FileStorage,
			Retention: jetstream.WorkQueuePolicy, Replicas: s.opt.Replicas, Duplicates: s.opt.Retention,
			Description: "SealFeed webhook events (STORE-032) and expiry watch records (STORE-033)",
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: stream %s: %w", name, err)
	}
	err = retry(ctx, func(ctx context.Context) (err error) {
		o.consumer, err = o.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: "webhook", FilterSubject: o.events, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: s.opt.ClaimTTL, MaxDeliver: -1, MaxAckPending: maxClaimed,
			Description: "every node's webhook dispatcher: one node holds an event at a time (STORE-034)",
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: consumer of %s: %w", name, err)
	}
	return nil
}

// readyOutbox is Ready's check of the webhook stream: it answers with a
// leader (when replicated).
func (s *Store) readyOutbox(ctx context.Context) error {
	info, err := s.ob.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("jsstore: webhook stream: %w", err)
	}
	if s.opt.Replicas > 1 && (info.Cluster == nil || info.Cluster.Leader == "") {
		return errors.New("jsstore: webhook stream has no leader")
	}
	return nil
}

// SetOutboxFilter implements store.Outbox.
func (s *Store) SetOutboxFilter(f func(publisher string) bool) {
	if f == nil {
		s.ob.filter.Store(nil)
		return
	}
	s.ob.filter.Store(&f)
}

func (s *Store) hooked(publisher string) bool {
	f := s.ob.filter.Load()
	return f != nil && (*f)(publisher)
}

// eventRecord is an event in the stream.
type eventRecord struct {
	Publisher string `json:"publisher"`
	State     string `json:"state"` // "acknowledged" or "expired"
	Handle    string `json:"handle"`
	ClientID  string `json:"client_id"` // 64 hex digits
	Seq       uint64 `json:"seq"`
	Time      int64  `json:"time"` // Unix ms
}

var stateNames = map[store.MessageState]string{store.Acknowledged: "acknowledged", store.Expired: "expired"}

// eventMsgID is the Nats-Msg-Id of the event of message seq of client c
// reaching state: the same on every node and every attempt, so JetStream
// stores one event however often it is published (STORE-032).
func eventMsgID(c [32]byte, seq uint64, state store.MessageState) string {
	h := sha256.New()
	h.Write([]byte("sealfeed v1 webhook event\x00"))
	h.Write(c[:])
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	h.Write([]byte{byte(state)})
	return "event/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// recordEvent publishes the event of e, if its publisher has a webhook,
// and returns once the stream stored it (or had it already).
func (s *Store) recordEvent(ctx context.Context, e store.Event) error {
	if !s.hooked(e.Publisher) {
		return nil
	}
	b, _ := json.Marshal(eventRecord{Publisher: e.Publisher, State: stateNames[e.State], Handle: e.Handle,
		ClientID: hex.EncodeToString(e.ClientID[:]), Seq: e.Seq, Time: e.Time.UnixMilli()})
	_, err := s.publish(ctx, &nats.Msg{Subject: s.ob.events, Data: b}, jetstream.WithMsgID(eventMsgID(e.ClientID, e.Seq, e.State)))
	if err != nil {
		return fmt.Errorf("jsstore: webhook event: %w", err)
	}
	return nil
}

// decodeEvent reads an event stored at seq, strictly.
func decodeEvent(seq uint64, data []byte) (store.Event, error) {
	var r eventRecord
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	e := store.Event{ID: seq}
	if err := dec.Decode(&r); err != nil || dec.More() {
		return e, fmt.Errorf("jsstore: webhook event %d: %w", seq, store.ErrStoredDataTampered)
	}
	switch r.State {
	case "acknowledged":
		e.State = store.Acknowledged
	case "expired":
		e.State = store.Expired
	default:
		return e, fmt.Errorf("jsstore: webhook event %d: state %q: %w", seq, r.State, store.ErrStoredDataTampered)
	}
	if n, err := hex.Decode(e.ClientID[:], []byte(r.ClientID)); err != nil || n != 32 || len(r.ClientID) != 64 {
		return e, fmt.Errorf("jsstore: webhook event %d: client ID: %w", seq, store.ErrStoredDataTampered)
	}
	e.Publisher, e.Handle, e.Seq, e.Time = r.Publisher, r.Handle, r.Seq, time.UnixMilli(r.Time)
	return e, nil
}

// watch records that message a (of a publisher with a webhook) needs an
// `expired` event if it is not acknowledged before its TTL (STORE-033).
// Its Nats-Msg-Id is the message ID, so a retried publish writes one.
func (s *Store) watch(ctx context.Context, publisher string, a store.Assigned, created time.Time) error {
	h := nats.Header{hWatchSeq: {strconv.FormatUint(a.Seq, 10)}, hHandle: {a.Handle}, hPublisher: {publisher},
		hCreated: {strconv.FormatInt(created.UnixMilli(), 10)}, hExpires: {strconv.FormatInt(a.Expires.UnixMilli(), 10)}}
	m := &nats.Msg{Subject: s.ob.watches, Header: h, Data: a.ClientID[:]}
	if _, err := s.publish(ctx, m, jetstream.WithMsgID("watch/"+strconv.FormatUint(a.Seq, 10))); err != nil {
		return fmt.Errorf("jsstore: webhook expiry watch: %w", err)
	}
	return nil
}

// sweepExpired reads every watch record and settles those whose message
// is gone or expired by the store's clock (STORE-033): an acknowledged
// message (its status record exists) needs nothing more, an expired one
// gets its `expired` event; the record is deleted after either. Records
// of messages still pending stay. Every node sweeps; the event's
// Nats-Msg-Id makes their events one.
func (s *Store) sweepExpired(ctx context.Context) error {
	if s.ob.filter.Load() == nil {
		return nil // no webhook here: the records wait for a node with one
	}
	now, err := s.storeNow(ctx)
	if err != nil {
		return err
	}
	var after uint64
	for {
		r, err := s.ob.stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(s.ob.watches))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		after = r.Sequence
		if err := s.settleWatch(ctx, r, now); err != nil {
			return err
		}
	}
}

func (s *Store) settleWatch(ctx context.Context, r *jetstream.RawStreamMsg, now time.Time) error {
	seq, _ := strconv.ParseUint(r.Header.Get(hWatchSeq), 10, 64)
	created, _ := strconv.ParseInt(r.Header.Get(hCreated), 10, 64)
	exp, _ := strconv.ParseInt(r.Header.Get(hExpires), 10, 64)
	var c [32]byte
	if seq == 0 || len(r.Data) != 32 {
		return s.ob.stream.DeleteMsg(ctx, r.Sequence) // not a record of ours
	}
	copy(c[:], r.Data)
	// The record was written after its message, so its time stamp plus the
	// TTL is no earlier than the message's expiry by the store's clock.
	if now.Before(r.Time.Add(time.Duration(exp-created)*time.Millisecond + expirySlack)) {
		return nil
	}
	m, err := s.stream.GetMsg(ctx, seq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		// Acknowledged (deleted) or removed by its TTL.
	case err != nil:
		return err
	case !expiredAt(m, now.Add(-expirySlack)):
		return nil
	}
	if _, err := s.status.Get(ctx, strconv.FormatUint(seq, 10)); err == nil {
		return s.ob.stream.DeleteMsg(ctx, r.Sequence) // acknowledged: its event is the acknowledgement's
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	publisher := r.Header.Get(hPublisher)
	if s.hooked(publisher) {
		e := store.Event{Publisher: publisher, State: store.Expired, Handle: r.Header.Get(hHandle), ClientID: c,
			Seq: seq, Time: time.UnixMilli(exp)}
		if err := s.recordEvent(ctx, e); err != nil {
			return err
		}
	}
	if err := s.ob.stream.DeleteMsg(ctx, r.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	return nil
}

// OutboxEvents implements store.Outbox: the events in the stream after
// the cursor, in stream order, whether or not a node holds them.
func (s *Store) OutboxEvents(ctx context.Context, after uint64, limit int) ([]store.Event, error) {
	var out []store.Event
	for len(out) < limit {
		m, err := s.ob.stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(s.ob.events))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		after = m.Sequence
		e, err := decodeEvent(m.Sequence, m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ClaimEvents implements store.OutboxClaimer: up to limit events from the
// shared consumer, which hands each to one node at a time (STORE-034).
// It does not wait for events to arrive.
func (s *Store) ClaimEvents(ctx context.Context, limit int) ([]store.Event, error) {
	batch, err := s.ob.consumer.FetchNoWait(limit)
	if err != nil {
		return nil, err
	}
	var out []store.Event
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return out, err
		}
		e, err := decodeEvent(md.Sequence.Stream, m.Data())
		if err != nil {
			// Not ours to send: terminated, so no node is handed it again.
			m.Term()
			return out, err
		}
		s.ob.mu.Lock()
		s.ob.claimed[e.ID] = m
		s.ob.mu.Unlock()
		out = append(out, e)
	}
	return out, batch.Error()
}

// RenewClaims implements store.OutboxClaimer: the events named stay this
// node's for another ClaimTTL.
func (s *Store) RenewClaims(ctx context.Context, ids []uint64) error {
	var first error
	for _, id := range ids {
		s.ob.mu.Lock()
		m := s.ob.claimed[id]
		s.ob.mu.Unlock()
		if m == nil {
			continue
		}
		if err := m.InProgress(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ClaimTTL implements store.OutboxClaimer.
func (s *Store) ClaimTTL() time.Duration { return s.opt.ClaimTTL }

// OutboxDelete implements store.Outbox: an event this node holds is
// acknowledged to the consumer, which removes it from the work queue;
// any other event is deleted from the stream.
func (s *Store) OutboxDelete(ctx context.Context, ids []uint64) error {
	var first error
	for _, id := range ids {
		s.ob.mu.Lock()
		m := s.ob.claimed[id]
		delete(s.ob.claimed, id)
		s.ob.mu.Unlock()
		if m != nil {
			if err := m.DoubleAck(ctx); err == nil {
				continue
			}
		}
		// Only an event: an unknown ID, or one of a watch record, is
		// ignored (JetStream refuses to delete past the stream's end).
		err := retry(ctx, func(ctx context.Context) error {
			m, err := s.ob.stream.GetMsg(ctx, id)
			if err != nil || m.Subject != s.ob.events {
				return err
			}
			return s.ob.stream.DeleteMsg(ctx, id)
		})
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && first == nil {
			first = err
		}
	}
	return first
}

// OutboxLen implements store.Outbox: the events in the stream, held by a
// node or not.
func (s *Store) OutboxLen(ctx context.Context) (int, error) {
	info, err := s.ob.stream.Info(ctx, jetstream.WithSubjectFilter(s.ob.events))
	if err != nil {
		return 0, err
	}
	return int(info.State.Subjects[s.ob.events]), nil
}
