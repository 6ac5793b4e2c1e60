package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/server"
)

// seal-key, publish -seal-to and listen -seal-key -seal-from: the client
// prints the opened payload with the publisher's KeyID (SEAL-032); a record
// made by another identity is refused by publish (SEAL-006); a payload
// sealed by a key listen does not trust prints its error code (SEAL-031).
func TestSealedCommands(t *testing.T) {
	dir := t.TempDir()
	pubPath, otherPub := filepath.Join(dir, "pub.key"), filepath.Join(dir, "other-pub.key")
	pubKey, _ := keyfile.Generate()
	otherKey, _ := keyfile.Generate()
	for p, k := range map[string]ed25519.PrivateKey{pubPath: pubKey, otherPub: otherKey} {
		if err := keyfile.SavePrivate(p, k); err != nil {
			t.Fatal(err)
		}
	}
	pk, opk := pubKey.Public().(ed25519.PublicKey), otherKey.Public().(ed25519.PublicKey)
	n, err := servertest.Start(server.Config{DataDir: t.TempDir(),
		Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk, sig.Fingerprint(opk): opk}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	cli := func(args ...string) (string, int) {
		var so, se bytes.Buffer
		code := run(args, &so, &se)
		return so.String() + se.String(), code
	}
	idPath, strangerPath := filepath.Join(dir, "me.key"), filepath.Join(dir, "stranger.key")
	for _, p := range []string{idPath, strangerPath} {
		if _, _, err := keyfile.LoadOrCreatePrivate(p); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := keyfile.LoadPrivate(idPath)
	to := hex.EncodeToString(func() []byte { c := handshake.ClientID(id.Public().(ed25519.PublicKey)); return c[:] }())
	sealKey, record := filepath.Join(dir, "seal.key"), filepath.Join(dir, "seal.rec")
	if text, code := cli("seal-key", "-identity", idPath, "-out", sealKey, "-record", record); code != 0 || !strings.Contains(text, "client "+to) {
		t.Fatalf("seal-key: exit %d: %s", code, text)
	}
	if text, code := cli("seal-key", "-identity", idPath, "-out", sealKey, "-record", filepath.Join(dir, "x.rec")); code == 0 {
		t.Fatalf("seal-key overwrote its key file: %s", text)
	}
	strangerKey, strangerRec := filepath.Join(dir, "s.key"), filepath.Join(dir, "s.rec")
	if text, code := cli("seal-key", "-identity", strangerPath, "-suite", "x25519", "-out", strangerKey, "-record", strangerRec); code != 0 {
		t.Fatalf("seal-key: exit %d: %s", code, text)
	}
	publish := func(key, rec, text string) (string, int) {
		return cli("publish", "-server", n.Base, "-key", key, "-to", to, "-seal-to", rec, "-text", text)
	}
	if text, code := publish(pubPath, strangerRec, "x"); code == 0 || !strings.Contains(text, "record_identity_mismatch") {
		t.Fatalf("publish to another identity's record: exit %d: %s", code, text)
	}
	// One envelope per client (SEAL-033): -seal-to with two -to is refused.
	if text, code := cli("publish", "-server", n.Base, "-key", pubPath, "-to", to, "-to", strings.Repeat("ab", 32), "-seal-to", record, "-text", "x"); code == 0 || !strings.Contains(text, "SEAL-033") {
		t.Fatalf("-seal-to with two clients: exit %d: %s", code, text)
	}
	if text, code := publish(pubPath, record, "the sealed secret"); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, text)
	}
	if text, code := publish(otherPub, record, "from the other publisher"); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, text)
	}
	text, code := cli("listen", "-server", n.Base, "-pin", n.Fingerprint(), "-identity", idPath,
		"-seal-key", sealKey, "-seal-from", hex.EncodeToString(pk), "-count", "2", "-timeout", "20s")
	if code != 0 {
		t.Fatalf("listen: exit %d: %s", code, text)
	}
	kid := sig.KeyID(pk)
	if !strings.Contains(text, "1 unicast sealed-by="+hex.EncodeToString(kid[:])+" the sealed secret\n") ||
		!strings.Contains(text, "2 unicast seal-error=untrusted_publisher\n") {
		t.Fatalf("listen output:\n%s", text)
	}
}
