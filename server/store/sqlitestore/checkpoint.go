package sqlitestore

import (
	"database/sql"
	"time"
)

// Checkpoints. In WAL mode SQLite copies the log's pages back into the
// database file at a checkpoint and fsyncs that file. Left to itself, the
// connection that commits runs one whenever the log has passed 1000 pages:
// inside the writer's commit, so every caller queued behind that commit
// waits for a copy of some 4 MiB and an fsync, about twice a second at
// 1000 messages/s (bench/results/system.md). The store runs them on a
// connection of its own instead, checkpointer, every checkpointEvery while
// the writer commits; PASSIVE checkpoints copy what no reader still needs
// and never block the writer or a reader. The writer checkpoints by itself
// only once the log has passed writerAutocheckpoint pages: when the
// checkpointer falls that far behind, the log's growth is bounded at the
// price the default pays. A checkpoint only copies what a commit already
// made durable in the log; durability does not depend on it.
const (
	checkpointEvery      = 250 * time.Millisecond
	writerAutocheckpoint = 16384 // pages: 64 MiB of log
)

// checkpointer runs PASSIVE checkpoints on db while the writer commits,
// until stop closes.
func (s *Store) checkpointer(db *sql.DB, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if c := s.commits.Load(); c != last {
			last = c
			// An error (the database busy with a backup's restart, a
			// closing store) leaves the log to the next round or to the
			// writer's own checkpoint.
			db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			s.checkpoints.Add(1)
		}
	}
}
