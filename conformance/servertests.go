package conformance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/publisher"
)

// ServerTarget is a server under test: its base URL, its key's fingerprint
// and a publisher key it has registered.
type ServerTarget struct {
	BaseURL     string
	Fingerprint [32]byte
	Publisher   ed25519.PrivateKey
	// HandshakeTimeout is the server's (HS-051); the slow-loris test waits
	// a little longer. 0: 10 s.
	HandshakeTimeout time.Duration
	// Process, when set, is the server the runner started itself: the
	// restart tests stop and start it (CONF-060). nil: they are skipped
	// and not required (CONF-061).
	Process *ServerProcess
	// MaxPending is the server's pending limit per client (API-028); 0:
	// unknown, and the test of the exact limit is skipped.
	MaxPending int
	// OtherPublisher is a second publisher key the server has registered
	// (API-031); nil: the test of another publisher's status is skipped.
	OtherPublisher ed25519.PrivateKey
}

func (s *ServerTarget) ws() string {
	return "ws" + strings.TrimPrefix(strings.TrimRight(s.BaseURL, "/"), "http") + "/v1/ws"
}

// serverTest is one test against a server.
type serverTest struct {
	id   string
	reqs []string
	run  func(ctx context.Context, s *serverRun) error
}

// serverRun carries one test's state: the target and an honest client that
// must keep receiving.
type serverRun struct {
	t      *ServerTarget
	honest *client.Client
	pub    *publisher.Publisher
	log    []string
	mu     sync.Mutex
}

func (r *serverRun) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *serverRun) dial() (*websocket.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(r.t.ws(), nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadDeadline(time.Now().Add(r.timeout() + 5*time.Second))
	return ws, nil
}

func (r *serverRun) timeout() time.Duration {
	if r.t.HandshakeTimeout > 0 {
		return r.t.HandshakeTimeout
	}
	return 10 * time.Second
}

// plainAlert reads the next frame, which must be a plaintext Alert.
func plainAlert(ws *websocket.Conn) (alert.Code, error) {
	_, f, err := ws.ReadMessage()
	if err != nil {
		return 0, fmt.Errorf("no alert before the connection ended: %v", err)
	}
	t, body, _, err := wire.ParsePlaintextFrame(f)
	if err != nil || t != wire.TypeAlert || len(body) != 1 {
		return 0, fmt.Errorf("expected a plaintext Alert, got %s", describe(f))
	}
	return alert.Code(body[0]), nil
}

// connect runs a full handshake on a raw socket.
func (r *serverRun) connect() (*websocket.Conn, *session.Session, error) {
	ws, err := r.dial()
	if err != nil {
		return nil, nil, err
	}
	pin := r.t.Fingerprint
	hc, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &pin, GREASE: true})
	if err != nil {
		return nil, nil, err
	}
	sess, err := hc.Drive(wsframe.Conn{WS: ws})
	if err != nil {
		ws.Close()
		return nil, nil, err
	}
	return ws, sess, nil
}

// protectedAlert reads until the server's Alert and returns its code.
func protectedAlert(ws *websocket.Conn, s *session.Session) (alert.Code, error) {
	ws.SetPingHandler(func(string) error { return nil })
	for {
		_, f, err := ws.ReadMessage()
		if err != nil {
			return 0, fmt.Errorf("no alert before the connection ended: %v", err)
		}
		if _, err := s.Open(f); err != nil {
			if !session.FromPeer(err) {
				return 0, fmt.Errorf("a frame from the server did not open: %v", err)
			}
			c, _ := alert.Find(err)
			return c, nil
		}
	}
}

func want(got, want alert.Code, err error) error {
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("alert %v, want %v", got, want)
	}
	return nil
}

// stillServed publishes to the honest client and waits for the message:
// the server keeps serving others after the bad input.
func (r *serverRun) stillServed(ctx context.Context) error {
	var b [8]byte
	rand.Read(b[:])
	payload := "still served " + hex.EncodeToString(b[:])
	if _, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte(payload)}, ""); err != nil {
		return fmt.Errorf("publish to the honest client: %w", err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-r.honest.Messages():
			if !ok {
				return errors.New("the honest client was disconnected")
			}
			m.Ack() // taken: the honest client acknowledges (DLV-016)
			if string(m.Payload) == payload {
				return nil
			}
		case <-deadline:
			return errors.New("the honest client did not receive its message: the server stopped serving others")
		}
	}
}

