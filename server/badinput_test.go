package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

func rawDial(t *testing.T, tn *testNode) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}}
	ws, _, err := d.Dial(tn.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	return ws
}

// plaintextAlert reads the next frame, which must be a plaintext Alert,
// and returns its code.
func plaintextAlert(t *testing.T, ws *websocket.Conn) alert.Code {
	t.Helper()
	_, f, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("no alert: %v", err)
	}
	typ, body, _, err := wire.ParsePlaintextFrame(f)
	if err != nil || typ != wire.TypeAlert || len(body) != 1 {
		t.Fatalf("not a plaintext alert: %x (%v)", f, err)
	}
	return alert.Code(body[0])
}

// connected runs a real handshake over a raw socket and returns the
// client session, for tests that misbehave after the handshake.
func connected(t *testing.T, tn *testNode) (*websocket.Conn, *session.Session) {
	t.Helper()
	ws := rawDial(t, tn)
	pin := tn.pinned
	hc, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &pin})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := hc.Drive(wsframe.Conn{WS: ws})
	if err != nil {
		t.Fatal(err)
	}
	return ws, sess
}

// protectedAlert reads frames until the server's Alert and returns its
// code.
func protectedAlert(t *testing.T, ws *websocket.Conn, s *session.Session) alert.Code {
	t.Helper()
	for {
		_, f, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no alert: %v", err)
		}
		if _, err := s.Open(f); err != nil {
			if !session.FromPeer(err) {
				t.Fatalf("frame from server did not open: %v", err)
			}
			c, _ := alert.Find(err)
			return c
		}
	}
}

// TestBadInputGetsItsAlertAndOthersAreServed sends every kind of bad
// input the issue lists and checks the exact alert of each (ALERT-001,
// ALERT-002), and after each one that an honest client still gets its
// messages. Limits are enforced by the receiver with record_overflow for
// sizes (LIM-001, WIRE-023); a silent peer is cut off after the
// handshake timeout (HS-051); replayed or altered records fail
// (REC-001); messages out of place are unexpected_message (HS-052).
func TestBadInputGetsItsAlertAndOthersAreServed(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	honest := tn.dial(t, nil)
	n := 0
	stillServed := func(t *testing.T) {
		t.Helper()
		n++
		msg := []byte{byte(n)}
		if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{honest.ClientID()}, Payload: msg}, ""); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, honest, 1, 5*time.Second); !bytes.Equal(got[0].Payload, msg) {
			t.Fatalf("honest client got %x", got[0].Payload)
		}
	}
	hello := func(cfg *handshake.ClientConfig) []byte {
		pin := tn.pinned
		if cfg.Trust == nil {
			cfg.PinnedKeyID = &pin
		}
		c, err := handshake.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	preHandshake := []struct {
		name string
		send func(ws *websocket.Conn)
		want alert.Code
	}{
		{"garbage", func(ws *websocket.Conn) { ws.WriteMessage(websocket.BinaryMessage, []byte("GET / HTTP/1.1\r\n")) }, alert.DecodeError},
		{"truncated ClientHello", func(ws *websocket.Conn) {
			h := hello(&handshake.ClientConfig{})
			ws.WriteMessage(websocket.BinaryMessage, h[:len(h)/2])
		}, alert.DecodeError},
		{"ClientHello with a bad inner length", func(ws *websocket.Conn) {
			h := hello(&handshake.ClientConfig{})
			h[5]++ // the message length inside the frame
			ws.WriteMessage(websocket.BinaryMessage, h)
		}, alert.DecodeError},
		{"only an unknown version", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, hello(&handshake.ClientConfig{Versions: []uint16{0x7777}}))
		}, alert.ProtocolVersion},
		{"unknown critical extension", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, hello(&handshake.ClientConfig{ExtraExtensions: []wire.Extension{{Type: 0x8a8a}}}))
		}, alert.UnknownCriticalExtension},
		{"oversize plaintext frame", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FramePlaintext, wire.MaxPlaintextFrame+1))
		}, alert.RecordOverflow},
		{"oversize protected frame", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1))
		}, alert.RecordOverflow},
		{"protected frame before keys", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, append(wire.AppendFrameHeader(nil, wire.FrameProtected, 20), make([]byte, 20)...))
		}, alert.UnexpectedMessage},
		{"text message", func(ws *websocket.Conn) { ws.WriteMessage(websocket.TextMessage, []byte("hello")) }, alert.DecodeError},
		{"two frames in one message", func(ws *websocket.Conn) {
			h := hello(&handshake.ClientConfig{})
			ws.WriteMessage(websocket.BinaryMessage, append(h, h...))
		}, alert.DecodeError},
		{"slow loris: nothing sent", func(*websocket.Conn) {}, alert.Timeout},
	}
	for _, c := range preHandshake {
		t.Run(c.name, func(t *testing.T) {
			ws := rawDial(t, tn)
			c.send(ws)
			if got := plaintextAlert(t, ws); got != c.want {
				t.Fatalf("alert %v, want %v", got, c.want)
			}
			if _, _, err := ws.ReadMessage(); err == nil {
				t.Fatal("connection still open after the alert")
			}
			stillServed(t)
		})
	}

	afterHandshake := []struct {
		name string
		send func(ws *websocket.Conn, s *session.Session)
		want alert.Code
	}{
		{"replayed record", func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{1}))
			ws.WriteMessage(websocket.BinaryMessage, f)
			ws.WriteMessage(websocket.BinaryMessage, f)
		}, alert.BadRecordMAC},
		{"flipped bit", func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{1}))
			f[len(f)-1] ^= 1
			ws.WriteMessage(websocket.BinaryMessage, f)
		}, alert.BadRecordMAC},
		{"Ack IDs not ascending", func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{2, 1}))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}, alert.IllegalParameter},
		{"handshake message after connect", func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, wire.AppendMessage(nil, wire.TypeClientHello, []byte{0}))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}, alert.UnexpectedMessage},
		{"oversize frame after connect", func(ws *websocket.Conn, s *session.Session) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1))
		}, alert.RecordOverflow},
		{"plaintext frame after connect", func(ws *websocket.Conn, s *session.Session) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendPlaintextFrame(nil, session.AppendAck(nil, []uint64{1})))
		}, alert.UnexpectedMessage},
	}
	for _, c := range afterHandshake {
		t.Run(c.name, func(t *testing.T) {
			ws, s := connected(t, tn)
			c.send(ws, s)
			if got := protectedAlert(t, ws, s); got != c.want {
				t.Fatalf("alert %v, want %v", got, c.want)
			}
			stillServed(t)
		})
	}
	t.Run("subprotocol missing", func(t *testing.T) {
		// API-037
		_, resp, err := websocket.DefaultDialer.Dial(tn.ws, nil)
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Fatalf("dial without subprotocol: %v %v", err, resp)
		}
		plain, err := http.Get(tn.base + server.WebSocketPath)
		if err != nil {
			t.Fatal(err)
		}
		plain.Body.Close()
		if plain.StatusCode != http.StatusUpgradeRequired {
			t.Fatalf("plain GET of the WebSocket endpoint: %d", plain.StatusCode)
		}
		stillServed(t)
	})
}

