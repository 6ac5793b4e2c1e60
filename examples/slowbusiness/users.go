package slowbusiness

// The service as the back end of an app with logged-in users (#18): it
// issues connect tokens (spec §6.8) with its publisher key, so the node
// knows which user and device each connection belongs to, and publishes to
// a user's devices.

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/publisher"
)

// LoginRequest is the body of POST /login. DEMO LOGIN: the service takes
// the user name as given, without a password; a real app issues tokens
// only to a user its own login has authenticated.
type LoginRequest struct {
	User      string `json:"user"`
	Device    string `json:"device"`
	ClientKey string `json:"client_key"` // the device's Ed25519 identity public key, hex
}

// LoginAnswer is the answer to POST /login: a connect token that binds
// ClientKey (TOK-006), for the device to present in its handshake.
type LoginAnswer struct {
	Token    string `json:"token"` // the encoded access token, hex
	TokenID  string `json:"token_id"`
	ClientID string `json:"client_id"` // the client ID the key gives (HS-030)
	Expires  string `json:"expires"`   // RFC 3339
}

// NotifyRequest is the body of POST /notify.
type NotifyRequest struct {
	User string `json:"user"`
	Text string `json:"text"`
}

// Delivery is one device's message of a notification, as the push
// server's answer names it (API-094), with the device's presence right
// after the publish.
type Delivery struct {
	Device    string `json:"device"`
	ClientID  string `json:"client_id"`
	MessageID uint64 `json:"message_id"`
	ID        string `json:"id"`     // the message's handle
	Status    string `json:"status"` // "online" or "offline": whether the device is connected now
}

// NotifyAnswer is the answer to POST /notify.
type NotifyAnswer struct {
	User       string     `json:"user"`
	Deliveries []Delivery `json:"deliveries"`
}

// Config is the answer to GET /config: where a browser connects and which
// server key it pins. The app that serves the page ships the pin, as it
// ships the page's code.
type Config struct {
	WebSocketURL string `json:"ws_url"`
	ServerKeyID  string `json:"server_key_id,omitempty"`
	Realm        string `json:"realm,omitempty"`
}

// Event is one thing the service did, for GET /events.
type Event struct {
	Seq  int    `json:"seq"`
	Time string `json:"time"` // RFC 3339 with milliseconds
	Kind string `json:"kind"` // login, job, notify, webhook
	Text string `json:"text"`
	// Webhook is the event of a verified delivery webhook (kind webhook).
	Webhook *WebhookEvent `json:"webhook,omitempty"`
}

// WebhookEvent is one event of a delivery webhook the service verified,
// with the user and device it logged in the message's client as.
type WebhookEvent struct {
	publisher.WebhookEvent
	User     string `json:"user,omitempty"`
	Device   string `json:"device,omitempty"`
	Verified bool   `json:"verified"` // the signature verified (always: unverified POSTs are refused)
}

// maxEvents is how many events GET /events keeps.
const maxEvents = 256

// nameRE is what the demo accepts as a user or device name: short, and
// safe to print anywhere.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// users is the service's record of its logins: which client IDs each
// user's devices hold. Publishing to a user does not need it (the push
// server resolves to_user, API-091); the service uses it to name the
// device of a job or a webhook event.
type users struct {
	mu      sync.Mutex
	devices map[string]map[string][32]byte // user → device → client ID
	events  []Event
	seq     int
	// hooks are the Idempotency-Keys of the webhook batches processed:
	// a retried batch is acknowledged and not processed twice (API-106).
	hooks map[string]bool
}

func (s *Service) loginEnabled() bool { return s.ServerKeyID != [32]byte{} || s.Realm != "" }

// record tells OnEvent and keeps the event for GET /events.
func (s *Service) record(kind, format string, args ...any) {
	s.event(format, args...)
	u := &s.users
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	u.events = append(u.events, Event{Seq: u.seq, Time: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Kind: kind, Text: fmt.Sprintf(format, args...)})
	if len(u.events) > maxEvents {
		u.events = slices.Delete(u.events, 0, len(u.events)-maxEvents)
	}
}

// recordWebhook records a verified webhook event.
func (s *Service) recordWebhook(ev WebhookEvent) {
	who := "client " + ev.ClientID[:min(12, len(ev.ClientID))] + "…"
	if ev.User != "" {
		who = ev.User + "/" + ev.Device
	}
	text := fmt.Sprintf("webhook: %s message %d for %s — signature verified", ev.Type, ev.MessageID, who)
	s.event("%s", text)
	u := &s.users
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	u.events = append(u.events, Event{Seq: u.seq, Time: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Kind: "webhook", Text: text, Webhook: &ev})
	if len(u.events) > maxEvents {
		u.events = slices.Delete(u.events, 0, len(u.events)-maxEvents)
	}
}

