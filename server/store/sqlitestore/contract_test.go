package sqlitestore

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/storetest"
)

// TestContract runs the store contract suite, durability across Close and
// Open included: DLV-001, DLV-007, API-016, API-017, API-023, API-024,
// API-026, API-027, API-028, API-029, API-030, API-032, API-040, BATCH-020,
// ID-004, HS-045, HS-046, HS-047, STORE-020, STORE-021, STORE-022, API-094.
func TestContract(t *testing.T) {
	var mu sync.Mutex
	paths := map[store.Store]string{}
	open := func(t *testing.T, path string, clock func() time.Time) store.Store {
		s := openTest(t, path, clock)
		mu.Lock()
		paths[s] = path
		mu.Unlock()
		return s
	}
	e := storetest.Engine{
		Open: func(t *testing.T, clock func() time.Time) store.Store {
			return open(t, filepath.Join(t.TempDir(), "db"), clock)
		},
		Reopen: func(t *testing.T, s store.Store, clock func() time.Time) store.Store {
			mu.Lock()
			path := paths[s]
			mu.Unlock()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, path, clock)
		},
	}
	storetest.Run(t, e)
	t.Run("Outbox", func(t *testing.T) { storetest.RunOutbox(t, e) }) // STORE-030, STORE-031
}
