package server_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
)

// copyDB copies the node's database files (sealfeed.db and any WAL files)
// from one directory to another, replacing what is there.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(to, "sealfeed.db*"))
	for _, f := range old {
		os.Remove(f)
	}
	files, _ := filepath.Glob(filepath.Join(from, "sealfeed.db*"))
	if len(files) == 0 {
		t.Fatal("no database to copy")
	}
	for _, f := range files {
		src, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoredStoreRedeliversInsteadOfAcknowledging: a store restored
// from a copy taken earlier reassigns message IDs the client already
// accepted. With the new epoch the restore starts (ID-004), the client
// opens a new window (REPLAY-021) and hands the reassigned messages to the
// application, marked as possible redeliveries (DLV-005), instead of
// dropping them as duplicates; the status API does not report them
// acknowledged before the application acknowledges them. Putting the old
// store back without a new epoch is refused with replayed_epoch
// (REPLAY-020).
func TestRestoredStoreRedeliversInsteadOfAcknowledging(t *testing.T) {
	dir, backup := t.TempDir(), t.TempDir()
	id, _ := keyfile.Generate()
	statePath := filepath.Join(t.TempDir(), "state.json")
	pubKey, _ := keyfile.Generate()
	ctx := context.Background()
	pub := pubKey.Public().(ed25519.PublicKey)
	start := func() *testNode {
		return startNode(t, dir, 0, func(c *server.Config) { c.Publishers[sig.Fingerprint(pub)] = pub })
	}
	dial := func(tn *testNode) *client.Client {
		return tn.dial(t, func(c *client.Config) { c.Identity, c.StatePath = id, statePath })
	}
	publish := func(tn *testNode, text string) string {
		r, err := publisher.New(tn.base, pubKey).Publish(ctx, publisher.Message{To: [][32]byte{handshake.ClientID(id.Public().(ed25519.PublicKey))}, Payload: []byte(text)}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r.Messages[0].ID
	}

	tn := start()
	c := dial(tn)
	h1 := publish(tn, "m1")
	m := collectHeld(t, c, 1, 10*time.Second)
	m[0].Ack()
	waitState(t, publisher.New(tn.base, pubKey), h1, "acknowledged")
	c.Close()
	tn.stop()
	copyDB(t, dir, backup) // the backup: message 1 acknowledged

	tn = start()
	c = dial(tn)
	var hs []string
	for _, s := range []string{"m2", "m3"} {
		hs = append(hs, publish(tn, s))
	}
	for _, m := range collectHeld(t, c, 2, 10*time.Second) {
		if m.PossibleRedelivery {
			t.Fatalf("message %d marked as a redelivery without a restore", m.ID)
		}
		m.Ack()
	}
	for _, h := range hs {
		waitState(t, publisher.New(tn.base, pubKey), h, "acknowledged")
	}
	c.Close()
	tn.stop()

	// The restore: the backup comes back and starts a new epoch.
	copyDB(t, backup, dir)
	storageKey, err := os.ReadFile(filepath.Join(dir, "storage.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlitestore.Open(filepath.Join(dir, "sealfeed.db"), sqlitestore.Options{StorageKey: storageKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()

	tn = start()
	h4, h5 := publish(tn, "m4"), publish(tn, "m5")
	c = dial(tn)
	got := collectHeld(t, c, 2, 10*time.Second)
	for i, want := range []string{"m4", "m5"} {
		if string(got[i].Payload) != want || got[i].ID != uint64(i+2) || !got[i].PossibleRedelivery {
			t.Fatalf("after the restore: message %d %q redelivery=%v, want %q with ID %d marked as a possible redelivery",
				got[i].ID, got[i].Payload, got[i].PossibleRedelivery, want, i+2)
		}
	}
	p := publisher.New(tn.base, pubKey)
	for _, h := range []string{h4, h5} {
		if st, err := p.Status(ctx, h); err != nil || st.State == "acknowledged" {
			t.Fatalf("status of a message no application acknowledged: %+v %v", st, err)
		}
	}
	got[0].Ack()
	got[1].Ack()
	waitState(t, p, h4, "acknowledged")
	waitState(t, p, h5, "acknowledged")
	c.Close()
	tn.stop()

	// The old store put back as it was (its epoch, which the client left):
	// refused.
	copyDB(t, backup, dir)
	tn = start()
	pin := tn.pinned
	_, err = client.Dial(ctx, client.Config{URL: tn.ws, PinnedKeyID: &pin, Identity: id, StatePath: statePath})
	if code, ok := alert.Find(err); !ok || code != alert.ReplayedEpoch {
		t.Fatalf("old epoch: %v, want replayed_epoch", err)
	}
}
