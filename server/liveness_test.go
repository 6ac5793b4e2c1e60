package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// freezer is a loopback TCP proxy that the test can freeze: while frozen it
// forwards nothing in either direction, as a paused or cut-off node looks
// to its clients.
type freezer struct {
	l      net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, upstream string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l}
	t.Cleanup(func() {
		f.frozen.Store(false)
		l.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	})
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
			f.mu.Lock()
			f.conns = append(f.conns, down, up)
			f.mu.Unlock()
			go f.pipe(up, down)
			go f.pipe(down, up)
		}
	}()
	return f
}

// pipe copies src to dst, holding every chunk while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && f.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			return
		}
	}
}

func (f *freezer) url() string { return "ws://" + f.l.Addr().String() + server.WebSocketPath }

// nextEvent returns the next event that matches, or fails after timeout.
func nextEvent(t *testing.T, c *client.Client, timeout time.Duration, match func(client.Event) bool) client.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if match(e) {
				return e
			}
		case <-deadline:
			t.Fatal("no matching event")
		}
	}
}

// TestClientDetectsSilentServer (POST-021): a client whose server stops
// answering (the proxy in front of it freezes) sends a Heartbeat, drops the
// connection within HeartbeatInterval + HeartbeatTimeout, reconnects to the
// next endpoint and receives what is published there; while the server
// answers, heartbeats keep an idle connection up.
func TestClientDetectsSilentServer(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	px := newFreezer(t, strings.TrimPrefix(strings.TrimSuffix(tn.ws, server.WebSocketPath), "ws://"))
	const interval, timeout = time.Second, time.Second
	id, _ := keyfile.Generate()
	c := tn.dial(t, func(c *client.Config) {
		c.URL, c.URLs = "", []string{px.url(), tn.ws}
		c.Identity, c.HeartbeatInterval, c.HeartbeatTimeout = id, interval, timeout
	})

	nextEvent(t, c, time.Second, func(e client.Event) bool { return e.Connected })
	// Idle but answering: several intervals pass and the connection stays.
	select {
	case e := <-c.Events():
		t.Fatalf("idle connection with an answering server ended: %+v", e)
	case <-time.After(4 * interval):
	}

	px.frozen.Store(true)
	frozeAt := time.Now()
	e := nextEvent(t, c, 3*(interval+timeout)+5*time.Second, func(e client.Event) bool { return e.Err != nil })
	took := time.Since(frozeAt)
	if !errors.Is(e.Err, client.ErrServerSilent) {
		t.Fatalf("connection ended with %v, want ErrServerSilent", e.Err)
	}
	if e.GoingAway {
		t.Fatal("a silent server reported as going_away")
	}
	// The bound is HeartbeatInterval + HeartbeatTimeout after the last frame;
	// the margin is for a loaded machine, not a performance target.
	if took > interval+timeout+3*time.Second {
		t.Fatalf("silent server detected after %v, bound %v", took, interval+timeout)
	}
	nextEvent(t, c, 10*time.Second, func(e client.Event) bool { return e.Connected })
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("after failover")}, ""); err != nil {
		t.Fatal(err)
	}
	if m := collect(t, c, 1, 10*time.Second); string(m[0].Payload) != "after failover" {
		t.Fatalf("got %q", m[0].Payload)
	}
}

// TestShutdownSendsGoingAway (POST-022): a node that shuts down closes its
// connections with going_away; the client reports it as an orderly close
// (not an error), keeps its client ID and reconnects to the next node
// within GoingAwaySpread and its backoff.
func TestShutdownSendsGoingAway(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	n1 := startNode(t, dir1, 1, nil)
	// The second node has the same identity key, as nodes of one
	// deployment behind one pinned key do.
	key, err := os.ReadFile(filepath.Join(dir1, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "server.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir2, 0, nil)
	id, _ := keyfile.Generate()
	c := n1.dial(t, func(c *client.Config) { c.URL, c.URLs, c.Identity = "", []string{n1.ws, n2.ws}, id })
	cid := c.ClientID()

	n1.stop()
	e := nextEvent(t, c, 10*time.Second, func(e client.Event) bool { return e.Err != nil })
	if !e.GoingAway || !client.GoingAway(e.Err) {
		t.Fatalf("shutdown ended the connection with %v (going away %v), want going_away", e.Err, e.GoingAway)
	}
	e = nextEvent(t, c, 10*time.Second, func(e client.Event) bool { return e.Connected })
	if e.ClientID != cid {
		t.Fatal("client ID changed after going_away")
	}
}
