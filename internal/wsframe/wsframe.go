// Package wsframe carries SealFeed frames over WebSocket: one binary
// message per frame, subprotocol sealfeed.v1. It is the transport that
// handshake.Client.Drive runs over in the client library, the conformance
// suite, the demo, the benchmarks and the server's tests.
package wsframe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Subprotocol is the WebSocket subprotocol of SealFeed v1.
const Subprotocol = "sealfeed.v1"

// Conn is a handshake.FrameTransport over a WebSocket connection.
// Deadlines are the caller's (SetReadDeadline, SetWriteDeadline on WS).
type Conn struct{ WS *websocket.Conn }

// ReadFrame returns the next binary message. A text message is
// decode_error; a passed read deadline is timeout (HS-051); any other
// failure is returned as the transport's error.
func (c Conn) ReadFrame() ([]byte, error) {
	mt, f, err := c.WS.ReadMessage()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, alert.New(alert.Timeout, "handshake timeout (HS-051)")
		}
		return nil, err
	}
	if mt != websocket.BinaryMessage {
		return nil, alert.New(alert.DecodeError, "text WebSocket message")
	}
	return f, nil
}

// WriteFrame sends frame as one binary message.
func (c Conn) WriteFrame(frame []byte) error {
	return c.WS.WriteMessage(websocket.BinaryMessage, frame)
}

// Dial opens a WebSocket connection to url with the sealfeed.v1
// subprotocol, refuses a server that does not select it, and sets the
// read limit to the largest frame (WIRE §3.2) plus one byte, so an
// oversize frame fails at the transport.
func Dial(ctx context.Context, url string, header http.Header, timeout time.Duration, tlsConfig *tls.Config, netDial func(ctx context.Context, network, addr string) (net.Conn, error)) (*websocket.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}, HandshakeTimeout: timeout, TLSClientConfig: tlsConfig, NetDialContext: netDial}
	ws, resp, err := d.DialContext(ctx, url, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %s", url, resp.Status)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	if ws.Subprotocol() != Subprotocol {
		ws.Close()
		return nil, errors.New("server did not accept subprotocol sealfeed.v1")
	}
	ws.SetReadLimit(wire.FrameHeaderLen + wire.MaxProtectedFrame + 1)
	return ws, nil
}
