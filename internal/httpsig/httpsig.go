// Package httpsig authenticates publisher requests to the SealFeed REST API
// with HTTP Message Signatures (RFC 9421) using Ed25519, over a body bound
// by Content-Digest (RFC 9530). It implements the profile of spec/api.md
// (API-001 … API-018):
// the covered components, the required parameters (created, nonce, keyid),
// the Idempotency-Key field when present (API-038), the server's authorities
// (API-039), the clock-skew window and nonce replay detection.
package httpsig

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// Errors a Verifier returns, each mapped to an HTTP status and a problem
// type by the API layer (spec/api.md).
var (
	ErrMissingSignature = errors.New("httpsig: request is not signed")
	ErrMalformed        = errors.New("httpsig: malformed Signature-Input or Signature")
	ErrMissingComponent = errors.New("httpsig: a required component or parameter is not covered")
	ErrUnknownKey       = errors.New("httpsig: unknown key ID")
	ErrStale            = errors.New("httpsig: created is outside the allowed clock skew")
	ErrReplay           = errors.New("httpsig: nonce already used")
	ErrBadDigest        = errors.New("httpsig: Content-Digest does not match the body")
	ErrBadSignature     = errors.New("httpsig: signature does not verify")
	ErrWrongAuthority   = errors.New("httpsig: the request is for another authority")
)

// ComponentError names a component the signature must cover and does not
// (API-011, API-038). It matches ErrMissingComponent.
type ComponentError struct{ Component string }

func (e *ComponentError) Error() string {
	return fmt.Sprintf("httpsig: the signature does not cover %q", e.Component)
}

// Is reports whether target is ErrMissingComponent.
func (e *ComponentError) Is(target error) bool { return target == ErrMissingComponent }

// AuthorityError is a request signed for an authority that is not one of
// the server's (API-039). It matches ErrWrongAuthority. Want lists the
// server's authorities; the request's is not repeated (API-019).
type AuthorityError struct{ Want []string }

func (e *AuthorityError) Error() string {
	return fmt.Sprintf("httpsig: @authority is not one of this server's: %s", strings.Join(e.Want, ", "))
}

// Is reports whether target is ErrWrongAuthority.
func (e *AuthorityError) Is(target error) bool { return target == ErrWrongAuthority }

// SignatureError is a signature that does not verify over the base the
// server built (API-015). It matches ErrBadSignature and says what the
// base was built from (API-080): the covered components in order and the
// values of the derived ones, which are the request's own method and
// target. It holds no field value, key, signature or body.
type SignatureError struct {
	Covered []string // component identifiers, in the signature's order
	Derived []string // "@name" = value, for each covered derived component
}

func (e *SignatureError) Error() string {
	return "httpsig: signature does not verify over a base built from " + e.Detail()
}

// Detail describes the base for a problem's detail (API-080).
func (e *SignatureError) Detail() string {
	q := make([]string, len(e.Covered))
	for i, c := range e.Covered {
		q[i] = strconv.Quote(c)
	}
	return fmt.Sprintf("covered (%s) with %s", strings.Join(q, " "), strings.Join(e.Derived, ", "))
}

// Is reports whether target is ErrBadSignature.
func (e *SignatureError) Is(target error) bool { return target == ErrBadSignature }

// StaleError is a request whose created is outside the clock-skew window,
// or whose expires has passed (API-013). It matches ErrStale and gives the
// values the server compared (API-081).
type StaleError struct {
	Created int64 // the signature's created, Unix seconds
	Expires int64 // its expires; 0 when absent or not the cause
	Now     int64 // the server's clock, Unix seconds
	Skew    time.Duration
}

func (e *StaleError) Error() string { return "httpsig: " + e.Detail() }

// Detail describes the comparison for a problem's detail (API-081).
func (e *StaleError) Detail() string {
	if e.Expires != 0 {
		return fmt.Sprintf("expires %d has passed: the server's clock reads %d", e.Expires, e.Now)
	}
	return fmt.Sprintf("created %d is %+d s from the server's clock (%d); the window is ±%d s",
		e.Created, e.Created-e.Now, e.Now, int64(e.Skew/time.Second))
}

// Is reports whether target is ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Nonce length bounds (API-003).
const (
	MinNonceLen = 16
	MaxNonceLen = 128
)

