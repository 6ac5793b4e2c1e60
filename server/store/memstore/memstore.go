// Package memstore is a Store held in memory, for tests of the server
// core and of anything above it that needs a real store without a disk.
//
// It is NOT durable: everything is lost when the process ends or Close
// is called, so it breaks API-017 and API-025 and must never serve
// publishers. Otherwise it keeps the Store contract as sqlitestore does
// (storetest runs both through the same suite): dense per-client message
// IDs never reused (DLV-001, DLV-007), atomic publishes with idempotency
// keys and the pending limit (API-023, API-026 … API-028), expiry that is
// final (API-030, API-032), status tombstones, single-use nonces
// (API-016), presence pairs (API-040), batch sequences that never repeat
// (BATCH-020), one store epoch (ID-004), and the ticket key set and
// records with their concurrency guarantees (HS-045 … HS-047). One mutex
// serialises every call, so onCommit runs before any later Publish
// commits; it runs with the mutex held and must not call the Store (as
// with sqlitestore).
//
// Payloads are kept in plain form: there is no storage to protect, so the
// sealed records of STORE-001 … STORE-004 have nothing to do here.
package memstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// TombstoneRetention is how long acknowledged and expired messages keep
	// their status; 0: 24 h.
	TombstoneRetention time.Duration
	// IdempotencyRetention is how long an Idempotency-Key is remembered;
	// 0: 24 h.
	IdempotencyRetention time.Duration
	// Now is the store's clock; nil: time.Now.
	Now func() time.Time
}

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("memstore: closed")

// Store is the in-memory Store.
type Store struct {
	opt Options

	mu       sync.Mutex // guards everything below, and runs onCommit
	closed   bool
	clients  map[[32]byte]*client
	handles  map[string]*message
	blobs    map[int64]*blob
	lastBlob int64 // blob IDs are never reused (STORE-003)
	idem     map[idemKey]*idemRecord
	nonces   map[nonceKey]time.Time
	pubTo    map[pubToKey]time.Time
	batch    map[[32]byte]uint64
	epoch    [16]byte
	tickets  *store.TicketKeySet
	records  map[[32]byte]ticketRecord
	devices  map[string]map[string]store.Device // user -> device key -> entry (directory.go)
	outbox   outbox                             // delivery events for webhooks (outbox.go)
}

var _ store.Store = (*Store)(nil)

type client struct {
	lastSeq uint64
	pending int        // messages in state Pending, expired or not (the limit of API-028 counts them until Expire)
	msgs    []*message // every message with a status, in Seq order
}

type message struct {
	handle    string
	clientID  [32]byte
	seq       uint64
	blob      *blob // nil: payload holds the message's own payload
	payload   []byte
	state     store.MessageState
	publisher string
	created   time.Time
	expires   time.Time
	changed   time.Time // when it left Pending
}

type blob struct {
	id      int64
	payload []byte
	refs    int
}

type idemKey struct{ publisher, key string }

type idemRecord struct {
	hash     [32]byte
	assigned []store.Assigned
	expires  time.Time
}

type nonceKey struct{ keyID, nonce string }

type pubToKey struct {
	publisher string
	clientID  [32]byte
}

type ticketRecord struct {
	r       handshake.TicketRecord
	expires time.Time
}

// New returns an empty Store with a new random store epoch.
func New(opt Options) (*Store, error) {
	if opt.TombstoneRetention == 0 {
		opt.TombstoneRetention = 24 * time.Hour
	}
	if opt.IdempotencyRetention == 0 {
		opt.IdempotencyRetention = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{
		opt:     opt,
		clients: map[[32]byte]*client{},
		handles: map[string]*message{},
		blobs:   map[int64]*blob{},
		idem:    map[idemKey]*idemRecord{},
		nonces:  map[nonceKey]time.Time{},
		pubTo:   map[pubToKey]time.Time{},
		batch:   map[[32]byte]uint64{},
		records: map[[32]byte]ticketRecord{},
		devices: map[string]map[string]store.Device{},
	}
	if _, err := rand.Read(s.epoch[:]); err != nil {
		return nil, err
	}
	return s, nil
}

// lock takes the mutex and reports ErrClosed after Close, or the context's
// error if it is done; on error the mutex is not held.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Close drops everything; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.clients, s.handles, s.blobs, s.idem, s.nonces, s.pubTo, s.records = nil, nil, nil, nil, nil, nil, nil
	s.tickets = nil
	return nil
}

