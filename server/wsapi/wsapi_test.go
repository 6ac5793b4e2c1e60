package wsapi

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// readOne starts a WebSocket endpoint that reads one frame with lim, lets
// send write to the client side, and returns what readFrame returned.
func readOne(t *testing.T, lim frameLimits, send func(ws *websocket.Conn)) ([]byte, error) {
	t.Helper()
	type result struct {
		frame []byte
		err   error
	}
	done := make(chan result, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer ws.Close()
		ws.SetReadLimit(lim.wsLimit())
		// A check made only after the fragment arrived would run into
		// this deadline, since the senders below stop after the header.
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := readFrame(ws, nil, lim)
		done <- result{f, err}
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send(ws)
	r := <-done
	return r.frame, r.err
}

// TestReadFrameStateLimits: in each state a frame at the state's limit is
// read whole, one byte more is record_overflow from the header alone, and
// a frame type the state does not allow is unexpected_message from the
// header alone (LIM-003, REC-006, ALERT-004).
func TestReadFrameStateLimits(t *testing.T) {
	states := []struct {
		name string
		lim  frameLimits
	}{
		{"START", limitsStart},
		{"WAIT_CLIENT_FLIGHT", limitsClientFlight},
		{"CONNECTED", limitsConnected},
	}
	want := map[string][2]int{ // plaintext, protected limits of the spec
		"START":              {16384, 0},
		"WAIT_CLIENT_FLIGHT": {16384, 4096 + 16},
		"CONNECTED":          {0, 65536 + 16},
	}
	for _, st := range states {
		for i, ft := range []wire.FrameType{wire.FramePlaintext, wire.FrameProtected} {
			limit := want[st.name][i]
			got := st.lim.plaintext
			if ft == wire.FrameProtected {
				got = st.lim.protected
			}
			if got != limit {
				t.Fatalf("%s frame type %#x: limit %d, the spec says %d", st.name, ft, got, limit)
			}
			name := st.name + "/" + map[wire.FrameType]string{wire.FramePlaintext: "plaintext", wire.FrameProtected: "protected"}[ft]
			t.Run(name, func(t *testing.T) {
				if limit == 0 {
					_, err := readOne(t, st.lim, func(ws *websocket.Conn) {
						ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, ft, 20))
					})
					if c, _ := alert.CodeOf(err); c != alert.UnexpectedMessage {
						t.Fatalf("frame type not allowed in this state: %v, want unexpected_message", err)
					}
					return
				}
				frame := append(wire.AppendFrameHeader(nil, ft, limit), bytes.Repeat([]byte{7}, limit)...)
				f, err := readOne(t, st.lim, func(ws *websocket.Conn) { ws.WriteMessage(websocket.BinaryMessage, frame) })
				if err != nil || !bytes.Equal(f, frame) {
					t.Fatalf("frame at the limit (%d): %v", limit, err)
				}
				_, err = readOne(t, st.lim, func(ws *websocket.Conn) {
					ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, ft, limit+1))
				})
				if c, _ := alert.CodeOf(err); c != alert.RecordOverflow {
					t.Fatalf("header of limit+1 (%d): %v, want record_overflow", limit+1, err)
				}
				// Two bytes after the frame: decode_error, or, where that
				// makes the WebSocket message longer than any frame of the
				// state, record_overflow from the WebSocket read limit.
				_, err = readOne(t, st.lim, func(ws *websocket.Conn) {
					ws.WriteMessage(websocket.BinaryMessage, append(frame, 0, 0))
				})
				wantCode := alert.DecodeError
				if int64(len(frame)+2) > st.lim.wsLimit() {
					wantCode = alert.RecordOverflow
				}
				if c, _ := alert.CodeOf(err); c != wantCode {
					t.Fatalf("two bytes after the frame: %v, want %v", err, wantCode)
				}
			})
		}
	}
}

// stallReader hands out n bytes, then fails as a peer that went silent.
type stallReader struct{ n int }

func (r *stallReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	m := min(len(p), r.n)
	clear(p[:m])
	r.n -= m
	return m, nil
}

// TestReadFragmentGrowsAsBytesArrive: a fragment announced at 1 MiB of
// which 1000 bytes arrive costs a few KiB, not the announced length
// (LIM-004).
func TestReadFragmentGrowsAsBytesArrive(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 64
	for range runs {
		if _, err := readFragment(&stallReader{n: 1000}, nil, wire.MaxProtectedFrame); err == nil {
			t.Fatal("a stalled fragment read without error")
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4*1000+minGrowth {
		t.Fatalf("%d bytes allocated for a fragment of which 1000 bytes arrived", per)
	}
	// Bytes that do arrive are all read, in order.
	src := bytes.Repeat([]byte("0123456789"), 10000)
	got, err := readFragment(bytes.NewReader(src), []byte("hdr:"), len(src))
	if err != nil || !bytes.Equal(got, append([]byte("hdr:"), src...)) {
		t.Fatalf("readFragment of a complete fragment: %v", err)
	}
	if cap(got) > 2*len(got)+minGrowth {
		t.Fatalf("capacity %d for %d bytes", cap(got), len(got))
	}
}

// TestLargestClientHelloFitsStart checks LIM-003's derivation against the
// Go client: 16 versions and 16 AEADs (GREASE included), both groups and a
// GREASE share, a realm of 255 bytes, a ticket of the reference size (101
// bytes) and the GREASE extension; one more extension of 1 byte takes the
// place of the derivation's second GREASE share (5 bytes either way). The
// frame is the derivation's 1 738 bytes plus the frame header, and START
// reads it whole.
func TestLargestClientHelloFitsStart(t *testing.T) {
	versions := []uint16{0x0001}
	aeads := []uint16{0x0001, 0x0002}
	for v := uint16(0x0100); len(versions) < 15; v++ {
		versions = append(versions, v)
	}
	for a := uint16(0x0100); len(aeads) < 15; a++ {
		aeads = append(aeads, a)
	}
	pk, err := sig.ParsePublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := handshake.NewClient(&handshake.ClientConfig{
		Versions: versions, AEADs: aeads, Groups: []uint16{0x0002, 0x0001}, GREASE: true,
		Trust:           &credential.Trust{Authority: pk, Realm: strings.Repeat("r", 255)},
		Ticket:          &handshake.Ticket{Bytes: make([]byte, 101), PSK: make([]byte, 32), Expires: time.Now().Add(time.Hour)},
		ExtraExtensions: []wire.Extension{{Type: 0x4000, Data: []byte{0}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hello, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if len(hello) != wire.FrameHeaderLen+1738 {
		t.Fatalf("largest ClientHello frame: %d bytes, the LIM-003 derivation says %d", len(hello), wire.FrameHeaderLen+1738)
	}
	f, err := readOne(t, limitsStart, func(ws *websocket.Conn) { ws.WriteMessage(websocket.BinaryMessage, hello) })
	if err != nil || !bytes.Equal(f, hello) {
		t.Fatalf("START did not read the largest ClientHello: %v", err)
	}
}
