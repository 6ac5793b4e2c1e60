package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

// TestTicketKeysAndRecords: the ticket key set is created once, rotates
// after its period keeping the old current key as the previous one, is
// sealed under the storage key (HS-045); records start at generation 1 and
// of concurrent advances from the same record exactly one succeeds
// (HS-046, HS-047); expired records are gone.
func TestTicketKeysAndRecords(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s := openTest(t, filepath.Join(t.TempDir(), "db"), func() time.Time { return now })
	k1, err := s.TicketKeys(ctx, now, time.Hour)
	if err != nil || k1.Current.ID != 1 || k1.Previous != nil {
		t.Fatalf("first set %+v %v", k1, err)
	}
	if k, _ := s.TicketKeys(ctx, now.Add(59*time.Minute), time.Hour); k.Current != k1.Current {
		t.Fatal("rotated before the period")
	}
	k2, err := s.TicketKeys(ctx, now.Add(time.Hour), time.Hour)
	if err != nil || k2.Current.ID != 2 || k2.Current.Key == k1.Current.Key || k2.Previous == nil || *k2.Previous != k1.Current {
		t.Fatalf("rotated set %+v %v", k2, err)
	}
	k3, _ := s.TicketKeys(ctx, now.Add(2*time.Hour), time.Hour)
	if k3.Current.ID != 3 || *k3.Previous != k2.Current {
		t.Fatalf("second rotation %+v", k3)
	}
	// Sealed: a changed byte is ErrStoredDataTampered.
	if _, err := s.w.Exec(`UPDATE meta SET v = substr(v, 1, length(v) - 1) || x'00' WHERE k = 'ticket_keys'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TicketKeys(ctx, now.Add(2*time.Hour), time.Hour); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("tampered set: %v", err)
	}

	id := [32]byte{7}
	if _, ok, _ := s.TicketRecord(ctx, id); ok {
		t.Fatal("a record before Start")
	}
	if err := s.StartTicketRecord(ctx, id, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.TicketRecord(ctx, id)
	if err != nil || !ok || r != (handshake.TicketRecord{Latest: 1}) {
		t.Fatalf("record %+v %v %v", r, ok, err)
	}
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.AdvanceTicketRecord(ctx, id, r, r.After(1), now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent advances from one record succeeded", wins)
	}
	if r, _, _ := s.TicketRecord(ctx, id); r != (handshake.TicketRecord{Latest: 2, Retry: true}) {
		t.Fatalf("after the advance %+v", r)
	}
	now = now.Add(2 * time.Hour)
	if _, ok, _ := s.TicketRecord(ctx, id); ok {
		t.Fatal("an expired record")
	}
	if _, err := s.Expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	var n int
	s.w.QueryRow(`SELECT count(*) FROM ticket_records`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d records after Expire", n)
	}
}
