package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// rotationNode serves a node of cfg on addr ("127.0.0.1:0" for a fresh
// port) until the returned stop is called.
func rotationNode(t *testing.T, cfg server.Config, addr string) (ws, base string, stop func()) {
	t.Helper()
	n, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	for i := 0; ; i++ { // the previous node's port may take a moment to free
		if l, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, l) }()
	a := l.Addr().String()
	return "ws://" + a + server.WebSocketPath, "http://" + a, func() { cancel(); <-done }
}

func storedPins(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Pins [][]byte `json:"pins"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Pins
}

// ID-010, ID-011, ID-012, HS-070 on real sockets: a server announces its
// next key; a connected pinned client learns it; the server switches keys
// on the same address; the client reconnects to the new key without
// reconfiguration, drops the old pin, and after a restart from its state
// file connects again with the same configuration. A client that never
// saw the announcement is refused with unknown_server_key.
func TestServerKeyRotationWithConnectedPinnedClient(t *testing.T) {
	dir := t.TempDir()
	oldKey, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	oldPath, newPath := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	for p, k := range map[string]ed25519.PrivateKey{oldPath: oldKey, newPath: newKey} {
		if err := keyfile.SavePrivate(p, k); err != nil {
			t.Fatal(err)
		}
	}
	newPub := newKey.Public().(ed25519.PublicKey)
	oldID, newID := sig.KeyID(oldKey.Public().(ed25519.PublicKey)), sig.KeyID(newPub)
	pubKey, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pk := pubKey.Public().(ed25519.PublicKey)
	cfg := server.Config{DataDir: filepath.Join(dir, "data"), KeyFile: oldPath, NextKey: newPub,
		Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}}
	ws, base, stop := rotationNode(t, cfg, "127.0.0.1:0")
	addr := base[len("http://"):]

	identity, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, "client.json")
	clientCfg := func(state string) client.Config {
		return client.Config{URL: ws, PinnedKeyID: &oldID, Identity: identity, StatePath: state,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	receive := func(c *client.Client, payload string) {
		t.Helper()
		if _, err := publisher.New(base, pubKey).Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte(payload)}, ""); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case m := <-c.Messages():
				m.Ack()
				if string(m.Payload) == payload {
					return
				}
			case <-ctx.Done():
				t.Fatalf("%q never arrived", payload)
			}
		}
	}

	c, err := client.Dial(ctx, clientCfg(statePath))
	if err != nil {
		t.Fatal(err)
	}
	receive(c, "before the switch")
	if p := storedPins(t, statePath); len(p) != 2 || [32]byte(p[0]) != oldID || [32]byte(p[1]) != newID {
		t.Fatalf("ID-012: stored pins %x, want the old and the announced key", p)
	}

	// The switch: the same address, the new key, nothing announced.
	stop()
	cfg.KeyFile, cfg.NextKey = newPath, nil
	_, base, stop = rotationNode(t, cfg, addr)
	defer stop()
	for connected := false; !connected; {
		select {
		case ev := <-c.Events():
			connected = ev.Connected
		case <-ctx.Done():
			t.Fatal("the client did not reconnect to the new key")
		}
	}
	receive(c, "after the switch")
	c.Close()
	if p := storedPins(t, statePath); len(p) != 1 || [32]byte(p[0]) != newID {
		t.Fatalf("ID-010: stored pins %x, want the new key alone", p)
	}

	// A restart with the same configuration connects from the state file.
	c, err = client.Dial(ctx, clientCfg(statePath))
	if err != nil {
		t.Fatalf("restart with the learned pin: %v", err)
	}
	receive(c, "after the restart")
	c.Close()

	codeOf := func(err error) alert.Code { c, _ := alert.Find(err); return c }
	// A client that never saw the announcement.
	if _, err := client.Dial(ctx, clientCfg(filepath.Join(dir, "other.json"))); codeOf(err) != alert.UnknownServerKey {
		t.Fatalf("a client that never learned the new key: %v, want unknown_server_key", err)
	}
	// ID-012: a client reconfigured with another fingerprint starts from
	// it; what it learned from the old configuration no longer counts.
	other := sig.KeyID(pk)
	reconfigured := clientCfg(statePath)
	reconfigured.PinnedKeyID = &other
	if _, err := client.Dial(ctx, reconfigured); codeOf(err) != alert.UnknownServerKey {
		t.Fatalf("a reconfigured client used the pins it learned before: %v, want unknown_server_key", err)
	}
}
