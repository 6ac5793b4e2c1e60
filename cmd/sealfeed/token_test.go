package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// TestTokenCommand: 'sealfeed token' issues a token that names the user,
// binds the client key and the audience, and refuses what a server would
// reject (TOK-003, TOK-005, TOK-008).
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	pubKey := filepath.Join(dir, "pub.pem")
	runOK(t, "keygen", "-out", pubKey)
	clientKey, _ := keyfile.Generate()
	ck := clientKey.Public().(ed25519.PublicKey)
	server := strings.Repeat("ab", 32)
	out := runOK(t, "token", "-key", pubKey, "-sub", "alice", "-device", "phone", "-client-key", base64.StdEncoding.EncodeToString(ck),
		"-server", server, "-valid", "30m")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := token.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keyfile.LoadPrivate(pubKey)
	if tk.Subject != "alice" || tk.Device != "phone" || !bytes.Equal(tk.ClientKey[:], ck) || tk.NotAfter-tk.NotBefore != 1800 ||
		tk.Audience.Type != token.AudienceServerKey || tk.IssuerID != sig.KeyID(k.Public().(ed25519.PublicKey)) {
		t.Fatalf("token %+v", tk)
	}
	runFail(t, []string{"token", "-key", pubKey, "-sub", "a", "-client-key", base64.StdEncoding.EncodeToString(ck), "-server", server, "-valid", "61m"}, "1 h, TOK-003")
	runFail(t, []string{"token", "-key", pubKey, "-sub", "a", "-client-key", base64.StdEncoding.EncodeToString(ck), "-server", server, "-realm", "r"}, "exactly one of -realm and -server")
	runFail(t, []string{"token", "-key", pubKey, "-client-key", base64.StdEncoding.EncodeToString(ck), "-realm", "r"}, "-sub")
}

// TestListenWithToken: a node with RequireToken serves 'listen -token' and
// refuses 'listen' without one (HS-062).
func TestListenWithToken(t *testing.T) {
	pubKey, _ := keyfile.Generate()
	pk := pubKey.Public().(ed25519.PublicKey)
	n, err := servertest.Start(server.Config{DataDir: t.TempDir(), RequireToken: true, Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	dir := t.TempDir()
	idPath, tokPath := filepath.Join(dir, "me.key"), filepath.Join(dir, "token")
	id, _, err := keyfile.LoadOrCreatePrivate(idPath)
	if err != nil {
		t.Fatal(err)
	}
	pinned := [32]byte(sig.KeyID(n.Node.Key.Public().(ed25519.PublicKey)))
	p := publisher.New(n.Base, pubKey)
	raw, err := p.IssueToken(publisher.TokenRequest{Subject: "alice", ClientKey: id.Public().(ed25519.PublicKey), ServerKeyID: pinned})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokPath, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	to := handshake.ClientID(id.Public().(ed25519.PublicKey))
	if _, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte("hello alice")}, ""); err != nil {
		t.Fatal(err)
	}
	listen := func(args ...string) (string, int) {
		var so, se bytes.Buffer
		code := run(append([]string{"listen", "-server", n.Base, "-pin", n.Fingerprint(), "-identity", idPath}, args...), &so, &se)
		return so.String() + se.String(), code
	}
	if text, code := listen("-count", "1", "-timeout", "3s"); code == 0 || !strings.Contains(text, "token_required") {
		t.Fatalf("listen without a token: exit %d: %s", code, text)
	}
	text, code := listen("-token", tokPath, "-count", "1", "-timeout", "20s")
	if code != 0 || !strings.Contains(text, "hello alice") {
		t.Fatalf("listen -token: exit %d: %s", code, text)
	}
}
