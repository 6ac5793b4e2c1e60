package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestTicketKeysSealedAndRecordsDeleted: the ticket key set is sealed
// under the storage key, so a changed byte is ErrStoredDataTampered
// (HS-045), and Expire deletes the rows of expired records (HS-046).
// Creation, rotation, concurrent rotation and the records' generations are
// the contract suite's (storetest TicketKeys, TicketRecords).
func TestTicketKeysSealedAndRecordsDeleted(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s := openTest(t, filepath.Join(t.TempDir(), "db"), func() time.Time { return now })
	if _, err := s.TicketKeys(ctx, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE meta SET v = substr(v, 1, length(v) - 1) ||
		CASE WHEN substr(v, length(v), 1) = x'00' THEN x'01' ELSE x'00' END WHERE k = 'ticket_keys'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TicketKeys(ctx, now, time.Hour); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("tampered set: %v", err)
	}
	if _, err := s.TicketKeys(ctx, now.Add(2*time.Hour), time.Hour); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("rotation of a tampered set: %v", err)
	}

	if err := s.StartTicketRecord(ctx, [32]byte{7}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	var n int
	s.w.QueryRow(`SELECT count(*) FROM ticket_records`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d records after Expire", n)
	}
}
