package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealfeed/sealfeed/server/store/jsstore"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
)

const storeUsage = `usage: sealfeed store <backup|restore> [flags]

  backup   copy a node's embedded database while the node runs: one consistent
           snapshot, stamped with the data format (OPS-013)
  restore  put a backup back as a node's database and start a new store epoch,
           with the node stopped (OPS-014)
  new-epoch
           start a new store epoch in a cluster's JetStream store, after
           restoring it with JetStream's own tools (OPS-016)

Cluster nodes keep their data in NATS JetStream: back it up with JetStream's
own tools (docs/operations.md).
`

func storeCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, storeUsage)
		return errors.New("missing subcommand")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch args[0] {
	case "backup":
		return storeBackup(ctx, args[1:], stdout, stderr)
	case "restore":
		return storeRestore(ctx, args[1:], stdout, stderr)
	case "new-epoch":
		return storeNewEpoch(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, storeUsage)
		return nil
	}
	fmt.Fprint(stderr, storeUsage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// dbPath is where serve keeps the embedded database in a data directory.
func dbPath(data string) string { return filepath.Join(data, "sealfeed.db") }

func storeBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store backup", "-data DIR -out FILE", "Writes a consistent copy of the node's embedded database to FILE, while the node serves\n"+
		"(VACUUM INTO: one snapshot; publishes go on). The copy holds payloads sealed under the storage\n"+
		"key and no key: keep storage.key and server.key safe apart from it (docs/operations.md).", stderr)
	data := fs.String("data", "sealfeed-data", "the node's data directory")
	out := fs.String("out", "", "file to write; must not exist")
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	if err := sqlitestore.Backup(ctx, dbPath(*data), *out); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, data format %d)\n", dbPath(*data), *out, fi.Size(), sqlitestore.DataFormat)
	return nil
}

func storeRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store restore", "-in FILE -data DIR", "Puts a backup back as the node's embedded database and starts a new store epoch (ID-004), so\n"+
		"clients open a new replay window instead of refusing the message IDs the restore hands out again.\n"+
		"Stop the node first. The storage key must be the one the backup was sealed under: -storage-key,\n"+
		"$"+storageKeyEnv+", or storage.key in -data.", stderr)
	data := fs.String("data", "sealfeed-data", "the node's data directory")
	in := fs.String("in", "", "backup file from 'sealfeed store backup'")
	keyFile := fs.String("storage-key", "", "file with the storage key, if not storage.key in -data (OPS-015)")
	force := fs.Bool("force", false, "replace the database -data holds")
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("-in is required")
	}
	key, err := storageKey(*keyFile, os.Getenv)
	if err != nil {
		return err
	}
	if key == nil {
		p := filepath.Join(*data, "storage.key")
		if key, err = os.ReadFile(p); errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("no storage key: %s does not exist; give -storage-key or $%s, the key the backup was sealed under", p, storageKeyEnv)
		} else if err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	epoch, err := sqlitestore.Restore(ctx, *in, dbPath(*data), key, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s; new store epoch %x: clients start a new replay window\n", *in, dbPath(*data), epoch)
	return nil
}

func storeNewEpoch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store new-epoch", "-nats URLS -storage-key FILE", "Starts a new store epoch (ID-004) in a cluster's JetStream store: run it once after restoring the\n"+
		"stream and buckets from a JetStream backup, before any node serves from them (OPS-016).", stderr)
	urls := fs.String("nats", "", "NATS JetStream server URLs, comma-separated")
	keyFile := fs.String("storage-key", "", "file with the cluster's storage key (or $"+storageKeyEnv+")")
	prefix := fs.String("prefix", "", "stream and bucket name prefix, if not the default")
	replicas := fs.Int("replicas", 3, "replicas of the stream and buckets, as the nodes run them")
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if *urls == "" {
		return errors.New("-nats is required")
	}
	key, err := storageKey(*keyFile, os.Getenv)
	if err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("the cluster's storage key is required: -storage-key or $%s", storageKeyEnv)
	}
	nc, err := nats.Connect(*urls, nats.Timeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("NATS %s: %w", *urls, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := jsstore.Open(ctx, nc, jsstore.Options{StorageKey: key, Replicas: *replicas, Prefix: *prefix})
	if err != nil {
		return err
	}
	defer s.Close()
	old, err := s.Epoch(ctx)
	if err != nil {
		return fmt.Errorf("the store's epoch does not open under this storage key: %w", err)
	}
	epoch, err := s.NewEpoch(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "store epoch %x replaced by %x: clients start a new replay window\n", old, epoch)
	return nil
}
