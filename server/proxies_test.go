package server_test

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/clientaddr"
)

// dialFrom opens a WebSocket connection with X-Forwarded-For set and
// returns the upgrade's HTTP status (101 when accepted).
func dialFrom(t *testing.T, tn *testNode, xff string) int {
	t.Helper()
	h := http.Header{}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	ws, resp, err := (&websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}}).Dial(tn.ws, h)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}

// TestPerAddressLimitsBehindATrustedProxy: with loopback as a trusted
// proxy, connections count under the address X-Forwarded-For names, so
// one client address is limited while another still connects; with
// loopback untrusted the header is ignored and every connection counts
// under the peer's address (OPS-011).
func TestPerAddressLimitsBehindATrustedProxy(t *testing.T) {
	trusted, _ := clientaddr.ParseTrusted("127.0.0.0/8,::1")
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) { c.MaxConnsPerIP = 1; c.TrustedProxies = trusted })
	if got := dialFrom(t, tn, "203.0.113.1"); got != http.StatusSwitchingProtocols {
		t.Fatalf("first connection of 203.0.113.1: %d", got)
	}
	if got := dialFrom(t, tn, "203.0.113.1"); got != http.StatusTooManyRequests {
		t.Fatalf("second connection of 203.0.113.1: %d, want 429", got)
	}
	if got := dialFrom(t, tn, "1.1.1.1, 203.0.113.2"); got != http.StatusSwitchingProtocols {
		t.Fatalf("first connection of 203.0.113.2: %d", got)
	}
	if got := dialFrom(t, tn, "203.0.113.2, 127.0.0.1"); got != http.StatusTooManyRequests {
		t.Fatalf("203.0.113.2 again behind a second trusted hop: %d, want 429", got)
	}

	untrusted, _ := clientaddr.ParseTrusted("10.0.0.0/8")
	tn = startNode(t, t.TempDir(), 0, func(c *server.Config) { c.MaxConnsPerIP = 1; c.TrustedProxies = untrusted })
	if got := dialFrom(t, tn, "203.0.113.1"); got != http.StatusSwitchingProtocols {
		t.Fatalf("first connection: %d", got)
	}
	if got := dialFrom(t, tn, "203.0.113.2"); got != http.StatusTooManyRequests {
		t.Fatalf("an untrusted peer's X-Forwarded-For was used: %d, want 429", got)
	}
}
