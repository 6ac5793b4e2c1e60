package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestStoreEpochSealed: the epoch is sealed under the storage key, so a
// row written without the key (a new value, or one moved from another
// label) fails with ErrStoredDataTampered, at Epoch and at Open, and the
// old sealed value put back reads as the old epoch (ID-004). That the
// epoch is stable across reopening and replaced by NewEpoch is the
// contract suite's (storetest Epoch, Durability).
func TestStoreEpochSealed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, nil)
	e1, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sealed1 []byte
	if err := s.w.QueryRow(`SELECT v FROM meta WHERE k = 'epoch'`).Scan(&sealed1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	set := func(v []byte) {
		if _, err := s.w.Exec(`UPDATE meta SET v = ? WHERE k = 'epoch'`, v); err != nil {
			t.Fatal(err)
		}
	}
	var check []byte
	if err := s.w.QueryRow(`SELECT v FROM meta WHERE k = 'key_check'`).Scan(&check); err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), sealed1...)
	flipped[len(flipped)-1] ^= 1
	for name, v := range map[string][]byte{"flipped tag": flipped, "key check moved": check, "short": sealed1[:20],
		"plaintext": make([]byte, 24+16+16)} {
		set(v)
		if _, err := s.Epoch(ctx); !errors.Is(err, store.ErrStoredDataTampered) {
			t.Fatalf("%s: %v, want ErrStoredDataTampered", name, err)
		}
	}
	set(sealed1) // an old value put back is the old epoch, which clients refuse
	if e, err := s.Epoch(ctx); err != nil || e != e1 {
		t.Fatalf("old value: %x %v", e, err)
	}
	set(flipped)
	s.Close()
	if _, err := Open(path, Options{StorageKey: testKey(7)}); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("open with a tampered epoch: %v", err)
	}
}
