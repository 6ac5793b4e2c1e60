package fuzz

import (
	"bytes"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/replay"
)

// FuzzWindow: a Window driven by arbitrary operations decides every ID as
// the definition of REPLAY-011 does (a set of accepted IDs and their
// maximum), and survives MarshalBinary/UnmarshalBinary mid-sequence.
//
// Each operation is 4 bytes: op, then a 24-bit distance d. op & 3 picks the
// ID: top + d, top − d (or d if that would be below 0), d itself, or
// 2⁶⁴ − 1 − d; op & 4 makes it a Check instead of an Accept; op & 8 persists
// and restores the window first.
func FuzzWindow(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 4, 0, 1, 0, 3, 0xff, 1, 0, 4, 0})
	f.Add([]byte{2, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 11, 0, 4, 0, 5, 0, 3, 0xff})
	f.Add([]byte{0, 0x10, 0, 0, 1, 0, 3, 0xff, 1, 0, 4, 0, 8, 0, 0, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var w replay.Window
		seen := map[uint64]bool{}
		var top uint64
		for ; len(ops) >= 4; ops = ops[4:] {
			op, d := ops[0], uint64(ops[1])<<16|uint64(ops[2])<<8|uint64(ops[3])
			var id uint64
			switch op & 3 {
			case 0:
				id = top + d
			case 1:
				if d <= top {
					id = top - d
				} else {
					id = d
				}
			case 2:
				id = d
			case 3:
				id = ^uint64(0) - d
			}
			if op&8 != 0 {
				b, err := w.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				var w2 replay.Window
				if err := w2.UnmarshalBinary(b); err != nil {
					t.Fatalf("restore of a reachable window rejected: %v", err)
				}
				if w2 != w {
					t.Fatal("restored window differs")
				}
			}
			var want replay.Result
			switch {
			case id == 0:
				want = replay.Invalid
			case id > top:
				want = replay.New
			case top-id >= replay.WindowSize:
				want = replay.Stale
			case seen[id]:
				want = replay.Duplicate
			default:
				want = replay.New
			}
			if got := w.Check(id); got != want {
				t.Fatalf("Check(%d) with top %d = %v, want %v", id, top, got, want)
			}
			if op&4 != 0 {
				continue
			}
			if got := w.Accept(id); got != want {
				t.Fatalf("Accept(%d) with top %d = %v, want %v", id, top, got, want)
			}
			if want == replay.New {
				seen[id] = true
				top = max(top, id)
			}
			if w.Top() != top {
				t.Fatalf("top %d, want %d", w.Top(), top)
			}
		}
	})
}

// FuzzUnmarshalReplayState: no panic; persisted state that decodes
// re-encodes to the same bytes (REPLAY-013).
func FuzzUnmarshalReplayState(f *testing.F) {
	var w replay.Window
	w.Accept(3)
	w.Accept(1)
	b, _ := w.MarshalBinary()
	f.Add(b)
	w.Accept(5000)
	b, _ = w.MarshalBinary()
	f.Add(b)
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var w replay.Window
		if w.UnmarshalBinary(b) == nil {
			again, _ := w.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Fatal("window does not re-encode")
			}
		}
	})
}
