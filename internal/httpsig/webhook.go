package httpsig

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// The delivery-webhook profile (spec/api.md, API-103 … API-105): the
// server signs each webhook POST with the deployment's webhook key under
// the label WebhookLabel and the tag WebhookTag, which a publisher request
// (label Label, no tag) never carries, so neither signature verifies as
// the other.
const (
	WebhookLabel = "sealfeed-webhook"
	WebhookTag   = "sealfeed-webhook-v1"
	// WebhookLifetime is expires − created of every webhook signature, and
	// the most a verifier accepts (API-104).
	WebhookLifetime = 5 * time.Minute
	// WebhookSkew is how far created may be ahead of the verifier's clock.
	WebhookSkew = time.Minute
)

// WebhookComponents are the components a webhook signature covers, in
// this order (API-103); a verifier requires each, in any order.
var WebhookComponents = []string{"@method", "@authority", "@path", "@query", "content-digest", "content-type", "idempotency-key"}

// ErrWrongTag is a signature whose tag is not WebhookTag (API-104).
var ErrWrongTag = errors.New("httpsig: the signature's tag is not " + WebhookTag)

// webhookParams builds the inner list of a webhook signature.
func webhookParams(keyID string, created time.Time) httpsfv.InnerList {
	il := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, c := range WebhookComponents {
		il.Items = append(il.Items, httpsfv.NewItem(c))
	}
	il.Params.Add("created", created.Unix())
	il.Params.Add("expires", created.Add(WebhookLifetime).Unix())
	il.Params.Add("keyid", keyID)
	il.Params.Add("alg", "ed25519")
	il.Params.Add("tag", WebhookTag)
	return il
}

// SignWebhook sets Content-Digest, Signature-Input and Signature on r, a
// webhook POST whose Content-Type and Idempotency-Key are already set,
// for body (API-103). It returns the signature base, for vectors.
func SignWebhook(r *http.Request, body []byte, keyID string, key ed25519.PrivateKey, created time.Time) ([]byte, error) {
	if r.Header.Get("Content-Type") == "" || r.Header.Get("Idempotency-Key") == "" {
		return nil, errors.New("httpsig: a webhook request needs Content-Type and Idempotency-Key before it is signed")
	}
	normalizeHost(r)
	r.Header.Set("Content-Digest", ContentDigest(body))
	il := webhookParams(keyID, created)
	base, err := SignatureBase(r, il)
	if err != nil {
		return nil, err
	}
	in := httpsfv.NewDictionary()
	in.Add(WebhookLabel, il)
	sigIn, err := httpsfv.Marshal(in)
	if err != nil {
		return nil, err
	}
	sd := httpsfv.NewDictionary()
	sd.Add(WebhookLabel, httpsfv.NewItem(ed25519.Sign(key, base)))
	sigVal, err := httpsfv.Marshal(sd)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Signature-Input", sigIn)
	r.Header.Set("Signature", sigVal)
	return base, nil
}

// VerifyWebhook checks the webhook signature of r over body with the
// deployment's webhook key pub, whose key ID is keyID, at now (API-104),
// in this order: one signature labelled WebhookLabel in each field,
// well-formed; every component of WebhookComponents covered; the tag, alg
// and keyid; created and expires present, expires − created at most
// WebhookLifetime, created at most WebhookSkew ahead of now and expires
// not passed; Content-Digest over body; the Ed25519 signature. It does not
// remember idempotency keys: deduplication is the receiver's (API-105).
//
// Every error carries an alert code (protocol/alert) that classifies it,
// as the vectors name it: decode_error (fields that do not parse, a label
// repeated), illegal_parameter (a component or parameter missing or
// wrong, the tag included), unknown_signer (another keyid), stale_message
// (created ahead, expires passed) and bad_signature (the digest or the
// signature); it also matches the package's sentinel errors.
func VerifyWebhook(r *http.Request, body []byte, pub ed25519.PublicKey, keyID string, now time.Time) error {
	err := verifyWebhook(r, body, pub, keyID, now)
	if err == nil {
		return nil
	}
	code := alert.InternalError
	var stale *StaleError
	switch {
	case errors.As(err, &stale):
		code = alert.StaleMessage
	case errors.Is(err, ErrMissingSignature), errors.Is(err, ErrMalformed):
		code = alert.DecodeError
	case errors.Is(err, ErrMissingComponent), errors.Is(err, ErrWrongTag), errors.Is(err, errWebhookParam):
		code = alert.IllegalParameter
	case errors.Is(err, ErrUnknownKey):
		code = alert.UnknownSigner
	case errors.Is(err, ErrBadDigest), errors.Is(err, ErrBadSignature):
		code = alert.BadSignature
	}
	return fmt.Errorf("%w: %w", alert.Sentinel(code), err)
}

// errWebhookParam is a parameter of a webhook signature out of range.
var errWebhookParam = errors.New("httpsig: webhook signature parameter out of range")

