package handshake

import (
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Ticket is what an anonymous client keeps to resume (HS-040).
type Ticket struct {
	Bytes    []byte
	PSK      []byte
	ClientID [32]byte
	Expires  time.Time
}

// TicketKey is one key of a ticket key set (HS-045).
type TicketKey struct {
	ID  uint32
	Key [32]byte
}

// TicketKeys is the ticket key set of a deployment (HS-045): Current seals
// every new ticket; Current and Previous open tickets; any other key ID is
// a ticket the server cannot use (HS-040).
type TicketKeys struct {
	Current  TicketKey
	Previous *TicketKey // nil: none
}

func (k *TicketKeys) key(id uint32) (*TicketKey, bool) {
	switch {
	case k.Current.ID == id:
		return &k.Current, true
	case k.Previous != nil && k.Previous.ID == id:
		return k.Previous, true
	}
	return nil, false
}

// TicketRecord is what a server keeps per anonymous client ID (HS-046):
// Latest is the generation of the newest ticket issued, and Retry says
// that it was issued in answer to a ticket of generation Latest−1, which
// therefore may still be presented once (its holder may have crashed
// before saving the newer one).
type TicketRecord struct {
	Latest uint64
	Retry  bool
}

// Accepts reports whether a ticket of generation g may be accepted
// (HS-046): g == Latest, or g == Latest−1 while Retry is set.
func (r TicketRecord) Accepts(g uint64) bool {
	return g == r.Latest || (r.Retry && g != 0 && g+1 == r.Latest)
}

// After returns the record once a ticket of generation g (which Accepts)
// was accepted: a ticket of generation Latest+1 is issued, and only a
// ticket of generation Latest may then be presented again (HS-046).
func (r TicketRecord) After(g uint64) TicketRecord {
	return TicketRecord{Latest: r.Latest + 1, Retry: g == r.Latest}
}

// TicketGenerations keeps the TicketRecord of every anonymous client ID of
// a deployment (HS-046), shared by all of its nodes. Errors abort the
// handshake with overloaded: the server cannot serve the client now (its
// store is unavailable), and the client retries.
type TicketGenerations interface {
	// Start records generation 1 for a client ID assigned by a full
	// handshake, valid until expires, and returns 1.
	Start(clientID [32]byte, expires time.Time) (uint64, error)
	// Record returns the record of a client ID; ok is false for a client
	// ID without one, whose tickets are never accepted (HS-046).
	Record(clientID [32]byte) (r TicketRecord, ok bool, err error)
	// Advance accepts a ticket of generation g atomically (HS-047): if
	// the record is still from, which Accepts g, it becomes from.After(g),
	// valid until expires, and the new Latest is returned; ok is false
	// when the record changed since it was read (another handshake
	// presented a ticket of this client ID first).
	Advance(clientID [32]byte, g uint64, from TicketRecord, expires time.Time) (next uint64, ok bool, err error)
}

// MemoryGenerations is a TicketGenerations of one process (a single node
// without a shared store, tests, the demo). The zero value is ready.
type MemoryGenerations struct {
	mu sync.Mutex
	m  map[[32]byte]memoryRecord
	// Now is the clock for expiry; nil: time.Now.
	Now func() time.Time
}

type memoryRecord struct {
	TicketRecord
	expires time.Time
}

func (m *MemoryGenerations) get(id [32]byte) (memoryRecord, bool) {
	r, ok := m.m[id]
	if ok && !now(m.Now).Before(r.expires) {
		delete(m.m, id)
		return r, false
	}
	return r, ok
}

// Set stores a record, for tests and vectors.
func (m *MemoryGenerations) Set(id [32]byte, r TicketRecord, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[[32]byte]memoryRecord{}
	}
	m.m[id] = memoryRecord{r, expires}
}

// Record implements TicketGenerations.
func (m *MemoryGenerations) Record(id [32]byte) (TicketRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.get(id)
	return r.TicketRecord, ok, nil
}