// Events returns the recorded events after seq.
func (s *Service) Events(after int) []Event {
	u := &s.users
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []Event
	for _, e := range u.events {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// deviceOf names the user and device that logged in with client ID id.
func (s *Service) deviceOf(id [32]byte) (string, bool) {
	user, dev, ok := s.whoIs(id)
	return user + "/" + dev, ok
}

func (s *Service) whoIs(id [32]byte) (user, device string, ok bool) {
	u := &s.users
	u.mu.Lock()
	defer u.mu.Unlock()
	for user, devs := range u.devices {
		for dev, cid := range devs {
			if cid == id {
				return user, dev, true
			}
		}
	}
	return "", "", false
}

// serveUsers answers the routes of a logged-in app; false for any other
// path.
func (s *Service) serveUsers(w http.ResponseWriter, r *http.Request) bool {
	var route func(http.ResponseWriter, *http.Request)
	method := http.MethodPost
	switch r.URL.Path {
	case "/login":
		route = s.login
	case "/notify":
		route = s.notify
	case "/config":
		route, method = s.config, http.MethodGet
	case "/events":
		route, method = s.events, http.MethodGet
	default:
		return false
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return true
	}
	route(w, r)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeBody reads a JSON body of at most 64 KiB with no unknown fields.
func decodeBody(r *http.Request, v any) error {
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// login issues a connect token for the device's key (demo login: see
// LoginRequest).
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decodeBody(r, &req); err != nil {
		http.Error(w, `want {"user": …, "device": …, "client_key": …}`, http.StatusBadRequest)
		return
	}
	if !nameRE.MatchString(req.User) || !nameRE.MatchString(req.Device) {
		http.Error(w, "user and device: 1 to 32 of a-z 0-9 . _ -, starting with a letter or digit", http.StatusUnprocessableEntity)
		return
	}
	key, err := hex.DecodeString(req.ClientKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		http.Error(w, "client_key: 64 hex digits (an Ed25519 public key)", http.StatusUnprocessableEntity)
		return
	}
	raw, err := s.Publisher.IssueToken(publisher.TokenRequest{Subject: req.User, Device: req.Device, ClientKey: key,
		Realm: s.Realm, ServerKeyID: s.ServerKeyID, Lifetime: s.TokenLifetime})
	if err != nil {
		// a key that is not a valid Ed25519 point (SIG-001)
		http.Error(w, "client_key: "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	t, err := token.Parse(raw)
	if err != nil {
		http.Error(w, "token: "+err.Error(), http.StatusInternalServerError)
		return
	}
	id := handshake.ClientID(key)
	u := &s.users
	u.mu.Lock()
	if u.devices == nil {
		u.devices = map[string]map[string][32]byte{}
	}
	if u.devices[req.User] == nil {
		u.devices[req.User] = map[string][32]byte{}
	}
	u.devices[req.User][req.Device] = id
	u.mu.Unlock()
	expires := time.Unix(int64(t.NotAfter), 0).UTC()
	s.record("login", "demo login %s/%s: token %x… issued (binds key %x…, client ID %x…), valid until %s",
		req.User, req.Device, t.ID[:4], key[:4], id[:6], expires.Format(time.TimeOnly))
	writeJSON(w, http.StatusOK, LoginAnswer{Token: hex.EncodeToString(raw), TokenID: hex.EncodeToString(t.ID[:]),
		ClientID: hex.EncodeToString(id[:]), Expires: expires.Format(time.RFC3339)})
}

// notify publishes a text to every device of a user that logged in here,
// as one publication (stored once, sealed once).
func (s *Service) notify(w http.ResponseWriter, r *http.Request) {
	var req NotifyRequest
	if err := decodeBody(r, &req); err != nil {
		http.Error(w, `want {"user": …, "text": …}`, http.StatusBadRequest)
		return
	}
	if !nameRE.MatchString(req.User) || req.Text == "" || len(req.Text) > 1024 {
		http.Error(w, "user: a user name; text: 1 to 1024 bytes", http.StatusUnprocessableEntity)
		return
	}
	// The push server resolves the user to the devices it knows (to_user,
	// API-091): the devices that connected with a token naming the user.
	res, err := s.Publisher.Publish(r.Context(), publisher.Message{ToUser: []string{req.User}, Payload: []byte(req.Text), TTL: time.Hour}, "")
	var pr *publisher.Problem
	if errors.As(err, &pr) && pr.Status == http.StatusUnprocessableEntity && pr.Rule == "API-093" {
		http.Error(w, "the push server knows no device of "+req.User, http.StatusNotFound)
		return
	}
	if err != nil {
		s.record("notify", "publish to %s failed: %v", req.User, err)
		http.Error(w, "publish: "+err.Error(), http.StatusBadGateway)
		return
	}
	ans := NotifyAnswer{User: req.User}
	for _, m := range res.Messages {
		d := Delivery{Device: m.Device, ClientID: m.ClientID, MessageID: m.MessageID, ID: m.ID, Status: "offline"}
		var id [32]byte
		if b, err := hex.DecodeString(m.ClientID); err == nil && len(b) == 32 {
			copy(id[:], b)
			if p, err := s.Publisher.Presence(r.Context(), id); err == nil && p.Online {
				d.Status = "online"
			}
		}
		ans.Deliveries = append(ans.Deliveries, d)
	}
	var parts []string
	for _, d := range ans.Deliveries {
		parts = append(parts, fmt.Sprintf("%s → message %d (%s)", d.Device, d.MessageID, d.Status))
	}
	s.record("notify", "published %q to %s (to_user; the push server answered one message per device): %s", req.Text, req.User, strings.Join(parts, ", "))
	writeJSON(w, http.StatusOK, ans)
}

func (s *Service) config(w http.ResponseWriter, _ *http.Request) {
	c := Config{WebSocketURL: s.WebSocketURL, Realm: s.Realm}
	if s.ServerKeyID != ([32]byte{}) {
		c.ServerKeyID = hex.EncodeToString(s.ServerKeyID[:])
	}
	writeJSON(w, http.StatusOK, c)
}

// events answers GET /events?after=N with the events after N.
func (s *Service) events(w http.ResponseWriter, r *http.Request) {
	after := 0
	if a := r.URL.Query().Get("after"); a != "" {
		if _, err := fmt.Sscan(a, &after); err != nil || after < 0 {
			http.Error(w, "after: a sequence number", http.StatusBadRequest)
			return
		}
	}
	ev := s.Events(after)
	if ev == nil {
		ev = []Event{}
	}
	writeJSON(w, http.StatusOK, ev)
}

// Login is the client side of POST /login.
func Login(ctx context.Context, serviceURL string, req LoginRequest) (*LoginAnswer, error) {
	var a LoginAnswer
	if err := call(ctx, serviceURL+"/login", req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// TokenSource returns a client.Config.TokenSource that logs in as
// user/device with key at every call.
func TokenSource(serviceURL, user, device string, key ed25519.PublicKey) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		a, err := Login(ctx, serviceURL, LoginRequest{User: user, Device: device, ClientKey: hex.EncodeToString(key)})
		if err != nil {
			return nil, err
		}
		return hex.DecodeString(a.Token)
	}
}

// Notify is the client side of POST /notify.
func Notify(ctx context.Context, serviceURL, user, text string) (*NotifyAnswer, error) {
	var a NotifyAnswer
	if err := call(ctx, serviceURL+"/notify", NotifyRequest{User: user, Text: text}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func call(ctx context.Context, url string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("service: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return errors.New("service: answer is not JSON")
	}
	return nil
}

// WebhookHandler receives the push server's delivery webhooks (API-100):
// the operator configured its URL for the service's publisher key. Each
// POST is verified with publisher.VerifyWebhook against WebhookKey before
// anything in it is used; a refused one is answered 401 and recorded. A
// batch whose Idempotency-Key was processed before is answered 204 and not
// processed again (delivery is at least once, API-106). Mount it at the
// path the configured URL names: the signature covers the path.
func (s *Service) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.WebhookKey.PublicKey == nil {
			http.Error(w, "no webhook key", http.StatusServiceUnavailable)
			return
		}
		b, err := publisher.VerifyWebhook(r, s.WebhookKey, time.Now())
		if err != nil {
			s.record("webhook", "refused a webhook POST: %v", err)
			http.Error(w, "webhook refused", http.StatusUnauthorized)
			return
		}
		u := &s.users
		u.mu.Lock()
		seen := u.hooks[b.IdempotencyKey]
		if u.hooks == nil {
			u.hooks = map[string]bool{}
		}
		u.hooks[b.IdempotencyKey] = true
		u.mu.Unlock()
		if !seen {
			for _, e := range b.Events {
				ev := WebhookEvent{WebhookEvent: e, Verified: true}
				if id, err := hex.DecodeString(e.ClientID); err == nil && len(id) == 32 {
					ev.User, ev.Device, _ = s.whoIs([32]byte(id))
				}
				s.recordWebhook(ev)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
