package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// STORE-030: the event is part of the acknowledgement's commit. A commit
// that fails leaves the message pending and the outbox empty; the retry
// that commits records both at once.
func TestOutboxEventInTheAcksCommit(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	s.SetOutboxFilter(func(p string) bool { return p == "hooked" })
	ctx := context.Background()
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "hooked",
		Publications: []store.Publication{{To: [][32]byte{cid(1)}, Payload: []byte("x"), TTL: time.Hour}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("commit fails")
	s.testHookBeforeCommit = func(int) error { return boom }
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {res[0].Seq}}); !errors.Is(err, boom) {
		t.Fatalf("ack with a failing commit: %v", err)
	}
	if n, _ := s.OutboxLen(ctx); n != 0 {
		t.Fatalf("an acknowledgement that did not commit left %d events", n)
	}
	if n, _ := s.PendingCount(ctx, cid(1)); n != 1 {
		t.Fatalf("pending %d after the failed commit, want 1", n)
	}
	s.testHookBeforeCommit = nil
	if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {res[0].Seq}}); n != 1 || err != nil {
		t.Fatalf("ack: %d, %v", n, err)
	}
	evs, err := s.OutboxEvents(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Handle != res[0].Handle {
		t.Fatalf("events after the commit: %+v, %v", evs, err)
	}
}
