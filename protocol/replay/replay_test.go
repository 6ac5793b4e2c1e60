package replay

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

// model is REPLAY-011 written as plainly as possible: the set of accepted
// IDs and the highest of them.
type model struct {
	seen map[uint64]bool
	top  uint64
}

func (m *model) decide(id uint64) Result {
	switch {
	case id == 0:
		return Invalid
	case id > m.top:
		return New
	case m.top-id >= WindowSize:
		return Stale
	case m.seen[id]:
		return Duplicate
	}
	return New
}

func (m *model) accept(id uint64) Result {
	r := m.decide(id)
	if r == New {
		m.seen[id] = true
		m.top = max(m.top, id)
	}
	return r
}

// windowMachine drives a Window and the model with the same operations.
type windowMachine struct {
	w Window
	m model
}

func (s *windowMachine) id(t *rapid.T) uint64 {
	top := s.m.top
	below := func(d uint64) uint64 { return top - min(d, top) }
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 8: // at a word boundary of the ring: slides that start or end there
		return (top | 63) + rapid.SampledFrom([]uint64{0, 1, 2, 64}).Draw(t, "aligned")
	case 9: // the edges above top: slides by nearly, exactly, just over W
		return top + rapid.SampledFrom([]uint64{1, 2, 63, 64, 65, WindowSize - 65, WindowSize - 64, WindowSize - 63, WindowSize - 2, WindowSize - 1, WindowSize, WindowSize + 1}).Draw(t, "edgeAbove")
	case 0: // just above top
		return top + rapid.Uint64Range(1, 70).Draw(t, "ahead")
	case 1: // a jump within or past the window
		if top > math.MaxUint64-3*WindowSize {
			return math.MaxUint64 - rapid.Uint64Range(0, 3).Draw(t, "last")
		}
		return top + rapid.Uint64Range(1, 3*WindowSize).Draw(t, "jump")
	case 2: // the edges below top: 1023 is in the window, 1024 is not
		return below(rapid.SampledFrom([]uint64{0, 1, 63, 64, 65, WindowSize - 65, WindowSize - 64, WindowSize - 2, WindowSize - 1, WindowSize, WindowSize + 1}).Draw(t, "edge"))
	case 3: // anywhere in or just below the window
		return below(rapid.Uint64Range(0, WindowSize+64).Draw(t, "behind"))
	case 4:
		return 0
	case 5: // near the top of the ID space
		return math.MaxUint64 - rapid.Uint64Range(0, 2*WindowSize).Draw(t, "high")
	case 6: // far below
		return rapid.Uint64Range(1, max(top, 1)).Draw(t, "any")
	default: // a huge jump
		if top == math.MaxUint64 {
			return top
		}
		return top + rapid.Uint64Range(1, math.MaxUint64-top).Draw(t, "huge")
	}
}

func (s *windowMachine) Check(t *rapid.T) {
	id := s.id(t)
	if got, want := s.w.Check(id), s.m.decide(id); got != want {
		t.Fatalf("Check(%d) with top %d = %v, want %v", id, s.m.top, got, want)
	}
}

func (s *windowMachine) Accept(t *rapid.T) {
	id := s.id(t)
	before := s.w
	if got, want := s.w.Check(id), s.m.decide(id); got != want {
		t.Fatalf("Check(%d) with top %d = %v, want %v", id, s.m.top, got, want)
	}
	if s.w != before {
		t.Fatal("Check changed the window")
	}
	if got, want := s.w.Accept(id), s.m.accept(id); got != want {
		t.Fatalf("Accept(%d) = %v, want %v", id, got, want)
	}
}

// Persist and restore mid-sequence (REPLAY-013).
func (s *windowMachine) Restore(t *rapid.T) {
	b, err := s.w.MarshalBinary()
	if err != nil || len(b) != windowEncodingLen {
		t.Fatalf("marshal: %v, %d bytes", err, len(b))
	}
	var w2 Window
	if err := w2.UnmarshalBinary(b); err != nil {
		t.Fatalf("restore of a reachable window rejected: %v", err)
	}
	if w2 != s.w {
		t.Fatal("restored window differs")
	}
	s.w = w2
}

// The invariant: same top, and every ID in the window decides alike.
func (s *windowMachine) invariant(t *rapid.T) {
	if s.w.Top() != s.m.top {
		t.Fatalf("top %d, want %d", s.w.Top(), s.m.top)
	}
	lo := s.m.top - min(s.m.top, WindowSize+1)
	for id := lo; id <= s.m.top && id >= lo; id++ {
		if got, want := s.w.Check(id), s.m.decide(id); got != want {
			t.Fatalf("Check(%d) with top %d = %v, want %v", id, s.m.top, got, want)
		}
		if id == math.MaxUint64 {
			break
		}
	}
}