func newHandle() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Publish implements store.Store: every check is made before anything is
// changed, so a request is stored whole or not at all (API-023).
func (s *Store) Publish(ctx context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	if err := s.lock(ctx); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	now := s.opt.Now()
	if n := req.Nonce; n != nil { // STORE-016: first, as the verifier checks it
		k := nonceKey{n.KeyID, n.Nonce}
		if exp, ok := s.nonces[k]; ok && exp.After(now) {
			return nil, false, store.ErrReplayedNonce
		}
		s.nonces[k] = n.Expires
	}
	ik := idemKey{req.Publisher, req.IdempotencyKey}
	if req.IdempotencyKey != "" {
		if rec := s.idem[ik]; rec != nil && rec.expires.After(now) {
			if rec.hash != req.RequestHash {
				return nil, false, store.ErrIdempotencyReused
			}
			return slices.Clone(rec.assigned), true, nil
		}
	}
	if req.MaxPending > 0 {
		adds := map[[32]byte]int{}
		for _, p := range req.Publications {
			for _, to := range p.To {
				adds[to]++
				have := 0
				if c := s.clients[to]; c != nil {
					have = c.pending
				}
				if have+adds[to] > req.MaxPending {
					return nil, false, fmt.Errorf("%w: client %x has %d", store.ErrTooManyPending, to[:4], have+adds[to]-1)
				}
			}
		}
	}
	// Handles first: the only step that can fail once checks passed.
	n := 0
	for _, p := range req.Publications {
		n += len(p.To)
	}
	hs := make([]string, 0, n)
	for len(hs) < n {
		h, err := newHandle()
		if err != nil {
			return nil, false, err
		}
		if s.handles[h] == nil && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}

	out := make([]store.Assigned, 0, n)
	for _, p := range req.Publications {
		exp := now.Add(p.TTL)
		var b *blob
		if len(p.To) > 1 {
			s.lastBlob++
			b = &blob{id: s.lastBlob, payload: bytes.Clone(p.Payload), refs: len(p.To)}
			s.blobs[b.id] = b
		}
		for _, to := range p.To {
			c := s.clients[to]
			if c == nil {
				c = &client{}
				s.clients[to] = c
			}
			c.lastSeq++
			c.pending++
			m := &message{handle: hs[len(out)], clientID: to, seq: c.lastSeq, blob: b, state: store.Pending,
				publisher: req.Publisher, created: now, expires: exp}
			if b == nil {
				m.payload = bytes.Clone(p.Payload)
			}
			c.msgs = append(c.msgs, m)
			s.handles[m.handle] = m
			pk := pubToKey{req.Publisher, to}
			if until := now.Add(store.PresenceRetention); until.After(s.pubTo[pk]) {
				s.pubTo[pk] = until
			}
			out = append(out, store.Assigned{Handle: m.handle, ClientID: to, Seq: m.seq, Expires: exp})
		}
	}
	store.Annotate(req.Publications, out)
	if req.IdempotencyKey != "" {
		s.idem[ik] = &idemRecord{hash: req.RequestHash, assigned: slices.Clone(out), expires: now.Add(s.opt.IdempotencyRetention)}
	}
	if onCommit != nil {
		onCommit(slices.Clone(out))
	}
	return out, false, nil
}

