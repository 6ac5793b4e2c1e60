package wsframe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// serve answers each connection with send, then waits for the client.
func serve(t *testing.T, subprotocol string, send func(ws *websocket.Conn)) string {
	up := websocket.Upgrader{Subprotocols: []string{subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		send(ws)
		ws.ReadMessage()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// A text message is decode_error, a passed read deadline timeout (HS-051),
// and a server without the subprotocol is refused at Dial.
func TestReadFrameMapsTransportRejects(t *testing.T) {
	ctx := context.Background()
	url := serve(t, Subprotocol, func(ws *websocket.Conn) { ws.WriteMessage(websocket.TextMessage, []byte("hi")) })
	ws, err := Dial(ctx, url, nil, time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Conn{ws}).ReadFrame(); alertCode(err) != alert.DecodeError {
		t.Fatalf("text message: %v", err)
	}
	ws.Close()

	url = serve(t, Subprotocol, func(ws *websocket.Conn) {})
	ws, err = Dial(ctx, url, nil, time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := (Conn{ws}).ReadFrame(); alertCode(err) != alert.Timeout {
		t.Fatalf("deadline: %v", err)
	}
	ws.Close()

	url = serve(t, "other", func(ws *websocket.Conn) {})
	if _, err := Dial(ctx, url, nil, time.Second, nil, nil); err == nil {
		t.Fatal("a server without sealfeed.v1 was accepted")
	}
}

func alertCode(err error) alert.Code {
	c, ok := alert.Find(err)
	if !ok {
		return 255
	}
	return c
}
