package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/sealed"
	"github.com/sealfeed/sealfeed/server"
)

// TestSealedEndToEnd: a publisher seals to a client's key record and
// publishes through a real node with its SQLite store; the store holds the
// envelope only (the plaintext is in no file of the data directory, and
// what the store hands back is the envelope), and the client opens it
// (SEAL-030, SEAL-032). An envelope signed by a key the client does not
// trust reaches the application as an error and is acknowledged when the
// handler returns nil (SEAL-031); a plain payload is marked not sealed.
func TestSealedEndToEnd(t *testing.T) {
	pubKey, _ := keyfile.Generate()
	pk := pubKey.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	n, err := servertest.Start(server.Config{DataDir: dir, Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	var pin [32]byte
	fp, _ := hex.DecodeString(n.Fingerprint())
	copy(pin[:], fp)
	pub := publisher.New(n.Base, pubKey)

	identity, _ := keyfile.Generate()
	clientID := handshake.ClientID(identity.Public().(ed25519.PublicKey))
	key, err := sealed.NewKey(identity, sealed.SuiteHybrid, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the launch code is 7f3a9c21e5d0b846")
	envelope, err := pub.Seal(key.Record.Raw(), clientID, secret)
	if err != nil {
		t.Fatal(err)
	}
	// A record of another identity is refused: the server cannot hand the
	// publisher a key of its own (SEAL-006).
	other, _ := keyfile.Generate()
	otherKey, _ := sealed.NewKey(other, sealed.SuiteHybrid, time.Time{}, 0)
	if _, err := pub.Seal(otherKey.Record.Raw(), clientID, secret); sealed.CodeOf(err) != sealed.ErrRecordIdentity {
		t.Fatalf("sealing to another identity's record: %v", err)
	}
	stranger, _ := keyfile.Generate()
	rec, _ := sealed.VerifyRecordForClient(key.Record.Raw(), clientID, time.Now())
	forged, err := sealed.Seal(rec, stranger, []byte("pay the stranger"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var handles []string
	for _, p := range [][]byte{envelope, forged, []byte("plain hello")} {
		r, err := pub.Publish(ctx, publisher.Message{To: [][32]byte{clientID}, Payload: p}, "")
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, r.Messages[0].ID)
	}

	// What the server holds: the envelope, in the store and on disk.
	held, err := n.Store.Pending(ctx, clientID, 0, 10)
	if err != nil || len(held) != 3 {
		t.Fatalf("pending: %d, %v", len(held), err)
	}
	if !bytes.Equal(held[0].Payload, envelope) || bytes.Contains(held[0].Payload, secret) {
		t.Fatal("the store holds something other than the envelope")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatal("no files in the data directory")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a directory
		}
		if bytes.Contains(b, secret) || bytes.Contains(b, secret[:16]) {
			t.Fatalf("%s contains the plaintext", filepath.Base(f))
		}
	}

	got := make(chan client.Message, 3)
	publisherKey, _ := sig.ParsePublicKey(pk)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.Dial(cctx, client.Config{URL: n.WS, PinnedKeyID: &pin, Identity: identity,
		Sealing: &sealed.Opener{Keys: []*sealed.Key{key}, Publishers: []*sig.PublicKey{publisherKey}},
		Handler: func(_ context.Context, m client.Message) error { got <- m; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ms []client.Message
	for len(ms) < 3 {
		select {
		case m := <-got:
			ms = append(ms, m)
		case <-cctx.Done():
			t.Fatalf("received %d of 3 messages", len(ms))
		}
	}
	if m := ms[0]; !m.Sealed || m.SealError != nil || !bytes.Equal(m.Payload, secret) || m.SealedBy != publisherKey.ID() || time.Since(m.SealedAt) > time.Minute {
		t.Fatalf("sealed message: sealed %v err %v payload %q", m.Sealed, m.SealError, m.Payload)
	}
	if m := ms[1]; m.Sealed || sealed.CodeOf(m.SealError) != sealed.ErrUntrustedPublisher || !bytes.Equal(m.Payload, forged) {
		t.Fatalf("forged message: sealed %v err %v", m.Sealed, m.SealError)
	}
	if m := ms[2]; m.Sealed || m.SealError != nil || string(m.Payload) != "plain hello" {
		t.Fatalf("plain message: sealed %v err %v payload %q", m.Sealed, m.SealError, m.Payload)
	}
	for _, h := range handles {
		e := &env{n: n, pub: pub}
		e.waitState(t, h, "acknowledged")
	}
}