func verifyWebhook(r *http.Request, body []byte, pub ed25519.PublicKey, keyID string, now time.Time) error {
	inVals, sigVals := r.Header.Values("Signature-Input"), r.Header.Values("Signature")
	if len(inVals) == 0 || len(sigVals) == 0 {
		return ErrMissingSignature
	}
	for _, f := range []struct {
		name string
		vals []string
	}{{"Signature-Input", inVals}, {"Signature", sigVals}} {
		n, err := countMembers(f.vals, WebhookLabel)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, f.name, err)
		}
		if n > 1 {
			return fmt.Errorf("%w: %s holds %d signatures labelled %q", ErrMalformed, f.name, n, WebhookLabel)
		}
	}
	in, err := httpsfv.UnmarshalDictionary(inVals)
	if err != nil {
		return fmt.Errorf("%w: Signature-Input: %v", ErrMalformed, err)
	}
	sd, err := httpsfv.UnmarshalDictionary(sigVals)
	if err != nil {
		return fmt.Errorf("%w: Signature: %v", ErrMalformed, err)
	}
	m, ok := in.Get(WebhookLabel)
	il, ok2 := m.(httpsfv.InnerList)
	if !ok || !ok2 {
		return fmt.Errorf("%w: no signature labelled %q", ErrMissingSignature, WebhookLabel)
	}
	sm, ok := sd.Get(WebhookLabel)
	sit, ok2 := sm.(httpsfv.Item)
	sig, ok3 := sit.Value.([]byte)
	if !ok || !ok2 || !ok3 || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: Signature %q is not a 64-byte byte sequence", ErrMalformed, WebhookLabel)
	}
	covered := map[string]bool{}
	for _, it := range il.Items {
		if s, ok := it.Value.(string); ok {
			covered[s] = true
		}
	}
	for _, c := range WebhookComponents {
		if !covered[c] {
			return &ComponentError{Component: c}
		}
	}
	if tag, _ := paramString(il.Params, "tag"); tag != WebhookTag {
		return ErrWrongTag
	}
	if alg, _ := paramString(il.Params, "alg"); alg != "ed25519" {
		return fmt.Errorf("%w: alg must be ed25519", errWebhookParam)
	}
	created, ok := paramInt(il.Params, "created")
	expires, ok2 := paramInt(il.Params, "expires")
	if !ok || !ok2 {
		return fmt.Errorf("%w: created and expires are required", ErrMissingComponent)
	}
	if expires < created || expires-created > int64(WebhookLifetime/time.Second) {
		return fmt.Errorf("%w: expires must be 0 to %d s after created", errWebhookParam, int64(WebhookLifetime/time.Second))
	}
	if id, _ := paramString(il.Params, "keyid"); id != keyID {
		return ErrUnknownKey
	}
	if created > now.Add(WebhookSkew).Unix() {
		return &StaleError{Created: created, Now: now.Unix(), Skew: WebhookSkew}
	}
	if expires < now.Unix() {
		return &StaleError{Created: created, Expires: expires, Now: now.Unix(), Skew: WebhookSkew}
	}
	if err := CheckContentDigest(r.Header.Values("Content-Digest"), body); err != nil {
		return err
	}
	base, err := SignatureBase(r, il)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, base, sig) {
		return signatureError(r, il)
	}
	return nil
}

// countMembers counts the members of a structured-field dictionary (RFC
// 8941 §3.2) spread over vals whose key is name. The parser keeps only the
// last of duplicate keys (RFC 8941 §4.2.2), so a field with two
// signatures under one label parses as one: this scan finds it.
func countMembers(vals []string, name string) (int, error) {
	n := 0
	for _, v := range vals {
		atStart, depth, inString, inBytes := true, 0, false, false
		for i := 0; i < len(v); i++ {
			c := v[i]
			switch {
			case atStart:
				if c == ' ' || c == '\t' {
					continue
				}
				j := i
				for j < len(v) && (v[j] >= 'a' && v[j] <= 'z' || v[j] >= '0' && v[j] <= '9' || strings.IndexByte("_-.*", v[j]) >= 0) {
					j++
				}
				if v[i:j] == name {
					n++
				}
				atStart = false
				i = j - 1
			case inString:
				if c == '\\' {
					i++
				} else if c == '"' {
					inString = false
				}
			case inBytes:
				if c == ':' {
					inBytes = false
				}
			case c == '"':
				inString = true
			case c == ':':
				inBytes = true
			case c == '(':
				depth++
			case c == ')':
				depth--
			case c == ',' && depth == 0:
				atStart = true
			}
		}
		if inString || inBytes || depth != 0 {
			return 0, errors.New("unterminated string, byte sequence or inner list")
		}
	}
	return n, nil
}

// WebhookBase returns the signature base of r's signature labelled
// WebhookLabel, as VerifyWebhook builds it; for vectors and debugging.
func WebhookBase(r *http.Request) ([]byte, error) {
	in, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil {
		return nil, fmt.Errorf("%w: Signature-Input: %v", ErrMalformed, err)
	}
	m, _ := in.Get(WebhookLabel)
	il, ok := m.(httpsfv.InnerList)
	if !ok {
		return nil, fmt.Errorf("%w: no signature labelled %q", ErrMissingSignature, WebhookLabel)
	}
	return SignatureBase(r, il)
}
