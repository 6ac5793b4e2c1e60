package handshake

import (
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
