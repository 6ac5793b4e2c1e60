// Package pendingcache keeps the pending messages of the clients a node
// serves in memory, in front of a single-writer Store (sqlitestore,
// memstore), so that a delivery tick reads no database (DLV-050).
//
// A Store wraps an engine and passes every call through to it. For a client
// the core tracks (Track, while the client is connected to this node) it
// also holds the client's complete list of pending messages: read once from
// the engine on the first Pending after Track, then kept current through
// the engine's own write paths, in this order:
//   - Publish: the engine commits, and its onCommit (which a single-writer
//     engine runs in commit order, before any later Publish commits) adds
//     the committed messages to the lists of tracked recipients, before the
//     caller's onCommit is told. A message is in the list from the moment
//     anything is told about it.
//   - Ack: the engine stores the acknowledgements first; only once it
//     succeeded are the messages dropped. A failed Ack leaves them pending
//     here as there (DLV-021).
//   - Expire: expiry is the engine's clock's (DLV-040): a read skips every
//     message whose expiry is not after Options.Now, which must be the
//     engine's clock, and Expire drops them from memory.
//
// The engine stays the truth: nothing is written only here, a restart starts
// empty, and a client whose list would exceed Options.MaxPerClient is read
// from the engine as if it were not tracked. Untracked clients cost a map
// look-up per published message.
//
// The cache is only correct where every change to a tracked client's
// pending messages goes through this Store: one node with its embedded
// engine. A clustered engine (jsstore), where other nodes publish and
// acknowledge, must not be wrapped (docs/scale-out.md).
package pendingcache

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// Options configure a Store.
type Options struct {
	// Now is the engine's clock (DLV-040); nil: time.Now. It must be the
	// clock the engine compares expiry with.
	Now func() time.Time
	// MaxPerClient bounds one client's list; a client with more pending
	// messages is served by the engine. 0: 10000, the server's default
	// pending limit (API-028).
	MaxPerClient int
}

// Metrics are the Store's counters; all are monotonic.
type Metrics struct {
	Hits      atomic.Uint64 // reads answered from memory
	Misses    atomic.Uint64 // reads of tracked clients passed to the engine (loading, over the bound)
	Loads     atomic.Uint64 // lists read from the engine
	Overflows atomic.Uint64 // lists given up for exceeding MaxPerClient
}

// Store is the caching decorator. Its zero value is not usable; use New.
type Store struct {
	store.Store
	now func() time.Time
	max int
	M   Metrics

	mu       sync.Mutex // guards everything below; taken inside the engine's onCommit
	clients  map[[32]byte]*entry
	blobs    map[int64]*sharedBlob // broadcast payloads read from the engine, by the engine's blob ID
	lastBlob int64                 // blob IDs this Store gives committed broadcasts: -1, -2, …
}

var _ store.Store = (*Store)(nil)

type listState uint8

const (
	unloaded listState = iota // tracked; the next Pending reads the list
	loading                   // a read of the list is under way
	ready                     // msgs is the complete list
	overflow                  // more than MaxPerClient: the engine serves
)

type entry struct {
	refs  int // Track calls not yet matched by Untrack
	state listState
	msgs  []store.Message // ready: every pending message, ascending Seq; some may have expired since
	floor uint64          // ready: the highest ID the read of the list saw (see insert)
	// loading: what changed while the list was read
	added []store.Message
	acked []uint64
	// overflow: IDs acknowledged since, to decide when to try again
	ackedSince int
}

type sharedBlob struct {
	payload []byte
	refs    int
}

// New wraps engine. engine must run onCommit in commit order, with its
// write lock held (store.Store.Publish's single-writer engines).
func New(engine store.Store, opt Options) *Store {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxPerClient <= 0 {
		opt.MaxPerClient = 10000
	}
	return &Store{Store: engine, now: opt.Now, max: opt.MaxPerClient,
		clients: map[[32]byte]*entry{}, blobs: map[int64]*sharedBlob{}}
}

