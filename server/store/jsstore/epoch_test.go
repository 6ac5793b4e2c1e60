package jsstore

import (
	"context"
	"errors"
	"testing"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestStoreEpochSealedOnJetStream: a value written to the meta bucket
// without the storage key is ErrStoredDataTampered on every node (ID-004).
// That the epoch is created once for all nodes, stable across a restart
// and replaced by NewEpoch for every node is the contract suite's
// (storetest Epoch, Durability, with a second node).
func TestStoreEpochSealedOnJetStream(t *testing.T) {
	s := openSingle(t)
	ctx := context.Background()
	other, err := Open(ctx, s.js.Conn(), s.opt)
	if err != nil {
		t.Fatal(err)
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
