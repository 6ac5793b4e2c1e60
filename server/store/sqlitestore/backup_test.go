package sqlitestore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestBackupWhilePublishingIsConsistent: a backup taken while a writer
// publishes one message per transaction holds a prefix of the writer's
// messages with no gap (one snapshot), at least every message committed
// before the backup began (OPS-013); its restore opens under the same
// storage key with a new epoch (ID-004, OPS-014), and the live store keeps
// its own epoch.
func TestBackupWhilePublishingIsConsistent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := openTest(t, filepath.Join(dir, "sealfeed.db"), nil)
	liveEpoch, _ := live.Epoch(ctx)
	publish := func(i int) {
		t.Helper()
		if _, _, err := live.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
			{To: [][32]byte{cid(1)}, Payload: []byte{byte(i)}, TTL: time.Hour}}}, nil); err != nil {
			t.Error(err)
		}
	}
	for i := range 20 {
		publish(i)
	}
	var committed atomic.Int64
	committed.Store(20)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 20; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			publish(i)
			committed.Add(1)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	before := committed.Load()
	out := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, filepath.Join(dir, "sealfeed.db"), out); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	after := committed.Load()

	target := filepath.Join(t.TempDir(), "sealfeed.db")
	epoch, err := Restore(ctx, out, target, testKey(7), false)
	if err != nil {
		t.Fatal(err)
	}
	if epoch == liveEpoch {
		t.Fatal("the restore kept the live store's epoch (ID-004)")
	}
	if e, _ := live.Epoch(ctx); e != liveEpoch {
		t.Fatal("the backup changed the live store's epoch")
	}
	restored := openTest(t, target, nil)
	if e, err := restored.Epoch(ctx); err != nil || e != epoch {
		t.Fatalf("restored store's epoch %x, %v; Restore returned %x", e, err, epoch)
	}
	msgs, err := restored.Pending(ctx, cid(1), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(msgs)) < before || int64(len(msgs)) > after {
		t.Fatalf("backup holds %d messages; %d were committed before it began, %d by its end", len(msgs), before, after)
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) || len(m.Payload) != 1 || m.Payload[0] != byte(i) {
			t.Fatalf("message %d: seq %d payload %x: not a prefix of the writer's messages", i, m.Seq, m.Payload)
		}
	}
	t.Logf("backup during publishing: %d messages (%d committed before, %d after)", len(msgs), before, after)
}

// TestRestoreRefuses: a restore over an existing database without
// overwrite, with another storage key, of a later data format, or of a
// file that is not a SealFeed database is refused and leaves the target
// as it was (OPS-014).
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := openTest(t, filepath.Join(dir, "sealfeed.db"), nil)
	src.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1)}, Payload: []byte("x"), TTL: time.Hour}}}, nil)
	backup := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, filepath.Join(dir, "sealfeed.db"), backup); err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, filepath.Join(dir, "sealfeed.db"), backup); err == nil {
		t.Fatal("a backup overwrote an existing file")
	}

	targetDir := t.TempDir()
	target := filepath.Join(targetDir, "sealfeed.db")
	existing := openTest(t, target, nil)
	existingEpoch, _ := existing.Epoch(ctx)
	existing.Close()
	if _, err := Restore(ctx, backup, target, testKey(7), false); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("restore over an existing database without overwrite: %v", err)
	}
	if _, err := Restore(ctx, backup, target, testKey(8), true); err == nil {
		t.Fatal("restore with another storage key succeeded")
	}
	future := filepath.Join(dir, "future.db")
	copyFile(backup, future)
	db, _ := sql.Open("sqlite", "file:"+future)
	if _, err := db.Exec(`PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Restore(ctx, future, target, testKey(7), true); err == nil || !strings.Contains(err.Error(), "data format 3") {
		t.Fatalf("restore of a later data format: %v", err)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600)
	if _, err := Restore(ctx, junk, target, testKey(7), true); err == nil {
		t.Fatal("restore of a file that is not a database succeeded")
	}
	s := openTest(t, target, nil)
	if e, err := s.Epoch(ctx); err != nil || e != existingEpoch {
		t.Fatalf("a refused restore changed the target: epoch %x, %v", e, err)
	}
	if m, _ := s.Pending(ctx, cid(1), 0, 10); len(m) != 0 {
		t.Fatal("a refused restore put messages in the target")
	}
	left, _ := filepath.Glob(filepath.Join(targetDir, ".*restore*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	s.Close()
	if _, err := Restore(ctx, backup, target, testKey(7), true); err != nil {
		t.Fatalf("restore with overwrite: %v", err)
	}
	s = openTest(t, target, nil)
	if m, _ := s.Pending(ctx, cid(1), 0, 10); len(m) != 1 || string(m[0].Payload) != "x" {
		t.Fatalf("restored messages: %v", m)
	}
}