// Start implements TicketGenerations.
func (m *MemoryGenerations) Start(id [32]byte, expires time.Time) (uint64, error) {
	m.Set(id, TicketRecord{Latest: 1}, expires)
	return 1, nil
}

// Advance implements TicketGenerations.
func (m *MemoryGenerations) Advance(id [32]byte, g uint64, from TicketRecord, expires time.Time) (uint64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.get(id)
	if !ok || r.TicketRecord != from || !from.Accepts(g) {
		return 0, false, nil
	}
	n := from.After(g)
	m.m[id] = memoryRecord{n, expires}
	return n.Latest, true, nil
}

// The ticket format (HS-048):
//
//	key_id uint32 || nonce[12] || ChaCha20-Poly1305(key, nonce, plaintext, aad)
//	plaintext = version(1) = 1 || client_id[32] || psk[32] || uint64 generation || uint64 expires
//	aad       = "sealfeed v1 ticket" || 0x00 || key_id
const (
	ticketLabel   = "sealfeed v1 ticket"
	ticketVersion = 1
	ticketPTLen   = 1 + 32 + 32 + 8 + 8
	ticketLen     = 4 + chacha20poly1305.NonceSize + ticketPTLen + chacha20poly1305.Overhead
)

func ticketAAD(keyID uint32) []byte {
	return wire.AppendUint32(append([]byte(ticketLabel), 0), keyID)
}

// sealTicket seals a ticket under the current key; the nonce is the
// server's last randomness draw of the handshake.
func sealTicket(keys *TicketKeys, clientID [32]byte, psk []byte, gen uint64, expires time.Time, rnd io.Reader) ([]byte, error) {
	a, err := chacha20poly1305.New(keys.Current.Key[:])
	if err != nil {
		return nil, alert.New(alert.InternalError, "ticket key")
	}
	out := wire.AppendUint32(make([]byte, 0, ticketLen), keys.Current.ID)
	out = out[:4+chacha20poly1305.NonceSize]
	if err := readRandom(rnd, out[4:]); err != nil {
		return nil, err
	}
	pt := make([]byte, 0, ticketPTLen)
	pt = append(pt, ticketVersion)
	pt = append(pt, clientID[:]...)
	pt = append(pt, psk...)
	pt = wire.AppendUint64(pt, gen)
	pt = wire.AppendUint64(pt, uint64(expires.Unix()))
	return a.Seal(out, out[4:], pt, ticketAAD(keys.Current.ID)), nil
}

// openedTicket is the content of a ticket that opened and has not expired.
type openedTicket struct {
	clientID [32]byte
	psk      []byte
	gen      uint64
}

// openTicket opens a ticket sealed under a key of the set (HS-045) that
// has not expired at at. Every failure is the same false: the server then
// ignores the ticket (HS-040).
func openTicket(keys *TicketKeys, ticket []byte, at time.Time) (openedTicket, bool) {
	var t openedTicket
	if len(ticket) != ticketLen {
		return t, false
	}
	id := uint32(ticket[0])<<24 | uint32(ticket[1])<<16 | uint32(ticket[2])<<8 | uint32(ticket[3])
	k, ok := keys.key(id)
	if !ok {
		return t, false
	}
	a, err := chacha20poly1305.New(k.Key[:])
	if err != nil {
		return t, false
	}
	pt, err := a.Open(nil, ticket[4:16], ticket[16:], ticketAAD(id))
	if err != nil {
		return t, false
	}
	r := wire.NewReader(pt)
	v := r.Uint8("ticket version")
	r.Copy(t.clientID[:], "client id")
	psk := r.Bytes(32, "psk")
	t.gen = r.Uint64("generation")
	exp := r.Uint64("expires")
	if r.Finish("ticket") != nil || v != ticketVersion || t.gen == 0 || at.Unix() > int64(min(exp, 1<<62)) {
		return openedTicket{}, false
	}
	t.psk = append([]byte(nil), psk...)
	return t, true
}
