package client

import (
	"path/filepath"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/replay"
)

// TestWindowPerClientIDAndStoreEpoch: the window belongs to one (client
// ID, store epoch) (REPLAY-011): a new epoch starts a new window and marks
// the IDs up to the old top as possible redeliveries (REPLAY-021,
// DLV-005); a new client ID starts a new window without marks; an epoch
// the client left is refused with replayed_epoch and changes nothing
// (REPLAY-020); all of it survives a restart of the client.
func TestWindowPerClientIDAndStoreEpoch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	id, other := [32]byte{1}, [32]byte{2}
	e1, e2, e3 := [16]byte{1}, [16]byte{2}, [16]byte{3}
	accept := func(ids ...uint64) {
		for _, i := range ids {
			if s.Window.Accept(i) != replay.New {
				t.Fatalf("ID %d not new", i)
			}
		}
	}
	if err := s.enterSession(id, e1); err != nil {
		t.Fatal(err)
	}
	accept(1, 2, 3)
	if err := s.enterSession(id, e1); err != nil || s.Window.Top() != 3 || s.Epochs.PossibleRedelivery(1) {
		t.Fatalf("same epoch again: %v, top %d", err, s.Window.Top())
	}
	if err := s.enterSession(id, e2); err != nil {
		t.Fatal(err)
	}
	if s.Window.Top() != 0 || s.Window.Check(2) != replay.New {
		t.Fatal("a new epoch kept the old window")
	}
	if !s.Epochs.PossibleRedelivery(3) || s.Epochs.PossibleRedelivery(4) {
		t.Fatal("redelivery marks: want IDs up to 3")
	}
	accept(2)
	if err := s.save(); err != nil {
		t.Fatal(err)
	}

	r, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	err = r.enterSession(id, e1)
	if code, _ := alert.CodeOf(err); code != alert.ReplayedEpoch {
		t.Fatalf("old epoch after a restart: %v, want replayed_epoch", err)
	}
	if func() bool { c, _ := r.Epochs.Current(); return c != e2 }() || r.Window.Top() != 2 || !r.Epochs.PossibleRedelivery(3) {
		t.Fatal("a refused epoch changed the state")
	}
	if err := r.enterSession(other, e2); err != nil || r.Window.Top() != 0 || r.Epochs.PossibleRedelivery(1) {
		t.Fatalf("new client ID: %v, top %d", err, r.Window.Top())
	}
	if err := r.enterSession(other, e3); err != nil {
		t.Fatal(err)
	}
	for _, old := range [][16]byte{e1, e2} {
		if code, _ := alert.CodeOf(r.enterSession(other, old)); code != alert.ReplayedEpoch {
			t.Fatalf("epoch %x: want replayed_epoch", old[:1])
		}
	}
}
