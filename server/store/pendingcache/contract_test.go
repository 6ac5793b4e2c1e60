package pendingcache

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
	"github.com/sealfeed/sealfeed/server/store/storetest"
)

// tracking tracks every client the suite reads, as the core tracks the
// clients connected to it, so that the suite's reads after the first go
// through memory and its later publishes through onCommit.
type tracking struct {
	*Store
	mu      sync.Mutex
	tracked map[[32]byte]bool
}

func newTracking(s *Store) *tracking { return &tracking{Store: s, tracked: map[[32]byte]bool{}} }

func (t *tracking) Pending(ctx context.Context, id [32]byte, after uint64, limit int) ([]store.Message, error) {
	t.mu.Lock()
	if !t.tracked[id] {
		t.tracked[id] = true
		t.Track(id)
	}
	t.mu.Unlock()
	return t.Store.Pending(ctx, id, after, limit)
}

func openSQLite(t *testing.T, path string, clock func() time.Time) *sqlitestore.Store {
	t.Helper()
	key := make([]byte, 32)
	key[0] = 7
	s, err := sqlitestore.Open(path, sqlitestore.Options{StorageKey: key, Synchronous: "NORMAL", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContractOverMemstore runs the store contract suite through the cache
// over the memory engine, every client tracked: DLV-050, DLV-001, DLV-007,
// API-016, API-023, API-024, API-026, API-027, API-028, API-029, API-030,
// API-032, API-040, BATCH-020, ID-004, HS-045, HS-046, HS-047, STORE-020, STORE-021, STORE-022, API-094.
func TestContractOverMemstore(t *testing.T) {
	e := storetest.Engine{
		Open: func(t *testing.T, clock func() time.Time) store.Store {
			m, err := memstore.New(memstore.Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return newTracking(New(m, Options{Now: clock}))
		},
	}
	storetest.Run(t, e)
	t.Run("Outbox", func(t *testing.T) { storetest.RunOutbox(t, e) }) // STORE-030, STORE-031
}

// TestContractOverSQLite runs the contract suite through the cache over
// the SQLite engine, durability across Close and Open included: a
// reopened store starts with nothing in memory and reads the engine
// (DLV-050).
func TestContractOverSQLite(t *testing.T) {
	var mu sync.Mutex
	paths := map[store.Store]string{}
	open := func(t *testing.T, path string, clock func() time.Time) store.Store {
		s := newTracking(New(openSQLite(t, path, clock), Options{Now: clock}))
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
