// Package replay implements the envelope-layer replay state of a client
// (spec §11): the sliding message-ID window (REPLAY-011, in the style of
// RFC 6479) and a session's batch sequence (REPLAY-010).
//
// The caller applies Accept only after the delivery is authenticated. It
// persists the window with MarshalBinary before handing messages to the
// application or acknowledging them (REPLAY-013); the batch sequence is
// per session and never persisted. Neither type is safe for concurrent use.
package replay

import (
	"strconv"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// WindowSize is W of REPLAY-011 and §15.
const WindowSize = 1024

const words = WindowSize / 64

// Result is the decision of REPLAY-011 for one message ID.
type Result uint8

const (
	New       Result = iota // not accepted before: deliver
	Duplicate               // accepted before: drop, still acknowledge (REPLAY-012)
	Stale                   // W or more below the highest accepted ID: drop, still acknowledge (REPLAY-012)
	Invalid                 // ID 0: illegal_parameter
)

func (r Result) String() string {
	switch r {
	case New:
		return "new"
	case Duplicate:
		return "duplicate"
	case Stale:
		return "stale"
	case Invalid:
		return "invalid"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

var (
	errDuplicate = alert.New(alert.ReplayedMessage, "message ID already accepted (REPLAY-011)")
	errStale     = alert.New(alert.StaleMessage, "message ID W or more below the highest accepted (REPLAY-011)")
	errInvalid   = alert.New(alert.IllegalParameter, "message ID 0 (REPLAY-011)")
)

// Err returns nil for New and otherwise the alert of REPLAY-011 and
// REPLAY-012: replayed_message for Duplicate and stale_message for Stale
// (local results, never sent), illegal_parameter for Invalid.
func (r Result) Err() error {
	switch r {
	case New:
		return nil
	case Duplicate:
		return errDuplicate
	case Stale:
		return errStale
	}
	return errInvalid
}

// Window is the sliding window of accepted message IDs (REPLAY-011). The
// zero value is an empty window.
//
// top is the highest accepted ID (0 before any). The ring holds one bit per
// ID in (top − W, top]: the bit of id is bit id mod 64 of word
// (id / 64) mod (W / 64). Exactly W bits suffice because sliding clears the
// bits of exactly the IDs that enter the window, not whole words.
type Window struct {
	top  uint64
	bits [words]uint64
}

// Top returns the highest accepted ID, 0 if none.
func (w *Window) Top() uint64 { return w.top }

func slot(id uint64) (int, uint64) { return int(id/64) % words, 1 << (id % 64) }

// Check returns the decision for id without changing the window:
// Invalid for 0; New if id > top; Stale if top − id ≥ W; Duplicate if id was
// accepted; New otherwise.
func (w *Window) Check(id uint64) Result {
	switch {
	case id == 0:
		return Invalid
	case id > w.top:
		return New
	case w.top-id >= WindowSize:
		return Stale
	}
	i, m := slot(id)
	if w.bits[i]&m != 0 {
		return Duplicate
	}
	return New
}

// Accept returns Check(id) and records id when it is New. Callers apply it
// only after the delivery carrying id is authenticated (REPLAY-013,
// BATCH-014). It does not allocate.
func (w *Window) Accept(id uint64) Result {
	r := w.Check(id)
	if r != New {
		return r
	}
	if id > w.top {
		w.slide(id)
	}
	i, m := slot(id)
	w.bits[i] |= m
	return New
}

// slide moves top up to id, clearing the slots of the IDs that enter the
// window, top+1 … id: each held an ID at least W below id.
func (w *Window) slide(id uint64) {
	n := id - w.top // ≥ 1
	if n >= WindowSize {
		w.bits = [words]uint64{}
	} else {
		// Clear n consecutive slots from top+1, a word at a time; count
		// down n rather than compare IDs, which may wrap at 2⁶⁴.
		x := w.top + 1
		for n > 0 {
			off := x % 64
			k := min(64-off, n)
			mask := ^uint64(0)
			if k < 64 {
				mask = (1<<k - 1) << off
			}
			w.bits[int(x/64)%words] &^= mask
			x += k
			n -= k
		}
	}
	w.top = id
}

// windowEncodingLen is the length of a marshalled Window.
const windowEncodingLen = 8 + words*8

// MarshalBinary encodes the window for persistence (REPLAY-013): top as a
// big-endian uint64, then the W/64 ring words in order, big-endian.
func (w *Window) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, windowEncodingLen)
	b = wire.AppendUint64(b, w.top)
	for _, x := range w.bits {
		b = wire.AppendUint64(b, x)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced, strictly: the exact
// length, and only states that some sequence of Accepts reaches: the bit of
// top set unless top is 0, and, while top < W, no bit set for ID 0 or an ID
// above top. On error the window is unchanged and the error is
// decode_error.
func (w *Window) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(b)
	top := r.Uint64("replay window top")
	var bits [words]uint64
	for i := range bits {
		bits[i] = r.Uint64("replay window bits")
	}
	if err := r.Finish("replay window"); err != nil {
		return err
	}
	if i, m := slot(top); top != 0 && bits[i]&m == 0 {
		return alert.New(alert.DecodeError, "replay window: highest ID not recorded")
	}
	if top < WindowSize {
		// Valid slots: IDs 1 … top, which are the slots 1 … top.
		for i := range bits {
			var valid uint64
			lo := uint64(i) * 64
			switch {
			case top >= lo+63:
				valid = ^uint64(0)
			case top >= lo:
				valid = 1<<(top-lo+1) - 1
			}
			if i == 0 {
				valid &^= 1 // ID 0
			}
			if bits[i]&^valid != 0 {
				return alert.New(alert.DecodeError, "replay window: bit set for an ID never accepted")
			}
		}
	}
	w.top, w.bits = top, bits
	return nil
}

// BatchSeq is the batch-sequence state of one session (REPLAY-010): the
// highest batch_seq accepted in it, 0 at session start, so batch_seq 0 is
// never accepted. It lives and dies with the session and is never
// persisted: batch_seq repeats no state across sessions, whose envelope
// keys are fresh (KS-006). The zero value is a fresh session's.
type BatchSeq struct{ last uint64 }

// Last returns the highest batch_seq accepted in the session, 0 if none.
func (s *BatchSeq) Last() uint64 { return s.last }

// Check returns replayed_batch if seq is not above the highest accepted
// (REPLAY-010), without changing anything.
func (s *BatchSeq) Check(seq uint64) error {
	if seq <= s.last {
		return alert.Errorf(alert.ReplayedBatch, "batch_seq %d not above %d (REPLAY-010)", seq, s.last)
	}
	return nil
}

// Accept checks seq and records it. Callers apply it only after the
// delivery is authenticated (BATCH-014).
func (s *BatchSeq) Accept(seq uint64) error {
	if err := s.Check(seq); err != nil {
		return err
	}
	s.last = seq
	return nil
}
