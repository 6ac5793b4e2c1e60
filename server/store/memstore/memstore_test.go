package memstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/storetest"
)

// TestContract runs the store contract suite: DLV-001, DLV-007, API-016,
// API-023, API-024, API-026, API-027, API-028, API-029, API-030, API-032,
// API-040, BATCH-020, ID-004, HS-045, HS-046, HS-047, STORE-020, STORE-021, STORE-022, API-094. The memory store is
// not durable, so the suite's durability subtest is skipped.
func TestContract(t *testing.T) {
	e := storetest.Engine{
		Open: func(t *testing.T, clock func() time.Time) store.Store {
			s, err := New(Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	storetest.Run(t, e)
	t.Run("Outbox", func(t *testing.T) { storetest.RunOutbox(t, e) }) // STORE-030, STORE-031
}

// TestClosedStoreRefusesCalls: after Close every call fails with
// ErrClosed instead of acting on data that is gone.
func TestClosedStoreRefusesCalls(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publications: []store.Publication{{To: [][32]byte{{1}}, Payload: []byte("x"), TTL: time.Hour}}}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for name, err := range map[string]error{
		"Pending": func() error { _, err := s.Pending(ctx, [32]byte{1}, 0, 10); return err }(),
		"Ack":     func() error { _, err := s.Ack(ctx, map[[32]byte][]uint64{{1}: {1}}); return err }(),
		"Seen":    func() error { _, err := s.Seen(ctx, "k", "n", time.Now().Add(time.Hour)); return err }(),
		"Epoch":   func() error { _, err := s.Epoch(ctx); return err }(),
		"Ready":   s.Ready(ctx),
		"Publish": func() error {
			_, _, err := s.Publish(ctx, &store.PublishRequest{Publications: []store.Publication{{To: [][32]byte{{1}}, TTL: time.Hour}}}, nil)
			return err
		}(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
