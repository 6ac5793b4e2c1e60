package wsapi

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/server/core"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// maskedFrame is a client's binary WebSocket frame (RFC 6455 §5.2) with
// an all-zero masking key, so the payload travels as is.
func maskedFrame(payload []byte) []byte {
	if len(payload) > 125 {
		panic("short frames only")
	}
	return append([]byte{0x82, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// TestIdleWaitSeesBufferedFrames: two frames that arrive in one segment
// are both read, the second from the read buffer, where the socket has
// nothing more to say; and an idle wait ends with the read deadline's
// timeout (the idle timeout).
func TestIdleWaitSeesBufferedFrames(t *testing.T) {
	type result struct {
		frames [][]byte
		err    error
	}
	done := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &hijacker{ResponseWriter: w}
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(hj, r, nil)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer ws.Close()
		if hj.br == nil {
			done <- result{nil, errors.New("the Upgrader did not take the hijacker's reader")}
			return
		}
		idle := newIdleWaiter(ws.NetConn(), hj.br)
		if idle.rc == nil && runtime.GOOS != "windows" {
			done <- result{nil, errors.New("no raw connection to wait on")}
			return
		}
		ws.SetReadLimit(limitsConnected.wsLimit())
		var res result
		for range 2 {
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := idle.wait(); err != nil {
				done <- result{res.frames, err}
				return
			}
			f, err := readFrame(ws, nil, limitsConnected)
			if err != nil {
				done <- result{res.frames, err}
				return
			}
			res.frames = append(res.frames, f)
		}
		ws.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		res.err = idle.wait()
		done <- res
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	f1 := append(wire.AppendFrameHeader(nil, wire.FrameProtected, 17), make([]byte, 17)...)
	f2 := append(wire.AppendFrameHeader(nil, wire.FrameProtected, 20), make([]byte, 20)...)
	if _, err := ws.NetConn().Write(append(maskedFrame(f1), maskedFrame(f2)...)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := <-done
	if len(r.frames) != 2 || len(r.frames[0]) != len(f1) || len(r.frames[1]) != len(f2) {
		t.Fatalf("read %d frames before %v (after %v), want both", len(r.frames), r.err, time.Since(start))
	}
	var ne net.Error
	if !errors.As(r.err, &ne) || !ne.Timeout() {
		t.Fatalf("idle wait ended with %v, want the read deadline's timeout", r.err)
	}
}

// TestIdleConnectionStack: a connected, idle connection's reader keeps a
// stack of about 2 KiB once garbage collections have run: it starts on a
// fresh goroutine after the handshake and waits on a short stack. A reader
// blocked inside gorilla's NextReader keeps 4 KiB on a fresh goroutine and
// 8 KiB on the handshake's. The clients are driven by this goroutine and
// keep no goroutine of their own, so the stacks counted are the server's.
func TestIdleConnectionStack(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures stacks of a build without the race detector")
	}
	h, srv, id := newTestHandler(t, Config{})
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		h.Wait()
	}()
	const n = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, ws := range conns {
			ws.Close()
		}
	}()
	for range n {
		ws, err := wsframe.Dial(context.Background(), url, nil, 5*time.Second, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, ws)
		c, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Drive(wsframe.Conn{WS: ws}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); h.cfg.Hub.M.Attached.Load() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	// Each collection halves a stack that is less than a quarter used.
	for range 4 {
		runtime.GC()
	}
	runtime.ReadMemStats(&after)
	per := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("stack per idle connection: %d bytes", per)
	if per > 3584 {
		t.Fatalf("stack per idle connection %d bytes, want about 2 KiB (at most 3.5 KiB)", per)
	}
}

// newTestHandler returns a Handler over a hub on a memstore, served on
// loopback, and the KeyID clients pin.
func newTestHandler(t *testing.T, cfg Config) (*Handler, *httptest.Server, [32]byte) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	pk, err := sig.ParsePublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	st, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := core.New(core.Config{Key: key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hub = hub
	cfg.Handshake = func(string) *handshake.ServerConfig {
		return &handshake.ServerConfig{Key: key, PublicKey: pk, MaxPayload: 65536, IdleTimeoutMs: 90000}
	}
	h := New(cfg)
	return h, httptest.NewServer(h), pk.ID()
}

// connect dials url and runs a handshake pinned to id.
func connect(url string, id [32]byte) (*websocket.Conn, error) {
	ws, err := wsframe.Dial(context.Background(), url, nil, 5*time.Second, nil, nil)
	if err != nil {
		return nil, err
	}
	c, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &id})
	if err != nil {
		ws.Close()
		return nil, err
	}
	if _, err := c.Drive(wsframe.Conn{WS: ws}); err != nil {
		ws.Close()
		return nil, err
	}
	return ws, nil
}

// TestConnectionSlotReleased: the per-address connection count (the
// MaxConnsPerIP bound) is given back when a connected session ends and
// when a handshake fails, so the address can connect again.
func TestConnectionSlotReleased(t *testing.T) {
	h, srv, id := newTestHandler(t, Config{MaxConnsPerIP: 1})
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		h.Wait()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	again := func(what string) *websocket.Conn {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			ws, err := connect(url, id)
			if err == nil {
				return ws
			}
			if time.Now().After(deadline) {
				t.Fatalf("no connection after %s: %v", what, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ws := again("start")
	if _, err := connect(url, id); err == nil {
		t.Fatal("a second connection from the address was accepted with MaxConnsPerIP 1")
	}
	ws.Close()
	ws = again("a connected session ended")
	ws.Close()
	// A handshake that fails: a text message where the ClientHello goes.
	var bad *websocket.Conn
	for deadline := time.Now().Add(5 * time.Second); bad == nil; time.Sleep(10 * time.Millisecond) {
		var err error
		if bad, err = wsframe.Dial(context.Background(), url, nil, 5*time.Second, nil, nil); err != nil && time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	bad.WriteMessage(websocket.TextMessage, []byte("hello"))
	bad.ReadMessage()
	bad.Close()
	again("a failed handshake").Close()
}

// TestPingerSkipsConnectionsThatSpeak: a connection whose client sent a
// frame within the ping interval gets no ping; a silent one gets one each
// interval (and answers with a pong, which keeps it open).
func TestPingerSkipsConnectionsThatSpeak(t *testing.T) {
	h, srv, id := newTestHandler(t, Config{IdleTimeout: 1200 * time.Millisecond}) // a ping every 400 ms
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		h.Wait()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	dial := func() (*websocket.Conn, *session.Session, *atomic.Int32) {
		ws, err := wsframe.Dial(context.Background(), url, nil, 5*time.Second, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &id})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := c.Drive(wsframe.Conn{WS: ws})
		if err != nil {
			t.Fatal(err)
		}
		pings := new(atomic.Int32)
		ws.SetPingHandler(func(data string) error {
			pings.Add(1)
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() { // reads the answers to Heartbeats, and handles pings
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		return ws, sess, pings
	}
	talker, tsess, talkerPings := dial()
	defer talker.Close()
	silent, _, silentPings := dial()
	defer silent.Close()
	for end := time.Now().Add(2400 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		f, err := tsess.Heartbeat(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := talker.WriteMessage(websocket.BinaryMessage, f); err != nil { // pongs: WriteControl, safe beside it
			t.Fatal(err)
		}
	}
	// One ping is tolerated: a loaded machine can hold the talker back
	// for a whole interval once; pinging every interval gives about 6.
	if n := talkerPings.Load(); n > 1 {
		t.Errorf("a client that sent a frame every 50 ms got %d pings (interval 400 ms), want none (one at most on a loaded machine)", n)
	}
	if n := silentPings.Load(); n < 3 {
		t.Errorf("a silent client got %d pings in 2.4 s (interval 400 ms), want at least 3", n)
	}
}