// REPLAY-011, REPLAY-012, REPLAY-013: the window, driven by any sequence of
// checks, accepts and persist/restore cycles, decides every ID as the
// definition does.
func TestWindowMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &windowMachine{m: model{seen: map[uint64]bool{}}}
		t.Repeat(map[string]func(*rapid.T){
			"check":   s.Check,
			"accept":  s.Accept,
			"accept2": s.Accept, // twice as likely as the others
			"restore": s.Restore,
			"":        s.invariant,
		})
	})
}

func TestWindowEdges(t *testing.T) {
	var w Window
	steps := []struct {
		id   uint64
		want Result
	}{
		{0, Invalid},
		{1, New}, {1, Duplicate}, {0, Invalid},
		{2000, New},
		{2000 - 1023, New}, // top − id = 1023 < W
		{2000 - 1024, Stale},
		{2000 - 1023, Duplicate},
		{1999, New},
		{3024, New}, // slides by exactly W: 2000 becomes stale
		{2000, Stale},
		{2001, New},
		{2001, Duplicate},
		{3023, New},
		{1 << 63, New},
		{1<<63 - 1023, New},
		{1<<63 - 1024, Stale},
		{3024, Stale},
		{math.MaxUint64 - 1, New},
		{math.MaxUint64, New},
		{math.MaxUint64, Duplicate},
		{math.MaxUint64 - 1, Duplicate},
		{math.MaxUint64 - 1023, New},
		{math.MaxUint64 - 1024, Stale},
	}
	for i, s := range steps {
		if got := w.Accept(s.id); got != s.want {
			t.Fatalf("step %d: Accept(%d) = %v, want %v", i, s.id, got, s.want)
		}
	}
}

// Every short slide from every alignment of the ring, checked on every ID of
// the window: the deterministic complement of TestWindowMatchesModel for
// the word-boundary cases of the slot clearing.
func TestWindowSlidesFromEveryAlignment(t *testing.T) {
	steps := []uint64{1, 2, 63, 64, 65, 127, WindowSize - 65, WindowSize - 64, WindowSize - 63, WindowSize - 1, WindowSize}
	for a := uint64(1); a <= 130; a++ {
		for _, d1 := range steps {
			for _, d2 := range steps {
				var w Window
				m := model{seen: map[uint64]bool{}}
				for _, id := range []uint64{a, a + d1, a + d1 + d2} {
					if got, want := w.Accept(id), m.accept(id); got != want {
						t.Fatalf("Accept(%d) = %v, want %v", id, got, want)
					}
				}
				for id := m.top - min(m.top, WindowSize+1); id <= m.top; id++ {
					if got, want := w.Check(id), m.decide(id); got != want {
						t.Fatalf("a %d, +%d, +%d: Check(%d) = %v, want %v", a, d1, d2, id, got, want)
					}
				}
			}
		}
	}
}

// A slide that ends at 2⁶⁴ − 1 terminates and clears the right slots.
func TestWindowSlideToTheLastID(t *testing.T) {
	for _, start := range []uint64{math.MaxUint64 - 64, math.MaxUint64 - 63, math.MaxUint64 - 1000, math.MaxUint64 - 1024} {
		var w Window
		w.Accept(start)
		w.Accept(start - 5)
		if got := w.Accept(math.MaxUint64); got != New {
			t.Fatalf("from %d: %v", start, got)
		}
		want := Duplicate
		if math.MaxUint64-(start-5) >= WindowSize {
			want = Stale
		}
		if got := w.Check(start - 5); got != want {
			t.Fatalf("from %d: Check(start − 5) = %v, want %v", start, got, want)
		}
		if got := w.Check(math.MaxUint64 - 3); got != New {
			t.Fatalf("from %d: slot of an ID that slid in not cleared", start)
		}
	}
}

func TestResultErr(t *testing.T) {
	for r, want := range map[Result]alert.Code{Duplicate: alert.ReplayedMessage, Stale: alert.StaleMessage, Invalid: alert.IllegalParameter} {
		if got := codeOf(r.Err()); got != want {
			t.Errorf("%v: %v, want %v", r, got, want)
		}
	}
	if New.Err() != nil {
		t.Error("New has an error")
	}
	if Result(9).String() != "Result(9)" {
		t.Error(Result(9).String())
	}
}

