// Package publisher is the Go library for application back ends that
// submit messages to a SealFeed server: every request is signed with the
// publisher's Ed25519 key (RFC 9421 with Content-Digest, spec/api.md), and
// publishes carry an Idempotency-Key, covered by the signature (API-038),
// so that a retry after a network failure enqueues the message exactly
// once. The signature covers the authority of BaseURL, which must be one
// the server is configured with (API-039).
package publisher

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/sealed"
)

// Publisher signs and sends requests to one server.
type Publisher struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Key     ed25519.PrivateKey
	KeyID   string // default: the key's fingerprint
	HTTP    *http.Client
	// Retries is how often a publish is retried after a network error or a
	// 503, with the same Idempotency-Key and a new signature, waiting at
	// least the answer's Retry-After; 0: 3, negative: never.
	Retries int
}

// New returns a Publisher whose key ID is the key's fingerprint.
func New(baseURL string, key ed25519.PrivateKey) *Publisher {
	return &Publisher{BaseURL: strings.TrimRight(baseURL, "/"), Key: key,
		KeyID: sig.Fingerprint(key.Public().(ed25519.PublicKey)), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Message is one publication: a payload for one client, or for several
// (a broadcast), or for every known device of one or more users (ToUser,
// API-090). Set exactly one of To and ToUser.
type Message struct {
	To [][32]byte
	// ToUser names users, as their access tokens' subject (§6.8): the
	// server stores the message for each device of theirs it knows
	// (API-091).
	ToUser  []string
	Payload []byte
	TTL     time.Duration // 0: server default (24 h)
}

// Accepted describes one stored message.
type Accepted struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	MessageID uint64 `json:"message_id"`
	Expires   string `json:"expires"`
	// User and Device name the device of a message addressed with
	// ToUser (API-094): empty otherwise, and Device is empty for a
	// token that named no device.
	User   string `json:"user,omitempty"`
	Device string `json:"device,omitempty"`
}

// Result is the answer to a publish.
type Result struct {
	Messages []Accepted `json:"messages"`
	Replayed bool       `json:"replayed"` // the server had stored this request before
	// UnknownUsers lists the users of ToUser for whom nothing was stored:
	// the server knows no device of theirs (API-094).
	UnknownUsers []string `json:"unknown_users,omitempty"`
}

// Problem is an RFC 9457 error answer.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Rule   string `json:"rule"`
	// RequestID is the answer's Request-Id, which the node's audit line
	// names too (OPS-053).
	RequestID string `json:"request_id"`
	// RetryAfter is the answer's Retry-After in seconds (429, 503); 0
	// when absent or not a number of seconds.
	RetryAfter time.Duration `json:"-"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("publisher: %d %s", p.Status, p.Title)
	if p.Rule != "" {
		s += " (" + p.Rule + ")"
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

type pubJSON struct {
	To      []string `json:"to,omitempty"`
	ToUser  []string `json:"to_user,omitempty"`
	Payload string   `json:"payload"`
	TTL     *int64   `json:"ttl,omitempty"`
}

func encode(m Message) pubJSON {
	p := pubJSON{Payload: base64.StdEncoding.EncodeToString(m.Payload), ToUser: m.ToUser}
	for _, id := range m.To {
		p.To = append(p.To, hex.EncodeToString(id[:]))
	}
	if m.TTL > 0 {
		s := int64((m.TTL + time.Second - 1) / time.Second)
		p.TTL = &s
	}
	return p
}

// NewIdempotencyKey returns a random key.
func NewIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Publish stores one message. idempotencyKey may be empty: one is
// generated and reused for the retries of this call.
func (p *Publisher) Publish(ctx context.Context, m Message, idempotencyKey string) (*Result, error) {
	body, err := json.Marshal(encode(m))
	if err != nil {
		return nil, err
	}
	return p.publish(ctx, "/v1/messages", body, idempotencyKey)
}

// PublishMany stores up to 1000 messages atomically.
func (p *Publisher) PublishMany(ctx context.Context, ms []Message, idempotencyKey string) (*Result, error) {
	var b struct {
		Messages []pubJSON `json:"messages"`
	}
	for _, m := range ms {
		b.Messages = append(b.Messages, encode(m))
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return p.publish(ctx, "/v1/messages/bulk", body, idempotencyKey)
}

func (p *Publisher) publish(ctx context.Context, path string, body []byte, key string) (*Result, error) {
	if key == "" {
		key = NewIdempotencyKey()
	}
	retries := p.Retries
	if retries == 0 {
		retries = 3
	}
	var res Result
	var err error
	for i := 0; ; i++ {
		err = p.Do(ctx, http.MethodPost, path, body, key, &res)
		var pr *Problem
		retry := err != nil && (!errors.As(err, &pr) || pr.Status == 503)
		if !retry || i >= retries || ctx.Err() != nil {
			break
		}
		wait := time.Duration(100<<i) * time.Millisecond
		if pr != nil {
			wait = max(wait, pr.RetryAfter)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Status is a message's delivery state.
type Status struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	MessageID uint64 `json:"message_id"`
	State     string `json:"state"`
	Created   string `json:"created"`
	Expires   string `json:"expires"`
}

// Status asks for the state of a message by its ID.
func (p *Publisher) Status(ctx context.Context, id string) (*Status, error) {
	var s Status
	return &s, p.Do(ctx, http.MethodGet, "/v1/messages/"+id, nil, "", &s)
}

// Presence is a client's connection state.
type Presence struct {
	ClientID       string `json:"client_id"`
	Online         bool   `json:"online"`
	ConnectedSince string `json:"connected_since"`
	Pending        int    `json:"pending"`
}

// Presence asks whether a client is connected and how many messages wait.
func (p *Publisher) Presence(ctx context.Context, clientID [32]byte) (*Presence, error) {
	var s Presence
	return &s, p.Do(ctx, http.MethodGet, "/v1/clients/"+hex.EncodeToString(clientID[:]), nil, "", &s)
}

// Do sends one signed request and decodes a JSON answer into out, or
// returns a *Problem.
func (p *Publisher) Do(ctx context.Context, method, path string, body []byte, idempotencyKey string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, p.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	if err := httpsig.Sign(req, body, p.KeyID, p.Key, time.Now(), base64.RawURLEncoding.EncodeToString(nonce[:])); err != nil {
		return err
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		pr := &Problem{Status: resp.StatusCode, Title: resp.Status}
		json.Unmarshal(b, pr)
		if pr.RequestID == "" {
			pr.RequestID = resp.Header.Get("Request-Id")
		}
		if s, err := strconv.ParseUint(resp.Header.Get("Retry-After"), 10, 16); err == nil {
			pr.RetryAfter = time.Duration(s) * time.Second
		}
		return pr
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// TokenRequest says whom an access token is for (spec §6.8).
type TokenRequest struct {
	Subject   string            // the user, 1 to 255 bytes of UTF-8
	Device    string            // optional device name, up to 255 bytes
	ClientKey ed25519.PublicKey // the client's identity key, which the token binds (TOK-006)
	// Realm is the deployment's realm when clients trust it by authority;
	// otherwise ServerKeyID, the fingerprint clients pin (TOK-005).
	Realm       string
	ServerKeyID [32]byte
	Lifetime    time.Duration // 0: token.DefaultLifetime (15 min); at most 1 h (TOK-003)
}

// IssueToken returns an encoded access token signed with the publisher's
// key (TOK-002, TOK-008), for the application's back end to hand to its
// logged-in client, which presents it in its handshake. The server accepts
// it if this key is registered there.
func (p *Publisher) IssueToken(r TokenRequest) ([]byte, error) {
	aud := token.Audience{Type: token.AudienceServerKey, ServerKeyID: r.ServerKeyID}
	if r.Realm != "" {
		aud = token.Audience{Type: token.AudienceRealm, Realm: r.Realm}
	} else if r.ServerKeyID == ([32]byte{}) {
		return nil, errors.New("publisher: a token needs a Realm or a ServerKeyID (TOK-005)")
	}
	t, err := token.Issue(p.Key, token.Params{Subject: r.Subject, Device: r.Device, Audience: aud,
		ClientKey: r.ClientKey, Lifetime: r.Lifetime})
	if err != nil {
		return nil, err
	}
	return t.Marshal(), nil
}

// Seal returns payload sealed end to end for the client clientID
// (spec/sealed.md): it checks the client's seal key record (SEAL-006: its
// signature, that its identity key is the one clientID derives from, its
// validity period), then encrypts payload to the record's key and signs it
// with p.Key (SEAL-015). The result is the payload to publish to clientID;
// the server stores and delivers it without being able to read or alter
// it. A client that opens it reports SealedBy = KeyID of p.Key.
func (p *Publisher) Seal(record []byte, clientID [32]byte, payload []byte) ([]byte, error) {
	rec, err := sealed.VerifyRecordForClient(record, clientID, time.Now())
	if err != nil {
		return nil, err
	}
	return sealed.Seal(rec, p.Key, payload, time.Time{})
}