// Label is the signature label SealFeed publishers use.
const Label = "sealfeed"

// Components is the list every publisher signature covers.
var Components = []string{"@method", "@authority", "@path", "@query", "content-digest"}

// CoveredIfPresent lists header fields a signature must cover whenever the
// request carries them (API-038): a retry's Idempotency-Key decides what
// the server stores, so it must not be added or changed in transit.
var CoveredIfPresent = []string{"idempotency-key"}

// ContentDigest returns the Content-Digest field value of body with
// SHA-256 (RFC 9530).
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	d := httpsfv.NewDictionary()
	d.Add("sha-256", httpsfv.NewItem(sum[:]))
	s, _ := httpsfv.Marshal(d)
	return s
}

// CheckContentDigest verifies a Content-Digest field against body. The
// field must carry a sha-256 member; other algorithms are ignored.
func CheckContentDigest(values []string, body []byte) error {
	if len(values) == 0 {
		return fmt.Errorf("%w: no Content-Digest", ErrMissingComponent)
	}
	d, err := httpsfv.UnmarshalDictionary(values)
	if err != nil {
		return fmt.Errorf("%w: Content-Digest: %v", ErrMalformed, err)
	}
	m, ok := d.Get("sha-256")
	if !ok {
		return fmt.Errorf("%w: Content-Digest has no sha-256", ErrMissingComponent)
	}
	it, ok := m.(httpsfv.Item)
	got, ok2 := it.Value.([]byte)
	if !ok || !ok2 {
		return fmt.Errorf("%w: Content-Digest sha-256 is not a byte sequence", ErrMalformed)
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(got, sum[:]) != 1 {
		return ErrBadDigest
	}
	return nil
}

// componentValue returns the value of one covered component (RFC 9421
// §2.1, §2.2).
func componentValue(r *http.Request, name string) (string, error) {
	switch name {
	case "@method":
		return r.Method, nil
	case "@authority":
		return strings.ToLower(r.Host), nil
	case "@path":
		if p := r.URL.EscapedPath(); p != "" {
			return p, nil
		}
		return "/", nil
	case "@query":
		return "?" + r.URL.RawQuery, nil
	case "@request-target":
		return r.URL.RequestURI(), nil
	}
	if strings.HasPrefix(name, "@") || name != strings.ToLower(name) || name == "" {
		return "", fmt.Errorf("%w: unsupported component %q", ErrMalformed, name)
	}
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		// net/http moves Content-Length out of Header on incoming requests.
		if vs := r.Header.Values(name); len(vs) > 0 {
			vals = vs
		} else if r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	if len(vals) == 0 {
		return "", fmt.Errorf("%w: field %q is absent", ErrMissingComponent, name)
	}
	for i := range vals {
		vals[i] = strings.TrimSpace(vals[i])
	}
	return strings.Join(vals, ", "), nil
}

// serializeParams returns the serialization of an inner list with its
// parameters, the value of "@signature-params" (RFC 9421 §2.3).
func serializeParams(il httpsfv.InnerList) (string, error) {
	d := httpsfv.NewDictionary()
	d.Add("x", il)
	s, err := httpsfv.Marshal(d)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(s, "x="), nil
}

// SignatureBase builds the signature base of RFC 9421 §2.5 for the
// components and parameters of il.
func SignatureBase(r *http.Request, il httpsfv.InnerList) ([]byte, error) {
	var b strings.Builder
	seen := map[string]bool{}
	for _, it := range il.Items {
		name, ok := it.Value.(string)
		if !ok || len(it.Params.Names()) != 0 {
			return nil, fmt.Errorf("%w: component identifiers must be plain strings", ErrMalformed)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: component %q covered twice", ErrMalformed, name)
		}
		seen[name] = true
		v, err := componentValue(r, name)
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: component %q contains a line break", ErrMalformed, name)
		}
		fmt.Fprintf(&b, "%q: %s\n", name, v)
	}
	p, err := serializeParams(il)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	fmt.Fprintf(&b, "%q: %s", "@signature-params", p)
	return []byte(b.String()), nil
}

