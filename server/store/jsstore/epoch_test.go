package jsstore

import (
	"context"
	"errors"
	"testing"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestStoreEpochOnJetStream: the epoch is created once for the cluster
// (a second Open reads it), NewEpoch replaces it for every node, and a
// value written without the storage key is ErrStoredDataTampered (ID-004).
func TestStoreEpochOnJetStream(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	e1, err := s.Epoch(ctx)
	if err != nil || e1 == ([16]byte{}) {
		t.Fatalf("epoch %x %v", e1, err)
	}
	other, err := Open(ctx, s.js.Conn(), s.opt)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := other.Epoch(ctx); err != nil || e != e1 {
		t.Fatalf("second node: %x %v, want %x", e, err, e1)
	}
	e2, err := s.NewEpoch(ctx)
	if err != nil || e2 == e1 {
		t.Fatalf("new epoch %x %v", e2, err)
	}
	if e, _ := other.Epoch(ctx); e != e2 {
		t.Fatalf("second node after NewEpoch: %x, want %x", e, e2)
	}
	old, err := s.meta.Get(ctx, keyEpoch)
	if err != nil {
		t.Fatal(err)
	}
	v := append([]byte(nil), old.Value()...)
	v[len(v)-1] ^= 1
	for name, b := range map[string][]byte{"flipped tag": v, "plaintext": make([]byte, 24+16+16), "empty": {}} {
		if _, err := s.meta.Put(ctx, keyEpoch, b); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Epoch(ctx); !errors.Is(err, store.ErrStoredDataTampered) {
			t.Fatalf("%s: %v, want ErrStoredDataTampered", name, err)
		}
	}
}
