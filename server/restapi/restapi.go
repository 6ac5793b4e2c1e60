// Package restapi is the HTTP API of the SealFeed server for application
// back ends (spec/api.md, spec/api/openapi.yaml): publishing, message
// status, client presence — each signed with the publisher's Ed25519 key
// (RFC 9421, API-001 … API-019) — and the public server credential,
// revocation list, health and Prometheus metrics.
//
// Errors are application/problem+json (RFC 9457) naming the rule that
// failed, never echoing keys, signatures or bodies (API-019).
package restapi

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
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/server/core"
	"github.com/sealfeed/sealfeed/server/store"
)

// Limits of the API (documented in openapi.yaml).
const (
	MaxBodyBytes          = 8 << 20
	MaxPublications       = 1000
	MaxRecipients         = 10000
	MaxIdempotencyKeyLen  = 255
	DefaultTTL            = 24 * time.Hour
	MaxTTL                = 7 * 24 * time.Hour
	ProblemBase           = "https://sealfeed.dev/problems/"
	contentTypeProblem    = "application/problem+json"
	contentTypeJSON       = "application/json"
	headerIdempotencyKey  = "Idempotency-Key"
	defaultMaxPayload     = 65536
	defaultMaxPendingPerC = 10000
)

// Config configures the API.
type Config struct {
	Store store.Store
	Hub   *core.Hub
	// Publishers maps a key ID to a registered publisher key (API-012).
	Publishers map[string]ed25519.PublicKey
	// Authorities are the server's public authorities, host[:port] as
	// publishers address it; a signed request for another is refused
	// (API-039). Empty: any authority is accepted.
	Authorities []string
	// PresencePublishers are key IDs the operator granted presence of
	// every client (API-040); other publishers see only clients they
	// published to.
	PresencePublishers []string
	// MaxSkew is the clock-skew window for created (API-013); 0: 300 s.
	MaxSkew time.Duration
	// MaxPayload bounds one message (spec MaxPayload); 0: 65536.
	MaxPayload int
	// MaxPendingPerClient bounds unacknowledged messages per client; 0: 10000.
	MaxPendingPerClient int
	// StoreTimeout bounds the store calls of one signed request, the
	// nonce check included, from the moment its body was read (API-041);
	// 0: DefaultStoreTimeout.
	StoreTimeout time.Duration
	// ServerKey is the node's public key, Credential and RevocationList
	// its credential and the authority's list (may be nil).
	ServerKey ed25519.PublicKey
	// NextServerKey is the next key the node announces (HS-070), or nil.
	NextServerKey              ed25519.PublicKey
	Credential, RevocationList func() []byte
	Realm                      string
	// Metrics serves GET /metrics (OPS-040); nil: an empty answer.
	Metrics http.Handler
	// Rejected is called with the problem type of every problem answered
	// (OPS-043); nil: none.
	Rejected func(problem string)
	// Warnings, if set, lists what /healthz reports beside its status
	// (OPS-032); Unready, if set, is the reason /readyz answers 503 for
	// a node that cannot serve for a reason of its own ("": none, OPS-033).
	Warnings func() []HealthWarning
	Unready  func() string
	Logger   *slog.Logger
	Now      func() time.Time

	// ClientIP resolves a request's client address for the audit line
	// (OPS-052), as the per-address limits do (OPS-011); nil: the peer's
	// address.
	ClientIP func(*http.Request) string

	// WebhookKey is the deployment's public webhook key (API-107), or nil.
	WebhookKey ed25519.PublicKey
}

// API is the HTTP handler of the REST endpoints.
type API struct {
	cfg      Config
	mux      *http.ServeMux
	log      *slog.Logger
	draining atomic.Bool
	sick     atomic.Bool
	trust    atomic.Pointer[trustState]
}

// Trust is the part of Config a reload replaces (OPS-030).
type Trust struct {
	Publishers         map[string]ed25519.PublicKey
	Authorities        []string
	PresencePublishers []string
}

// trustState is a Trust and the request verifier built from it.
type trustState struct {
	Trust
	v *httpsig.Verifier
}

// SetTrust replaces the publisher keys, authorities and presence grants
// at once (OPS-030): a request whose signature is checked afterwards is
// checked against t; one already past its check finishes under the old.
// The caller must not modify t afterwards.
func (a *API) SetTrust(t Trust) {
	v := &httpsig.Verifier{
		Key: func(id string) (ed25519.PublicKey, bool) {
			k, ok := t.Publishers[id]
			return k, ok
		},
		Nonces:      boundedNonces{a.cfg.Store},
		MaxSkew:     a.cfg.MaxSkew,
		Now:         a.cfg.Now,
		Authorities: t.Authorities,
	}
	a.trust.Store(&trustState{Trust: t, v: v})
}

// SetSick says whether the node is sick (OPS-003): while it is, publishes
// are refused with 503 and Retry-After before their signature is checked,
// and /readyz reports 503.
func (a *API) SetSick(sick bool) { a.sick.Store(sick) }

