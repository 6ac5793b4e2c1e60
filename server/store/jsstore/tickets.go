package jsstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

const keyTicketKeys = "ticketkeys"

// attemptTimeout bounds one attempt of a retried JetStream request.
const attemptTimeout = 10 * time.Second

// openTicketBucket creates the bucket of ticket records (HS-046): one key
// per client ID; an entry lives at most MaxTicketLifetime plus a margin
// after its last write, longer than any ticket it accepts.
func (s *Store) openTicketBucket(ctx context.Context) error {
	var b jetstream.KeyValue
	err := retry(ctx, func(ctx context.Context) (err error) {
		b, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: s.opt.Prefix + "-tickets", Replicas: s.opt.Replicas,
			Storage: jetstream.FileStorage, History: 1, TTL: handshake.MaxTicketLifetime + time.Hour})
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: bucket %s-tickets: %w", s.opt.Prefix, err)
	}
	s.ticket = b
	return nil
}

// TicketKeys implements store.Store: the sealed set is a key of the meta
// bucket, created and rotated with compare-and-set, so nodes that rotate
// at once agree on one set (HS-045).
func (s *Store) TicketKeys(ctx context.Context, now time.Time, rotate time.Duration) (*handshake.TicketKeys, error) {
	for attempt := 0; attempt < 20; attempt++ {
		var set *store.TicketKeySet
		var rev uint64
		e, err := get(ctx, s.meta, keyTicketKeys)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return nil, err
		default:
			if set, err = store.OpenTicketKeySet(s.aead, e.Value()); err != nil {
				return nil, fmt.Errorf("jsstore: ticket keys: %w", err)
			}
			rev = e.Revision()
		}
		if !set.Due(now, rotate) {
			return set.Keys(), nil
		}
		next, err := set.Rotate(now)
		if err != nil {
			return nil, err
		}
		v, err := next.Seal(s.aead)
		if err != nil {
			return nil, err
		}
		err = retry(ctx, func(ctx context.Context) error {
			var err error
			if rev == 0 {
				_, err = s.meta.Create(ctx, keyTicketKeys, v)
			} else {
				_, err = s.meta.Update(ctx, keyTicketKeys, v, rev)
			}
			return err
		})
		if err == nil {
			return next.Keys(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !strings.Contains(err.Error(), "wrong last sequence") {
			return nil, err
		}
		// Another node rotated first: read its set.
	}
	return nil, errors.New("jsstore: ticket key rotation kept conflicting")
}

func encodeRecord(r handshake.TicketRecord, expires time.Time) []byte {
	b := binary.BigEndian.AppendUint64(nil, r.Latest)
	retry := byte(0)
	if r.Retry {
		retry = 1
	}
	b = append(b, retry)
	return binary.BigEndian.AppendUint64(b, uint64(expires.Unix()))
}

func decodeRecord(b []byte) (handshake.TicketRecord, time.Time, bool) {
	if len(b) != 17 || b[8] > 1 {
		return handshake.TicketRecord{}, time.Time{}, false
	}
	return handshake.TicketRecord{Latest: binary.BigEndian.Uint64(b), Retry: b[8] == 1}, time.Unix(int64(binary.BigEndian.Uint64(b[9:])), 0), true
}

// record reads the record of a client ID with its revision; found is false
// for none, an expired one or a damaged one.
func (s *Store) record(ctx context.Context, clientID [32]byte) (r handshake.TicketRecord, rev uint64, found bool, err error) {
	e, err := get(ctx, s.ticket, hex.EncodeToString(clientID[:]))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return r, 0, false, nil
	}
	if err != nil {
		return r, 0, false, err
	}
	r, exp, ok := decodeRecord(e.Value())
	return r, e.Revision(), ok && s.opt.Now().Before(exp), nil
}

// TicketRecord implements store.Store.
func (s *Store) TicketRecord(ctx context.Context, clientID [32]byte) (handshake.TicketRecord, bool, error) {
	r, _, ok, err := s.record(ctx, clientID)
	return r, ok, err
}

// StartTicketRecord implements store.Store.
func (s *Store) StartTicketRecord(ctx context.Context, clientID [32]byte, expires time.Time) error {
	return retry(ctx, func(ctx context.Context) error {
		_, err := s.ticket.Put(ctx, hex.EncodeToString(clientID[:]), encodeRecord(handshake.TicketRecord{Latest: 1}, expires))
		return err
	})
}

// AdvanceTicketRecord implements store.Store with compare-and-set on the
// entry's revision: of two handshakes that read the same record, one
// update succeeds.
func (s *Store) AdvanceTicketRecord(ctx context.Context, clientID [32]byte, from, to handshake.TicketRecord, expires time.Time) (bool, error) {
	r, rev, ok, err := s.record(ctx, clientID)
	if err != nil || !ok || r != from {
		return false, err
	}
	err = retry(ctx, func(ctx context.Context) error {
		_, err := s.ticket.Update(ctx, hex.EncodeToString(clientID[:]), encodeRecord(to, expires), rev)
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence") {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// retry runs op until it succeeds, fails with an error that is not
// transient, or ctx ends: the handshake reads the epoch, the ticket keys
// and the records, and a JetStream leader election must not fail it.
//
// Each attempt has its own deadline (attemptTimeout, within ctx's): a
// request lost while a leader is being elected is sent again, instead of
// one attempt waiting out the caller's whole budget (a node's start-up
// failed that way when the first bucket's creation went unanswered).
func retry(ctx context.Context, op func(ctx context.Context) error) error {
	wait := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := op(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// get is KeyValue.Get with retry of transient failures.
func get(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	var e jetstream.KeyValueEntry
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		e, err = kv.Get(ctx, key)
		return err
	})
	return e, err
}
