package wsapi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// peerPair returns a peer on the server side of a WebSocket connection on
// loopback, upgraded as ServeHTTP does, and the client's connection.
func peerPair(tb testing.TB, queue int) (*peer, *websocket.Conn) {
	tb.Helper()
	pc := make(chan *peer, 1)
	up := websocket.Upgrader{WriteBufferPool: &sync.Pool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &hijacker{ResponseWriter: w}
		ws, err := up.Upgrade(hj, r, nil)
		if err != nil {
			pc <- nil
			return
		}
		pc <- newPeer(ws, queue, 10*time.Second)
	}))
	tb.Cleanup(srv.Close)
	cws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	p := <-pc
	if p == nil {
		tb.Fatal("upgrade failed")
	}
	tb.Cleanup(func() {
		p.Close(nil)
		<-p.done
		cws.Close()
	})
	return p, cws
}

// readRaw reads one unmasked, final binary WebSocket frame from c into
// buf, without gorilla (whose reader allocates per message).
func readRaw(c net.Conn, hdr, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(c, hdr[:2]); err != nil {
		return nil, err
	}
	if hdr[0] != 0x82 {
		return nil, fmt.Errorf("first header byte %#x, want a final binary frame", hdr[0])
	}
	n := int(hdr[1])
	switch n {
	case 126:
		if _, err := io.ReadFull(c, hdr[:2]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(hdr))
	case 127:
		if _, err := io.ReadFull(c, hdr[:8]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint64(hdr))
	}
	if n > len(buf) {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	_, err := io.ReadFull(c, buf[:n])
	return buf[:n], err
}

// TestPeerFrameLengths: frames at the edges of the WebSocket header's
// three length forms (RFC 6455 §5.2) and of the frame buffer classes
// arrive whole at a WebSocket client, in order.
func TestPeerFrameLengths(t *testing.T) {
	p, cws := peerPair(t, 64)
	lengths := []int{0, 1, 125, 126, 127, 502, 503, 1 << 10, 0xffff, 0x10000, 0x10001, 1<<20 - wsHeaderRoom, 1 << 20, 1<<20 + 17}
	for i, n := range lengths {
		f := bytes.Repeat([]byte{byte(i + 1)}, n)
		if !p.Send(f) {
			t.Fatalf("Send of %d bytes refused", n)
		}
	}
	for i, n := range lengths {
		mt, got, err := cws.ReadMessage()
		if err != nil || mt != websocket.BinaryMessage {
			t.Fatalf("frame of %d bytes: type %d, %v", n, mt, err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte{byte(i + 1)}, n)) {
			t.Fatalf("frame of %d bytes arrived as %d bytes, or altered", n, len(got))
		}
	}
}

// TestPeerSendConcurrentDistinctFrames: peers sending at once from pooled
// buffers, each sender overwriting its frame as soon as Send returns,
// deliver every frame intact and in order. The clients start reading
// late through small socket buffers, so writes block mid-frame while
// other senders take buffers from the pools: a buffer back in its pool
// before its write ended, or a Send that keeps the caller's slice, shows
// here as a frame of another connection or a later frame.
func TestPeerSendConcurrentDistinctFrames(t *testing.T) {
	const peers, frames = 4, 200
	size := func(i, j int) int { return 1 + (i*977+j*331)%3000 } // several buffer classes
	fill := func(b []byte, i, j int) {
		for k := range b {
			b[k] = byte(i*31 + j*7 + k)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range peers {
		p, cws := peerPair(t, frames)
		p.conn.(*net.TCPConn).SetWriteBuffer(32 << 10)
		cws.NetConn().(*net.TCPConn).SetReadBuffer(32 << 10)
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 3000)
			for j := range frames {
				f := buf[:size(i, j)]
				fill(f, i, j)
				if !p.Send(f) {
					t.Errorf("peer %d: Send %d refused", i, j)
					return
				}
				clear(buf) // the caller reuses its buffer at once
				if j%10 == 0 {
					time.Sleep(time.Millisecond) // Sends go on while writes block
				}
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			want := make([]byte, 3000)
			for j := range frames {
				_, got, err := cws.ReadMessage()
				if err != nil {
					t.Errorf("peer %d frame %d: %v", i, j, err)
					return
				}
				w := want[:size(i, j)]
				fill(w, i, j)
				if !bytes.Equal(got, w) {
					t.Errorf("peer %d frame %d: %d bytes, not the %d sent, or altered", i, j, len(got), len(w))
					return
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	close(start)
	wg.Wait()
}

// TestPeerSendAllocatesNothing: sending one frame (queue, WebSocket
// header, write) allocates nothing once the buffer pools are warm.
func TestPeerSendAllocatesNothing(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations of a build without the race detector")
	}
	p, cws := peerPair(t, 64)
	c := cws.NetConn()
	frame := bytes.Repeat([]byte{7}, 2600) // ten 256-byte messages in one delivery
	hdr, buf := make([]byte, 8), make([]byte, 4096)
	allocs := testing.AllocsPerRun(500, func() {
		p.Send(frame)
		if _, err := readRaw(c, hdr, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs >= 0.05 {
		t.Fatalf("%.2f allocations per frame sent, want 0", allocs)
	}
}

// BenchmarkPeerSend measures one frame of a 10-message delivery through
// Send to the client's socket.
func BenchmarkPeerSend(b *testing.B) {
	p, cws := peerPair(b, 64)
	c := cws.NetConn()
	frame := bytes.Repeat([]byte{7}, 2600)
	hdr, buf := make([]byte, 8), make([]byte, 4096)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		p.Send(frame)
		if _, err := readRaw(c, hdr, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPeerReaderWritesWhatItOwes: frames queued while the reader is in
// the hub (the answer to a Heartbeat(1)) are written by endReceive on the
// reader's goroutine, in order and before it returns, with no writer
// goroutine; a Close queued there too is written after them. Frames sent
// outside the bracket still go out by themselves.
func TestPeerReaderWritesWhatItOwes(t *testing.T) {
	p, cws := peerPair(t, 64)
	p.beginReceive()
	p.Send([]byte("answer"))
	p.Send([]byte("second"))
	p.mu.Lock()
	started := p.writing
	p.mu.Unlock()
	if started {
		t.Fatal("a writer goroutine started while the reader was in the hub")
	}
	p.endReceive()
	p.mu.Lock()
	left, writing := len(p.q)-p.head, p.writing
	p.mu.Unlock()
	if left != 0 || writing {
		t.Fatalf("after endReceive: %d frames queued, writing %v; want them written", left, writing)
	}
	for _, want := range []string{"answer", "second"} {
		cws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, got, err := cws.ReadMessage(); err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if !p.Send([]byte("later")) {
		t.Fatal("Send refused")
	}
	if _, got, err := cws.ReadMessage(); err != nil || string(got) != "later" {
		t.Fatalf("read %q, %v; want later", got, err)
	}
	// The writer goroutine that wrote "later" may still be on its way
	// out; while it runs, frames queued in the bracket are its to write.
	for deadline := time.Now().Add(5 * time.Second); ; {
		p.mu.Lock()
		writing := p.writing
		p.mu.Unlock()
		if !writing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer goroutine did not exit after an empty queue")
		}
		time.Sleep(time.Millisecond)
	}
	p.beginReceive()
	p.Send([]byte("last"))
	p.Close(nil)
	p.endReceive()
	select {
	case <-p.done:
	default:
		t.Fatal("Close owed by the reader did not close the connection in endReceive")
	}
	if _, got, err := cws.ReadMessage(); err != nil || string(got) != "last" {
		t.Fatalf("read %q, %v; want last before the close", got, err)
	}
	if _, _, err := cws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after the last frame: %v, want a normal close", err)
	}
}