func TestWindowUnmarshalRejects(t *testing.T) {
	var w Window
	w.Accept(5)
	w.Accept(3)
	b, _ := w.MarshalBinary()
	set := func(id uint64) []byte {
		c := bytes.Clone(b)
		word := 8 + 8*int(id/64%words)
		c[word+7-int(id%64/8)] |= 1 << (id % 8)
		return c
	}
	var fresh Window
	unset := bytes.Clone(b)
	unset[8+7] &^= 1 << 5 // the bit of ID 5
	if err := fresh.UnmarshalBinary(unset); codeOf(err) != alert.DecodeError {
		t.Errorf("top without its bit: %v", err)
	}
	if err := fresh.UnmarshalBinary(set(4)); err != nil || fresh.Check(4) != Duplicate || fresh.Check(3) != Duplicate || fresh.Check(2) != New {
		t.Fatalf("reachable state (4 accepted) rejected: %v", err)
	}
	for name, bad := range map[string][]byte{
		"empty":            nil,
		"short":            b[:len(b)-1],
		"long":             append(bytes.Clone(b), 0),
		"ID 0":             set(0),
		"ID above top":     set(6),
		"ID 1023 at top 5": set(1023),
		"ID 64 at top 5":   set(64),
	} {
		w2 := w
		if err := w2.UnmarshalBinary(bad); codeOf(err) != alert.DecodeError {
			t.Errorf("%s: %v", name, err)
		}
		if w2 != w {
			t.Errorf("%s: failed unmarshal changed the window", name)
		}
	}
	// With top ≥ W every slot stands for an ID in the window.
	var high Window
	high.Accept(5000)
	hb, _ := high.MarshalBinary()
	for i := 8; i < len(hb); i++ {
		hb[i] = 0xff
	}
	if err := high.UnmarshalBinary(hb); err != nil || high.Check(5000-1023) != Duplicate {
		t.Fatalf("full window at top 5000 rejected: %v", err)
	}
}

// Any bytes UnmarshalBinary accepts re-encode to themselves and describe a
// window that Accept reaches: accepting, in increasing order, the IDs the
// decoded window records gives the same window.
func TestWindowUnmarshalAcceptsOnlyReachableStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := make([]byte, windowEncodingLen)
		top := rapid.OneOf(rapid.Uint64Range(0, 2*WindowSize), rapid.Uint64()).Draw(t, "top")
		for i := range 8 {
			b[i] = byte(top >> (56 - 8*i))
		}
		setBit := func(id uint64) {
			b[8+8*int(id/64%words)+7-int(id%64/8)] |= 1 << (id % 8)
		}
		if rapid.IntRange(0, 3).Draw(t, "topBit") != 0 {
			setBit(top)
		}
		for range rapid.IntRange(0, 10).Draw(t, "nbits") {
			setBit(uint64(rapid.IntRange(0, WindowSize-1).Draw(t, "bit")))
		}
		var w Window
		if err := w.UnmarshalBinary(b); err != nil {
			return
		}
		again, _ := w.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Fatal("does not re-encode")
		}
		var r Window
		for id := top - min(top, WindowSize-1); id <= top; id++ {
			if id != 0 && w.Check(id) == Duplicate && r.Accept(id) != New {
				t.Fatalf("ID %d recorded twice", id)
			}
			if id == math.MaxUint64 {
				break
			}
		}
		if w != r {
			t.Fatalf("decoded window at top %d is not reachable", top)
		}
	})
}

func TestWindowDoesNotAllocate(t *testing.T) {
	var w Window
	id := uint64(0)
	if n := testing.AllocsPerRun(1000, func() {
		id += 97
		w.Accept(id)
		w.Check(id - 1)
		_ = w.Accept(id).Err()
	}); n != 0 {
		t.Fatalf("%v allocations per Accept", n)
	}
}

// REPLAY-010: per session, batch_seq must rise strictly from 0; a new
// session starts again from 0, whatever earlier sessions accepted.
func TestBatchSeq(t *testing.T) {
	var s BatchSeq
	if s.Last() != 0 {
		t.Fatal("fresh session has a sequence")
	}
	if err := s.Accept(0); codeOf(err) != alert.ReplayedBatch {
		t.Fatalf("batch_seq 0 accepted: %v", err)
	}
	if s.Accept(5) != nil {
		t.Fatal("first sequence rejected")
	}
	for _, seq := range []uint64{5, 4, 0} {
		if err := s.Check(seq); codeOf(err) != alert.ReplayedBatch {
			t.Fatalf("seq %d after 5: %v", seq, err)
		}
		if err := s.Accept(seq); codeOf(err) != alert.ReplayedBatch || s.Last() != 5 {
			t.Fatalf("Accept(%d) after 5: %v, last %d", seq, err, s.Last())
		}
	}
	if s.Check(6) != nil || s.Last() != 5 {
		t.Fatal("Check changed or rejected the next sequence")
	}
	if s.Accept(math.MaxUint64) != nil || s.Accept(math.MaxUint64) == nil {
		t.Fatal("last sequence")
	}
	var next BatchSeq // the next session
	if next.Accept(3) != nil {
		t.Fatal("a new session refused a batch_seq below the previous session's")
	}
}

// BatchSeq accepts exactly the strictly increasing batch_seq of one session.
func TestBatchSeqMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s BatchSeq
		var last uint64
		for _, seq := range rapid.SliceOf(rapid.OneOf(rapid.Uint64Range(0, 20), rapid.Uint64())).Draw(t, "seqs") {
			err := s.Accept(seq)
			if (err == nil) != (seq > last) {
				t.Fatalf("Accept(%d) after %d: %v", seq, last, err)
			}
			if err == nil {
				last = seq
			} else if codeOf(err) != alert.ReplayedBatch {
				t.Fatalf("alert %v", err)
			}
			if s.Last() != last {
				t.Fatalf("Last %d, want %d", s.Last(), last)
			}
		}
	})
}