// Sign adds Content-Digest, Signature-Input and Signature to r for body,
// covering Components and those of CoveredIfPresent that r carries, with
// created, nonce and keyid (spec/api.md). Set every header field before
// signing.
func Sign(r *http.Request, body []byte, keyID string, key ed25519.PrivateKey, created time.Time, nonce string) error {
	normalizeHost(r)
	r.Header.Set("Content-Digest", ContentDigest(body))
	il := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, c := range Components {
		il.Items = append(il.Items, httpsfv.NewItem(c))
	}
	for _, c := range CoveredIfPresent {
		if len(r.Header.Values(c)) > 0 {
			il.Items = append(il.Items, httpsfv.NewItem(c))
		}
	}
	il.Params.Add("created", created.Unix())
	il.Params.Add("nonce", nonce)
	il.Params.Add("keyid", keyID)
	il.Params.Add("alg", "ed25519")
	base, err := SignatureBase(r, il)
	if err != nil {
		return err
	}
	in := httpsfv.NewDictionary()
	in.Add(Label, il)
	sigIn, err := httpsfv.Marshal(in)
	if err != nil {
		return err
	}
	sd := httpsfv.NewDictionary()
	sd.Add(Label, httpsfv.NewItem(ed25519.Sign(key, base)))
	sigVal, err := httpsfv.Marshal(sd)
	if err != nil {
		return err
	}
	r.Header.Set("Signature-Input", sigIn)
	r.Header.Set("Signature", sigVal)
	return nil
}

// NonceStore remembers nonces until they expire. Seen records (keyID,
// nonce) and reports whether it was already present; it must be atomic.
// ctx is the request's: Verify passes r.Context().
type NonceStore interface {
	Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error)
}

// Verifier checks publisher signatures.
type Verifier struct {
	// Key returns the Ed25519 public key of a registered publisher.
	Key      func(keyID string) (ed25519.PublicKey, bool)
	Nonces   NonceStore
	MaxSkew  time.Duration    // window around now for created; 0: 5 minutes
	Now      func() time.Time // nil: time.Now
	Required []string         // components that must be covered; nil: Components
	// Authorities are the server's public authorities, host[:port] as
	// clients write them; @authority must be one of them (API-039),
	// compared without regard to case. Empty: any authority (the signature
	// still covers it).
	Authorities []string
}

// Verify checks the signature labelled Label on r and the digest of body,
// in this order: presence and syntax, required components (including
// Idempotency-Key when present, API-038) and parameters, authority
// (API-039), key, clock skew, digest, signature, and finally the nonce
// (recorded only for a request whose signature verified). It returns the
// key ID.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	inVals, sigVals := r.Header.Values("Signature-Input"), r.Header.Values("Signature")
	if len(inVals) == 0 || len(sigVals) == 0 {
		return "", ErrMissingSignature
	}
	in, err := httpsfv.UnmarshalDictionary(inVals)
	if err != nil {
		return "", fmt.Errorf("%w: Signature-Input: %v", ErrMalformed, err)
	}
	sd, err := httpsfv.UnmarshalDictionary(sigVals)
	if err != nil {
		return "", fmt.Errorf("%w: Signature: %v", ErrMalformed, err)
	}
	m, ok := in.Get(Label)
	il, ok2 := m.(httpsfv.InnerList)
	if !ok || !ok2 {
		return "", fmt.Errorf("%w: no signature labelled %q", ErrMissingSignature, Label)
	}
	sm, ok := sd.Get(Label)
	sit, ok2 := sm.(httpsfv.Item)
	sig, ok3 := sit.Value.([]byte)
	if !ok || !ok2 || !ok3 || len(sig) != ed25519.SignatureSize {
		return "", fmt.Errorf("%w: Signature %q is not a 64-byte byte sequence", ErrMalformed, Label)
	}
	required := v.Required
	if required == nil {
		required = Components
	}
	covered := map[string]bool{}
	for _, it := range il.Items {
		if s, ok := it.Value.(string); ok {
			covered[s] = true
		}
	}
	for _, c := range required {
		if !covered[c] {
			return "", &ComponentError{Component: c}
		}
	}
	for _, c := range CoveredIfPresent {
		if len(r.Header.Values(c)) > 0 && !covered[c] {
			return "", &ComponentError{Component: c}
		}
	}
	created, ok := paramInt(il.Params, "created")
	nonce, ok2 := paramString(il.Params, "nonce")
	keyID, ok3 := paramString(il.Params, "keyid")
	if !ok || !ok2 || !ok3 || nonce == "" || keyID == "" {
		return "", fmt.Errorf("%w: created, nonce and keyid are required", ErrMissingComponent)
	}
	if len(nonce) < MinNonceLen || len(nonce) > MaxNonceLen {
		return "", fmt.Errorf("%w: nonce must be %d to %d characters", ErrMalformed, MinNonceLen, MaxNonceLen)
	}
	if alg, present := il.Params.Get("alg"); present && alg != "ed25519" {
		return "", fmt.Errorf("%w: alg must be ed25519", ErrMalformed)
	}
	if len(v.Authorities) > 0 && !v.authorityOK(r) {
		return "", &AuthorityError{Want: v.Authorities}
	}
	pub, ok := v.Key(keyID)
	if !ok {
		return "", ErrUnknownKey
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	skew := v.MaxSkew
	if skew == 0 {
		skew = 5 * time.Minute
	}
	at := time.Unix(created, 0)
	if at.Before(now.Add(-skew)) || at.After(now.Add(skew)) {
		return "", &StaleError{Created: created, Now: now.Unix(), Skew: skew}
	}
	if expires, ok := paramInt(il.Params, "expires"); ok && time.Unix(expires, 0).Before(now) {
		return "", &StaleError{Created: created, Expires: expires, Now: now.Unix(), Skew: skew}
	}
	if covered["content-digest"] {
		if err := CheckContentDigest(r.Header.Values("Content-Digest"), body); err != nil {
			return "", err
		}
	}
	base, err := SignatureBase(r, il)
	if err != nil {
		return "", err
	}
	if !ed25519.Verify(pub, base, sig) {
		return "", signatureError(r, il)
	}
	seen, err := v.Nonces.Seen(r.Context(), keyID, nonce, at.Add(2*skew))
	if err != nil {
		return "", err
	}
	if seen {
		return "", ErrReplay
	}
	return keyID, nil
}