// Drain makes the API refuse publishes with 503 and Retry-After, before
// their signature is checked (so a retry of the same signed request is not
// a replay), and /healthz report 503: the node is shutting down (DLV-022).
// Status, presence and the public endpoints keep working.
func (a *API) Drain() { a.draining.Store(true) }

// RetryAfterDraining is the Retry-After, in seconds, of a publish refused
// by a draining node: another node, or this one restarted, takes it.
const RetryAfterDraining = "1"

// RetryAfterUnavailable is the Retry-After, in seconds, of a request
// answered 503 because the store failed or did not answer within
// StoreTimeout (API-041): another node, or this one once its store
// answers, takes the retry.
const RetryAfterUnavailable = "1"

// DefaultStoreTimeout is StoreTimeout's default.
const DefaultStoreTimeout = 5 * time.Second

// errStoreTimeout: a store call did not return within StoreTimeout.
var errStoreTimeout = errors.New("restapi: the store did not answer within the store timeout")

// bounded runs f with ctx and returns its result, or errStoreTimeout once
// ctx is done, whichever comes first: an engine that ignores its context
// cannot hold the answer past the deadline (API-041). A call still running
// then goes on in the background and its result is dropped; what it
// stores is the unknown outcome API-041 describes.
func bounded[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // finished at the deadline: its answer stands
			return r.v, r.err
		default:
		}
		var zero T
		return zero, fmt.Errorf("%w: %w", errStoreTimeout, ctx.Err())
	}
}

// boundedNonces is the verifier's nonce store: Store.Seen under bounded,
// except for a publish request, whose nonce it leaves to the publish.
type boundedNonces struct{ s store.Store }

func (b boundedNonces) Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	if d, ok := ctx.Value(deferredNonceKey{}).(*deferredNonce); ok && d.state == nonceNone {
		d.ctx, d.n, d.state = ctx, store.Nonce{KeyID: keyID, Nonce: nonce, Expires: expires}, nonceDeferred
		return false, nil
	}
	return bounded(ctx, func(ctx context.Context) (bool, error) { return b.s.Seen(ctx, keyID, nonce, expires) })
}

// deferredNonce is the nonce of a publish request whose signature
// verified (API-015). The store records it in the publish's own commit
// (store.PublishRequest.Nonce, STORE-016) instead of in one before it.
// Every other answer to the request records it first (settleNonce), so a
// publisher sees the checks in the order of spec/api.md: a replayed
// request is answered 409 whatever else is wrong with it.
type deferredNonce struct {
	ctx   context.Context // the request's, with its store deadline
	n     store.Nonce
	state int
}

type deferredNonceKey struct{}

const (
	nonceNone     = iota // no nonce verified (yet)
	nonceDeferred        // verified, not recorded
	nonceHanded          // handed to a Publish that failed: it may have recorded it
	nonceRecorded        // recorded, or the request refused as a replay
)

// settleNonce records the deferred nonce of the request answered on w,
// if it has one not yet recorded, before w gets an answer other than a
// stored publish (status). It answers, and returns false, when the answer
// must change: 409 for a nonce recorded before (API-016), 503 when the
// store cannot tell (API-041) and the answer is not a 503 already.
func (a *API) settleNonce(w http.ResponseWriter, status int) bool {
	aw, ok := w.(*auditWriter)
	if !ok || (aw.nonce.state != nonceDeferred && aw.nonce.state != nonceHanded) {
		return true
	}
	d := &aw.nonce
	handed := d.state == nonceHanded
	d.state = nonceRecorded
	seen, err := bounded(d.ctx, func(ctx context.Context) (bool, error) {
		return a.cfg.Store.Seen(ctx, d.n.KeyID, d.n.Nonce, d.n.Expires)
	})
	switch {
	case err != nil && status == http.StatusServiceUnavailable:
		return true // already the answer, with its own reason
	case err != nil:
		a.unavailable(w, "Cannot check the request now")
		return false
	case seen && !handed: // a failed Publish may have recorded it itself
		a.authProblem(w, httpsig.ErrReplay)
		return false
	}
	return true
}

// unavailable answers 503 with Retry-After for a store that failed or did
// not answer in time (API-041).
func (a *API) unavailable(w http.ResponseWriter, title string) {
	w.Header().Set("Retry-After", RetryAfterUnavailable)
	a.writeProblem(w, 503, "unavailable", title, "API-041", "")
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 300 * time.Second
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = defaultMaxPayload
	}
	if cfg.MaxPendingPerClient <= 0 {
		cfg.MaxPendingPerClient = defaultMaxPendingPerC
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = peerIP
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	a.SetTrust(Trust{Publishers: cfg.Publishers, Authorities: cfg.Authorities, PresencePublishers: cfg.PresencePublishers})
	a.mux.HandleFunc("POST /v1/messages", a.signed(a.publishOne))
	a.mux.HandleFunc("POST /v1/messages/bulk", a.signed(a.publishMany))
	a.mux.HandleFunc("GET /v1/messages/{id}", a.signed(a.status))
	a.mux.HandleFunc("GET /v1/clients/{id}", a.signed(a.presence))
	a.mux.HandleFunc("GET /v1/server", a.server)
	a.mux.HandleFunc("GET /v1/server/credential", a.credential)
	a.mux.HandleFunc("GET /v1/server/revocation-list", a.revocationList)
	a.mux.HandleFunc("GET /healthz", a.health)
	a.mux.HandleFunc("GET /readyz", a.ready)
	a.mux.HandleFunc("GET /metrics", a.metrics)
	return a
}

