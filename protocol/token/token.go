// Package token implements access tokens (spec §6.8): short-lived
// statements, signed by a registered publisher key, that a client key
// belongs to a user (and optionally one of the user's devices) of one
// deployment.
//
// An application back end calls Issue; a client presents the encoded token
// in its handshake flight (HS-060) and refreshes it with TokenRefresh
// (POST-030) without parsing it; a server calls Verifier.Verify. Parsing is
// strict (WIRE-001) and every rejection is an *alert.Error with the code the
// failing TOK rule names.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"time"
	"unicode/utf8"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limits of spec §6.8 and §15.
const (
	Version = 1
	// MaxLifetime is the longest validity period a verifier accepts
	// (TOK-003).
	MaxLifetime = time.Hour
	// DefaultLifetime is what Issue uses for a zero Lifetime (TOK-008).
	DefaultLifetime = 15 * time.Minute
	// ClockSkew is the tolerance of TOK-004 and TOK-011, as CRED-005's.
	ClockSkew = 60 * time.Second
	MaxRealm  = 255 // realm<1..255>
	MaxSub    = 255 // subject<1..255>
	MaxDevice = 255 // device<0..255>
	IDSize    = 16
	// MaxSize is the longest encoding (MaxAccessToken, §15).
	MaxSize = 2 + 32 + 1 + 1 + MaxRealm + 1 + MaxSub + 1 + MaxDevice + 32 + IDSize + 8 + 8 + 64
)

const (
	maxLifetimeSec = uint64(MaxLifetime / time.Second)
	skewSec        = int64(ClockSkew / time.Second)
)

// AudienceType says what an access token's audience names (TOK-001).
type AudienceType uint8

const (
	AudienceRealm     AudienceType = 1 // the deployment's realm (authority trust)
	AudienceServerKey AudienceType = 2 // KeyID of the server key (pinned trust)
)

// Audience is the deployment a token is for (TOK-005).
type Audience struct {
	Type        AudienceType
	Realm       string   // AudienceRealm: 1 to 255 bytes
	ServerKeyID [32]byte // AudienceServerKey
}

// Token is a decoded access token (§6.8).
type Token struct {
	Version   uint16
	IssuerID  [32]byte // KeyID of the publisher key that signed it
	Audience  Audience
	Subject   string   // the user: 1 to 255 bytes of UTF-8
	Device    string   // the device: 0 to 255 bytes of UTF-8, empty for none
	ClientKey [32]byte // the Ed25519 client key the token binds (TOK-006)
	ID        [IDSize]byte
	NotBefore uint64 // Unix seconds
	NotAfter  uint64 // Unix seconds
	Signature [64]byte
}

func (t *Token) appendTBS(b []byte) []byte {
	b = wire.AppendUint16(b, t.Version)
	b = append(b, t.IssuerID[:]...)
	b = append(b, byte(t.Audience.Type))
	switch t.Audience.Type {
	case AudienceRealm:
		b = wire.AppendOpaque(b, []byte(t.Audience.Realm), MaxRealm)
	default:
		b = append(b, t.Audience.ServerKeyID[:]...)
	}
	b = wire.AppendOpaque(b, []byte(t.Subject), MaxSub)
	b = wire.AppendOpaque(b, []byte(t.Device), MaxDevice)
	b = append(b, t.ClientKey[:]...)
	b = append(b, t.ID[:]...)
	b = wire.AppendUint64(b, t.NotBefore)
	return wire.AppendUint64(b, t.NotAfter)
}

// Marshal returns the encoding of t (§6.8). t must satisfy the field
// ranges, as Issue and Parse guarantee; Marshal does not check them.
func (t *Token) Marshal() []byte {
	return append(t.appendTBS(make([]byte, 0, MaxSize)), t.Signature[:]...)
}