// Pending implements store.Store. The payloads returned are copies.
func (s *Store) Pending(ctx context.Context, clientID [32]byte, after uint64, limit int) ([]store.Message, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.clients[clientID]
	if c == nil {
		return nil, nil
	}
	now := s.opt.Now()
	i, _ := slices.BinarySearchFunc(c.msgs, after+1, func(m *message, seq uint64) int { return compareSeq(m.seq, seq) })
	var out []store.Message
	for ; i < len(c.msgs) && len(out) < limit; i++ {
		m := c.msgs[i]
		if m.state != store.Pending || !m.expires.After(now) {
			continue
		}
		msg := store.Message{ClientID: clientID, Seq: m.seq, Expires: m.expires, Created: m.created, Payload: bytes.Clone(m.payload)}
		if m.blob != nil {
			msg.BlobID, msg.Payload = m.blob.id, bytes.Clone(m.blob.payload)
		}
		out = append(out, msg)
	}
	return out, nil
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// find returns a client's message by ID, or nil.
func (c *client) find(seq uint64) *message {
	i, ok := slices.BinarySearchFunc(c.msgs, seq, func(m *message, seq uint64) int { return compareSeq(m.seq, seq) })
	if !ok {
		return nil
	}
	return c.msgs[i]
}

// finish moves a pending message to state and releases its payload.
func (s *Store) finish(c *client, m *message, state store.MessageState, now time.Time) {
	m.state, m.changed, m.payload = state, now, nil
	c.pending--
	s.outbox.record(m, state, now) // STORE-030: under the same lock, with the change
	if b := m.blob; b != nil {
		m.blob = nil
		if b.refs--; b.refs <= 0 {
			b.payload = nil
			delete(s.blobs, b.id)
		}
	}
}

// Ack implements store.Store. An acknowledgement after the TTL leaves the
// message expired (API-032).
func (s *Store) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.opt.Now()
	n := 0
	for id, seqs := range acks {
		c := s.clients[id]
		if c == nil {
			continue
		}
		for _, seq := range seqs {
			if m := c.find(seq); m != nil && m.state == store.Pending && m.expires.After(now) {
				s.finish(c, m, store.Acknowledged, now)
				n++
			}
		}
	}
	return n, nil
}

// Status implements store.Store.
func (s *Store) Status(ctx context.Context, handle string) (*store.Status, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	m := s.handles[handle]
	if m == nil {
		return nil, store.ErrNotFound
	}
	st := &store.Status{Handle: handle, ClientID: m.clientID, Seq: m.seq, State: m.state, Publisher: m.publisher,
		Created: m.created, Expires: m.expires}
	if st.State == store.Pending && !m.expires.After(s.opt.Now()) {
		st.State = store.Expired
	}
	return st, nil
}

// PendingCount implements store.Store: pending messages not past their TTL.
func (s *Store) PendingCount(ctx context.Context, clientID [32]byte) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	c := s.clients[clientID]
	if c == nil {
		return 0, nil
	}
	now := s.opt.Now()
	n := 0
	for _, m := range c.msgs {
		if m.state == store.Pending && m.expires.After(now) {
			n++
		}
	}
	return n, nil
}

// Expire implements store.Store.
func (s *Store) Expire(ctx context.Context, now time.Time) ([][32]byte, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var changed [][32]byte
	cutoff := now.Add(-s.opt.TombstoneRetention)
	for id, c := range s.clients {
		expired := false
		kept := c.msgs[:0]
		for _, m := range c.msgs {
			if m.state == store.Pending && !m.expires.After(now) {
				s.finish(c, m, store.Expired, now)
				expired = true
			}
			if m.state != store.Pending && !m.changed.After(cutoff) {
				delete(s.handles, m.handle) // the tombstone's retention is over
				continue
			}
			kept = append(kept, m)
		}
		clear(c.msgs[len(kept):])
		c.msgs = kept
		if expired {
			changed = append(changed, id)
		}
		// The client stays, with lastSeq: IDs are never reused (DLV-001).
	}
	s.expireDevices(now)
	for k, r := range s.idem {
		if !r.expires.After(now) {
			delete(s.idem, k)
		}
	}
	for k, exp := range s.nonces {
		if !exp.After(now) {
			delete(s.nonces, k)
		}
	}
	for k, exp := range s.pubTo {
		if !exp.After(now) {
			delete(s.pubTo, k)
		}
	}
	for k, r := range s.records {
		if !r.expires.After(now) {
			delete(s.records, k)
		}
	}
	return changed, nil
}