// ServeHTTP implements http.Handler. Every answer carries a Request-Id
// (OPS-053); every publish request, accepted or refused, is logged in one
// audit line when it has been answered (OPS-052).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(HeaderRequestID, requestID(r))
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/messages") {
		aw := &auditWriter{ResponseWriter: w}
		defer a.audit(aw, r)
		w = aw
		switch {
		case a.draining.Load():
			w.Header().Set("Retry-After", RetryAfterDraining)
			a.writeProblem(w, 503, "unavailable", "Server shutting down", "DLV-022", "")
			return
		case a.sick.Load():
			w.Header().Set("Retry-After", RetryAfterUnavailable)
			a.writeProblem(w, 503, "unavailable", "Server cannot reach its store", "OPS-003", "")
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Rule   string `json:"rule,omitempty"` // the requirement ID that failed (API-019)
	// RequestID is the answer's Request-Id, which the node's audit line
	// names too (OPS-053).
	RequestID string `json:"request_id,omitempty"`
}

// writeProblem answers a problem and counts it by type (OPS-043).
func (a *API) writeProblem(w http.ResponseWriter, status int, name, title, rule, detail string) {
	if !a.settleNonce(w, status) {
		return
	}
	if a.cfg.Rejected != nil {
		a.cfg.Rejected(name)
	}
	if aw, ok := w.(*auditWriter); ok {
		aw.problem = name
	}
	w.Header().Set("Content-Type", contentTypeProblem)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Problem{Type: ProblemBase + name, Title: title, Status: status, Detail: detail, Rule: rule,
		RequestID: w.Header().Get(HeaderRequestID)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// authProblem maps a verification error to its row of spec/api.md.
func (a *API) authProblem(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, httpsig.ErrMissingSignature):
		a.writeProblem(w, 401, "unsigned", "Request is not signed", "API-010", "")
	case errors.Is(err, httpsig.ErrMalformed):
		a.writeProblem(w, 400, "malformed-signature", "Malformed signature fields", "API-010", reason(err, httpsig.ErrMalformed))
	case errors.Is(err, httpsig.ErrMissingComponent):
		var ce *httpsig.ComponentError
		switch {
		case errors.As(err, &ce) && ce.Component == "idempotency-key":
			a.writeProblem(w, 401, "incomplete-signature", "Signature does not cover every required component and parameter", "API-038",
				`the signature must cover "idempotency-key" when the request carries Idempotency-Key`)
		case errors.As(err, &ce):
			a.writeProblem(w, 401, "incomplete-signature", "Signature does not cover every required component and parameter", "API-011",
				fmt.Sprintf("the signature must cover %q", ce.Component))
		default:
			a.writeProblem(w, 401, "incomplete-signature", "Signature does not cover every required component and parameter", "API-011",
				reason(err, httpsig.ErrMissingComponent))
		}
	case errors.Is(err, httpsig.ErrWrongAuthority):
		var ae *httpsig.AuthorityError
		detail := ""
		if errors.As(err, &ae) {
			detail = "this server answers to @authority " + strings.Join(ae.Want, ", ")
		}
		a.writeProblem(w, 401, "wrong-authority", "Request signed for another authority", "API-039", detail)
	case errors.Is(err, httpsig.ErrUnknownKey):
		a.writeProblem(w, 401, "unknown-key", "Unknown publisher key", "API-012", "")
	case errors.Is(err, httpsig.ErrStale):
		var se *httpsig.StaleError
		detail := ""
		if errors.As(err, &se) {
			detail = se.Detail() // API-081
		}
		a.writeProblem(w, 401, "stale-request", "Request outside the clock-skew window", "API-013", detail)
	case errors.Is(err, httpsig.ErrBadDigest):
		a.writeProblem(w, 400, "bad-digest", "Content-Digest does not match the body", "API-014", "")
	case errors.Is(err, httpsig.ErrBadSignature):
		var se *httpsig.SignatureError
		detail := ""
		if errors.As(err, &se) {
			detail = "the server's signature base: " + se.Detail() // API-080
		}
		a.writeProblem(w, 401, "bad-signature", "Signature does not verify", "API-015", detail)
	case errors.Is(err, httpsig.ErrReplay):
		a.writeProblem(w, 409, "replayed-request", "Nonce already used", "API-016", "")
	default:
		a.unavailable(w, "Cannot check the request now")
	}
}

