package server_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// stall starts one WebSocket message of which only the first frame goes
// out: a SealFeed frame header announcing n bytes of type ft and about
// 1 to 4 KiB of its fragment. The connection then sends nothing more.
func stall(t *testing.T, ws *websocket.Conn, ft wire.FrameType, n int) {
	t.Helper()
	w, err := ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	// The write buffer (1 or 4 KiB) fills and goes out as a non-final
	// WebSocket frame; the rest stays in the buffer, never flushed.
	// A server that refuses the header may close before the write ends.
	w.Write(append(wire.AppendFrameHeader(nil, ft, n), make([]byte, 5000)...))
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestStalledLargeFramesHoldLittleMemory: 300 connections that each
// announce a large frame, send 1 to 4 KiB of it and stall — 100 with a
// ClientHello-sized plaintext frame in START, 100 with a 1 MiB protected
// frame in START, 100 connected ones with a record at MaxClientRecord —
// grow the heap (server and test clients together) by less than 20 MiB,
// and an honest client still connects and gets its message meanwhile
// (LIM-003, LIM-004). Before the per-state limits each connection
// allocated the announced length at once: about 200 MiB here.
func TestStalledLargeFramesHoldLittleMemory(t *testing.T) {
	const perKind = 100
	const bound = 20 << 20
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) {
		c.MaxConnsPerIP = 4 * perKind
		c.HandshakeTimeout = time.Minute // the stalls must outlive the test
	})
	// Connected sessions first: their handshakes allocate what a real
	// connection keeps, measured in the baseline.
	var conns []*websocket.Conn
	for range perKind {
		ws, _ := connected(t, tn)
		conns = append(conns, ws)
	}
	before := heapInUse()
	for _, ws := range conns {
		stall(t, ws, wire.FrameProtected, wire.MaxClientRecord+wire.AEADOverhead)
	}
	d := websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}, WriteBufferSize: 1024}
	for i := range 2 * perKind {
		ws, _, err := d.Dial(tn.ws, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		if i%2 == 0 {
			stall(t, ws, wire.FramePlaintext, wire.MaxPlaintextFrame)
		} else {
			stall(t, ws, wire.FrameProtected, wire.MaxProtectedFrame)
		}
	}
	// Meanwhile an honest client connects and gets a message; by then
	// the server has read what the stalled connections sent.
	honest := tn.dial(t, nil)
	msg := []byte("still served")
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{honest.ClientID()}, Payload: msg}, ""); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, honest, 1, 10*time.Second); !bytes.Equal(got[0].Payload, msg) {
		t.Fatalf("honest client got %q", got[0].Payload)
	}
	after := heapInUse()
	growth := int64(after) - int64(before)
	t.Logf("heap in use grew by %.1f MiB for %d stalled connections", float64(growth)/(1<<20), 3*perKind)
	if growth > bound {
		t.Fatalf("heap grew by %d bytes, bound %d", growth, bound)
	}
	runtime.KeepAlive(conns)
}

// TestStallMidFragmentTimesOut: a peer that announces a ClientHello-sized
// frame, sends part of it and stalls gets the timeout alert of HS-051
// when the handshake time runs out, not decode_error.
func TestStallMidFragmentTimesOut(t *testing.T) {
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}, WriteBufferSize: 1024}).Dial(tn.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	stall(t, ws, wire.FramePlaintext, wire.MaxPlaintextFrame)
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := plaintextAlert(t, ws); got != alert.Timeout {
		t.Fatalf("alert %v, want timeout", got)
	}
}