// TestConnectionLimitPerAddress: the server refuses connections above
// MaxConnsPerIP with 429 before any handshake work (API-037, LIM-002).
func TestConnectionLimitPerAddress(t *testing.T) {
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) { c.MaxConnsPerIP = 2 })
	rawDial(t, tn)
	rawDial(t, tn)
	_, resp, err := (&websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}}).Dial(tn.ws, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v %v", err, resp)
	}
}

// TestSlowConsumerIsDisconnectedAndLosesNothing: a client that does not
// read fills its send queue; the server closes it (overloaded) and keeps
// its messages, which a later connection receives.
func TestSlowConsumerIsDisconnectedAndLosesNothing(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.SendQueue = 2 })
	ws, s := connected(t, tn)
	_ = s
	id := s.State().ClientID
	// Large messages, one batch per tick: the queue of 2 frames and the
	// socket buffers fill while the client reads nothing.
	big := bytes.Repeat([]byte{'x'}, 60000)
	ctx := context.Background()
	const total = 300
	for i := 0; i < total; i += 30 {
		ms := make([]publisher.Message, 30)
		for j := range ms {
			ms[j] = publisher.Message{To: [][32]byte{id}, Payload: big}
		}
		if _, err := tn.pubs[0].PublishMany(ctx, ms, ""); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for tn.Hub.M.SlowConsumers.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("slow consumer not disconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ws.Close()
	pr, err := tn.pubs[0].Presence(ctx, id)
	if err != nil || pr.Pending != total {
		t.Fatalf("pending after disconnect: %+v %v, want %d", pr, err, total)
	}
}

// TestRESTRejections: every rule of the request authentication and the
// publish validation answers with its status and problem type.
//
// API-010 … API-016 (authentication, each row of the table), API-019 and
// API-036 (problem+json without echoes), API-020, API-021, API-022 (body
// size, strict JSON, validation), API-026 and API-027 (idempotency), API-028
// (pending limit), API-030 (TTL bounds), API-031 (status visibility),
// API-034 (public endpoints), API-035 (Cache-Control on every answer).
func TestRESTRejections(t *testing.T) {
	tn := startNode(t, t.TempDir(), 2, func(c *server.Config) { c.MaxPendingPerClient = 3 })
	honest := tn.dial(t, nil)
	key := tn.pubs[0].Key
	keyID := tn.pubs[0].KeyID
	to := honest.ClientID()
	body := []byte(`{"to":["` + hexID(to) + `"],"text":"hi"}`)

	send := func(method, path string, body []byte, sign func(r *http.Request, body []byte)) (int, string) {
		r, _ := http.NewRequest(method, tn.base+path, bytes.NewReader(body))
		if sign != nil {
			sign(r, body)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: error without problem+json: %s", path, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, resp.Header.Get("Cache-Control"))
		}
		return resp.StatusCode, string(b)
	}
	nonce := 0
	signWith := func(k ed25519.PrivateKey, id string, created time.Time) func(*http.Request, []byte) {
		return func(r *http.Request, b []byte) {
			nonce++
			if err := httpsig.Sign(r, b, id, k, created, strings.Repeat("n", 20)+string(rune('a'+nonce%26))+strings.Repeat("z", nonce/26)); err != nil {
				t.Fatal(err)
			}
		}
	}
	good := signWith(key, keyID, time.Now())
	other, _ := keyfile.Generate()

	var replay *http.Request
	var replayBody []byte
	cases := []struct {
		name   string
		method string
		path   string
		body   []byte
		sign   func(*http.Request, []byte)
		status int
		prob   string
	}{
		{"unsigned", "POST", "/v1/messages", body, nil, 401, "unsigned"},
		{"unknown key", "POST", "/v1/messages", body, signWith(other, "not-registered", time.Now()), 401, "unknown-key"},
		{"stale", "POST", "/v1/messages", body, signWith(key, keyID, time.Now().Add(-10*time.Minute)), 401, "stale-request"},
		{"from the future", "POST", "/v1/messages", body, signWith(key, keyID, time.Now().Add(10*time.Minute)), 401, "stale-request"},
		{"bad digest", "POST", "/v1/messages", body, func(r *http.Request, b []byte) {
			good(r, append([]byte(nil), `{"to":[],"text":"other"}`...))
		}, 400, "bad-digest"},
		{"wrong key for key ID", "POST", "/v1/messages", body, signWith(other, keyID, time.Now()), 401, "bad-signature"},
		{"malformed JSON", "POST", "/v1/messages", []byte(`{"to":`), good, 400, "malformed-json"},
		{"unknown field", "POST", "/v1/messages", []byte(`{"to":["` + hexID(to) + `"],"text":"x","extra":"secretvalue"}`), good, 400, "malformed-json"},
		{"trailing data", "POST", "/v1/messages", append(append([]byte(nil), body...), `{}`...), good, 400, "malformed-json"},
		{"wrong type", "POST", "/v1/messages", []byte(`{"to":"` + hexID(to) + `","text":"x"}`), good, 400, "malformed-json"},
		{"body too large", "POST", "/v1/messages", make([]byte, 9<<20), nil, 413, "body-too-large"},
		{"empty bulk", "POST", "/v1/messages/bulk", []byte(`{"messages":[]}`), good, 422, "invalid-message"},
		{"duplicate recipient", "POST", "/v1/messages", []byte(`{"to":["` + hexID(to) + `","` + hexID(to) + `"],"text":"x"}`), good, 422, "invalid-message"},
		{"bad base64", "POST", "/v1/messages", []byte(`{"to":["` + hexID(to) + `"],"payload":"!!"}`), good, 422, "invalid-message"},
		{"two Idempotency-Key fields", "POST", "/v1/messages", body, func(r *http.Request, b []byte) {
			r.Header.Add("Idempotency-Key", "a")
			r.Header.Add("Idempotency-Key", "b")
			good(r, b)
		}, 400, "invalid-idempotency-key"},
		{"presence of a malformed ID", "GET", "/v1/clients/xyz", nil, good, 422, "invalid-client-id"},
		{"public: server", "GET", "/v1/server", nil, nil, 200, ""},
		{"public: health", "GET", "/healthz", nil, nil, 200, ""},
		{"public: metrics", "GET", "/metrics", nil, nil, 200, ""},
		{"public: no credential", "GET", "/v1/server/credential", nil, nil, 404, "not-found"},
		{"bad client ID", "POST", "/v1/messages", []byte(`{"to":["abc"],"text":"x"}`), good, 422, "invalid-message"},
		{"payload and text", "POST", "/v1/messages", []byte(`{"to":["` + hexID(to) + `"],"text":"x","payload":"eA=="}`), good, 422, "invalid-message"},
		{"oversize payload", "POST", "/v1/messages", []byte(`{"to":["` + hexID(to) + `"],"text":"` + strings.Repeat("x", 65537) + `"}`), good, 422, "invalid-message"},
		{"ttl too long", "POST", "/v1/messages", []byte(`{"to":["` + hexID(to) + `"],"text":"x","ttl":9999999}`), good, 422, "invalid-message"},
		{"status of a foreign handle", "GET", "/v1/messages/00000000000000000000000000000000", nil, good, 404, "not-found"},
		{"replayed request", "POST", "/v1/messages", body, func(r *http.Request, b []byte) {
			good(r, b)
			replay, replayBody = r.Clone(context.Background()), b
		}, 202, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sigValue string
			sign := c.sign
			if sign != nil {
				sign = func(r *http.Request, b []byte) { c.sign(r, b); sigValue = r.Header.Get("Signature") }
			}
			st, resp := send(c.method, c.path, c.body, sign)
			if st != c.status || c.prob != "" && !strings.Contains(resp, `"type":"https://sealfeed.dev/problems/`+c.prob+`"`) {
				t.Fatalf("status %d %s, want %d %s", st, resp, c.status, c.prob)
			}
			// API-019: no key, signature or body in the answer.
			if st >= 400 && (sigValue != "" && strings.Contains(resp, sigValue[5:20]) || strings.Contains(resp, `"text"`) ||
				strings.Contains(resp, keyID) || strings.Contains(resp, "secretvalue")) {
				t.Fatalf("problem echoes the request: %s", resp)
			}
		})
	}
	t.Run("the same signed request again", func(t *testing.T) {
		replay.Body = io.NopCloser(bytes.NewReader(replayBody))
		replay.RequestURI = ""
		resp, err := http.DefaultClient.Do(replay)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 409 || !strings.Contains(string(b), "replayed-request") {
			t.Fatalf("replay: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("idempotency", func(t *testing.T) {
		p := tn.pubs[0]
		r1, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte("once")}, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte("once")}, "key-1")
		if err != nil || !r2.Replayed || r2.Messages[0].ID != r1.Messages[0].ID {
			t.Fatalf("retry: %+v %v", r2, err)
		}
		_, err = p.Publish(context.Background(), publisher.Message{To: [][32]byte{to}, Payload: []byte("different")}, "key-1")
		var pr *publisher.Problem
		if !errors.As(err, &pr) || pr.Status != 422 || !strings.HasSuffix(pr.Type, "idempotency-key-reused") {
			t.Fatalf("reuse: %v", err)
		}
	})
	t.Run("status only for the publishing key", func(t *testing.T) {
		r, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{{9}}, Payload: []byte("mine")}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tn.pubs[0].Status(context.Background(), r.Messages[0].ID); err != nil {
			t.Fatal(err)
		}
		_, err = tn.pubs[1].Status(context.Background(), r.Messages[0].ID)
		var pr *publisher.Problem
		if !errors.As(err, &pr) || pr.Status != 404 || !strings.HasSuffix(pr.Type, "/not-found") {
			t.Fatalf("another publisher's status query: %v", err)
		}
	})
	// The honest client got "hi" (the accepted request) and "once" — once.
	got := collect(t, honest, 2, 5*time.Second)
	if string(got[0].Payload) != "hi" || string(got[1].Payload) != "once" {
		t.Fatalf("honest client got %q, %q", got[0].Payload, got[1].Payload)
	}
	quiet(t, honest, 50*time.Millisecond)

	t.Run("too many pending", func(t *testing.T) {
		offline := [32]byte{1, 2, 3}
		p := tn.pubs[0]
		for i := 0; i < 3; i++ {
			if _, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{offline}, Payload: []byte("x")}, ""); err != nil {
				t.Fatal(err)
			}
		}
		_, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{offline}, Payload: []byte("x")}, "")
		var pr *publisher.Problem
		if !errors.As(err, &pr) || pr.Status != 429 {
			t.Fatalf("fourth pending message: %v", err)
		}
	})
}

func hexID(id [32]byte) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range id {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

var _ = client.Config{}

// POST-008: a connection on which nothing arrives, not even a pong, is
// closed with timeout after the idle timeout; a client that answers the
// server's pings stays connected however long it is idle.
func TestIdleTimeoutAndKeepAlive(t *testing.T) {
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) { c.IdleTimeout = 300 * time.Millisecond })
	honest := tn.dial(t, nil)
	ws, s := connected(t, tn)
	ws.SetPingHandler(func(string) error { return nil }) // and when it reads, it still answers none
	time.Sleep(time.Second)                              // the raw socket reads nothing meanwhile
	if got := protectedAlert(t, ws, s); got != alert.Timeout {
		t.Fatalf("silent connection closed with %v, want timeout", got)
	}
	if on, _ := tn.Hub.Online(honest.ClientID()); !on {
		t.Fatal("the client that answers pings was disconnected")
	}
}