// signatureError describes the base of a signature that did not verify
// (API-080). SignatureBase already accepted every component of il.
func signatureError(r *http.Request, il httpsfv.InnerList) *SignatureError {
	e := &SignatureError{}
	for _, it := range il.Items {
		name := it.Value.(string)
		e.Covered = append(e.Covered, name)
		if strings.HasPrefix(name, "@") {
			v, _ := componentValue(r, name)
			e.Derived = append(e.Derived, fmt.Sprintf("%s %q", name, v))
		}
	}
	return e
}

// authorityOK reports whether the request's @authority, the value the
// signature covers, is one of the server's (API-039): compared without
// regard to case, and with a default port (":80", ":443") removed from
// both, which the server cannot tell apart behind a proxy.
func (v *Verifier) authorityOK(r *http.Request) bool {
	got, _ := componentValue(r, "@authority")
	got = withoutDefaultPort(got)
	for _, a := range v.Authorities {
		if strings.EqualFold(withoutDefaultPort(a), got) {
			return true
		}
	}
	return false
}

// withoutDefaultPort removes a trailing ":80" or ":443" from an authority.
func withoutDefaultPort(a string) string {
	for _, p := range []string{":80", ":443"} {
		if h, ok := strings.CutSuffix(a, p); ok && h != "" && !strings.HasSuffix(h, ":") {
			return h
		}
	}
	return a
}

// NormalizeAuthority is the authority of scheme://host as RFC 9421 §2.2.3
// signs it (HTTP §4.2.3): lower case, without the scheme's default port
// (443 for https, 80 for http).
func NormalizeAuthority(scheme, host string) string {
	host = strings.ToLower(host)
	switch strings.ToLower(scheme) {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// normalizeHost makes an outgoing request send, and sign, its authority
// as NormalizeAuthority writes it (API-039): Go's transport sends r.Host,
// which http.NewRequest copies from the URL with any port written there.
func normalizeHost(r *http.Request) {
	if r.URL == nil || r.URL.Scheme == "" {
		return
	}
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	r.Host = NormalizeAuthority(r.URL.Scheme, r.Host)
}

func paramInt(p *httpsfv.Params, name string) (int64, bool) {
	v, ok := p.Get(name)
	i, ok2 := v.(int64)
	return i, ok && ok2
}

func paramString(p *httpsfv.Params, name string) (string, bool) {
	v, ok := p.Get(name)
	s, ok2 := v.(string)
	return s, ok && ok2
}
