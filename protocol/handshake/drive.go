package handshake

import (
	"errors"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/session"
)

// FrameTransport carries whole frames (WIRE §3.2) in both directions, for
// example one binary WebSocket message per frame. ReadFrame returns an
// *alert.Error for what the transport itself rejects (a text message is
// decode_error, a passed deadline timeout, HS-051); any other error is a
// closed transport.
type FrameTransport interface {
	ReadFrame() ([]byte, error)
	WriteFrame(frame []byte) error
}

// Drive runs the client's handshake over t, from ClientHello to Welcome,
// and returns the session. It is the one loop every honest client uses
// (the client library, the conformance suite's honest client, the demo,
// the benchmarks and the server's tests). On a failure with an alert code
// that did not come from the peer it sends that Alert (ALERT-001; never
// in answer to the peer's, POST-006) before it returns the error; it
// never closes t. Deadlines belong to t.
func (c *Client) Drive(t FrameTransport) (*session.Session, error) {
	fail := func(err error) (*session.Session, error) {
		if code, ok := alert.Find(err); ok && !session.FromPeer(err) {
			if f := c.AlertFrame(code); f != nil {
				t.WriteFrame(f)
			}
		}
		return nil, err
	}
	hello, err := c.Start()
	if err != nil {
		return fail(err)
	}
	if err := t.WriteFrame(hello); err != nil {
		return nil, err
	}
	for {
		frame, err := t.ReadFrame()
		if err != nil {
			return fail(err)
		}
		out, done, err := c.Handle(frame)
		if err != nil {
			return fail(err)
		}
		for _, f := range out {
			if err := t.WriteFrame(f); err != nil {
				return nil, err
			}
		}
		if done {
			return c.Session(), nil
		}
	}
}

// Loopback is a FrameTransport to a Server in the same process: each frame
// the client writes goes to the server's Handle, and what the server
// answers is read back in order. A failing server answers with its Alert
// (ALERT-001), as over a network, and keeps its error in Err. OnFrame, if
// set, sees every frame, from "client" or "server". The demo, the
// benchmarks and the fuzz seeds run Drive over it.
type Loopback struct {
	Server  *Server
	OnFrame func(from string, frame []byte)
	Err     error // the server's failure, if any

	queue [][]byte
}

// WriteFrame hands frame to the server.
func (l *Loopback) WriteFrame(frame []byte) error {
	if l.OnFrame != nil {
		l.OnFrame("client", frame)
	}
	if l.Err != nil {
		return l.Err
	}
	out, _, err := l.Server.Handle(frame)
	if err != nil {
		l.Err = err
		if code, ok := alert.Find(err); ok && !session.FromPeer(err) {
			if f := l.Server.AlertFrame(code); f != nil {
				out = append(out, f)
			}
		}
	}
	l.queue = append(l.queue, out...)
	return nil
}

// errLoopbackIdle: the client waits for a frame the server will never send.
var errLoopbackIdle = alert.New(alert.Timeout, "loopback: the server has nothing to send")

// ReadFrame returns the server's next frame.
func (l *Loopback) ReadFrame() ([]byte, error) {
	if len(l.queue) == 0 {
		if l.Err != nil {
			return nil, errors.New("loopback: the server failed and sent no Alert")
		}
		return nil, errLoopbackIdle
	}
	f := l.queue[0]
	l.queue = l.queue[1:]
	if l.OnFrame != nil {
		l.OnFrame("server", f)
	}
	return f, nil
}