// Parse decodes an access token strictly (TOK-001): a version other than 1
// is decode_error, checked first since another version may have another
// layout; an audience_type other than 1 or 2 is decode_error (WIRE-004); a
// wrong length anywhere, a field outside its range, a subject or device that
// is not UTF-8 and trailing bytes are decode_error. It checks nothing else:
// Verifier.Verify does. The result does not alias b.
func Parse(b []byte) (*Token, error) {
	if len(b) > MaxSize {
		return nil, alert.New(alert.DecodeError, "access token longer than its largest encoding (TOK-001)")
	}
	r := wire.NewReader(b)
	t := &Token{Version: r.Uint16("token version")}
	if r.Err() == nil && t.Version != Version {
		return nil, alert.Errorf(alert.DecodeError, "access token version %d (TOK-001)", t.Version)
	}
	r.Copy(t.IssuerID[:], "token issuer_id")
	t.Audience.Type = AudienceType(r.Uint8("token audience_type"))
	if r.Err() == nil {
		switch t.Audience.Type {
		case AudienceRealm:
			t.Audience.Realm = string(r.Opaque(1, MaxRealm, "token realm"))
		case AudienceServerKey:
			r.Copy(t.Audience.ServerKeyID[:], "token server_key_id")
		default:
			return nil, alert.Errorf(alert.DecodeError, "access token audience_type %d (TOK-001, WIRE-004)", t.Audience.Type)
		}
	}
	t.Subject = string(r.Opaque(1, MaxSub, "token subject"))
	t.Device = string(r.Opaque(0, MaxDevice, "token device"))
	r.Copy(t.ClientKey[:], "token client_key")
	r.Copy(t.ID[:], "token id")
	t.NotBefore = r.Uint64("token not_before")
	t.NotAfter = r.Uint64("token not_after")
	r.Copy(t.Signature[:], "token signature")
	if err := r.Finish("access token"); err != nil {
		return nil, err
	}
	if !utf8.ValidString(t.Subject) || !utf8.ValidString(t.Device) {
		return nil, alert.New(alert.DecodeError, "access token subject or device is not UTF-8 (TOK-001)")
	}
	return t, nil
}

// Params are what an issuer states in a token.
type Params struct {
	Subject   string
	Device    string
	Audience  Audience
	ClientKey []byte    // the client's Ed25519 public key
	NotBefore time.Time // zero: now
	Lifetime  time.Duration
	Rand      io.Reader // token ID; nil: crypto/rand
}

// Issue returns a token signed by issuer (TOK-002, TOK-008). It refuses
// what a verifier would reject as issued: an issuer key failing SIG-006 or
// a client key failing SIG-001 (bad_key), a subject, device or realm
// outside its range or not UTF-8 (decode_error), a lifetime that is not
// positive or above MaxLifetime (illegal_parameter, TOK-003).
func Issue(issuer ed25519.PrivateKey, p Params) (*Token, error) {
	if err := sig.CheckPrivateKey(issuer); err != nil {
		return nil, err
	}
	if _, err := sig.ParsePublicKey(p.ClientKey); err != nil {
		return nil, err
	}
	if len(p.Subject) < 1 || len(p.Subject) > MaxSub || len(p.Device) > MaxDevice ||
		!utf8.ValidString(p.Subject) || !utf8.ValidString(p.Device) {
		return nil, alert.New(alert.DecodeError, "subject must be 1 to 255 and device 0 to 255 bytes of UTF-8")
	}
	switch p.Audience.Type {
	case AudienceRealm:
		if len(p.Audience.Realm) < 1 || len(p.Audience.Realm) > MaxRealm {
			return nil, alert.New(alert.DecodeError, "realm must be 1 to 255 bytes")
		}
	case AudienceServerKey:
	default:
		return nil, alert.New(alert.DecodeError, "audience type must be realm or server key")
	}
	life := p.Lifetime
	if life == 0 {
		life = DefaultLifetime
	}
	nb := p.NotBefore
	if nb.IsZero() {
		nb = time.Now()
	}
	if nb.Unix() < 0 || life < time.Second || life > MaxLifetime {
		return nil, alert.New(alert.IllegalParameter, "token lifetime must be 1 s to 1 h, from after 1970 (TOK-003)")
	}
	t := &Token{Version: Version, IssuerID: sig.KeyID(issuer.Public().(ed25519.PublicKey)), Audience: p.Audience,
		Subject: p.Subject, Device: p.Device, NotBefore: uint64(nb.Unix())}
	t.NotAfter = t.NotBefore + uint64(life/time.Second)
	if t.Audience.Type == AudienceServerKey {
		t.Audience.Realm = ""
	} else {
		t.Audience.ServerKeyID = [32]byte{}
	}
	copy(t.ClientKey[:], p.ClientKey)
	rnd := p.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, t.ID[:]); err != nil {
		return nil, alert.New(alert.InternalError, "token id: randomness source failed")
	}
	copy(t.Signature[:], sig.Sign(issuer, keyschedule.SigAccessToken, t.appendTBS(nil)))
	return t, nil
}

