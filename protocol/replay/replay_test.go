package replay

import (
	"testing"

	"pgregory.net/rapid"
)

// model is the definition of REPLAY-011 written as plainly as possible.
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

// REPLAY-011, REPLAY-012, REPLAY-013 (persisted state round trips).
func TestWindowMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var w Window
		m := &model{seen: map[uint64]bool{}}
		steps := rapid.IntRange(1, 300).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			var id uint64
			switch rapid.IntRange(0, 5).Draw(t, "kind") {
			case 0: // just above top, or a jump past the whole window
				id = m.top + uint64(rapid.IntRange(1, 3*WindowSize).Draw(t, "ahead"))
			case 1: // the edges below top
				d := uint64(rapid.SampledFrom([]int{0, 1, WindowSize - 2, WindowSize - 1, WindowSize, WindowSize + 1}).Draw(t, "edge"))
				if d > m.top {
					d = m.top
				}
				id = m.top - d
			case 2: // anywhere in the window
				d := uint64(rapid.IntRange(0, WindowSize+10).Draw(t, "behind"))
				if d > m.top {
					d = m.top
				}
				id = m.top - d
			case 3:
				id = 0
			case 4: // persist and restore mid-sequence (REPLAY-013)
				b, _ := w.MarshalBinary()
				var w2 Window
				if err := w2.UnmarshalBinary(b); err != nil {
					t.Fatalf("restore: %v", err)
				}
				w = w2
				continue
			default:
				id = rapid.Uint64Range(1, m.top+5).Draw(t, "any")
			}
			want := m.decide(id)
			if got := w.Check(id); got != want {
				t.Fatalf("Check(%d) with top %d = %v, want %v", id, m.top, got, want)
			}
			if got := w.Accept(id); got != want {
				t.Fatalf("Accept(%d) = %v, want %v", id, got, want)
			}
			if want == New {
				m.seen[id] = true
				if id > m.top {
					m.top = id
				}
			}
			if w.Top() != m.top {
				t.Fatalf("top %d, want %d", w.Top(), m.top)
			}
		}
	})
}

func TestWindowEdges(t *testing.T) {
	var w Window
	steps := []struct {
		id   uint64
		want Result
	}{
		{0, Invalid},
		{1, New}, {1, Duplicate},
		{2000, New},
		{2000 - 1023, New}, // top − id = 1023 < W
		{2000 - 1024, Stale},
		{2000 - 1023, Duplicate},
		{1999, New},
		{3024, New}, // slides by exactly W: 2000 becomes stale
		{2000, Stale},
		{2001, New},
		{1 << 63, New},
		{1<<63 - 1023, New},
		{3024, Stale},
	}
	for i, s := range steps {
		if got := w.Accept(s.id); got != s.want {
			t.Fatalf("step %d: Accept(%d) = %v, want %v", i, s.id, got, s.want)
		}
	}
}

func TestWindowUnmarshalRejects(t *testing.T) {
	var w Window
	w.Accept(5)
	b, _ := w.MarshalBinary()
	if w.UnmarshalBinary(b[:len(b)-1]) == nil || w.UnmarshalBinary(append(b, 0)) == nil {
		t.Fatal("wrong length accepted")
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] |= 0x80 // ID 1023 recorded while top is 5
	if w.UnmarshalBinary(bad) == nil {
		t.Fatal("impossible bit accepted")
	}
}

func TestWindowAcceptDoesNotAllocate(t *testing.T) {
	var w Window
	id := uint64(0)
	if n := testing.AllocsPerRun(1000, func() { id += 3; w.Accept(id); w.Check(id - 1) }); n != 0 {
		t.Fatalf("%v allocations per Accept", n)
	}
}

func TestSequences(t *testing.T) {
	var s Sequences
	a, b := [32]byte{1}, [32]byte{2}
	if s.Accept(a, 5) != nil || s.Accept(b, 1) != nil {
		t.Fatal("fresh sequences rejected")
	}
	for _, seq := range []uint64{5, 4, 0} {
		if s.Check(a, seq) == nil {
			t.Fatalf("seq %d accepted after 5 (REPLAY-010)", seq)
		}
	}
	enc, _ := s.MarshalBinary()
	var r Sequences
	if err := r.UnmarshalBinary(enc); err != nil || r.Last(a) != 5 || r.Last(b) != 1 {
		t.Fatal("round trip", err)
	}
	if r.UnmarshalBinary(enc[:len(enc)-1]) == nil {
		t.Fatal("truncated accepted")
	}
	swapped := append(append(append([]byte(nil), enc[:4]...), enc[44:84]...), enc[4:44]...)
	if r.UnmarshalBinary(swapped) == nil {
		t.Fatal("unsorted signers accepted")
	}
}
