package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// cutter forwards TCP connections to a server and cuts them on demand, so
// that a client reconnects without a restart.
type cutter struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutter(t *testing.T, upstream string) *cutter {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l}
	t.Cleanup(func() { l.Close(); c.cut() })
	go func() {
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, down, up)
			c.mu.Unlock()
			go func() { io.Copy(up, down); up.Close() }()
			go func() { io.Copy(down, up); down.Close() }()
		}
	}()
	return c
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.conns {
		x.Close()
	}
	c.conns = nil
}

type env struct {
	n   *servertest.Node
	pin [32]byte
	pub *publisher.Publisher
}

func newEnv(t *testing.T) *env {
	pubKey, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pk := pubKey.Public().(ed25519.PublicKey)
	n, err := servertest.Start(server.Config{DataDir: t.TempDir(), Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	e := &env{n: n, pub: publisher.New(n.Base, pubKey)}
	fp, err := hex.DecodeString(n.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	copy(e.pin[:], fp)
	return e
}

func (e *env) publish(t *testing.T, to [32]byte, payload string) string {
	t.Helper()
	r, err := e.pub.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte(payload)}, "")
	if err != nil {
		t.Fatal(err)
	}
	return r.Messages[0].ID
}

func (e *env) waitState(t *testing.T, handle, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.pub.Status(context.Background(), handle)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s is %s, want %s", handle, st.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) state(t *testing.T, handle string) string {
	t.Helper()
	st, err := e.pub.Status(context.Background(), handle)
	if err != nil {
		t.Fatal(err)
	}
	return st.State
}

func (e *env) dial(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = e.n.WS
	}
	cfg.PinnedKeyID = &e.pin
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receiveN(t *testing.T, c *client.Client, n int) []client.Message {
	t.Helper()
	var out []client.Message
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-c.Messages():
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d", len(out), n)
		}
	}
	return out
}

func nothingMore(t *testing.T, c *client.Client, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("message %d %q handed over again", m.ID, m.Payload)
	case <-time.After(d):
	}
}

func waitConnected(t *testing.T, c *client.Client) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.Events():
			if e.Connected {
				return
			}
		case <-deadline:
			t.Fatal("no reconnect")
		}
	}
}

// DLV-013, DLV-016: in channel mode receiving is not an Ack; across a
// reconnect the server redelivers what is unacknowledged and the client
// does not hand it over a second time; Message.Ack after the reconnect
// acknowledges through the new connection.
func TestReconnectNeverHandsOverTwiceAndAckUsesCurrentConnection(t *testing.T) {
	e := newEnv(t)
	addr := e.n.WS[len("ws://"):]
	addr = addr[:len(addr)-len(server.WebSocketPath)]
	cut := newCutter(t, addr)
	id, _ := keyfile.Generate()
	c := e.dial(t, client.Config{URL: "ws://" + cut.l.Addr().String() + server.WebSocketPath, Identity: id,
		StatePath: filepath.Join(t.TempDir(), "state.json")})
	waitConnected(t, c)
	var hs []string
	for _, p := range []string{"a", "b", "c"} {
		hs = append(hs, e.publish(t, c.ClientID(), p))
	}
	got := receiveN(t, c, 3)
	e.waitState(t, hs[0], "delivered")
	time.Sleep(100 * time.Millisecond)
	for _, h := range hs {
		if s := e.state(t, h); s != "delivered" {
			t.Fatalf("received from the channel, not acknowledged: %s is %s", h, s)
		}
	}
	cut.cut()
	waitConnected(t, c)
	nothingMore(t, c, 300*time.Millisecond)
	if err := got[1].Ack(); err != nil {
		t.Fatal(err)
	}
	e.waitState(t, hs[1], "acknowledged")
	if s := e.state(t, hs[0]); s == "acknowledged" {
		t.Fatal("a message the application did not acknowledge was acknowledged")
	}
	h := e.publish(t, c.ClientID(), "d")
	if m := receiveN(t, c, 1); string(m[0].Payload) != "d" || m[0].PossibleRedelivery {
		t.Fatalf("got %q redelivery=%v", m[0].Payload, m[0].PossibleRedelivery)
	}
	if s := e.state(t, h); s == "acknowledged" {
		t.Fatal("acknowledged before Ack")
	}
}

// DLV-016: with Handler a message is acknowledged when Handler returns
// nil, not before; one for which it returns an error stays
// unacknowledged and is handed over again after a restart, marked.
func TestHandlerAcksOnNilOnlyAndErrorsRedeliverAfterRestart(t *testing.T) {
	e := newEnv(t)
	id, _ := keyfile.Generate()
	statePath := filepath.Join(t.TempDir(), "state.json")
	release := make(chan struct{})
	entered := make(chan string, 4)
	c := e.dial(t, client.Config{Identity: id, StatePath: statePath,
		Handler: func(ctx context.Context, m client.Message) error {
			entered <- string(m.Payload)
			if string(m.Payload) == "bad" {
				return errors.New("cannot take it")
			}
			<-release
			return nil
		}})
	if c.Messages() != nil {
		t.Fatal("Messages is not nil with a Handler")
	}
	good := e.publish(t, c.ClientID(), "good")
	if p := <-entered; p != "good" {
		t.Fatalf("handler got %q", p)
	}
	time.Sleep(100 * time.Millisecond)
	if s := e.state(t, good); s == "acknowledged" {
		t.Fatal("acknowledged while the handler runs")
	}
	close(release)
	e.waitState(t, good, "acknowledged")
	bad := e.publish(t, c.ClientID(), "bad")
	<-entered
	time.Sleep(100 * time.Millisecond)
	if s := e.state(t, bad); s != "delivered" {
		t.Fatalf("a message whose handler failed is %s", s)
	}
	c.Close()

	var again client.Message
	done := make(chan struct{})
	c2 := e.dial(t, client.Config{Identity: id, StatePath: statePath,
		Handler: func(ctx context.Context, m client.Message) error {
			again = m
			close(done)
			return nil
		}})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("not handed over again after the restart")
	}
	if string(again.Payload) != "bad" || !again.PossibleRedelivery {
		t.Fatalf("after restart: %q redelivery=%v", again.Payload, again.PossibleRedelivery)
	}
	e.waitState(t, bad, "acknowledged")
	c2.Close()
}

// DLV-016: Close waits for a running Handler; when it returns nil the
// message is acknowledged before the connection closes, so the next start
// on the same state does not hand it over again.
func TestCloseAcknowledgesWhatTheRunningHandlerTook(t *testing.T) {
	e := newEnv(t)
	id, _ := keyfile.Generate()
	statePath := filepath.Join(t.TempDir(), "state.json")
	entered, release := make(chan struct{}), make(chan struct{})
	c := e.dial(t, client.Config{Identity: id, StatePath: statePath,
		Handler: func(ctx context.Context, m client.Message) error {
			close(entered)
			<-release
			return nil
		}})
	h := e.publish(t, c.ClientID(), "taken")
	<-entered
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the Handler was running")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
	e.waitState(t, h, "acknowledged")

	again := make(chan client.Message, 1)
	e.dial(t, client.Config{Identity: id, StatePath: statePath,
		Handler: func(ctx context.Context, m client.Message) error { again <- m; return nil }})
	select {
	case m := <-again:
		t.Fatalf("handed over again after Close: %q", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}
