package jsstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/storetest"
)

// TestContract runs the store contract suite on one JetStream server, each
// subtest under its own prefix (its own stream and buckets, replicas 1):
// DLV-001, API-016, API-017, API-023, API-024, API-026, API-027, API-028,
// API-029, API-030, API-032, API-040, BATCH-020, ID-004, HS-045, HS-046,
// HS-047, the shared device directory (STORE-020, STORE-022, API-094). Survival of a lost server is TestStoreSurvivesANATSServer's.
// Message IDs are stream sequences, shared by every client: the dense-ID
// subtest (DLV-007, a SHOULD) is a known deviation, and so is the order of
// onCommit of concurrent publishes, which a cluster cannot give, and the
// status of an expired message once JetStream removed it (API-032, a
// SHOULD). TTLs are JetStream's, on the wall clock.
func TestContract(t *testing.T) {
	c := natstest.Start(t, 1)
	var n atomic.Int64
	open := func(t *testing.T, opt Options) *Store {
		t.Helper()
		nc, err := nats.Connect(c.URLs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := Open(ctx, nc, opt)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e := storetest.Engine{
		Open: func(t *testing.T, clock func() time.Time) store.Store {
			return open(t, Options{Prefix: fmt.Sprintf("contract%d", n.Add(1)), Replicas: 1, StorageKey: make([]byte, 32), Now: clock})
		},
		// A restarted node: a new connection and Open on the same stream
		// and buckets.
		Reopen: func(t *testing.T, s store.Store, clock func() time.Time) store.Store {
			s.Close()
			return open(t, s.(*Store).opt)
		},
		Node: func(t *testing.T, s store.Store, clock func() time.Time) store.Store {
			return open(t, s.(*Store).opt)
		},
		WallClock:        true,
		SparseIDs:        "message IDs are stream sequences, shared by all clients (docs/scale-out.md)",
		UnorderedCommits: "publishes of several nodes commit independently; onCommit runs after each one's own commit, unordered",
		ForgetsExpired:   "JetStream removes a message at its TTL, and with it the headers its status is read from",
	}
	storetest.Run(t, e)
	t.Run("Outbox", func(t *testing.T) { storetest.RunOutbox(t, e) }) // STORE-030, STORE-031, STORE-032, STORE-033
}