func hello(r *serverRun, mod func(*handshake.ClientConfig)) []byte {
	pin := r.t.Fingerprint
	cfg := &handshake.ClientConfig{PinnedKeyID: &pin}
	if mod != nil {
		mod(cfg)
	}
	c, err := handshake.NewClient(cfg)
	if err != nil {
		return nil
	}
	h, _ := c.Start()
	return h
}

// preHandshake sends frames on a fresh socket and wants a plaintext alert.
func preHandshake(id string, reqs []string, code alert.Code, send func(r *serverRun, ws *websocket.Conn)) *serverTest {
	return &serverTest{id: "server/handshake/" + id, reqs: reqs, run: func(ctx context.Context, r *serverRun) error {
		ws, err := r.dial()
		if err != nil {
			return err
		}
		defer ws.Close()
		send(r, ws)
		got, err := plainAlert(ws)
		return want(got, code, err)
	}}
}

// untilClientFlight sends hc's ClientHello on ws and hands it the server's
// frames until it has its own flight ready, which is not sent: the test
// sends something else in its place.
func untilClientFlight(ws *websocket.Conn, hc *handshake.Client) error {
	h, _ := hc.Start()
	ws.WriteMessage(websocket.BinaryMessage, h)
	for {
		_, f, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("no server flight: %v", err)
		}
		out, _, err := hc.Handle(f)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			return nil
		}
	}
}

// clientFlightOverLimit answers the server's flight with only the header
// of a protected frame one byte above the flight's limit, and wants
// record_overflow in a protected Alert (LIM-003, ALERT-001).
func clientFlightOverLimit() *serverTest {
	return &serverTest{id: "server/handshake/client-flight-above-limit", reqs: []string{"LIM-003", "ALERT-001"}, run: func(ctx context.Context, r *serverRun) error {
		ws, err := r.dial()
		if err != nil {
			return err
		}
		defer ws.Close()
		pin := r.t.Fingerprint
		hc, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &pin})
		if err != nil {
			return err
		}
		if err := untilClientFlight(ws, hc); err != nil {
			return err
		}
		ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxClientFlightRecord+wire.AEADOverhead+1))
		_, f, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("no alert before the connection ended: %v", err)
		}
		_, _, err = hc.Handle(f)
		if !session.FromPeer(err) {
			return fmt.Errorf("expected a protected Alert, got %s (%v)", describe(f), err)
		}
		got, _ := alert.Find(err)
		return want(got, alert.RecordOverflow, nil)
	}}
}

// connected sends on a connected session and wants a protected alert.
func connectedTest(id string, reqs []string, code alert.Code, send func(ws *websocket.Conn, s *session.Session)) *serverTest {
	return &serverTest{id: "server/session/" + id, reqs: reqs, run: func(ctx context.Context, r *serverRun) error {
		ws, s, err := r.connect()
		if err != nil {
			return err
		}
		defer ws.Close()
		send(ws, s)
		got, err := protectedAlert(ws, s)
		return want(got, code, err)
	}}
}

// rest sends one request signed (or not) by sign and wants status and
// problem type.
func restTest(id string, reqs []string, status int, problem string, build func(r *serverRun) (*http.Request, error)) *serverTest {
	return restDetailTest(id, reqs, status, problem, nil, build)
}

// restDetailTest is restTest whose problem's detail must also contain each
// string details returns for the request sent (API-080 … API-083).
func restDetailTest(id string, reqs []string, status int, problem string, details func(req *http.Request) []string, build func(r *serverRun) (*http.Request, error)) *serverTest {
	return &serverTest{id: "server/rest/" + id, reqs: reqs, run: func(ctx context.Context, r *serverRun) error {
		req, err := build(r)
		if err != nil {
			return err
		}
		var want []string
		if details != nil {
			want = details(req)
		}
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != status {
			return fmt.Errorf("status %d, want %d: %s", resp.StatusCode, status, b)
		}
		if problem != "" {
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				return fmt.Errorf("content type %q, want application/problem+json (API-036)", ct)
			}
			if !bytes.Contains(b, []byte(`/problems/`+problem+`"`)) {
				return fmt.Errorf("problem %s, want %s", b, problem)
			}
		}
		var p struct{ Detail string }
		json.Unmarshal(b, &p)
		for _, w := range want {
			if !strings.Contains(p.Detail, w) {
				return fmt.Errorf("problem %s: its detail does not name %q", b, w)
			}
		}
		return nil
	}}
}