// maxReason bounds the part of a verification error a problem repeats.
const maxReason = 200

// reason is what err adds to its sentinel, e.g. "Signature-Input: invalid
// inner list format" (API-083): the part of the fields at fault and the
// structured-field parser's complaint, never a field's value.
func reason(err, sentinel error) string {
	r, ok := strings.CutPrefix(err.Error(), sentinel.Error()+": ")
	if !ok {
		return ""
	}
	if len(r) > maxReason {
		r = strings.ToValidUTF8(r[:maxReason], "") + "…"
	}
	return r
}

type handler func(w http.ResponseWriter, r *http.Request, publisher string, body []byte)

// signed reads the body (bounded), verifies the request signature and
// calls next with the publisher's key ID. From the moment the body was read
// every store call of the request, the nonce check included, shares one
// deadline, StoreTimeout later (API-041); a publisher that hangs up does not
// cancel them, so a publish is not cut short between its writes.
func (a *API) signed(next handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bb := bodyBuffers.Get().(*bytes.Buffer)
		defer putBodyBuffer(bb)
		bb.Reset()
		_, err := bb.ReadFrom(http.MaxBytesReader(unwrapAudit(w), r.Body, MaxBodyBytes))
		body := bb.Bytes()
		if err != nil {
			a.writeProblem(w, 413, "body-too-large", "Request body too large", "", fmt.Sprintf("at most %d bytes", MaxBodyBytes))
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.cfg.StoreTimeout)
		defer cancel()
		aw, audited := w.(*auditWriter)
		if audited { // a publish: its nonce is recorded with it (STORE-016)
			ctx = context.WithValue(ctx, deferredNonceKey{}, &aw.nonce)
		}
		r = r.WithContext(ctx)
		keyID, err := a.trust.Load().v.Verify(r, body)
		if err != nil {
			if audited {
				aw.reason = err // the audit line says why
			} else if !errors.Is(err, httpsig.ErrMissingSignature) {
				a.log.Info("rejected publisher request", "path", r.URL.Path, "err", err)
			}
			a.authProblem(w, err)
			return
		}
		if audited {
			aw.keyID = keyID
		}
		next(w, r, keyID, body)
	}
}

// bodyBuffers hold request bodies while their handler runs. Nothing a
// handler starts keeps the body: the store gets its hash (RequestHash) and
// payloads decoded into slabs of their own (publicationSlab).
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody is the largest body buffer that goes back to bodyBuffers.
const maxPooledBody = 1 << 20

func putBodyBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		bodyBuffers.Put(b)
	}
}

// PublicationJSON is one publication in a request.
type PublicationJSON struct {
	To []string `json:"to,omitempty"`
	// ToUser addresses every known device of each user (API-090); a
	// publication has exactly one of To and ToUser.
	ToUser  []string `json:"to_user,omitempty"`
	Payload *string  `json:"payload,omitempty"` // standard base64
	Text    *string  `json:"text,omitempty"`    // UTF-8, alternative to payload
	TTL     *int64   `json:"ttl,omitempty"`     // seconds
}

type bulkJSON struct {
	Messages []PublicationJSON `json:"messages"`
}

// MessageJSON describes one accepted message.
type MessageJSON struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	MessageID uint64 `json:"message_id"`
	Expires   string `json:"expires"`
	// User and Device name the device of a message addressed with
	// to_user (API-094); absent otherwise. Device is "" for a token that
	// named no device.
	User   *string `json:"user,omitempty"`
	Device *string `json:"device,omitempty"`
}

type publishResponse struct {
	Messages []MessageJSON `json:"messages"`
	Replayed bool          `json:"replayed"`
	// UnknownUsers lists the users of to_user for whom no message was
	// stored (API-094); present, possibly empty, when the request used
	// to_user.
	UnknownUsers *[]string `json:"unknown_users,omitempty"`
}

// decodeStrict decodes exactly one JSON value with no unknown fields. Its
// errors say what is wrong in the server's own words: Go's messages quote
// parts of the body (an unknown field's name), which API-019 forbids.
func decodeStrict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("JSON syntax error at byte %d", se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("wrong JSON type for field %q", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s (the schema is in spec/api/openapi.yaml)", unknownFieldName(err.Error()))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("body is empty or truncated")
		}
		return errors.New("malformed JSON")
	}
	var extra json.RawMessage
	if d.Decode(&extra) != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// maxFieldNameInDetail bounds the unknown field name a problem repeats.
const maxFieldNameInDetail = 64

// unknownFieldName returns the quoted name in encoding/json's "json: unknown
// field" error, cut to maxFieldNameInDetail bytes (API-082): a name, not the
// body's values.
func unknownFieldName(msg string) string {
	name, err := strconv.Unquote(strings.TrimPrefix(msg, "json: unknown field "))
	if err != nil {
		return "(unnamed)"
	}
	if len(name) > maxFieldNameInDetail {
		name = strings.ToValidUTF8(name[:maxFieldNameInDetail], "") + "…"
	}
	return strconv.Quote(name)
}