// Seen implements store.Store and httpsig.NonceStore.
func (s *Store) Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	k := nonceKey{keyID, nonce}
	if exp, ok := s.nonces[k]; ok && exp.After(s.opt.Now()) {
		return true, nil
	}
	s.nonces[k] = expires
	return false, nil
}

// Ready implements store.Store: a memory store is ready until Close.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// PublishedTo implements store.Store.
func (s *Store) PublishedTo(ctx context.Context, publisher string, clientID [32]byte) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	return s.pubTo[pubToKey{publisher, clientID}].After(s.opt.Now()), nil
}

// ReserveBatchSeqs implements store.Store. The numbers never repeat while
// the Store lives; a new Store starts again at 1 (not durable).
func (s *Store) ReserveBatchSeqs(ctx context.Context, signer [32]byte, n uint64) (uint64, error) {
	if n == 0 {
		return 0, errors.New("memstore: reserve at least one sequence number")
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	s.batch[signer] += n
	return s.batch[signer] - n + 1, nil
}

// Epoch implements store.Store.
func (s *Store) Epoch(ctx context.Context) ([16]byte, error) {
	if err := s.lock(ctx); err != nil {
		return [16]byte{}, err
	}
	defer s.mu.Unlock()
	return s.epoch, nil
}

// NewEpoch starts a new store epoch (ID-004), as a restore does.
func (s *Store) NewEpoch(ctx context.Context) ([16]byte, error) {
	var e [16]byte
	if _, err := rand.Read(e[:]); err != nil {
		return e, err
	}
	if err := s.lock(ctx); err != nil {
		return e, err
	}
	defer s.mu.Unlock()
	s.epoch = e
	return e, nil
}

// TicketKeys implements store.Store: created on first use, rotated under
// the mutex, so concurrent callers see one rotation (HS-045).
func (s *Store) TicketKeys(ctx context.Context, now time.Time, rotate time.Duration) (*handshake.TicketKeys, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if s.tickets.Due(now, rotate) {
		next, err := s.tickets.Rotate(now)
		if err != nil {
			return nil, err
		}
		s.tickets = next
	}
	return s.tickets.Keys(), nil
}

// TicketRecord implements store.Store.
func (s *Store) TicketRecord(ctx context.Context, clientID [32]byte) (handshake.TicketRecord, bool, error) {
	if err := s.lock(ctx); err != nil {
		return handshake.TicketRecord{}, false, err
	}
	defer s.mu.Unlock()
	r, ok := s.records[clientID]
	if !ok || !r.expires.After(s.opt.Now()) {
		return handshake.TicketRecord{}, false, nil
	}
	return r.r, true, nil
}

// StartTicketRecord implements store.Store.
func (s *Store) StartTicketRecord(ctx context.Context, clientID [32]byte, expires time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.records[clientID] = ticketRecord{r: handshake.TicketRecord{Latest: 1}, expires: expires}
	return nil
}

// AdvanceTicketRecord implements store.Store: compare and set under the
// mutex, so of concurrent advances from one record one succeeds (HS-047).
func (s *Store) AdvanceTicketRecord(ctx context.Context, clientID [32]byte, from, to handshake.TicketRecord, expires time.Time) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	r, ok := s.records[clientID]
	if !ok || !r.expires.After(s.opt.Now()) || r.r != from {
		return false, nil
	}
	s.records[clientID] = ticketRecord{r: to, expires: expires}
	return true, nil
}
