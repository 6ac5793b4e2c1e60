package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/receiver"
	"github.com/sealfeed/sealfeed/protocol/replay"
)

// TestWindowPerClientIDAndStoreEpoch: the window belongs to one (client
// ID, store epoch) (REPLAY-011): a new epoch starts a new window and marks
// the IDs up to the old top as possible redeliveries (REPLAY-021,
// DLV-005); a new client ID starts a new window without marks; an epoch
// the client left is refused with replayed_epoch and changes nothing
// (REPLAY-020); all of it survives a restart of the client.
func TestWindowPerClientIDAndStoreEpoch(t *testing.T) {
	enter := func(s *state, id [32]byte, e [16]byte) error { return receiver.New(&s.Recv).Begin(id, e, false, nil) }
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	id, other := [32]byte{1}, [32]byte{2}
	e1, e2, e3 := [16]byte{1}, [16]byte{2}, [16]byte{3}
	accept := func(ids ...uint64) {
		for _, i := range ids {
			if s.Recv.Window.Accept(i) != replay.New {
				t.Fatalf("ID %d not new", i)
			}
		}
	}
	if err := enter(s, id, e1); err != nil {
		t.Fatal(err)
	}
	accept(1, 2, 3)
	if err := enter(s, id, e1); err != nil || s.Recv.Window.Top() != 3 || s.Recv.Epochs.PossibleRedelivery(1) {
		t.Fatalf("same epoch again: %v, top %d", err, s.Recv.Window.Top())
	}
	if err := enter(s, id, e2); err != nil {
		t.Fatal(err)
	}
	if s.Recv.Window.Top() != 0 || s.Recv.Window.Check(2) != replay.New {
		t.Fatal("a new epoch kept the old window")
	}
	if !s.Recv.Epochs.PossibleRedelivery(3) || s.Recv.Epochs.PossibleRedelivery(4) {
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
	err = enter(r, id, e1)
	if code, _ := alert.CodeOf(err); code != alert.ReplayedEpoch {
		t.Fatalf("old epoch after a restart: %v, want replayed_epoch", err)
	}
	if func() bool { c, _ := r.Recv.Epochs.Current(); return c != e2 }() || r.Recv.Window.Top() != 2 || !r.Recv.Epochs.PossibleRedelivery(3) {
		t.Fatal("a refused epoch changed the state")
	}
	if err := enter(r, other, e2); err != nil || r.Recv.Window.Top() != 0 || r.Recv.Epochs.PossibleRedelivery(1) {
		t.Fatalf("new client ID: %v, top %d", err, r.Recv.Window.Top())
	}
	if err := enter(r, other, e3); err != nil {
		t.Fatal(err)
	}
	for _, old := range [][16]byte{e1, e2} {
		if code, _ := alert.CodeOf(enter(r, other, old)); code != alert.ReplayedEpoch {
			t.Fatalf("epoch %x: want replayed_epoch", old[:1])
		}
	}
}

// DLV-011: the unacknowledged set survives a restart; a version-1 state
// file loads with an empty set, and an unacked ID the window does not hold
// is refused.
func TestStateFileKeepsUnacked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Recv.Window.Accept(4)
	s.Recv.Window.Accept(7)
	if err := s.Recv.SetUnacked([]uint64{4}); err != nil {
		t.Fatal(err)
	}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	r, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Recv.UnackedIDs(); len(got) != 1 || got[0] != 4 || r.Recv.Window.Top() != 7 {
		t.Fatalf("loaded unacked %v, top %d", got, r.Recv.Window.Top())
	}
	b, _ := os.ReadFile(path)
	v1 := strings.Replace(strings.Replace(string(b), `"version":2`, `"version":1`, 1), `"unacked":[4],`, "", 1)
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err = loadState(path); err != nil || len(r.Recv.Unacked) != 0 || r.Recv.Window.Top() != 7 {
		t.Fatalf("version 1: %v", err)
	}
	bad := strings.Replace(string(b), `"unacked":[4]`, `"unacked":[5]`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(path); err == nil {
		t.Fatal("an unacked ID outside the window loaded")
	}
}
