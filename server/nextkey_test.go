package server_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/restapi"
)

// HS-070, HS-072: a node configured with a next key announces it (GET
// /v1/server shows it, for operators) and refuses its own key or an
// invalid one as the next key; KeyFile names the identity key.
func TestNodeNextKey(t *testing.T) {
	dir := t.TempDir()
	next, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	nextPub := next.Public().(ed25519.PublicKey)
	tn := startNode(t, dir, 0, func(c *server.Config) { c.NextKey = nextPub })
	res, err := http.Get(tn.base + "/v1/server")
	if err != nil {
		t.Fatal(err)
	}
	var info restapi.ServerJSON
	err = json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.NextKeyID != sig.Fingerprint(nextPub) || info.NextPublicKey == "" {
		t.Fatalf("/v1/server: next key %q, want %s", info.NextKeyID, sig.Fingerprint(nextPub))
	}
	own := tn.Key.Public().(ed25519.PublicKey)
	tn.stop()

	for name, k := range map[string]ed25519.PublicKey{"own key": own, "small order": make(ed25519.PublicKey, 32)} {
		if n, err := server.New(server.Config{DataDir: dir, NextKey: k}); err == nil {
			n.Close()
			t.Fatalf("%s as the next key: accepted", name)
		}
	}
	// The next key's private half, as the identity key: the node serves it.
	keyPath := filepath.Join(t.TempDir(), "next.key")
	if err := keyfile.SavePrivate(keyPath, next); err != nil {
		t.Fatal(err)
	}
	n, err := server.New(server.Config{DataDir: dir, KeyFile: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Fingerprint() != sig.Fingerprint(nextPub) {
		t.Fatalf("KeyFile: fingerprint %s, want %s", n.Fingerprint(), sig.Fingerprint(nextPub))
	}
	if _, err := server.New(server.Config{DataDir: t.TempDir(), KeyFile: filepath.Join(dir, "missing.key")}); err == nil {
		t.Fatal("a missing KeyFile was created or ignored")
	}
}