func (r *serverRun) signed(method, path string, body []byte, keyID string, key ed25519.PrivateKey, created time.Time) (*http.Request, error) {
	req, err := http.NewRequest(method, strings.TrimRight(r.t.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		err = httpsig.Sign(req, body, keyID, key, created, publisher.NewIdempotencyKey()+"nonce")
	}
	return req, err
}

// ServerTests returns every test against a server.
func ServerTests() []*serverTest {
	body := func(r *serverRun) []byte {
		id := r.honest.ClientID()
		return []byte(`{"to":["` + hex.EncodeToString(id[:]) + `"],"text":"from the conformance runner"}`)
	}
	good := func(r *serverRun, method, path string, b []byte) (*http.Request, error) {
		return r.signed(method, path, b, r.pub.KeyID, r.t.Publisher, time.Now())
	}
	_, other, _ := ed25519.GenerateKey(nil)
	ts := []*serverTest{
		preHandshake("garbage", []string{"WIRE-022"}, alert.DecodeError, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, []byte("GET / HTTP/1.1\r\n"))
		}),
		preHandshake("truncated-clienthello", []string{"WIRE-001"}, alert.DecodeError, func(r *serverRun, ws *websocket.Conn) {
			h := hello(r, nil)
			ws.WriteMessage(websocket.BinaryMessage, h[:len(h)/2])
		}),
		preHandshake("unknown-version-only", []string{"HS-010"}, alert.ProtocolVersion, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, hello(r, func(c *handshake.ClientConfig) { c.Versions = []uint16{0x7777} }))
		}),
		preHandshake("no-shared-aead", []string{"HS-011"}, alert.HandshakeFailure, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, hello(r, func(c *handshake.ClientConfig) { c.AEADs = []uint16{0x7777} }))
		}),
		preHandshake("unknown-critical-extension", []string{"HS-012", "EXT-002"}, alert.UnknownCriticalExtension, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, hello(r, func(c *handshake.ClientConfig) { c.ExtraExtensions = []wire.Extension{{Type: 0x9a9a}} }))
		}),
		preHandshake("oversize-plaintext-frame", []string{"WIRE-023", "LIM-001"}, alert.RecordOverflow, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FramePlaintext, wire.MaxPlaintextFrame+1))
		}),
		preHandshake("oversize-protected-frame", []string{"WIRE-023"}, alert.RecordOverflow, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1))
		}),
		preHandshake("protected-frame-before-keys", []string{"REC-006"}, alert.UnexpectedMessage, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.BinaryMessage, append(wire.AppendFrameHeader(nil, wire.FrameProtected, 20), make([]byte, 20)...))
		}),
		preHandshake("protected-frame-header-in-start", []string{"LIM-003", "REC-006"}, alert.UnexpectedMessage, func(r *serverRun, ws *websocket.Conn) {
			// Only the header of a 1 MiB frame: refused before any of it.
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame))
		}),
		clientFlightOverLimit(),
		preHandshake("text-message", []string{"WIRE-020"}, alert.DecodeError, func(r *serverRun, ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte("hello"))
		}),
		preHandshake("two-frames-in-one-message", []string{"WIRE-020"}, alert.DecodeError, func(r *serverRun, ws *websocket.Conn) {
			h := hello(r, nil)
			ws.WriteMessage(websocket.BinaryMessage, append(h, h...))
		}),
		preHandshake("slow-loris", []string{"HS-051"}, alert.Timeout, func(*serverRun, *websocket.Conn) {}),
		connectedTest("replayed-record", []string{"REC-001"}, alert.BadRecordMAC, func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{1}))
			ws.WriteMessage(websocket.BinaryMessage, f)
			ws.WriteMessage(websocket.BinaryMessage, f)
		}),
		connectedTest("flipped-bit", []string{"REC-001"}, alert.BadRecordMAC, func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{1}))
			ws.WriteMessage(websocket.BinaryMessage, flipLast(f))
		}),
		connectedTest("ack-not-ascending", []string{"POST-005"}, alert.IllegalParameter, func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{2, 1}))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}),
		connectedTest("handshake-message-after-connect", []string{"HS-052"}, alert.UnexpectedMessage, func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, wire.AppendMessage(nil, wire.TypeClientHello, []byte{0}))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}),
		connectedTest("batch-delivery-to-server", []string{"WIRE-010"}, alert.UnexpectedMessage, func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, wire.AppendMessage(nil, wire.TypeBatchDelivery, []byte{0}))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}),
		connectedTest("oversize-frame-after-connect", []string{"WIRE-023"}, alert.RecordOverflow, func(ws *websocket.Conn, s *session.Session) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1))
		}),
		connectedTest("record-above-client-limit", []string{"LIM-003"}, alert.RecordOverflow, func(ws *websocket.Conn, s *session.Session) {
			// Only the header: refused before the fragment arrives.
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxClientRecord+wire.AEADOverhead+1))
		}),
		connectedTest("plaintext-header-after-connect", []string{"LIM-003", "ALERT-004"}, alert.UnexpectedMessage, func(ws *websocket.Conn, s *session.Session) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendFrameHeader(nil, wire.FramePlaintext, wire.MaxPlaintextFrame))
		}),
		connectedTest("plaintext-after-connect", []string{"REC-006"}, alert.UnexpectedMessage, func(ws *websocket.Conn, s *session.Session) {
			ws.WriteMessage(websocket.BinaryMessage, wire.AppendPlaintextFrame(nil, session.AppendAck(nil, []uint64{1})))
		}),
		connectedTest("key-update-flood", []string{"POST-004"}, alert.LimitExceeded, func(ws *websocket.Conn, s *session.Session) {
			for i := 0; i <= session.MaxKeyUpdatesWithoutData; i++ {
				f, _ := s.KeyUpdate(false)
				ws.WriteMessage(websocket.BinaryMessage, f)
			}
		}),
		restTest("unsigned", []string{"API-010"}, 401, "unsigned", func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), "", nil, time.Now())
		}),
		restTest("unknown-key", []string{"API-012"}, 401, "unknown-key", func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), "not-registered", other, time.Now())
		}),
		restTest("stale", []string{"API-013", "REPLAY-014"}, 401, "stale-request", func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), r.pub.KeyID, r.t.Publisher, time.Now().Add(-time.Hour))
		}),
		restTest("bad-digest", []string{"API-014"}, 400, "bad-digest", func(r *serverRun) (*http.Request, error) {
			req, err := good(r, "POST", "/v1/messages", body(r))
			if err != nil {
				return nil, err
			}
			req.Body = io.NopCloser(strings.NewReader(`{"to":[],"text":"swapped"}`))
			req.ContentLength = -1
			return req, nil
		}),
		restTest("bad-signature", []string{"API-015"}, 401, "bad-signature", func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), r.pub.KeyID, other, time.Now())
		}),
		restDetailTest("bad-signature-names-the-base", []string{"API-080"}, 401, "bad-signature", func(req *http.Request) []string {
			return []string{`"content-digest"`, strings.ToLower(req.URL.Host), "/v1/messages", "POST"}
		}, func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), r.pub.KeyID, other, time.Now())
		}),
		restDetailTest("stale-names-the-window", []string{"API-081"}, 401, "stale-request", func(req *http.Request) []string {
			_, created, _ := strings.Cut(req.Header.Get("Signature-Input"), ";created=")
			created, _, _ = strings.Cut(created, ";")
			return []string{created, "300"}
		}, func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), r.pub.KeyID, r.t.Publisher, time.Now().Add(-time.Hour))
		}),
		restDetailTest("malformed-signature-names-the-part", []string{"API-083"}, 400, "malformed-signature", func(*http.Request) []string {
			return []string{"Signature-Input"}
		}, func(r *serverRun) (*http.Request, error) {
			req, err := good(r, "POST", "/v1/messages", body(r))
			if err == nil {
				req.Header.Set("Signature-Input", "sealfeed=(((")
			}
			return req, err
		}),
		restTest("unsigned-idempotency-key", []string{"API-038"}, 401, "incomplete-signature", func(r *serverRun) (*http.Request, error) {
			req, err := good(r, "POST", "/v1/messages", body(r))
			if err == nil {
				req.Header.Set("Idempotency-Key", "added-after-signing") // not in the signature
			}
			return req, err
		}),
		restTest("presence-of-a-client-never-published-to", []string{"API-040"}, 404, "not-found", func(r *serverRun) (*http.Request, error) {
			var id [32]byte
			rand.Read(id[:])
			return good(r, "GET", "/v1/clients/"+hex.EncodeToString(id[:]), nil)
		}),
		restTest("malformed-json", []string{"API-021"}, 400, "malformed-json", func(r *serverRun) (*http.Request, error) {
			return good(r, "POST", "/v1/messages", []byte(`{"to":`))
		}),
		restDetailTest("unknown-field", []string{"API-021", "API-082"}, 400, "malformed-json", func(*http.Request) []string {
			return []string{"priority"}
		}, func(r *serverRun) (*http.Request, error) {
			return good(r, "POST", "/v1/messages", []byte(`{"to":[],"text":"x","priority":1}`))
		}),
		restTest("invalid-client-id", []string{"API-022"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			return good(r, "POST", "/v1/messages", []byte(`{"to":["abc"],"text":"x"}`))
		}),
		restTest("oversize-payload", []string{"API-020", "LIM-001"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			id := r.honest.ClientID()
			return good(r, "POST", "/v1/messages", []byte(`{"to":["`+hex.EncodeToString(id[:])+`"],"text":"`+strings.Repeat("x", 65537)+`"}`))
		}),
		{id: "server/rest/replayed-request", reqs: []string{"API-016", "REPLAY-014"}, run: func(ctx context.Context, r *serverRun) error {
			req, err := good(r, "POST", "/v1/messages", body(r))
			if err != nil {
				return err
			}
			b := body(r)
			for i, wantStatus := range []int{202, 409} {
				again := req.Clone(ctx)
				again.Body = io.NopCloser(bytes.NewReader(b))
				resp, err := http.DefaultClient.Do(again)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != wantStatus {
					return fmt.Errorf("request %d: status %d, want %d", i+1, resp.StatusCode, wantStatus)
				}
			}
			// The honest client gets the message once.
			return r.expectPayload("from the conformance runner")
		}},
		{id: "server/rest/idempotent-retry", reqs: []string{"API-026", "API-027"}, run: func(ctx context.Context, r *serverRun) error {
			key := publisher.NewIdempotencyKey()
			m := publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte("exactly once " + key)}
			a, err := r.pub.Publish(ctx, m, key)
			if err != nil {
				return err
			}
			b, err := r.pub.Publish(ctx, m, key)
			if err != nil {
				return err
			}
			if !b.Replayed || b.Messages[0].ID != a.Messages[0].ID {
				return errors.New("a retry with the same Idempotency-Key was stored again")
			}
			if err := r.expectPayload(string(m.Payload)); err != nil {
				return err
			}
			return r.expectNothing(300 * time.Millisecond)
		}},
		{id: "server/delivery/in-order-exactly-once", reqs: []string{"DLV-001", "DLV-004", "API-024"}, run: func(ctx context.Context, r *serverRun) error {
			var want []string
			for i := 0; i < 20; i++ {
				p := fmt.Sprintf("ordered %02d", i)
				want = append(want, p)
				if _, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte(p)}, ""); err != nil {
					return err
				}
			}
			var last uint64
			for _, p := range want {
				m, err := r.next()
				if err != nil {
					return err
				}
				if string(m.Payload) != p || m.ID <= last {
					return fmt.Errorf("got %d %q, want %q after ID %d", m.ID, m.Payload, p, last)
				}
				last = m.ID
			}
			return r.expectNothing(300 * time.Millisecond)
		}},
		{id: "server/delivery/broadcast", reqs: []string{"API-029", "BATCH-004"}, run: func(ctx context.Context, r *serverRun) error {
			var other [32]byte
			copy(other[:], bytes.Repeat([]byte{0xab}, 32))
			if _, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{r.honest.ClientID(), other}, Payload: []byte("to both")}, ""); err != nil {
				return err
			}
			m, err := r.next()
			if err != nil {
				return err
			}
			if string(m.Payload) != "to both" || !m.Broadcast {
				return fmt.Errorf("got %q broadcast=%v", m.Payload, m.Broadcast)
			}
			return nil
		}},
		{id: "server/websocket/subprotocol-required", reqs: []string{"API-037"}, run: func(ctx context.Context, r *serverRun) error {
			_, resp, err := websocket.DefaultDialer.Dial(r.t.ws(), nil)
			if err == nil || resp == nil || resp.StatusCode != 400 {
				return fmt.Errorf("dial without the subprotocol: %v", err)
			}
			return nil
		}},
	}
	ts = append(ts, tokenServerTests()...)
	ts = append(ts, userServerTests()...)
	ts = append(ts, ackTests()...)
	ts = append(ts, restRuleTests()...)
	return append(ts, restartTests()...)
}

