package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
)

// writePub writes k's public key to path.
func writePub(t *testing.T, path string, k ed25519.PrivateKey) {
	t.Helper()
	pem, _ := keyfile.MarshalPublic(k.Public().(ed25519.PublicKey))
	if err := os.WriteFile(path, pem, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the process has printed want n times.
func waitLog(t *testing.T, p *subprocess, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.output(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGHUPReloadsPublisherKeys: OPS-030 end to end. serve -publisher
// DIR re-reads the directory on SIGHUP: a key file added is accepted at
// once, one removed is refused at once, the connected client stays
// connected (no reconnect, messages keep arriving), and a directory with
// a file that does not parse is refused as a whole, keeping the keys in
// use.
func TestSIGHUPReloadsPublisherKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	n := newOpsNode(t)
	keys := filepath.Join(n.dir, "publishers")
	os.Mkdir(keys, 0o700)
	first, _ := keyfile.Generate()
	writePub(t, filepath.Join(keys, "first.pub"), first)
	n.proc = startServe(t, n.addr, "-data", n.data(), "-publisher", keys, "-log-level", "info")
	n.loadPin(t)
	base := "http://" + n.addr
	idKey, _ := keyfile.Generate()
	to := handshake.ClientID(idKey.Public().(ed25519.PublicKey))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "ws://" + n.addr + "/v1/ws", PinnedKeyID: &n.pin, Identity: idKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-c.Events() // connected
	send := func(k ed25519.PrivateKey, payload string) error {
		p := publisher.New(base, k)
		p.Retries = -1
		_, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte(payload)}, "")
		return err
	}
	receive := func(want string) {
		t.Helper()
		select {
		case m := <-c.Messages():
			if string(m.Payload) != want {
				t.Fatalf("got %q, want %q", m.Payload, want)
			}
			m.Ack()
		case <-ctx.Done():
			t.Fatalf("no %q", want)
		}
	}
	refused := func(err error) bool {
		var pr *publisher.Problem
		return errors.As(err, &pr) && pr.Status == 401
	}
	if err := send(first, "one"); err != nil {
		t.Fatal(err)
	}
	receive("one")

	second, _ := keyfile.Generate()
	writePub(t, filepath.Join(keys, "second.pub"), second)
	os.Remove(filepath.Join(keys, "first.pub"))
	n.proc.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, n.proc, "reload: applied", 1)
	if err := send(second, "two"); err != nil {
		t.Fatalf("added key: %v", err)
	}
	receive("two")
	if err := send(first, "x"); !refused(err) {
		t.Fatalf("removed key: %v, want 401", err)
	}

	os.WriteFile(filepath.Join(keys, "broken.pub"), []byte("not a key"), 0o644)
	n.proc.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, n.proc, "reload: refused", 1)
	if err := send(second, "three"); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}
	receive("three")
	select {
	case e := <-c.Events():
		t.Fatalf("client event during the reloads: %+v", e)
	default:
	}
	if strings.Count(n.proc.output(), "reload: applied") != 1 {
		t.Fatalf("the refused reload was applied:\n%s", n.proc.output())
	}
}