// Unwrap returns the engine, for a caller that needs an engine's own
// methods (a type assertion on the Store would not find them).
func (s *Store) Unwrap() store.Store { return s.Store }

// Track starts holding the pending list of a client (read on the next
// Pending). Calls nest: the list is dropped when every Track has had its
// Untrack.
func (s *Store) Track(clientID [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.clients[clientID]
	if e == nil {
		e = &entry{}
		s.clients[clientID] = e
	}
	e.refs++
}

// Untrack ends one Track.
func (s *Store) Untrack(clientID [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.clients[clientID]
	if e == nil {
		return
	}
	if e.refs--; e.refs <= 0 {
		s.release(e.msgs)
		delete(s.clients, clientID)
	}
}

// Publish passes req to the engine and, once it committed, adds the
// messages to the lists of tracked recipients before it calls onCommit.
func (s *Store) Publish(ctx context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	return s.Store.Publish(ctx, req, func(as []store.Assigned) {
		s.committed(req, as)
		if onCommit != nil {
			onCommit(as)
		}
	})
}

// committed adds what one publish stored. The engine returns one Assigned
// per recipient, in the order of the publications and their recipients; a
// result that does not line up with the request makes every recipient's
// list unknown (read again) rather than wrong.
func (s *Store) committed(req *store.PublishRequest, as []store.Assigned) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	n := 0
	for _, p := range req.Publications {
		n += len(p.To)
	}
	if n != len(as) {
		for _, a := range as {
			s.invalidate(a.ClientID)
		}
		return
	}
	k := 0
	committed := s.now() // the Created of the cached copies (OPS-044)
	for _, p := range req.Publications {
		var payload []byte // copied once per publication, if a recipient is tracked
		var blobID int64
		for _, to := range p.To {
			a := as[k]
			k++
			if a.ClientID != to {
				s.invalidate(a.ClientID)
				s.invalidate(to)
				continue
			}
			e := s.clients[to]
			if e == nil || e.state == unloaded {
				continue // the list's read will see it: the commit came first
			}
			if e.state == overflow {
				continue
			}
			if payload == nil {
				// The caller may reuse its buffer once Publish returns.
				payload = bytes.Clone(p.Payload)
				if payload == nil {
					payload = []byte{}
				}
				if len(p.To) > 1 {
					s.lastBlob--
					blobID = s.lastBlob
				}
			}
			m := store.Message{ClientID: to, Seq: a.Seq, BlobID: blobID, Payload: payload, Expires: a.Expires, Created: committed}
			if e.state == loading {
				e.added = append(e.added, m)
				continue
			}
			s.insert(e, m)
		}
	}
}

// insert adds m to a ready list in Seq order, once. A message at or below
// the floor that is not in the list was read and has left it since
// (acknowledged or expired): its onCommit came late, and it stays out. A
// single-writer engine assigns a client's IDs in commit order (DLV-001), so
// every message at or below the floor was committed before the read.
func (s *Store) insert(e *entry, m store.Message) {
	n := len(e.msgs)
	if m.Seq <= e.floor || (n > 0 && e.msgs[n-1].Seq >= m.Seq) {
		i, found := slices.BinarySearchFunc(e.msgs, m.Seq, cmpSeq)
		if found || m.Seq <= e.floor {
			return
		}
		if n+1 > s.max {
			s.overflow(e)
			return
		}
		e.msgs = slices.Insert(e.msgs, i, m)
		return
	}
	if n+1 > s.max {
		s.overflow(e)
		return
	}
	e.msgs = append(e.msgs, m)
}

func cmpSeq(m store.Message, seq uint64) int {
	switch {
	case m.Seq < seq:
		return -1
	case m.Seq > seq:
		return 1
	}
	return 0
}

func (s *Store) overflow(e *entry) {
	s.release(e.msgs)
	e.msgs, e.state, e.ackedSince = nil, overflow, 0
	s.M.Overflows.Add(1)
}

// invalidate forgets a client's list; it is read again on the next Pending.
func (s *Store) invalidate(id [32]byte) {
	e := s.clients[id]
	if e == nil {
		return
	}
	switch e.state {
	case ready, overflow:
		s.release(e.msgs)
		e.msgs, e.state = nil, unloaded
	case loading:
		e.added, e.acked = nil, nil
		e.state = unloaded // the read under way does not install its list
	}
}

// release drops the references of msgs to shared broadcast payloads.
func (s *Store) release(msgs []store.Message) {
	for i := range msgs {
		s.releaseOne(&msgs[i])
	}
}

func (s *Store) releaseOne(m *store.Message) {
	if m.BlobID > 0 {
		if b := s.blobs[m.BlobID]; b != nil {
			if b.refs--; b.refs <= 0 {
				delete(s.blobs, m.BlobID)
			}
		}
	}
}

// Pending implements store.Store. For a tracked client it answers from
// memory (reading the list first if needed); the payloads it returns are
// copies, as the engines' are.
func (s *Store) Pending(ctx context.Context, clientID [32]byte, after uint64, limit int) ([]store.Message, error) {
	msgs, shared, err := s.pending(ctx, nil, clientID, after, limit)
	if err != nil || !shared {
		return msgs, err
	}
	for i := range msgs {
		msgs[i].Payload = bytes.Clone(msgs[i].Payload)
	}
	return msgs, nil
}

// AppendPending appends to dst what Pending would return, and reports true,
// if the client's list is in memory; otherwise it returns dst and false and
// reads nothing. The payloads are shared with the cache and with other
// recipients of a broadcast: the caller must not modify them. BlobIDs of
// broadcasts are either the engine's (positive) or this Store's (negative):
// the same payload may come with two IDs, never two payloads with one.
func (s *Store) AppendPending(dst []store.Message, clientID [32]byte, after uint64, limit int) ([]store.Message, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.clients[clientID]
	if e == nil || e.state != ready {
		return dst, false
	}
	s.M.Hits.Add(1)
	return appendLive(dst, e.msgs, after, limit, now), true
}

// appendLive appends up to limit messages of list with Seq > after that
// have not expired at now (DLV-040).
func appendLive(dst, list []store.Message, after uint64, limit int, now time.Time) []store.Message {
	i, _ := slices.BinarySearchFunc(list, after+1, cmpSeq)
	for n := 0; i < len(list) && n < limit; i++ {
		if list[i].Expires.After(now) {
			dst = append(dst, list[i])
			n++
		}
	}
	return dst
}

// pending answers from memory, reading the list first if the client is
// tracked and its list is not (shared: the answer's payloads are the
// cache's), or from the engine (the engine's copies).
func (s *Store) pending(ctx context.Context, dst []store.Message, id [32]byte, after uint64, limit int) (msgs []store.Message, shared bool, err error) {
	now := s.now()
	s.mu.Lock()
	e := s.clients[id]
	if e != nil && e.state == ready {
		msgs = appendLive(dst, e.msgs, after, limit, now)
		s.mu.Unlock()
		s.M.Hits.Add(1)
		return msgs, true, nil
	}
	if e == nil || e.state != unloaded {
		s.mu.Unlock()
		if e != nil {
			s.M.Misses.Add(1)
		}
		msgs, err = s.Store.Pending(ctx, id, after, limit)
		return msgs, false, err
	}
	e.state = loading
	s.mu.Unlock()
	s.M.Loads.Add(1)
	if s.load(ctx, e, id) {
		return s.pending(ctx, dst, id, after, limit)
	}
	s.M.Misses.Add(1)
	msgs, err = s.Store.Pending(ctx, id, after, limit)
	return msgs, false, err
}

// load reads a client's complete list and installs it, merged with what
// was published and acknowledged meanwhile, and reports whether it did. A
// commit either happened before the read started (the read sees it; its
// onCommit may still come and is then a duplicate, dropped by ID) or its
// onCommit finds the entry loading and records it in added: none is lost.
// An acknowledgement stored meanwhile is in acked and removed.
func (s *Store) load(ctx context.Context, e *entry, id [32]byte) bool {
	list, err := s.Store.Pending(ctx, id, 0, s.max+1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[id] != e || e.state != loading {
		return false // untracked or invalidated meanwhile
	}
	added, acked := e.added, e.acked
	e.added, e.acked = nil, nil
	if err != nil {
		e.state = unloaded
		return false
	}
	if len(list) > s.max {
		s.overflow(e)
		return false
	}
	for i := range list {
		if m := &list[i]; m.BlobID > 0 {
			if b := s.blobs[m.BlobID]; b != nil {
				m.Payload = b.payload // one copy for every recipient
				b.refs++
			} else {
				s.blobs[m.BlobID] = &sharedBlob{payload: m.Payload, refs: 1}
			}
		}
	}
	e.msgs, e.state, e.floor = list, ready, 0
	if len(list) > 0 {
		e.floor = list[len(list)-1].Seq
	}
	for _, m := range added {
		if s.insert(e, m); e.state != ready {
			return false
		}
	}
	e.msgs = s.drop(e.msgs, acked)
	return true
}

// drop removes the messages with the given IDs from a list.
func (s *Store) drop(list []store.Message, seqs []uint64) []store.Message {
	for _, seq := range seqs {
		if i, found := slices.BinarySearchFunc(list, seq, cmpSeq); found {
			s.releaseOne(&list[i])
			list = slices.Delete(list, i, i+1)
		}
	}
	return list
}

// Ack implements store.Store: the engine first; the messages leave memory
// only once it stored the acknowledgements (DLV-021).
func (s *Store) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	n, err := s.Store.Ack(ctx, acks)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, seqs := range acks {
		e := s.clients[id]
		if e == nil {
			continue
		}
		switch e.state {
		case ready:
			e.msgs = s.drop(e.msgs, seqs)
		case loading:
			e.acked = append(e.acked, seqs...)
		case overflow:
			// Try the list again once about half the bound was
			// acknowledged.
			if e.ackedSince += len(seqs); e.ackedSince >= s.max/2 {
				e.state = unloaded
			}
		}
	}
	return n, nil
}

// Expire implements store.Store: the engine first, then the messages
// expired at now leave memory (reads skip them already).
func (s *Store) Expire(ctx context.Context, now time.Time) ([][32]byte, error) {
	changed, err := s.Store.Expire(ctx, now)
	if err != nil {
		return changed, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.clients {
		if e.state != ready {
			continue
		}
		kept := e.msgs[:0]
		for _, m := range e.msgs {
			if m.Expires.After(now) {
				kept = append(kept, m)
			} else {
				s.releaseOne(&m)
			}
		}
		clear(e.msgs[len(kept):])
		e.msgs = kept
	}
	return changed, nil
}

// Stats reports how many clients are tracked and how many messages their
// lists hold.
func (s *Store) Stats() (clients, messages int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.clients {
		messages += len(e.msgs)
	}
	return len(s.clients), messages
}

// Backlog implements store.Backlogger when the engine does (OPS-045): the
// engine holds every pending message, the cache only some; otherwise it
// fails with errors.ErrUnsupported.
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	if b, ok := s.Store.(store.Backlogger); ok {
		return b.Backlog(ctx)
	}
	return 0, time.Time{}, errors.ErrUnsupported
}

// RecordDevice implements store.Directory when the engine does
// (STORE-020); otherwise it fails with errors.ErrUnsupported. The cache
// holds no device records.
func (s *Store) RecordDevice(ctx context.Context, d store.UserDevice, clientID [32]byte, seen time.Time) error {
	if dir, ok := s.Store.(store.Directory); ok {
		return dir.RecordDevice(ctx, d, clientID, seen)
	}
	return errors.ErrUnsupported
}

// Devices implements store.Directory when the engine does (STORE-021);
// otherwise it fails with errors.ErrUnsupported.
func (s *Store) Devices(ctx context.Context, user string) ([]store.Device, error) {
	if dir, ok := s.Store.(store.Directory); ok {
		return dir.Devices(ctx, user)
	}
	return nil, errors.ErrUnsupported
}
