package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// REPLAY-010, BATCH-020: batch sequences are per session. A client that
// restarts from its state file and meets a server whose batch_seq went
// backwards (the same server key on a fresh store, whose sequence starts
// again at 1) still receives messages. With batch sequences persisted per
// signer key, as before, every batch of the fresh store was refused with
// replayed_batch until its sequence passed the old one (here 131073
// reconnects).
func TestRestartAgainstFreshStoreStillReceives(t *testing.T) {
	pubKey, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pk := pubKey.Public().(ed25519.PublicKey)
	publishers := map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}
	first := t.TempDir()
	start := func(dir string) *servertest.Node {
		t.Helper()
		n, err := servertest.Start(server.Config{DataDir: dir, Publishers: publishers})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := start(first)
	fp, _ := hex.DecodeString(n.Fingerprint())
	var pin [32]byte
	copy(pin[:], fp)
	dir := t.TempDir()
	identity, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(n *servertest.Node) client.Config {
		return client.Config{URL: n.WS, PinnedKeyID: &pin, Identity: identity, StatePath: filepath.Join(dir, "state.json"),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	}
	receive := func(n *servertest.Node, payloads []string, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, cfg(n))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p := publisher.New(n.Base, pubKey)
		for _, pl := range payloads {
			if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte(pl)}, ""); err != nil {
				t.Fatal(err)
			}
		}
		for {
			select {
			case m := <-c.Messages():
				if err := m.Ack(); err != nil {
					t.Fatal(err)
				}
				if string(m.Payload) == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("%q never arrived", want)
			}
		}
	}
	// Three batches on the first store, across node restarts: a node
	// reserves batch sequence numbers in blocks of 2¹⁶ (BATCH-020), so the
	// client accepts batch_seq 1, 65537 and 131073.
	for i := 1; i <= 3; i++ {
		if i > 1 {
			n = start(first)
		}
		receive(n, []string{fmt.Sprint("first ", i)}, fmt.Sprint("first ", i))
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	// The same server key on a fresh store: batch_seq starts again at 1 and
	// message IDs again at 1 (IDs 1 … 3 read as duplicates to the client's
	// window, so it is the fourth message that must arrive).
	second := t.TempDir()
	key, err := os.ReadFile(filepath.Join(first, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, "server.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	n2 := start(second)
	defer n2.Stop()
	if n2.Fingerprint() != n.Fingerprint() {
		t.Fatal("the second node has another key")
	}
	receive(n2, []string{"fresh 1", "fresh 2", "fresh 3", "fresh 4"}, "fresh 4")
}
