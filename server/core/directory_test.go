package core

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// flakyDirectory is a memory store whose first device writes fail.
type flakyDirectory struct {
	*memstore.Store
	mu    sync.Mutex
	fails int
}

func (f *flakyDirectory) RecordDevice(ctx context.Context, d store.UserDevice, id [32]byte, seen time.Time) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errors.New("flaky directory")
	}
	return f.Store.RecordDevice(ctx, d, id, seen)
}

// TestDeviceRecordRetried: a device record whose write fails is written
// again at the next pass (TOK-020).
func TestDeviceRecordRetried(t *testing.T) {
	mem, err := memstore.New(memstore.Options{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	st := &flakyDirectory{Store: mem, fails: 1}
	h := newHub(t, st)
	h.queueDevice([32]byte{1}, "alice", "phone")
	h.writeDevices(context.Background())
	if ds, _ := mem.Devices(context.Background(), "alice"); len(ds) != 0 {
		t.Fatal("the failed write stored a device")
	}
	if h.M.StoreErrors.Load() != 1 {
		t.Fatal("the failure was not counted")
	}
	h.writeDevices(context.Background()) // the retry
	ds, _ := mem.Devices(context.Background(), "alice")
	if len(ds) != 1 || ds[0].ClientID != [32]byte{1} || ds[0].Device != "phone" {
		t.Fatalf("after the retry: %+v", ds)
	}

}

// unsupportedDirectory is a pendingcache-like wrapper over an engine
// without a directory: every call fails with errors.ErrUnsupported.
type unsupportedDirectory struct{ *memstore.Store }

func (unsupportedDirectory) RecordDevice(context.Context, store.UserDevice, [32]byte, time.Time) error {
	return errors.ErrUnsupported
}

// TestDeviceRecordUnsupported: a Store that says it has no directory is
// not asked again, nor counted as failing.
func TestDeviceRecordUnsupported(t *testing.T) {
	mem, _ := memstore.New(memstore.Options{})
	defer mem.Close()
	h := newHub(t, unsupportedDirectory{mem})
	h.queueDevice([32]byte{1}, "alice", "")
	h.writeDevices(context.Background())
	if len(h.dirQueue) != 0 || h.M.StoreErrors.Load() != 0 {
		t.Fatalf("queued %d, store errors %d", len(h.dirQueue), h.M.StoreErrors.Load())
	}
}
