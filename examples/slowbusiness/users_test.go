package slowbusiness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/publisher"
)

func newUserService(t *testing.T) (*Service, *httptest.Server, ed25519.PrivateKey) {
	t.Helper()
	_, pk, _ := ed25519.GenerateKey(nil)
	s := &Service{Publisher: publisher.New("http://127.0.0.1:1", pk), ServerKeyID: [32]byte{7}, WebSocketURL: "ws://node/v1/ws"}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts, pk
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The token POST /login issues names the user and device, binds the key
// the device sent and verifies at a server that registered the service's
// publisher key and has the audience's key (TOK-005 … TOK-007).
func TestLoginIssuesATokenBindingTheDeviceKey(t *testing.T) {
	s, ts, pk := newUserService(t)
	_, dev, _ := ed25519.GenerateKey(nil)
	pub := dev.Public().(ed25519.PublicKey)
	a, err := Login(context.Background(), ts.URL, LoginRequest{User: "alice", Device: "phone", ClientKey: hex.EncodeToString(pub)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(a.Token)
	issuer, _ := sig.ParsePublicKey(pk.Public().(ed25519.PublicKey))
	v := &token.Verifier{Issuers: map[[32]byte]*sig.PublicKey{sig.KeyID(pk.Public().(ed25519.PublicKey)): issuer}, ServerKeyID: s.ServerKeyID}
	clientKey, _ := sig.ParsePublicKey(pub)
	tok, err := v.Verify(raw, clientKey, time.Now())
	if err != nil {
		t.Fatalf("the issued token does not verify: %v", err)
	}
	if tok.Subject != "alice" || tok.Device != "phone" || hex.EncodeToString(tok.ID[:]) != a.TokenID {
		t.Errorf("token for %s/%s id %x, answer says %s", tok.Subject, tok.Device, tok.ID, a.TokenID)
	}
	id := handshake.ClientID(pub)
	if a.ClientID != hex.EncodeToString(id[:]) {
		t.Errorf("client_id %s, want %x", a.ClientID, id)
	}
	// bound to this key: another device's key is refused (TOK-006)
	_, other, _ := ed25519.GenerateKey(nil)
	otherKey, _ := sig.ParsePublicKey(other.Public().(ed25519.PublicKey))
	if _, err := v.Verify(raw, otherKey, time.Now()); err == nil {
		t.Error("the token verified for another client key")
	}
	if who, ok := s.deviceOf(id); !ok || who != "alice/phone" {
		t.Errorf("deviceOf = %q, %v", who, ok)
	}
	ev := s.Events(0)
	if len(ev) != 1 || ev[0].Kind != "login" || !strings.Contains(ev[0].Text, "alice/phone") || strings.Contains(ev[0].Text, a.Token) {
		t.Errorf("events %+v: want one login event naming alice/phone, without the token", ev)
	}
}

func TestLoginRefusesBadInput(t *testing.T) {
	_, ts, _ := newUserService(t)
	key := hex.EncodeToString(make([]byte, 32)) // the all-zero key is a small-order point (SIG-001)
	_, dev, _ := ed25519.GenerateKey(nil)
	good := hex.EncodeToString(dev.Public().(ed25519.PublicKey))
	for _, c := range []struct{ body string }{
		{`{"user":"alice","device":"phone"}`},
		{`{"user":"","device":"phone","client_key":"` + good + `"}`},
		{`{"user":"Alice<b>","device":"phone","client_key":"` + good + `"}`},
		{`{"user":"alice","device":"` + strings.Repeat("x", 33) + `","client_key":"` + good + `"}`},
		{`{"user":"alice","device":"phone","client_key":"` + good[:62] + `"}`},
		{`{"user":"alice","device":"phone","client_key":"` + key + `"}`},
		{`{"user":"alice","device":"phone","client_key":"` + good + `","extra":1}`},
		{`not json`},
	} {
		if code, _ := post(t, ts.URL+"/login", c.body); code == http.StatusOK {
			t.Errorf("login %s: 200", c.body)
		}
	}
}

// fakeNode answers the publish API as a node with alice's two devices does
// (API-094), and 422 unknown-users for anyone else (API-093).
func fakeNode(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
			var req struct {
				ToUser []string `json:"to_user"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			if len(req.ToUser) != 1 || req.ToUser[0] != "alice" {
				w.WriteHeader(422)
				io.WriteString(w, `{"type":"https://sealfeed.dev/problems/unknown-users","status":422,"rule":"API-093"}`)
				return
			}
			w.WriteHeader(202)
			io.WriteString(w, `{"messages":[`+
				`{"id":"`+strings.Repeat("1", 32)+`","client_id":"`+strings.Repeat("aa", 32)+`","message_id":4,"user":"alice","device":"laptop"},`+
				`{"id":"`+strings.Repeat("2", 32)+`","client_id":"`+strings.Repeat("bb", 32)+`","message_id":7,"user":"alice","device":"phone"}],"unknown_users":[]}`)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/clients/"):
			io.WriteString(w, `{"online":`+fmt.Sprint(strings.HasSuffix(r.URL.Path, "aa"))+`}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// POST /notify publishes with to_user and answers one delivery per device
// as the push server named them, with each device's presence.
func TestNotifyPublishesToTheUser(t *testing.T) {
	s, ts, _ := newUserService(t)
	s.Publisher.BaseURL = fakeNode(t).URL
	a, err := Notify(context.Background(), ts.URL, "alice", "hello")
	if err != nil {
		t.Fatal(err)
	}
	want := []Delivery{
		{Device: "laptop", ClientID: strings.Repeat("aa", 32), MessageID: 4, ID: strings.Repeat("1", 32), Status: "online"},
		{Device: "phone", ClientID: strings.Repeat("bb", 32), MessageID: 7, ID: strings.Repeat("2", 32), Status: "offline"},
	}
	if a.User != "alice" || !slices.Equal(a.Deliveries, want) {
		t.Errorf("notify answered %+v, want %+v", a, want)
	}
	if code, body := post(t, ts.URL+"/notify", `{"user":"carol","text":"hi"}`); code != http.StatusNotFound {
		t.Errorf("notify to a user without devices: %d %s", code, body)
	}
	for _, bad := range []string{`{"user":"alice","text":""}`, `{"user":"Alice!","text":"x"}`, `{"user":"alice"`} {
		if code, _ := post(t, ts.URL+"/notify", bad); code == http.StatusOK {
			t.Errorf("notify %s: 200", bad)
		}
	}
}

func TestConfig(t *testing.T) {
	_, ts, _ := newUserService(t)
	resp, err := http.Get(ts.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c Config
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || c.WebSocketURL != "ws://node/v1/ws" || c.ServerKeyID != "07"+strings.Repeat("00", 31) {
		t.Errorf("config %+v %v", c, err)
	}
}

// signedWebhook is a webhook POST to url as a node signs it (API-103).
func signedWebhook(t *testing.T, url string, key ed25519.PrivateKey, idem string, events string) *http.Request {
	t.Helper()
	body := []byte(`{"publisher":"` + strings.Repeat("ab", 32) + `","events":[` + events + `]}`)
	r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", idem)
	if _, err := httpsig.SignWebhook(r, body, sig.Fingerprint(key.Public().(ed25519.PublicKey)), key, time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

// The webhook receiver records an event only from a POST signed with the
// deployment's webhook key, names the device that logged in with the
// event's client, and processes a retried batch once (API-105, API-106).
func TestWebhookHandlerVerifies(t *testing.T) {
	s, ts, _ := newUserService(t)
	_, hookKey, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	var err error
	if s.WebhookKey, err = publisher.ParseWebhookKey(sig.Fingerprint(hookKey.Public().(ed25519.PublicKey)),
		base64.StdEncoding.EncodeToString(hookKey.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	_, dev, _ := ed25519.GenerateKey(nil)
	a, err := Login(context.Background(), ts.URL, LoginRequest{User: "alice", Device: "phone", ClientKey: hex.EncodeToString(dev.Public().(ed25519.PublicKey))})
	if err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(s.WebhookHandler())
	defer hooks.Close()
	event := `{"type":"acknowledged","id":"` + strings.Repeat("0f", 16) + `","client_id":"` + a.ClientID + `","message_id":9,"time":"2026-12-03T19:00:00.000Z"}`
	send := func(r *http.Request) int {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	webhooks := func() []WebhookEvent {
		var out []WebhookEvent
		for _, e := range s.Events(0) {
			if e.Webhook != nil {
				out = append(out, *e.Webhook)
			}
		}
		return out
	}
	// signed by another key: refused, nothing recorded
	if code := send(signedWebhook(t, hooks.URL+"/", otherKey, "k1", event)); code != http.StatusUnauthorized {
		t.Errorf("a webhook signed by another key: %d, want 401", code)
	}
	// altered after signing: refused
	r := signedWebhook(t, hooks.URL+"/", hookKey, "k1", event)
	r.Header.Set("Idempotency-Key", "k2")
	if code := send(r); code != http.StatusUnauthorized {
		t.Errorf("a webhook altered after signing: %d, want 401", code)
	}
	if w := webhooks(); len(w) != 0 {
		t.Fatalf("refused webhooks recorded %+v", w)
	}
	// signed with the deployment key: recorded once, also when retried
	for range 2 {
		if code := send(signedWebhook(t, hooks.URL+"/", hookKey, "k1", event)); code != http.StatusNoContent {
			t.Errorf("a signed webhook: %d, want 204", code)
		}
	}
	w := webhooks()
	if len(w) != 1 || !w[0].Verified || w[0].User != "alice" || w[0].Device != "phone" || w[0].MessageID != 9 || w[0].Type != "acknowledged" {
		t.Errorf("recorded %+v, want one verified event for alice/phone message 9", w)
	}
}

// Without a token audience the service is the plain job service.
func TestLoginDisabledWithoutAudience(t *testing.T) {
	_, pk, _ := ed25519.GenerateKey(nil)
	ts := httptest.NewServer(&Service{Publisher: publisher.New("http://127.0.0.1:1", pk)})
	defer ts.Close()
	for _, p := range []string{"/login", "/notify"} {
		if code, _ := post(t, ts.URL+p, `{}`); code != http.StatusNotFound {
			t.Errorf("%s without an audience: %d, want 404", p, code)
		}
	}
}
