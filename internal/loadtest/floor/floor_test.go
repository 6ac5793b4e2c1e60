package floor

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/publisher"
)

// startFloor runs a floor whose ticks the test sends.
func startFloor(t *testing.T) (*Server, chan time.Time, string) {
	t.Helper()
	tick := make(chan time.Time)
	s := newServer(tick, 64)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return s, tick, hs.URL
}

func dialFloor(t *testing.T, base string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFrame reads one frame within 2 s and returns its messages.
func readFrame(t *testing.T, c *Client) [][]byte {
	t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	mt, b, err := c.ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage {
		t.Fatalf("no frame: %v", err)
	}
	var ms [][]byte
	if err := parseFrame(b, func(p []byte) { ms = append(ms, bytes.Clone(p)) }); err != nil {
		t.Fatal(err)
	}
	return ms
}

func msgs(to [32]byte, from, n int) []publisher.Message {
	var ms []publisher.Message
	for i := from; i < from+n; i++ {
		ms = append(ms, publisher.Message{To: [][32]byte{to}, Payload: bytes.Repeat([]byte{byte(i)}, 256)})
	}
	return ms
}

// TestCoalescesOneFramePerClientPerTick: everything queued for a client
// between two ticks goes out as one frame, in publish order, and a tick
// with nothing queued writes nothing.
func TestCoalescesOneFramePerClientPerTick(t *testing.T) {
	s, tick, base := startFloor(t)
	a, b := dialFloor(t, base), dialFloor(t, base)
	p := NewPublisher(base)
	ctx := context.Background()
	if err := p.PublishMany(ctx, append(msgs(a.ID(), 0, 5), msgs(b.ID(), 100, 3)...)); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishMany(ctx, msgs(a.ID(), 5, 2)); err != nil {
		t.Fatal(err)
	}
	tick <- time.Now()
	tick <- time.Now() // returns once the first tick's frames are queued
	fa, fb := readFrame(t, a), readFrame(t, b)
	if len(fa) != 7 || len(fb) != 3 {
		t.Fatalf("frames hold %d and %d messages, want 7 and 3", len(fa), len(fb))
	}
	for i, m := range fa {
		if len(m) != 256 || m[0] != byte(i) {
			t.Fatalf("message %d of a's frame is %d bytes of %d, want 256 of %d", i, len(m), m[0], i)
		}
	}
	if st := s.Stats(); st.Frames != 2 || st.Messages != 10 {
		t.Fatalf("stats %+v, want 2 frames, 10 messages", st)
	}
	if err := p.PublishMany(ctx, msgs(a.ID(), 7, 1)); err != nil {
		t.Fatal(err)
	}
	tick <- time.Now()
	tick <- time.Now()
	if f := readFrame(t, a); len(f) != 1 || f[0][0] != 7 {
		t.Fatalf("next frame %d messages, want the one published after the tick", len(f))
	}
	if st := s.Stats(); st.Frames != 3 {
		t.Fatalf("%d frames, want 3", st.Frames)
	}
}

func TestPublishRejects(t *testing.T) {
	_, _, base := startFloor(t)
	c := dialFloor(t, base)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"malformed JSON", `{"messages":[`, 400},
		{"no messages", `{"messages":[]}`, 400},
		{"bad payload", `{"messages":[{"to":["` + strings.Repeat("00", 32) + `"],"payload":"%%"}]}`, 400},
		{"short recipient", `{"messages":[{"to":["00"],"payload":""}]}`, 400},
		{"unknown recipient", `{"messages":[{"to":["` + strings.Repeat("00", 32) + `"],"payload":"AA=="}]}`, 404},
	} {
		resp, err := http.Post(base+"/v1/messages/bulk", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	_ = c
}

func TestParseFrameIsStrict(t *testing.T) {
	n := 0
	count := func([]byte) { n++ }
	for _, b := range [][]byte{{0, 0, 0}, {0, 0, 0, 2, 1}, {0, 0, 0, 0, 0}} {
		if parseFrame(b, count) == nil {
			t.Errorf("frame %x parsed", b)
		}
	}
	n = 0
	if err := parseFrame([]byte{0, 0, 0, 1, 9, 0, 0, 0, 0}, count); err != nil || n != 2 {
		t.Fatalf("two messages: %v, %d", err, n)
	}
}
