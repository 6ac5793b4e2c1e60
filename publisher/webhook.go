package publisher

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// Delivery webhooks (spec/api.md, API-100 … API-109): the server POSTs
// batches of events about a publisher's messages to the URL its operator
// configured for the publisher's key, signed with the deployment's webhook
// key. VerifyWebhook is what a publisher's receiver runs on each POST.

// Webhook event types (API-101).
const (
	EventAcknowledged = "acknowledged"
	EventExpired      = "expired"
)

// MaxWebhookBody is the largest webhook body VerifyWebhook reads: 100
// events (API-102) take about 25 KiB.
const MaxWebhookBody = 1 << 20

// WebhookEvent is one event of a batch (API-101). A message has at most
// one: acknowledged and expired are final (API-032).
type WebhookEvent struct {
	Type      string `json:"type"`       // EventAcknowledged or EventExpired
	ID        string `json:"id"`         // the message's handle, as the publish answered it
	ClientID  string `json:"client_id"`  // 64 hex digits
	MessageID uint64 `json:"message_id"` // the per-client message ID
	Time      string `json:"time"`       // RFC 3339, UTC, milliseconds: when it was acknowledged or expired
}

// WebhookBatch is the body of one webhook POST (API-101).
type WebhookBatch struct {
	Publisher string         `json:"publisher"` // the publisher's key ID
	Events    []WebhookEvent `json:"events"`
	// IdempotencyKey is the request's Idempotency-Key: the same on every
	// retry of the batch (API-106). It is not part of the JSON.
	IdempotencyKey string `json:"-"`
}

// WebhookKey is the deployment's webhook public key and its key ID, as
// GET /v1/server publishes them (API-107).
type WebhookKey struct {
	KeyID     string
	PublicKey ed25519.PublicKey
}

// ParseWebhookKey checks a key ID and base64 public key from GET
// /v1/server: the key must be a valid Ed25519 key (SIG-001) whose
// fingerprint is the key ID.
func ParseWebhookKey(keyID, publicKey string) (WebhookKey, error) {
	b, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil {
		return WebhookKey{}, fmt.Errorf("publisher: webhook public key: %w", err)
	}
	if _, err := sig.ParsePublicKey(b); err != nil {
		return WebhookKey{}, fmt.Errorf("publisher: webhook public key: %w", err)
	}
	if sig.Fingerprint(b) != keyID {
		return WebhookKey{}, errors.New("publisher: the webhook key ID is not the key's fingerprint")
	}
	return WebhookKey{KeyID: keyID, PublicKey: ed25519.PublicKey(b)}, nil
}

// WebhookKey reads the deployment's webhook key from GET /v1/server
// (API-107). Fetch it once, over a connection you trust, and keep it: a
// receiver then verifies offline.
func (p *Publisher) WebhookKey(ctx context.Context) (WebhookKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.BaseURL+"/v1/server", nil)
	if err != nil {
		return WebhookKey{}, err
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return WebhookKey{}, err
	}
	defer resp.Body.Close()
	var s struct {
		KeyID     string `json:"webhook_key_id"`
		PublicKey string `json:"webhook_public_key"`
	}
	if resp.StatusCode != http.StatusOK {
		return WebhookKey{}, fmt.Errorf("publisher: GET /v1/server: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return WebhookKey{}, err
	}
	if s.KeyID == "" {
		return WebhookKey{}, errors.New("publisher: the server has no webhook key")
	}
	return ParseWebhookKey(s.KeyID, s.PublicKey)
}

// VerifyWebhook reads the body of a webhook POST and checks it as API-104
// requires: the signature labelled sealfeed-webhook, with the tag
// sealfeed-webhook-v1, by key, covering the method, target, Content-Digest,
// Content-Type and Idempotency-Key; its created no more than a minute
// ahead of now and its expires not passed; the digest over the body; then
// the body's format. r.Body is consumed.
//
// It does not deduplicate: the receiver MUST drop a batch whose
// IdempotencyKey it has processed, or an event whose ID it has seen, since
// delivery is at least once (API-106). Any error means: answer 4xx and
// process nothing. Every error carries an alert code (protocol/alert)
// classifying it as webhook.json's vectors do; a body that is not a batch
// is decode_error.
func VerifyWebhook(r *http.Request, key WebhookKey, now time.Time) (*WebhookBatch, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxWebhookBody {
		return nil, alert.Errorf(alert.LimitExceeded, "publisher: webhook body over %d bytes", MaxWebhookBody)
	}
	if err := httpsig.VerifyWebhook(r, body, key.PublicKey, key.KeyID, now); err != nil {
		return nil, err
	}
	b, err := parseWebhookBody(r, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", alert.Sentinel(alert.DecodeError), err)
	}
	return b, nil
}

// parseWebhookBody checks what the signature does not: the method, the
// header fields and the body's format (API-101).
func parseWebhookBody(r *http.Request, body []byte) (*WebhookBatch, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("publisher: webhook: method %s, want POST", r.Method)
	}
	keys := r.Header.Values("Idempotency-Key")
	if len(keys) != 1 || len(keys[0]) == 0 || len(keys[0]) > 255 {
		return nil, errors.New("publisher: webhook: want one Idempotency-Key of 1 to 255 characters")
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return nil, fmt.Errorf("publisher: webhook: Content-Type %q, want application/json", ct)
	}
	var b WebhookBatch
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("publisher: webhook body: %w", err)
	}
	if dec.More() {
		return nil, errors.New("publisher: webhook body: data after the JSON value")
	}
	if b.Publisher == "" || len(b.Events) == 0 {
		return nil, errors.New("publisher: webhook body: publisher and events are required")
	}
	for i, e := range b.Events {
		if e.Type != EventAcknowledged && e.Type != EventExpired {
			return nil, fmt.Errorf("publisher: webhook body: events[%d].type is not %s or %s", i, EventAcknowledged, EventExpired)
		}
		if h, err := hex.DecodeString(e.ID); err != nil || len(h) != 16 || hex.EncodeToString(h) != e.ID {
			return nil, fmt.Errorf("publisher: webhook body: events[%d].id is not 32 lower-case hex digits", i)
		}
		if c, err := hex.DecodeString(e.ClientID); err != nil || len(c) != 32 || hex.EncodeToString(c) != e.ClientID {
			return nil, fmt.Errorf("publisher: webhook body: events[%d].client_id is not 64 lower-case hex digits", i)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			return nil, fmt.Errorf("publisher: webhook body: events[%d].time: %w", i, err)
		}
	}
	b.IdempotencyKey = keys[0]
	return &b, nil
}
