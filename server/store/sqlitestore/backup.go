package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// DataFormat is the version of the database layout this build reads and
// writes (OPS-013). A backup records it in SQLite's user_version; Restore
// refuses a backup of a later format. A database without a stamp is
// format 1, the first. A change of layout that an older build cannot read
// increments it, and the build that makes the change migrates older
// databases when it opens them. Format 2 keys messages by row ID
// (STORE-012, migrate.go).
const DataFormat = 2

// Backup writes a consistent copy of the database at dbPath to out, which
// must not exist, while the store may be open and serving (OPS-013): VACUUM
// INTO reads one snapshot of the database in a read transaction, so the
// copy holds every transaction committed before it began and none after,
// and the writer goes on meanwhile (WAL). The copy is a database of its
// own, without a WAL, stamped with DataFormat. Payloads stay sealed under
// the storage key, which the copy does not contain. ctx interrupts a long
// copy; a partial file is removed.
func Backup(ctx context.Context, dbPath, out string) (err error) {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("sqlitestore: backup: %s exists", out)
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&"+url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	defer func() {
		if err != nil {
			os.Remove(out)
		}
	}()
	var format int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&format); err != nil {
		return fmt.Errorf("sqlitestore: backup: %s: %w", dbPath, err)
	}
	if format > DataFormat {
		return fmt.Errorf("sqlitestore: backup: %s has data format %d; this build knows %d", dbPath, format, DataFormat)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	return stampFormat(ctx, out)
}

// stampFormat records DataFormat in the copy at path and syncs it.
func stampFormat(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, DataFormat)); err != nil {
		db.Close()
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	return syncFile(path)
}

// Restore puts the backup at in back as the database at dbPath and starts
// a new store epoch (ID-004, OPS-014) before returning, so that no client
// is ever served the restored data under the epoch it had: a client's
// replay window of the old epoch would otherwise refuse, as duplicates,
// message IDs the restore hands out again. The store must not be open
// (stop the node); an existing database is replaced only with overwrite.
// storageKey must be the key the backup's payloads are sealed under: a
// wrong key is refused before anything is replaced. It returns the new
// epoch.
func Restore(ctx context.Context, in, dbPath string, storageKey []byte, overwrite bool) (epoch [16]byte, err error) {
	if _, err := os.Stat(dbPath); err == nil && !overwrite {
		return epoch, fmt.Errorf("sqlitestore: restore: %s exists; stop the node and restore with overwrite to replace it", dbPath)
	}
	// Check the backup in a temporary copy beside the target: its format,
	// its integrity and the storage key. Only a copy that passes replaces
	// the database, by a rename.
	tmp := filepath.Join(filepath.Dir(dbPath), "."+filepath.Base(dbPath)+".restore")
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(f)
	}
	defer func() {
		if err != nil {
			for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
				os.Remove(f)
			}
		}
	}()
	if err := copyFile(in, tmp); err != nil {
		return epoch, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	if err := checkBackup(ctx, tmp); err != nil {
		return epoch, err
	}
	s, err := Open(tmp, Options{StorageKey: storageKey})
	if err != nil {
		return epoch, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	if _, err := s.Epoch(ctx); err != nil {
		s.Close()
		return epoch, fmt.Errorf("sqlitestore: restore: the backup's store epoch does not open under this storage key: %w", err)
	}
	epoch, err = s.NewEpoch(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return epoch, fmt.Errorf("sqlitestore: restore: new epoch: %w", err)
	}
	// Fold the WAL into the file, so that the file alone is the restored
	// database. The old database's WAL and shared memory belong to the
	// old data: remove them before the rename, or SQLite would replay the
	// old WAL over the restored database.
	if err := leaveWAL(ctx, tmp); err != nil {
		return epoch, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	for _, f := range []string{dbPath + "-wal", dbPath + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return epoch, fmt.Errorf("sqlitestore: restore: %w", err)
		}
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return epoch, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	return epoch, syncFile(filepath.Dir(dbPath))
}

// leaveWAL checkpoints the database at path into its file and switches it
// to a rollback journal, which removes the WAL; the next Open switches
// back to WAL.
func leaveWAL(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode); err != nil {
		db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if mode != "delete" {
		return fmt.Errorf("journal mode %s, want delete", mode)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		return errors.New("the WAL remains after the checkpoint")
	}
	return syncFile(path)
}

// checkBackup verifies that the file at path is an intact SQLite
// database of a data format this build reads.
func checkBackup(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var format int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&format); err != nil {
		return fmt.Errorf("sqlitestore: restore: not a SQLite database: %w", err)
	}
	if format > DataFormat {
		return fmt.Errorf("sqlitestore: restore: the backup has data format %d; this build reads up to %d (restore with the build that made it)", format, DataFormat)
	}
	var ok string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check(1)`).Scan(&ok); err != nil {
		return fmt.Errorf("sqlitestore: restore: integrity check: %w", err)
	}
	if ok != "ok" {
		return fmt.Errorf("sqlitestore: restore: the backup is damaged: %s", ok)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).Scan(&n); err != nil || n != 1 {
		return fmt.Errorf("sqlitestore: restore: not a SealFeed database")
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
