package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/handshake"
)

// LabelTicketKeys is the additional data under which engines seal the
// ticket key set with the storage key (HS-045).
const LabelTicketKeys = "sealfeed v1 storage ticket keys"

// AEAD is the storage cipher of an engine (XChaCha20-Poly1305).
type AEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// StoredTicketKey is a ticket key with the time it became current.
type StoredTicketKey struct {
	handshake.TicketKey
	Created time.Time
}

// TicketKeySet is the ticket key set as engines keep it (HS-045).
type TicketKeySet struct {
	Current  StoredTicketKey
	Previous *StoredTicketKey
}

// Due reports whether the set must rotate: there is none yet, or the
// current key has been current for rotate or longer.
func (s *TicketKeySet) Due(now time.Time, rotate time.Duration) bool {
	return s == nil || now.Sub(s.Current.Created) >= rotate
}

// Keys returns the set for the handshake; nil for a nil set.
func (s *TicketKeySet) Keys() *handshake.TicketKeys {
	if s == nil {
		return nil
	}
	k := &handshake.TicketKeys{Current: s.Current.TicketKey}
	if s.Previous != nil {
		p := s.Previous.TicketKey
		k.Previous = &p
	}
	return k
}

// Rotate returns the next set: a new random current key with the next key
// ID, the current key as the previous one; the previous key is dropped.
func (s *TicketKeySet) Rotate(now time.Time) (*TicketKeySet, error) {
	n := &TicketKeySet{Current: StoredTicketKey{TicketKey: handshake.TicketKey{ID: 1}, Created: now}}
	if s != nil {
		n.Current.ID = s.Current.ID + 1
		prev := s.Current
		n.Previous = &prev
	}
	if _, err := rand.Read(n.Current.Key[:]); err != nil {
		return nil, err
	}
	return n, nil
}

func appendKey(b []byte, k *StoredTicketKey) []byte {
	b = binary.BigEndian.AppendUint32(b, k.ID)
	b = append(b, k.Key[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(k.Created.Unix()))
}

// Seal encodes the set (a flag byte saying whether a previous key
// follows, then each key as uint32 id, 32-byte key, uint64 Unix seconds)
// and seals it: nonce[24] || XChaCha20-Poly1305(plaintext,
// LabelTicketKeys).
func (s *TicketKeySet) Seal(a AEAD) ([]byte, error) {
	pt := []byte{0}
	if s.Previous != nil {
		pt[0] = 1
	}
	pt = appendKey(pt, &s.Current)
	if s.Previous != nil {
		pt = appendKey(pt, s.Previous)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, pt, []byte(LabelTicketKeys)), nil
}

const storedKeyLen = 4 + 32 + 8

// OpenTicketKeySet opens what Seal produced; anything else is
// ErrStoredDataTampered.
func OpenTicketKeySet(a AEAD, v []byte) (*TicketKeySet, error) {
	if len(v) < chacha20poly1305.NonceSizeX {
		return nil, ErrStoredDataTampered
	}
	pt, err := a.Open(nil, v[:chacha20poly1305.NonceSizeX], v[chacha20poly1305.NonceSizeX:], []byte(LabelTicketKeys))
	if err != nil || len(pt) < 1 || len(pt) != 1+storedKeyLen*(1+int(pt[0])) || pt[0] > 1 {
		return nil, ErrStoredDataTampered
	}
	key := func(b []byte) StoredTicketKey {
		var k StoredTicketKey
		k.ID = binary.BigEndian.Uint32(b)
		copy(k.Key[:], b[4:36])
		k.Created = time.Unix(int64(binary.BigEndian.Uint64(b[36:])), 0)
		return k
	}
	s := &TicketKeySet{Current: key(pt[1:])}
	if pt[0] == 1 {
		p := key(pt[1+storedKeyLen:])
		s.Previous = &p
	}
	return s, nil
}

// Generations returns the ticket generations of a Store (HS-046) for the
// handshake; each call is bounded by timeout.
func Generations(s Store, timeout time.Duration) handshake.TicketGenerations {
	return &generations{s: s, timeout: timeout}
}

type generations struct {
	s       Store
	timeout time.Duration
}

func (g *generations) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.timeout)
}

func (g *generations) Start(id [32]byte, expires time.Time) (uint64, error) {
	ctx, cancel := g.ctx()
	defer cancel()
	return 1, g.s.StartTicketRecord(ctx, id, expires)
}

func (g *generations) Record(id [32]byte) (handshake.TicketRecord, bool, error) {
	ctx, cancel := g.ctx()
	defer cancel()
	return g.s.TicketRecord(ctx, id)
}

func (g *generations) Advance(id [32]byte, gen uint64, from handshake.TicketRecord, expires time.Time) (uint64, bool, error) {
	if !from.Accepts(gen) {
		return 0, false, errors.New("store: advancing a record that does not accept the generation")
	}
	ctx, cancel := g.ctx()
	defer cancel()
	to := from.After(gen)
	ok, err := g.s.AdvanceTicketRecord(ctx, id, from, to, expires)
	return to.Latest, ok, err
}