func (r *serverRun) next() (client.Message, error) {
	select {
	case m, ok := <-r.honest.Messages():
		if !ok {
			return m, errors.New("the honest client was disconnected")
		}
		m.Ack() // taken: the honest client acknowledges (DLV-016)
		return m, nil
	case <-time.After(10 * time.Second):
		return client.Message{}, errors.New("no message within 10 s")
	}
}

func (r *serverRun) expectPayload(p string) error {
	m, err := r.next()
	if err != nil {
		return err
	}
	if string(m.Payload) != p {
		return fmt.Errorf("got %q, want %q", m.Payload, p)
	}
	return nil
}

func (r *serverRun) expectNothing(d time.Duration) error {
	select {
	case m := <-r.honest.Messages():
		m.Ack()
		return fmt.Errorf("unexpected message %d %q (delivered twice?)", m.ID, m.Payload)
	case <-time.After(d):
		return nil
	}
}

// RunServer runs the server tests one after another (each with its own
// honest client) and returns their results.
func RunServer(ctx context.Context, t *ServerTarget, sel func(id string) bool) []*Result {
	var out []*Result
	for _, st := range ServerTests() {
		if sel != nil && !sel(st.id) {
			continue
		}
		start := time.Now()
		res := &Result{ID: st.id, Kind: "server", Requirements: st.reqs, Required: true}
		r := &serverRun{t: t}
		pin := t.Fingerprint
		tctx, cancel := context.WithTimeout(ctx, r.timeout()+30*time.Second)
		c, err := client.Dial(tctx, client.Config{URL: t.ws(), PinnedKeyID: &pin})
		if err != nil {
			res.Status, res.Message = Fail, "honest client: "+err.Error()
		} else {
			r.honest = c
			r.pub = publisher.New(t.BaseURL, t.Publisher)
			err = st.run(tctx, r)
			if err == nil && !strings.HasPrefix(st.id, "server/delivery/") && !strings.HasPrefix(st.id, "server/restart/") &&
				!strings.HasPrefix(st.id, "server/rest/idempotent") && !strings.HasPrefix(st.id, "server/rest/replayed") {
				err = r.stillServed(tctx)
			}
			c.Close()
			var skip *errSkip
			if errors.As(err, &skip) {
				res.Status, res.Message, res.Required = Skip, skip.reason, false
			} else if err != nil {
				res.Status, res.Message, res.Transcript = Fail, err.Error(), r.log
			} else {
				res.Status = Pass
			}
		}
		cancel()
		res.Duration = time.Since(start)
		out = append(out, res)
	}
	return out
}

