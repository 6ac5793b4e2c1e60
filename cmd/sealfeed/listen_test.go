package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// listen -out appends '<id> <kind> <redelivery|first> <payload>' per
// message and acknowledges only after the line is synced (DLV-016): the
// server reports the messages acknowledged, and a second listen on the
// same state gets nothing again.
func TestListenOutAcknowledgesWrittenLines(t *testing.T) {
	pubKey, _ := keyfile.Generate()
	pk := pubKey.Public().(ed25519.PublicKey)
	n, err := servertest.Start(server.Config{DataDir: t.TempDir(), Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	dir := t.TempDir()
	idPath, out := filepath.Join(dir, "me.key"), filepath.Join(dir, "out.txt")
	id, _, err := keyfile.LoadOrCreatePrivate(idPath)
	if err != nil {
		t.Fatal(err)
	}
	to := handshake.ClientID(id.Public().(ed25519.PublicKey))
	p := publisher.New(n.Base, pubKey)
	var handles []string
	for _, text := range []string{"one", "two"} {
		r, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte(text)}, "")
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, r.Messages[0].ID)
	}
	listen := func(args ...string) (string, int) {
		var so, se bytes.Buffer
		code := run(append([]string{"listen", "-server", n.Base, "-pin", n.Fingerprint(), "-identity", idPath, "-out", out}, args...), &so, &se)
		return so.String() + se.String(), code
	}
	if text, code := listen("-count", "2", "-timeout", "20s"); code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	b, _ := os.ReadFile(out)
	// The key-identified client starts without a state: it cannot know
	// what an earlier run handed over, so both are marked (DLV-015).
	if got := string(b); got != "1 unicast redelivery one\n2 unicast redelivery two\n" {
		t.Fatalf("out file:\n%s", got)
	}
	for _, h := range handles {
		deadline := time.Now().Add(10 * time.Second) // the server stores acks in batches
		for {
			st, err := p.Status(context.Background(), h)
			if err != nil {
				t.Fatal(err)
			}
			if st.State == "acknowledged" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, want acknowledged", h, st.State)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte("three")}, ""); err != nil {
		t.Fatal(err)
	}
	if text, code := listen("-count", "1", "-timeout", "20s"); code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	b, _ = os.ReadFile(out)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 3 || lines[2] != "3 unicast first three" {
		t.Fatalf("out file after the second run:\n%s", b)
	}
}
