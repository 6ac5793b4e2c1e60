package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestCheckpointsOffTheWriter: the writer's connection leaves checkpoints
// to the checkpointer until the log passes writerAutocheckpoint pages, and
// the checkpointer copies committed pages into the database file while
// the log is far below that (and below SQLite's default of 1000 pages).
func TestCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{StorageKey: testKey(3), Synchronous: "FULL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != writerAutocheckpoint {
		t.Fatalf("writer's wal_autocheckpoint %d (%v), want %d", auto, err, writerAutocheckpoint)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	payload := make([]byte, 4000)
	for i := range 50 { // some 200 pages of log, payloads alone
		req := &store.PublishRequest{Publisher: "p"}
		for j := range 4 {
			req.Publications = append(req.Publications, store.Publication{To: [][32]byte{{byte(i), byte(j)}}, Payload: payload, TTL: time.Hour})
		}
		if _, _, err := s.Publish(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= before+200*4000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after 200 payloads of 4000 bytes (%d before, %d checkpoints run): the log was not checkpointed",
				fi.Size(), before, s.checkpoints.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