// ackTests are the server tests of acknowledgements (DLV-020).
func ackTests() []*serverTest {
	return []*serverTest{
		{id: "server/delivery/ack-of-unsent-id-ignored", reqs: []string{"DLV-020", "DLV-004"}, run: ackOfUnsentIDIgnored},
	}
}

// ackOfUnsentIDIgnored publishes W + 1 messages to a raw client, so that
// DLV-004 holds the last back, and acknowledges that one before it is
// sent: the server must ignore it (DLV-020) and deliver the message once
// the others are acknowledged. A server that stored the early Ack would
// erase a message the client never received.
func ackOfUnsentIDIgnored(ctx context.Context, r *serverRun) error {
	const w = 1024 // W, REPLAY-011
	ws, s, err := r.connect()
	if err != nil {
		return err
	}
	defer ws.Close()
	st := s.State()
	keys, err := s.BatchKeys()
	if err != nil {
		return err
	}
	opener := batch.NewOpener(st.ServerKey, keys, 0)
	var ids []uint64
	handles := map[uint64]string{}
	for len(ids) < w+1 {
		ms := make([]publisher.Message, min(1000, w+1-len(ids))) // the API's bulk limit
		for i := range ms {
			ms[i] = publisher.Message{To: [][32]byte{st.ClientID}, Payload: []byte(fmt.Sprintf("window %d", len(ids)+i))}
		}
		res, err := r.pub.PublishMany(ctx, ms, "")
		if err != nil {
			return err
		}
		for _, m := range res.Messages {
			ids = append(ids, m.MessageID)
			handles[m.MessageID] = m.ID
		}
	}
	first := ids[0]
	var inWindow, held []uint64
	for _, id := range ids {
		if id-first < w {
			inWindow = append(inWindow, id)
		} else {
			held = append(held, id)
		}
	}
	r.logf("published %d messages, IDs %d … %d; %d beyond the window", len(ids), first, ids[len(ids)-1], len(held))
	got := map[uint64]bool{}
	var lastSeq uint64
	acked := false // the first W are acknowledged
	receive := func(want []uint64) error {
		for {
			missing := 0
			for _, id := range want {
				if !got[id] {
					missing++
				}
			}
			if missing == 0 {
				return nil
			}
			ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, f, err := ws.ReadMessage()
			if err != nil {
				return fmt.Errorf("%d messages not delivered: %v", missing, err)
			}
			msgs, err := s.Open(f)
			if err != nil {
				return fmt.Errorf("a frame from the server did not open: %v", err)
			}
			for _, m := range msgs {
				if m.Type != wire.TypeBatchDelivery {
					continue
				}
				d, err := batch.ParseDelivery(m.Body)
				if err != nil {
					return err
				}
				out, err := opener.Open(d, lastSeq)
				if err != nil {
					return fmt.Errorf("a delivery did not open: %v", err)
				}
				lastSeq = d.Header.Seq
				for _, o := range out {
					if !acked && o.ID-first >= w {
						return fmt.Errorf("message %d delivered while %d was unacknowledged (DLV-004)", o.ID, first)
					}
					got[o.ID] = true
				}
			}
		}
	}
	ack := func(ids []uint64) error {
		f, err := s.Seal(nil, session.AppendAck(nil, ids))
		if err != nil {
			return err
		}
		return ws.WriteMessage(websocket.BinaryMessage, f)
	}
	if err := receive(inWindow); err != nil {
		return err
	}
	// The held IDs were never sent on this connection. After their Ack,
	// one sent message is acknowledged, and once the server reports it
	// acknowledged, it has processed the earlier Ack too: the held
	// messages must still be pending.
	if err := ack(held); err != nil {
		return err
	}
	if err := ack(inWindow[1:2]); err != nil {
		return err
	}
	if err := r.waitState(ctx, handles[inWindow[1]], "acknowledged"); err != nil {
		return err
	}
	for _, id := range held {
		stat, err := r.pub.Status(ctx, handles[id])
		if err != nil {
			return err
		}
		if stat.State != "pending" {
			return fmt.Errorf("message %d, never sent, is %s after an Ack of its ID (DLV-020)", id, stat.State)
		}
	}
	acked = true
	if err := ack(append(inWindow[:1:1], inWindow[2:]...)); err != nil {
		return err
	}
	if err := receive(held); err != nil {
		return fmt.Errorf("after an early Ack of the held IDs: %v (DLV-020)", err)
	}
	return ack(held)
}

// waitState polls a message's status until it is want, for up to 10 s.
func (r *serverRun) waitState(ctx context.Context, handle, want string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := r.pub.Status(ctx, handle)
		if err != nil {
			return err
		}
		if stat.State == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("message %s is %s, want %s", handle, stat.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
