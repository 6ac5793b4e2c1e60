// Package credential implements the minimal PKI of spec §5: short-lived
// server credentials signed by an authority (§5.1), and signed revocation
// lists stapled to them in the handshake (§5.2).
//
// A client configured for authority trust calls Validate on what the server
// presents; an authority calls Issue and IssueRevocationList. Parsing is
// strict (WIRE-001) and every rejection is an *alert.Error with the code the
// failing CRED rule names.
package credential

import (
	"crypto/ed25519"
	"github.com/sealfeed/sealfeed/internal/bugs"
	"slices"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limits of spec §15 and the structure version of §5.
const (
	MaxCredentialLifetime     = 30 * 24 * time.Hour // CRED-004
	MaxRevocationListLifetime = 7 * 24 * time.Hour  // CRED-011
	// DefaultRevocationListLifetime is the lifetime issuers SHOULD give a
	// revocation list (CRED-011); the CLI's default.
	DefaultRevocationListLifetime = 24 * time.Hour
	ClockSkew                     = 60 * time.Second // CRED-005, CRED-012
	MaxRealm                      = 255              // realm<1..255>
	MaxRevoked                    = 65535            // revoked<0..65535>
	Version                       = 1
)

const (
	maxCredentialLifetimeSec = uint64(MaxCredentialLifetime / time.Second)
	maxListLifetimeSec       = uint64(MaxRevocationListLifetime / time.Second)
	skewSec                  = int64(ClockSkew / time.Second)
)

// Credential binds a server key to a realm for a validity period (§5.1).
type Credential struct {
	Version     uint16
	AuthorityID [32]byte // KeyID of the authority key
	ServerKey   [32]byte // Ed25519 public key
	Realm       string   // 1 to 255 bytes
	Serial      uint64
	NotBefore   uint64 // Unix seconds
	NotAfter    uint64 // Unix seconds
	Signature   [64]byte
}

func (c *Credential) appendTBS(b []byte) []byte {
	b = wire.AppendUint16(b, c.Version)
	b = append(b, c.AuthorityID[:]...)
	b = append(b, c.ServerKey[:]...)
	b = wire.AppendOpaque(b, []byte(c.Realm), MaxRealm)
	b = wire.AppendUint64(b, c.Serial)
	b = wire.AppendUint64(b, c.NotBefore)
	return wire.AppendUint64(b, c.NotAfter)
}

// Marshal returns the encoding of c (§5.1). c must have a realm of 1 to 255
// bytes, as Issue and ParseCredential guarantee; Marshal does not check it.
func (c *Credential) Marshal() []byte {
	return append(c.appendTBS(make([]byte, 0, 2+32+32+1+len(c.Realm)+3*8+64)), c.Signature[:]...)
}

// ParseCredential decodes a credential strictly (CRED-001): a version other
// than 1 is bad_credential, checked first since another version may have
// another layout; a wrong length anywhere, a realm outside 1 … 255 bytes or
// trailing bytes are decode_error. It checks nothing else: Validate does.
func ParseCredential(b []byte) (*Credential, error) {
	r := wire.NewReader(b)
	c := &Credential{Version: r.Uint16("credential version")}
	if r.Err() == nil && c.Version != Version {
		return nil, alert.Errorf(alert.BadCredential, "credential version %d (CRED-001)", c.Version)
	}
	r.Copy(c.AuthorityID[:], "credential authority_id")
	r.Copy(c.ServerKey[:], "credential server_key")
	c.Realm = string(r.Opaque(1, MaxRealm, "credential realm"))
	c.Serial = r.Uint64("credential serial")
	c.NotBefore = r.Uint64("credential not_before")
	c.NotAfter = r.Uint64("credential not_after")
	r.Copy(c.Signature[:], "credential signature")
	if err := r.Finish("credential"); err != nil {
		return nil, err
	}
	return c, nil
}

// Issue returns a credential for serverKey signed by authority. Times are
// truncated to whole seconds. It refuses what a client would reject as
// issued: a server key failing SIG-001 (bad_key), a realm outside 1 … 255
// bytes, a time before 1970, or a lifetime violating CRED-004
// (bad_credential).
func Issue(authority ed25519.PrivateKey, serverKey []byte, realm string, serial uint64, notBefore, notAfter time.Time) (*Credential, error) {
	if len(authority) != ed25519.PrivateKeySize {
		return nil, alert.New(alert.BadKey, "authority private key is not 64 bytes")
	}
	if _, err := sig.ParsePublicKey(serverKey); err != nil {
		return nil, err
	}
	if len(realm) < 1 || len(realm) > MaxRealm {
		return nil, alert.New(alert.BadCredential, "realm must be 1 to 255 bytes")
	}
	nb, na, err := period(notBefore, notAfter, maxCredentialLifetimeSec, "credential (CRED-004)")
	if err != nil {
		return nil, err
	}
	c := &Credential{Version: Version, AuthorityID: sig.KeyID(authority.Public().(ed25519.PublicKey)),
		Realm: realm, Serial: serial, NotBefore: nb, NotAfter: na}
	copy(c.ServerKey[:], serverKey)
	copy(c.Signature[:], sig.Sign(authority, keyschedule.SigCredential, c.appendTBS(nil)))
	return c, nil
}

// period converts an issuer's validity period to Unix seconds and checks it
// as a verifier will (CRED-004, CRED-011).
func period(from, until time.Time, maxSec uint64, what string) (uint64, uint64, error) {
	f, u := from.Unix(), until.Unix()
	if f < 0 || u < 0 {
		return 0, 0, alert.Errorf(alert.BadCredential, "%s: time before 1970", what)
	}
	if !lifetimeOK(uint64(f), uint64(u), maxSec) {
		return 0, 0, alert.Errorf(alert.BadCredential, "%s: validity period empty or longer than %d s", what, maxSec)
	}
	return uint64(f), uint64(u), nil
}

// lifetimeOK is CRED-004 and CRED-011: from < until and until − from ≤ max.
func lifetimeOK(from, until, maxSec uint64) bool {
	return from < until && until-from <= maxSec
}

// outside reports whether now lies before [from − skew, until + skew]
// (early: now + skew < from) or after it (late: now − skew > until), exactly,
// counting now's fraction of a second (CRED-005, CRED-012). Times at the
// boundaries are inside. It does not overflow for any now or bounds.
func outside(now time.Time, from, until uint64) (early, late bool) {
	n, frac := now.Unix(), now.Nanosecond() // n = ⌊now⌋, 0 ≤ frac < 1 s
	// now + skew < from ⟺ n + skew < from, both sides integers once the
	// fraction is dropped (from is whole seconds).
	switch {
	case n < -skewSec:
		early = true // now + skew < 0 ≤ from
	case n < 0:
		early = uint64(n+skewSec) < from
	default:
		early = uint64(n)+uint64(skewSec) < from // n < 2⁶³: no overflow
	}
	// now − skew > until ⟺ n − skew > until, or n − skew = until with a
	// fraction left over.
	if n >= skewSec {
		m := uint64(n - skewSec)
		late = m > until || (m == until && frac > 0)
	}
	return early, late
}

// RevocationList is an authority's signed list of revoked serials (§5.2).
type RevocationList struct {
	Version     uint16
	AuthorityID [32]byte
	Number      uint64   // increases with every list the authority issues
	ThisUpdate  uint64   // Unix seconds
	NextUpdate  uint64   // Unix seconds
	Revoked     []uint64 // strictly ascending, at most 65535
	Signature   [64]byte
}

func (l *RevocationList) appendTBS(b []byte) []byte {
	b = wire.AppendUint16(b, l.Version)
	b = append(b, l.AuthorityID[:]...)
	b = wire.AppendUint64(b, l.Number)
	b = wire.AppendUint64(b, l.ThisUpdate)
	b = wire.AppendUint64(b, l.NextUpdate)
	b = wire.AppendPrefix(b, len(l.Revoked), MaxRevoked)
	for _, s := range l.Revoked {
		b = wire.AppendUint64(b, s)
	}
	return b
}

// Marshal returns the encoding of l (§5.2). l must hold at most 65535
// serials, as IssueRevocationList and ParseRevocationList guarantee; Marshal
// does not check it.
func (l *RevocationList) Marshal() []byte {
	return append(l.appendTBS(make([]byte, 0, 2+32+3*8+2+8*len(l.Revoked)+64)), l.Signature[:]...)
}

// ParseRevocationList decodes a list strictly (CRED-010): a version other
// than 1 is bad_credential, checked first; a wrong length or trailing bytes
// are decode_error; then serials that are not strictly ascending are
// illegal_parameter. It checks neither authority nor signature: Validate
// does.
func ParseRevocationList(b []byte) (*RevocationList, error) {
	r := wire.NewReader(b)
	l := &RevocationList{Version: r.Uint16("revocation list version")}
	if r.Err() == nil && l.Version != Version {
		return nil, alert.Errorf(alert.BadCredential, "revocation list version %d (CRED-010)", l.Version)
	}
	r.Copy(l.AuthorityID[:], "revocation list authority_id")
	l.Number = r.Uint64("revocation list number")
	l.ThisUpdate = r.Uint64("revocation list this_update")
	l.NextUpdate = r.Uint64("revocation list next_update")
	// Count checks n against the bytes left before anything is allocated.
	if n := r.Count(0, MaxRevoked, 8, "revoked serials"); n > 0 {
		l.Revoked = make([]uint64, n)
		for i := range l.Revoked {
			l.Revoked[i] = r.Uint64("revoked serial")
		}
	}
	r.Copy(l.Signature[:], "revocation list signature")
	if err := r.Finish("revocation list"); err != nil {
		return nil, err
	}
	for i := 1; i < len(l.Revoked); i++ {
		if l.Revoked[i] <= l.Revoked[i-1] {
			return nil, alert.New(alert.IllegalParameter, "revoked serials not strictly ascending (CRED-010)")
		}
	}
	return l, nil
}

// IssueRevocationList returns a revocation list signed by authority. The
// serials are sorted and deduplicated; times are truncated to whole seconds.
// It refuses a time before 1970 or a lifetime violating CRED-011
// (bad_credential) and more than 65535 serials (limit_exceeded).
func IssueRevocationList(authority ed25519.PrivateKey, number uint64, thisUpdate, nextUpdate time.Time, revoked []uint64) (*RevocationList, error) {
	if len(authority) != ed25519.PrivateKeySize {
		return nil, alert.New(alert.BadKey, "authority private key is not 64 bytes")
	}
	tu, nu, err := period(thisUpdate, nextUpdate, maxListLifetimeSec, "revocation list (CRED-011)")
	if err != nil {
		return nil, err
	}
	s := slices.Compact(slices.Sorted(slices.Values(revoked)))
	if len(s) > MaxRevoked {
		return nil, alert.Errorf(alert.LimitExceeded, "%d revoked serials, at most %d", len(s), MaxRevoked)
	}
	l := &RevocationList{Version: Version, AuthorityID: sig.KeyID(authority.Public().(ed25519.PublicKey)),
		Number: number, ThisUpdate: tu, NextUpdate: nu, Revoked: s}
	copy(l.Signature[:], sig.Sign(authority, keyschedule.SigRevocationList, l.appendTBS(nil)))
	return l, nil
}

// Trust is what a client configured for authority trust knows (§5).
type Trust struct {
	// Authority is the trusted authority's key. Without one no credential
	// is accepted (unknown_server_key).
	Authority *sig.PublicKey
	// Realm is the realm the client is configured for (CRED-006).
	Realm string
	// MinRevocationNumber is the highest revocation list number accepted
	// before from this authority; a list with a lower number is rejected
	// (CRED-013). The caller persists the number of each list Validate
	// returns.
	MinRevocationNumber uint64
}

// Validate checks a credential and its stapled revocation list for t at
// time now (CRED-015) and returns the validated server key and the list.
// The checks run in the order of CRED-016, each with its rule's alert:
//
//  1. the credential decodes strictly, version 1 (CRED-001);
//  2. authority_id is KeyID of t.Authority (CRED-002, unknown_server_key);
//  3. the signature verifies under t.Authority (CRED-003, bad_credential);
//  4. its lifetime is valid (CRED-004, bad_credential);
//  5. now is in its validity window (CRED-005, credential_expired);
//  6. the realm is t.Realm (CRED-006, realm_mismatch);
//  7. server_key passes SIG-001 (CRED-007, bad_key);
//  8. the list decodes strictly, version 1, serials ascending (CRED-010);
//  9. its authority_id is t.Authority's, then its signature verifies
//     (CRED-010, bad_credential);
//  10. its lifetime is valid (CRED-011, bad_credential);
//  11. now is in its validity window (CRED-012, revocation_stale);
//  12. its number is not below t.MinRevocationNumber (CRED-013,
//     revocation_stale);
//  13. the credential's serial is not in the list (CRED-014,
//     credential_revoked).
//
// Nothing from the credential is used before its signature is verified
// except to pick the authority key.
func Validate(t Trust, credential, revocationList []byte, now time.Time) (serverKey *sig.PublicKey, list *RevocationList, err error) {
	c, err := ParseCredential(credential)
	if err != nil {
		return nil, nil, err
	}
	if t.Authority == nil {
		return nil, nil, alert.New(alert.UnknownServerKey, "no trusted authority configured (CRED-002)")
	}
	authID := t.Authority.ID()
	if c.AuthorityID != authID {
		return nil, nil, alert.New(alert.UnknownServerKey, "credential from an unknown authority (CRED-002)")
	}
	tbs := credential[:len(credential)-len(c.Signature)]
	if sig.Verify(t.Authority, keyschedule.SigCredential, tbs, c.Signature[:]) != nil {
		return nil, nil, alert.New(alert.BadCredential, "credential signature does not verify (CRED-003)")
	}
	if !lifetimeOK(c.NotBefore, c.NotAfter, maxCredentialLifetimeSec) {
		return nil, nil, alert.New(alert.BadCredential, "credential validity period empty or longer than 30 days (CRED-004)")
	}
	if early, late := outside(now, c.NotBefore, c.NotAfter); (early || late) && !bugs.IgnoreCredentialValidity {
		return nil, nil, alert.New(alert.CredentialExpired, "credential outside its validity period (CRED-005)")
	}
	if c.Realm != t.Realm {
		return nil, nil, alert.New(alert.RealmMismatch, "credential for another realm (CRED-006)")
	}
	key, err := sig.ParsePublicKey(c.ServerKey[:])
	if err != nil {
		return nil, nil, err // bad_key (CRED-007)
	}

	l, err := ParseRevocationList(revocationList)
	if err != nil {
		return nil, nil, err
	}
	if l.AuthorityID != authID {
		return nil, nil, alert.New(alert.BadCredential, "revocation list from another authority (CRED-010)")
	}
	tbs = revocationList[:len(revocationList)-len(l.Signature)]
	if sig.Verify(t.Authority, keyschedule.SigRevocationList, tbs, l.Signature[:]) != nil {
		return nil, nil, alert.New(alert.BadCredential, "revocation list signature does not verify (CRED-010)")
	}
	if !lifetimeOK(l.ThisUpdate, l.NextUpdate, maxListLifetimeSec) {
		return nil, nil, alert.New(alert.BadCredential, "revocation list validity period empty or longer than 7 days (CRED-011)")
	}
	if early, late := outside(now, l.ThisUpdate, l.NextUpdate); early || late {
		return nil, nil, alert.New(alert.RevocationStale, "revocation list outside its validity period (CRED-012)")
	}
	if l.Number < t.MinRevocationNumber {
		return nil, nil, alert.New(alert.RevocationStale, "revocation list older than one accepted before (CRED-013)")
	}
	if _, found := slices.BinarySearch(l.Revoked, c.Serial); found {
		return nil, nil, alert.New(alert.CredentialRevoked, "credential serial is revoked (CRED-014)")
	}
	return key, l, nil
}