// ParseClientID decodes a client ID given as 64 hex digits.
func ParseClientID(s string) ([32]byte, error) {
	var id [32]byte
	if len(s) != 64 {
		return id, errors.New("client ID must be 64 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errors.New("client ID must be 64 hex digits")
	}
	return id, nil
}

type invalid struct{ msg string }

func (e invalid) Error() string { return e.msg }

// where names publication i of a bulk request in an error (-1: a single
// publication).
func where(i int) string {
	if i < 0 {
		return ""
	}
	return fmt.Sprintf("messages[%d].", i)
}

// publicationSlab holds the recipients and payloads of one request's
// publications, in one allocation each rather than one per publication.
// Each publication's slices are capped at their own end.
type publicationSlab struct {
	to      [][32]byte
	payload []byte
}

// newPublicationSlab sizes a slab for ps, within the limits checked later
// (a count above them fails before the slab is used up).
func newPublicationSlab(ps []PublicationJSON) *publicationSlab {
	var to, payload int
	for i := range ps {
		to += min(len(ps[i].To), MaxRecipients+1)
		switch {
		case ps[i].Payload != nil:
			payload += base64.StdEncoding.DecodedLen(len(*ps[i].Payload))
		case ps[i].Text != nil:
			payload += len(*ps[i].Text)
		}
	}
	return &publicationSlab{to: make([][32]byte, 0, to), payload: make([]byte, 0, payload)}
}

// payloadEncoding is the encoding of payload: standard base64, padded,
// with zero trailing bits.
var payloadEncoding = base64.StdEncoding.Strict()

// smallRecipientList is the longest list of recipients checked for
// duplicates by comparing pairs rather than with a map.
const smallRecipientList = 32

func (a *API) publication(p *PublicationJSON, i int, slab *publicationSlab) (store.Publication, error) {
	var out store.Publication
	if (p.To == nil) == (p.ToUser == nil) {
		return out, invalid{where(i) + "exactly one of to and to_user must be set (API-090)"}
	}
	if p.ToUser != nil {
		if err := validUsers(p.ToUser, i); err != nil {
			return out, err
		}
		return a.content(p, i, slab, out) // To: resolved in publish (API-091)
	}
	if len(p.To) == 0 || len(p.To) > MaxRecipients {
		return out, invalid{fmt.Sprintf("%sto must list 1 to %d client IDs", where(i), MaxRecipients)}
	}
	start := len(slab.to)
	var seen map[[32]byte]bool
	if len(p.To) > smallRecipientList {
		seen = make(map[[32]byte]bool, len(p.To))
	}
	for j, s := range p.To {
		id, err := ParseClientID(s)
		if err != nil {
			return out, invalid{fmt.Sprintf("%sto[%d]: %v", where(i), j, err)}
		}
		dup := false
		if seen != nil {
			dup = seen[id]
			seen[id] = true
		} else {
			for _, prev := range slab.to[start:] {
				dup = dup || prev == id
			}
		}
		if dup {
			return out, invalid{fmt.Sprintf("%sto[%d]: duplicate client ID", where(i), j)}
		}
		slab.to = append(slab.to, id)
	}
	out.To = slab.to[start:len(slab.to):len(slab.to)]
	return a.content(p, i, slab, out)
}

// content reads a publication's payload and TTL into out.
func (a *API) content(p *PublicationJSON, i int, slab *publicationSlab, out store.Publication) (store.Publication, error) {
	start := len(slab.payload)
	switch {
	case (p.Payload == nil) == (p.Text == nil):
		return out, invalid{where(i) + "exactly one of payload (base64) and text must be set"}
	case p.Payload != nil:
		var err error
		// The conversion does not escape: the compiler copies nothing.
		slab.payload, err = payloadEncoding.AppendDecode(slab.payload, []byte(*p.Payload))
		if err != nil {
			return out, invalid{where(i) + "payload is not standard base64"}
		}
	default:
		slab.payload = append(slab.payload, *p.Text...)
	}
	out.Payload = slab.payload[start:len(slab.payload):len(slab.payload)]
	if len(out.Payload) > a.cfg.MaxPayload {
		return out, invalid{fmt.Sprintf("%spayload of %d bytes exceeds MaxPayload %d", where(i), len(out.Payload), a.cfg.MaxPayload)}
	}
	out.TTL = DefaultTTL
	if p.TTL != nil {
		if *p.TTL < 1 || time.Duration(*p.TTL)*time.Second > MaxTTL {
			return out, invalid{fmt.Sprintf("%sttl must be 1 to %d seconds", where(i), int64(MaxTTL/time.Second))}
		}
		out.TTL = time.Duration(*p.TTL) * time.Second
	}
	return out, nil
}

func (a *API) publishOne(w http.ResponseWriter, r *http.Request, publisher string, body []byte) {
	var p PublicationJSON
	if err := decodeStrict(body, &p); err != nil {
		a.writeProblem(w, 400, "malformed-json", "Malformed JSON body", "", err.Error())
		return
	}
	if aw, ok := w.(*auditWriter); ok {
		aw.messages = 1
	}
	pub, err := a.publication(&p, -1, newPublicationSlab([]PublicationJSON{p}))
	if err != nil {
		a.writeProblem(w, 422, "invalid-message", "Invalid message", "", err.Error())
		return
	}
	var users [][]string
	if p.ToUser != nil {
		users = [][]string{p.ToUser}
	}
	a.publish(w, r, publisher, body, []store.Publication{pub}, users)
}

func (a *API) publishMany(w http.ResponseWriter, r *http.Request, publisher string, body []byte) {
	var b bulkJSON
	if err := decodeStrict(body, &b); err != nil {
		a.writeProblem(w, 400, "malformed-json", "Malformed JSON body", "", err.Error())
		return
	}
	if aw, ok := w.(*auditWriter); ok {
		aw.messages = len(b.Messages)
	}
	if len(b.Messages) == 0 || len(b.Messages) > MaxPublications {
		a.writeProblem(w, 422, "invalid-message", "Invalid message", "", fmt.Sprintf("messages must hold 1 to %d entries", MaxPublications))
		return
	}
	pubs := make([]store.Publication, len(b.Messages))
	slab := newPublicationSlab(b.Messages)
	var users [][]string
	for i := range b.Messages {
		var err error
		if pubs[i], err = a.publication(&b.Messages[i], i, slab); err != nil {
			a.writeProblem(w, 422, "invalid-message", "Invalid message", "", err.Error())
			return
		}
		if b.Messages[i].ToUser != nil {
			if users == nil {
				users = make([][]string, len(b.Messages))
			}
			users[i] = b.Messages[i].ToUser
		}
	}
	a.publish(w, r, publisher, body, pubs, users)
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// publish stores pubs. users, if not nil, holds for each publication the
// users of its to_user (nil for one addressed with to): those are resolved
// to their devices first (API-091).
func (a *API) publish(w http.ResponseWriter, r *http.Request, publisher string, body []byte, pubs []store.Publication, users [][]string) {
	if aw, ok := w.(*auditWriter); ok {
		aw.messages = len(pubs)
	}
	var unknown *[]string
	if users != nil {
		var ok bool
		if pubs, ok = a.resolveUsers(w, r, pubs, users); !ok {
			return
		}
	}
	req := &store.PublishRequest{Publisher: publisher, Publications: pubs, MaxPending: a.cfg.MaxPendingPerClient,
		RequestHash: store.RequestHash(r.Method, r.URL.Path, body)}
	if vals := r.Header.Values(headerIdempotencyKey); len(vals) > 0 {
		if len(vals) > 1 || !validIdempotencyKey(vals[0]) {
			a.writeProblem(w, 400, "invalid-idempotency-key", "Invalid Idempotency-Key", "",
				fmt.Sprintf("one header of 1 to %d printable ASCII characters", MaxIdempotencyKeyLen))
			return
		}
		req.IdempotencyKey = vals[0]
	}
	aw, _ := w.(*auditWriter)
	if aw != nil && aw.nonce.state == nonceDeferred {
		req.Nonce = &aw.nonce.n
		aw.nonce.state = nonceHanded
	}
	type published struct {
		res      []store.Assigned
		replayed bool
	}
	p, err := bounded(r.Context(), func(ctx context.Context) (published, error) {
		res, replayed, err := a.cfg.Store.Publish(ctx, req, a.cfg.Hub.Notify)
		return published{res, replayed}, err
	})
	res, replayed := p.res, p.replayed
	if aw != nil && req.Nonce != nil && (err == nil || errors.Is(err, store.ErrReplayedNonce)) {
		aw.nonce.state = nonceRecorded
	}
	switch {
	case errors.Is(err, store.ErrReplayedNonce):
		a.authProblem(w, httpsig.ErrReplay)
		return
	case errors.Is(err, store.ErrIdempotencyReused):
		a.writeProblem(w, 422, "idempotency-key-reused", "Idempotency-Key already used for a different request", "", "")
		return
	case errors.Is(err, store.ErrTooManyPending):
		w.Header().Set("Retry-After", "10")
		a.writeProblem(w, 429, "too-many-pending", "A recipient has too many unacknowledged messages", "",
			fmt.Sprintf("at most %d pending messages per client", a.cfg.MaxPendingPerClient))
		return
	case err != nil:
		// API-041: the outcome is unknown; a retry with the same
		// Idempotency-Key stores the request once.
		a.log.Error("publish failed", "publisher", publisher, "request_id", w.Header().Get(HeaderRequestID), "err", err)
		a.unavailable(w, "Message store unavailable")
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if users != nil {
		u := unknownUsers(users, res)
		unknown = &u
	}
	rb := responseBuffers.Get().(*[]byte)
	b := appendPublishResponse((*rb)[:0], res, replayed, unknown)
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusAccepted)
	w.Write(b)
	if cap(b) <= maxPooledBody {
		*rb = b[:0]
		responseBuffers.Put(rb)
	}
}

// responseBuffers hold publish answers while they are written.
var responseBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendPublishResponse appends the JSON of a publish's answer, as
// encoding/json writes publishResponse (with its newline), without a
// value per message. A handle that is not plain ASCII (the stores' are
// hex) is quoted by encoding/json.
func appendPublishResponse(b []byte, res []store.Assigned, replayed bool, unknown *[]string) []byte {
	b = append(b, `{"messages":[`...)
	for i, m := range res {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, m.Handle)
		b = append(b, `,"client_id":"`...)
		b = hex.AppendEncode(b, m.ClientID[:])
		b = append(b, `","message_id":`...)
		b = strconv.AppendUint(b, m.Seq, 10)
		b = append(b, `,"expires":"`...)
		b = m.Expires.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		if m.User != "" {
			b = append(b, `,"user":`...)
			b = appendJSONString(b, m.User)
			b = append(b, `,"device":`...)
			b = appendJSONString(b, m.Device)
		}
		b = append(b, '}')
	}
	b = append(b, `],"replayed":`...)
	b = strconv.AppendBool(b, replayed)
	if unknown != nil {
		b = append(b, `,"unknown_users":[`...)
		for i, u := range *unknown {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, u)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string: as is when it is printable
// ASCII that encoding/json would not escape, else as encoding/json quotes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// StatusJSON is the answer of GET /v1/messages/{id}.
type StatusJSON struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	MessageID uint64 `json:"message_id"`
	State     string `json:"state"` // pending, delivered, acknowledged, expired
	Created   string `json:"created"`
	Expires   string `json:"expires"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request, publisher string, _ []byte) {
	id := r.PathValue("id")
	st, err := bounded(r.Context(), func(ctx context.Context) (*store.Status, error) { return a.cfg.Store.Status(ctx, id) })
	// A publisher sees only its own messages; others are "not found" so
	// that handles cannot be probed.
	if errors.Is(err, store.ErrNotFound) || err == nil && st.Publisher != publisher {
		a.writeProblem(w, 404, "not-found", "No such message", "", "")
		return
	}
	if err != nil {
		a.unavailable(w, "Message store unavailable")
		return
	}
	state := st.State.String()
	if st.State == store.Pending && a.cfg.Hub.InFlight(st.ClientID, st.Seq) {
		state = "delivered"
	}
	writeJSON(w, 200, StatusJSON{ID: st.Handle, ClientID: hex.EncodeToString(st.ClientID[:]), MessageID: st.Seq, State: state,
		Created: st.Created.UTC().Format(time.RFC3339Nano), Expires: st.Expires.UTC().Format(time.RFC3339Nano)})
}

// PresenceJSON is the answer of GET /v1/clients/{id}.
type PresenceJSON struct {
	ClientID       string `json:"client_id"`
	Online         bool   `json:"online"`
	ConnectedSince string `json:"connected_since,omitempty"`
	Pending        int    `json:"pending"`
}

func (a *API) presence(w http.ResponseWriter, r *http.Request, publisher string, _ []byte) {
	id, err := ParseClientID(r.PathValue("id"))
	if err != nil {
		a.writeProblem(w, 422, "invalid-client-id", "Invalid client ID", "", err.Error())
		return
	}
	// API-040: only a publisher that published to the client, or one the
	// operator granted presence of all clients; the others get the answer
	// of an unknown handle (API-031), whether or not the client exists.
	if !slices.Contains(a.trust.Load().PresencePublishers, publisher) {
		ok, err := bounded(r.Context(), func(ctx context.Context) (bool, error) { return a.cfg.Store.PublishedTo(ctx, publisher, id) })
		if err != nil {
			a.unavailable(w, "Message store unavailable")
			return
		}
		if !ok {
			a.writeProblem(w, 404, "not-found", "No such client for this publisher", "API-040", "")
			return
		}
	}
	n, err := bounded(r.Context(), func(ctx context.Context) (int, error) { return a.cfg.Store.PendingCount(ctx, id) })
	if err != nil {
		a.unavailable(w, "Message store unavailable")
		return
	}
	on, since := a.cfg.Hub.Online(id)
	if b, ok := a.cfg.Store.(store.PresenceBoard); ok && !on {
		// API-070: a client connected to another node of the deployment.
		type where struct {
			on    bool
			since time.Time
		}
		w2, err := bounded(r.Context(), func(ctx context.Context) (where, error) {
			on, since, err := b.Presence(ctx, id)
			return where{on, since}, err
		})
		if err != nil {
			a.unavailable(w, "Message store unavailable")
			return
		}
		on, since = w2.on, w2.since
	}
	p := PresenceJSON{ClientID: hex.EncodeToString(id[:]), Online: on, Pending: n}
	if on {
		p.ConnectedSince = since.UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, 200, p)
}

// ServerJSON is the answer of GET /v1/server.
type ServerJSON struct {
	Protocol    string `json:"protocol"`
	Subprotocol string `json:"subprotocol"`
	KeyID       string `json:"key_id"`
	PublicKey   string `json:"public_key"`
	Realm       string `json:"realm,omitempty"`
	Credential  string `json:"credential,omitempty"`
	// NextKeyID and NextPublicKey show the next key the node announces
	// to pinned clients (HS-070). They are for operators: a client learns
	// a next key only in a handshake (ID-011), never from this answer.
	NextKeyID     string `json:"next_key_id,omitempty"`
	NextPublicKey string `json:"next_public_key,omitempty"`
	// WebhookKeyID and WebhookPublicKey are the deployment's webhook key,
	// which signs delivery webhooks (API-107); absent without one.
	WebhookKeyID     string `json:"webhook_key_id,omitempty"`
	WebhookPublicKey string `json:"webhook_public_key,omitempty"`
}

func (a *API) server(w http.ResponseWriter, r *http.Request) {
	out := ServerJSON{Protocol: "sealfeed v1", Subprotocol: "sealfeed.v1", KeyID: sig.Fingerprint(a.cfg.ServerKey),
		PublicKey: base64.StdEncoding.EncodeToString(a.cfg.ServerKey), Realm: a.cfg.Realm}
	if a.cfg.NextServerKey != nil {
		out.NextKeyID, out.NextPublicKey = sig.Fingerprint(a.cfg.NextServerKey), base64.StdEncoding.EncodeToString(a.cfg.NextServerKey)
	}
	if k := a.cfg.WebhookKey; k != nil {
		out.WebhookKeyID, out.WebhookPublicKey = sig.Fingerprint(k), base64.StdEncoding.EncodeToString(k)
	}
	if a.cfg.Credential != nil {
		if c := a.cfg.Credential(); c != nil {
			out.Credential = base64.StdEncoding.EncodeToString(c)
		}
	}
	writeJSON(w, 200, out)
}

func (a *API) binary(w http.ResponseWriter, f func() []byte, what string) {
	var b []byte
	if f != nil {
		b = f()
	}
	if b == nil {
		a.writeProblem(w, 404, "not-found", "This server has no "+what, "", "")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

func (a *API) credential(w http.ResponseWriter, r *http.Request) {
	a.binary(w, a.cfg.Credential, "credential")
}

func (a *API) revocationList(w http.ResponseWriter, r *http.Request) {
	a.binary(w, a.cfg.RevocationList, "revocation list")
}

// HealthJSON is the answer of /healthz.
type HealthJSON struct {
	Status   string          `json:"status"` // ok, unavailable
	Warnings []HealthWarning `json:"warnings,omitempty"`
}

// HealthWarning is a condition an operator must act on that does not stop
// the node serving yet (OPS-032).
type HealthWarning struct {
	Reason   string `json:"reason"`              // credential_expiring, credential_expired, tls_certificate_expiring, tls_certificate_expired
	NotAfter string `json:"not_after,omitempty"` // RFC 3339, UTC
}

// health answers /healthz, liveness (OPS-002): 200 while the process
// serves, 503 once it drains (DLV-022). It does not ask the store: a node
// whose store is down is alive and recovers by itself; /readyz says
// whether it can serve. The warnings are listed, and never change the
// status (OPS-032).
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeJSON(w, 503, HealthJSON{Status: "unavailable"})
		return
	}
	out := HealthJSON{Status: "ok"}
	if a.cfg.Warnings != nil {
		out.Warnings = a.cfg.Warnings()
	}
	writeJSON(w, 200, out)
}

// ReadyJSON is the answer of /readyz.
type ReadyJSON struct {
	Status string `json:"status"`           // ready, unavailable
	Reason string `json:"reason,omitempty"` // draining, sick, credential_expired, store
}

// ready answers /readyz (OPS-001): 200 only when the node is neither
// draining (DLV-022) nor sick (OPS-003) nor unready for a reason of its own
// (Config.Unready: an expired credential, OPS-033) and its store reports Ready within
// the store timeout; else 503 with the first reason. The store's error is
// logged, not sent: the endpoint is public.
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	reason := ""
	switch {
	case a.draining.Load():
		reason = "draining"
	case a.sick.Load():
		reason = "sick"
	case a.cfg.Unready != nil && a.cfg.Unready() != "":
		reason = a.cfg.Unready()
	default:
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.StoreTimeout)
		defer cancel()
		if _, err := bounded(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, a.cfg.Store.Ready(ctx) }); err != nil {
			a.log.Debug("not ready: store", "err", err)
			reason = "store"
		}
	}
	if reason != "" {
		writeJSON(w, 503, ReadyJSON{Status: "unavailable", Reason: reason})
		return
	}
	writeJSON(w, 200, ReadyJSON{Status: "ready"})
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Metrics == nil {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		return
	}
	a.cfg.Metrics.ServeHTTP(w, r)
}