// Verifier checks access tokens for one server (TOK-007).
type Verifier struct {
	// Issuers are the registered publisher keys, by KeyID (TOK-002).
	Issuers map[[32]byte]*sig.PublicKey
	// Realm is the server's realm in authority trust; "" when it has none,
	// and then no realm audience matches (TOK-005).
	Realm string
	// ServerKeyID is KeyID of the server's key (TOK-005).
	ServerKeyID [32]byte
}

// Verify decodes raw and checks it in the order of TOK-007, reporting the
// alert of the first rule that fails:
//
//  1. the decoding, its version first (TOK-001, decode_error);
//  2. issuer_id names a registered publisher key (TOK-002, unknown_signer);
//  3. the signature verifies under it (TOK-002, bad_signature);
//  4. not_before < not_after ≤ not_before + 1 h (TOK-003, illegal_parameter);
//  5. now lies in [not_before − skew, not_after + skew] (TOK-004,
//     token_expired);
//  6. the audience names this server's realm or key (TOK-005,
//     realm_mismatch);
//  7. client_key is the key the client proved (TOK-006, token_key_mismatch).
//
// Nothing but issuer_id is acted on before the signature verifies.
func (v *Verifier) Verify(raw []byte, clientKey *sig.PublicKey, now time.Time) (*Token, error) {
	t, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	issuer, ok := v.Issuers[t.IssuerID]
	if !ok {
		return nil, alert.New(alert.UnknownSigner, "access token from an unregistered issuer (TOK-002)")
	}
	tbs := raw[:len(raw)-len(t.Signature)]
	if sig.Verify(issuer, keyschedule.SigAccessToken, tbs, t.Signature[:]) != nil {
		return nil, alert.New(alert.BadSignature, "access token signature does not verify (TOK-002)")
	}
	if !lifetimeOK(t.NotBefore, t.NotAfter) {
		return nil, alert.New(alert.IllegalParameter, "access token validity period empty or longer than 1 h (TOK-003)")
	}
	if early, late := outside(now, t.NotBefore, t.NotAfter); early || late {
		return nil, alert.New(alert.TokenExpired, "access token outside its validity period (TOK-004)")
	}
	if !v.audienceOK(t.Audience) {
		return nil, alert.New(alert.RealmMismatch, "access token for another deployment (TOK-005)")
	}
	if clientKey == nil || [32]byte(clientKey.Bytes()) != t.ClientKey {
		return nil, alert.New(alert.TokenKeyMismatch, "access token bound to another client key (TOK-006)")
	}
	return t, nil
}

func (v *Verifier) audienceOK(a Audience) bool {
	switch a.Type {
	case AudienceRealm:
		return v.Realm != "" && a.Realm == v.Realm
	case AudienceServerKey:
		return a.ServerKeyID == v.ServerKeyID
	}
	return false
}

// Expired reports whether the token's validity has ended at now by TOK-004's
// bound, the instant a server closes a session whose token was not
// refreshed (TOK-011).
func (t *Token) Expired(now time.Time) bool {
	_, late := outside(now, t.NotBefore, t.NotAfter)
	return late
}

// Deadline is the first instant at which Expired is true: not_after +
// ClockSkew, and any fraction of a second past it.
func (t *Token) Deadline() time.Time {
	return time.Unix(int64(t.NotAfter)+skewSec, 1)
}

// lifetimeOK is TOK-003: not_before < not_after and not_after − not_before
// ≤ MaxLifetime.
func lifetimeOK(from, until uint64) bool {
	return from < until && until-from <= maxLifetimeSec
}

// outside reports whether now lies before [from − skew, until + skew]
// (early: now + skew < from) or after it (late: now − skew > until),
// counting now's fraction of a second; the boundaries are inside (TOK-004).
// It does not overflow for any now or bounds.
func outside(now time.Time, from, until uint64) (early, late bool) {
	n, frac := now.Unix(), now.Nanosecond()
	switch {
	case n < -skewSec:
		early = true
	case n < 0:
		early = uint64(n+skewSec) < from
	default:
		early = uint64(n)+uint64(skewSec) < from
	}
	if n >= skewSec {
		m := uint64(n - skewSec)
		late = m > until || (m == until && frac > 0)
	}
	return early, late
}
