// Package replay implements the envelope-layer replay state of a client
// (spec §11): the sliding message-ID window (REPLAY-011, in the style of
// RFC 6479) and the per-signer batch sequence (REPLAY-010). Both are
// persisted by the caller across reconnects (REPLAY-013) through
// MarshalBinary / UnmarshalBinary.
package replay

import (
	"sort"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// WindowSize is W of REPLAY-011.
const WindowSize = 1024

const words = WindowSize / 64

// Result is the decision for one message ID.
type Result uint8

const (
	New       Result = iota // accept and deliver
	Duplicate               // accepted before: drop, still acknowledge
	Stale                   // W or more below the highest accepted ID: drop, still acknowledge
	Invalid                 // ID 0
)

func (r Result) String() string {
	return [...]string{"new", "duplicate", "stale", "invalid"}[r]
}

// Err returns nil for New and the alert of REPLAY-011/012 otherwise.
func (r Result) Err() error {
	switch r {
	case New:
		return nil
	case Duplicate:
		return alert.New(alert.ReplayedMessage, "message ID already accepted")
	case Stale:
		return alert.New(alert.StaleMessage, "message ID below the replay window")
	}
	return alert.New(alert.IllegalParameter, "message ID 0")
}

// Window is the sliding window of accepted message IDs. The zero value is an
// empty window. Bit (id mod W) of the ring records id for top−W < id ≤ top.
type Window struct {
	top  uint64
	bits [words]uint64
}

// Top returns the highest accepted ID, 0 if none.
func (w *Window) Top() uint64 { return w.top }

func (w *Window) bit(id uint64) (int, uint64) { return int(id/64) % words, 1 << (id % 64) }

// Check returns the decision for id without changing the window.
func (w *Window) Check(id uint64) Result {
	switch {
	case id == 0:
		return Invalid
	case id > w.top:
		return New
	case w.top-id >= WindowSize:
		return Stale
	}
	i, m := w.bit(id)
	if w.bits[i]&m != 0 {
		return Duplicate
	}
	return New
}

// Accept returns Check(id) and records id when it is New. Callers apply it
// only after the delivery carrying id is authenticated (BATCH-014).
func (w *Window) Accept(id uint64) Result {
	r := w.Check(id)
	if r != New {
		return r
	}
	if id > w.top {
		// Clear the ring slots of the IDs that slide in: top+1 … id.
		if id-w.top >= WindowSize {
			w.bits = [words]uint64{}
		} else {
			for x := w.top + 1; x <= id; {
				i, m := w.bit(x)
				if x%64 == 0 && id-x >= 63 {
					w.bits[i] = 0
					x += 64
					continue
				}
				w.bits[i] &^= m
				x++
			}
		}
		w.top = id
	}
	i, m := w.bit(id)
	w.bits[i] |= m
	return New
}

const windowEncodingLen = 8 + words*8

// MarshalBinary encodes the window: uint64 top, then the ring words.
func (w *Window) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, windowEncodingLen)
	b = wire.AppendUint64(b, w.top)
	for _, x := range w.bits {
		b = wire.AppendUint64(b, x)
	}
	return b, nil
}

// UnmarshalBinary decodes a window strictly: exact length, and no bit set
// for an ID above top or for ID 0.
func (w *Window) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(b)
	top := r.Uint64("window top")
	var bits [words]uint64
	for i := range bits {
		bits[i] = r.Uint64("window bits")
	}
	if err := r.Finish("replay window"); err != nil {
		return err
	}
	// Slots of IDs in (top−W, top] may be set; no others exist in the ring,
	// but an ID ≤ 0 would be: when top < W, slots above top stand for
	// IDs ≤ top − W, i.e. ≤ 0.
	if top < WindowSize {
		for id := top + 1; id < WindowSize; id++ {
			i, m := (&Window{}).bit(id)
			if bits[i]&m != 0 {
				return alert.New(alert.DecodeError, "replay window: bit set for an ID that cannot exist")
			}
		}
		if bits[0]&1 != 0 {
			return alert.New(alert.DecodeError, "replay window: ID 0 recorded")
		}
	}
	w.top, w.bits = top, bits
	return nil
}

// Sequences keeps the highest accepted batch_seq per signer key ID
// (REPLAY-010). The zero value is empty.
type Sequences struct {
	last map[[32]byte]uint64
}

// Last returns the highest accepted sequence for signer, 0 if none.
func (s *Sequences) Last(signer [32]byte) uint64 { return s.last[signer] }

// Check returns replayed_batch if seq is not above the last accepted one.
func (s *Sequences) Check(signer [32]byte, seq uint64) error {
	if seq <= s.last[signer] {
		return alert.Errorf(alert.ReplayedBatch, "batch sequence %d not above %d", seq, s.last[signer])
	}
	return nil
}

// Accept checks seq and records it.
func (s *Sequences) Accept(signer [32]byte, seq uint64) error {
	if err := s.Check(signer, seq); err != nil {
		return err
	}
	if s.last == nil {
		s.last = make(map[[32]byte]uint64)
	}
	s.last[signer] = seq
	return nil
}

// MarshalBinary encodes the sequences sorted by signer: uint32 count, then
// (signer[32], uint64 seq) pairs.
func (s *Sequences) MarshalBinary() ([]byte, error) {
	ids := make([][32]byte, 0, len(s.last))
	for id := range s.last {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	b := wire.AppendUint32(nil, uint32(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
		b = wire.AppendUint64(b, s.last[id])
	}
	return b, nil
}

// UnmarshalBinary decodes strictly: signers strictly ascending, sequences
// non-zero.
func (s *Sequences) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(b)
	n := r.Count(0, 1<<24, 40, "signers")
	last := make(map[[32]byte]uint64, n)
	var prev []byte
	for i := 0; i < n; i++ {
		id := r.Bytes(32, "signer")
		seq := r.Uint64("batch seq")
		if r.Err() != nil {
			break
		}
		if prev != nil && string(id) <= string(prev) {
			return alert.New(alert.DecodeError, "sequences: signers not ascending")
		}
		if seq == 0 {
			return alert.New(alert.DecodeError, "sequences: zero sequence recorded")
		}
		prev = id
		last[[32]byte(id)] = seq
	}
	if err := r.Finish("sequences"); err != nil {
		return err
	}
	s.last = last
	return nil
}
