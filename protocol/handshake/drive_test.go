package handshake

import (
	"errors"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// loopTransport hands the client's frames to a server in memory and
// returns the server's answers; readErr, once the server has nothing
// more, is what ReadFrame returns.
type loopTransport struct {
	s       *Server
	queue   [][]byte
	sent    [][]byte // everything the client wrote
	readErr error
	tamper  func(frame []byte) []byte // applied to the server's frames
}

func (l *loopTransport) WriteFrame(f []byte) error {
	l.sent = append(l.sent, f)
	out, _, err := l.s.Handle(f)
	if err != nil {
		return nil // the server failed: the client reads readErr next
	}
	l.queue = append(l.queue, out...)
	return nil
}

func (l *loopTransport) ReadFrame() ([]byte, error) {
	if len(l.queue) == 0 {
		return nil, l.readErr
	}
	f := l.queue[0]
	l.queue = l.queue[1:]
	if l.tamper != nil {
		f = l.tamper(f)
	}
	return f, nil
}

func newLoop(t *testing.T) *loopTransport {
	s, err := NewServer(plainServer())
	if err != nil {
		t.Fatal(err)
	}
	return &loopTransport{s: s, readErr: errors.New("transport closed")}
}

// Drive completes a handshake over any frame transport and returns the
// session the server agrees with.
func TestDriveCompletesHandshake(t *testing.T) {
	l := newLoop(t)
	c, err := NewClient(pinnedClient())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Drive(l)
	if err != nil {
		t.Fatal(err)
	}
	if sess == nil || sess.State().ClientID != l.s.Session().State().ClientID || c.NewTicket() == nil {
		t.Fatal("sides disagree")
	}
}

// Over a Loopback the client sees the server's Alert when the server
// fails, and OnFrame sees every frame of a complete handshake in order.
func TestLoopbackCarriesTheHandshake(t *testing.T) {
	s, _ := NewServer(plainServer())
	var seen []string
	l := &Loopback{Server: s, OnFrame: func(from string, _ []byte) { seen = append(seen, from) }}
	c, _ := NewClient(pinnedClient())
	if _, err := c.Drive(l); err != nil || l.Err != nil {
		t.Fatalf("client %v, server %v", err, l.Err)
	}
	if got := strings.Join(seen, " "); got != "client server server client server" {
		t.Fatalf("frames: %s", got)
	}
	cfg := plainServer()
	cfg.RequireClientKey = true // an anonymous client is refused
	s, _ = NewServer(cfg)
	l = &Loopback{Server: s}
	c, _ = NewClient(pinnedClient())
	_, err := c.Drive(l)
	if code, _ := alert.Find(err); l.Err == nil || !session.FromPeer(err) || code == alert.InternalError {
		t.Fatalf("client %v, server %v", err, l.Err)
	}
}

// Drive sends the Alert of a local failure (ALERT-001) — a tampered server
// flight, the transport's timeout (HS-051) — and never answers the peer's
// Alert (POST-006); a closed transport is returned as is, with no Alert.
func TestDriveSendsLocalAlertsOnly(t *testing.T) {
	t.Run("tampered flight", func(t *testing.T) {
		l := newLoop(t)
		n := 0
		l.tamper = func(f []byte) []byte {
			n++
			if n == 2 {
				f = append([]byte(nil), f...)
				f[len(f)-1] ^= 1
			}
			return f
		}
		c, _ := NewClient(pinnedClient())
		_, err := c.Drive(l)
		if code, _ := alert.Find(err); code != alert.BadRecordMAC || session.FromPeer(err) {
			t.Fatalf("err = %v", err)
		}
		if len(l.sent) != 2 { // ClientHello, then the Alert
			t.Fatalf("sent %d frames, want ClientHello and the Alert", len(l.sent))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		l := newLoop(t)
		l.readErr = alert.New(alert.Timeout, "handshake timeout (HS-051)") // a server that never answers
		c, _ := NewClient(pinnedClient())
		_, err := c.Drive(silent{l})
		if code, _ := alert.Find(err); code != alert.Timeout {
			t.Fatalf("err = %v", err)
		}
		if len(l.sent) != 2 {
			t.Fatalf("sent %d frames, want ClientHello and the timeout Alert", len(l.sent))
		}
	})
	t.Run("closed transport", func(t *testing.T) {
		l := newLoop(t)
		c, _ := NewClient(pinnedClient())
		_, err := c.Drive(silent{l})
		if _, ok := alert.Find(err); ok || len(l.sent) != 1 {
			t.Fatalf("err = %v, sent %d frames", err, len(l.sent))
		}
	})
	t.Run("peer alert", func(t *testing.T) {
		l := newLoop(t)
		l.readErr = nil
		c, _ := NewClient(pinnedClient())
		l.queue = [][]byte{wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.HandshakeFailure))}
		_, err := c.Drive(silent{l})
		if code, _ := alert.Find(err); code != alert.HandshakeFailure || !session.FromPeer(err) || len(l.sent) != 1 {
			t.Fatalf("err = %v, sent %d frames", err, len(l.sent))
		}
	})
}

// silent records the client's frames and answers from the queue only.
type silent struct{ l *loopTransport }

func (s silent) WriteFrame(f []byte) error  { s.l.sent = append(s.l.sent, f); return nil }
func (s silent) ReadFrame() ([]byte, error) { return s.l.ReadFrame() }
