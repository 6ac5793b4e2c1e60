// Package credential implements the minimal PKI of spec §5: short-lived
// server credentials signed by an authority, and signed revocation lists
// stapled to them in the handshake.
package credential

import (
	"crypto/ed25519"
	"crypto/subtle"
	"slices"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limits of spec §15.
const (
	MaxCredentialLifetime     = 30 * 24 * time.Hour
	MaxRevocationListLifetime = 7 * 24 * time.Hour
	ClockSkew                 = 60 * time.Second
	MaxRevoked                = 65535
	Version                   = 1
)

// Credential binds a server key to a realm for a validity period (spec §5.1).
type Credential struct {
	Version     uint16
	AuthorityID [32]byte
	ServerKey   [32]byte
	Realm       string
	Serial      uint64
	NotBefore   uint64 // Unix seconds
	NotAfter    uint64 // Unix seconds
	Signature   [64]byte
}

func (c *Credential) appendTBS(b []byte) []byte {
	b = wire.AppendUint16(b, c.Version)
	b = append(b, c.AuthorityID[:]...)
	b = append(b, c.ServerKey[:]...)
	b = wire.AppendOpaque(b, []byte(c.Realm), 255)
	b = wire.AppendUint64(b, c.Serial)
	b = wire.AppendUint64(b, c.NotBefore)
	return wire.AppendUint64(b, c.NotAfter)
}

// Marshal returns the encoding of c.
func (c *Credential) Marshal() []byte {
	return append(c.appendTBS(nil), c.Signature[:]...)
}

// ParseCredential decodes a credential strictly (CRED-001). It checks the
// encoding only; Validate checks the rest.
func ParseCredential(b []byte) (*Credential, error) {
	r := wire.NewReader(b)
	c := &Credential{Version: r.Uint16("credential version")}
	r.Copy(c.AuthorityID[:], "authority id")
	r.Copy(c.ServerKey[:], "server key")
	c.Realm = string(r.Opaque(1, 255, "realm"))
	c.Serial = r.Uint64("serial")
	c.NotBefore = r.Uint64("not_before")
	c.NotAfter = r.Uint64("not_after")
	r.Copy(c.Signature[:], "credential signature")
	if err := r.Finish("credential"); err != nil {
		return nil, err
	}
	return c, nil
}

// Issue signs a credential for serverKey. It refuses what CRED-004 and
// CRED-007 would make a client reject.
func Issue(authority ed25519.PrivateKey, serverKey []byte, realm string, serial uint64, notBefore, notAfter time.Time) (*Credential, error) {
	if _, err := sig.ParsePublicKey(serverKey); err != nil {
		return nil, err
	}
	if len(realm) < 1 || len(realm) > 255 {
		return nil, alert.New(alert.BadCredential, "realm must be 1 to 255 bytes")
	}
	if err := checkLifetime(notBefore.Unix(), notAfter.Unix(), MaxCredentialLifetime); err != nil {
		return nil, err
	}
	c := &Credential{Version: Version, AuthorityID: sig.KeyID(authority.Public().(ed25519.PublicKey)),
		Realm: realm, Serial: serial, NotBefore: uint64(notBefore.Unix()), NotAfter: uint64(notAfter.Unix())}
	copy(c.ServerKey[:], serverKey)
	copy(c.Signature[:], sig.Sign(authority, keyschedule.SigCredential, c.appendTBS(nil)))
	return c, nil
}

func checkLifetime(notBefore, notAfter int64, max time.Duration) error {
	if notBefore < 0 || notAfter <= notBefore || time.Duration(notAfter-notBefore)*time.Second > max {
		return alert.Errorf(alert.BadCredential, "validity period must be positive and at most %v", max)
	}
	return nil
}

// RevocationList is an authority's signed list of revoked serials (§5.2).
type RevocationList struct {
	Version     uint16
	AuthorityID [32]byte
	Number      uint64
	ThisUpdate  uint64 // Unix seconds
	NextUpdate  uint64
	Revoked     []uint64 // strictly ascending
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

// Marshal returns the encoding of l.
func (l *RevocationList) Marshal() []byte {
	return append(l.appendTBS(nil), l.Signature[:]...)
}

// ParseRevocationList decodes a list strictly; serials that are not strictly
// ascending are illegal_parameter (CRED-010).
func ParseRevocationList(b []byte) (*RevocationList, error) {
	r := wire.NewReader(b)
	l := &RevocationList{Version: r.Uint16("revocation list version")}
	r.Copy(l.AuthorityID[:], "authority id")
	l.Number = r.Uint64("number")
	l.ThisUpdate = r.Uint64("this_update")
	l.NextUpdate = r.Uint64("next_update")
	n := r.Count(0, MaxRevoked, 8, "revoked serials")
	if n > 0 {
		l.Revoked = make([]uint64, n)
	}
	for i := range l.Revoked {
		l.Revoked[i] = r.Uint64("revoked serial")
		if r.Err() == nil && i > 0 && l.Revoked[i] <= l.Revoked[i-1] {
			return nil, alert.New(alert.IllegalParameter, "revoked serials not strictly ascending")
		}
	}
	r.Copy(l.Signature[:], "revocation list signature")
	if err := r.Finish("revocation list"); err != nil {
		return nil, err
	}
	return l, nil
}

// IssueRevocationList signs a revocation list; serials are sorted and
// deduplicated.
func IssueRevocationList(authority ed25519.PrivateKey, number uint64, thisUpdate, nextUpdate time.Time, revoked []uint64) (*RevocationList, error) {
	if err := checkLifetime(thisUpdate.Unix(), nextUpdate.Unix(), MaxRevocationListLifetime); err != nil {
		return nil, err
	}
	s := slices.Compact(slices.Sorted(slices.Values(revoked)))
	if len(s) > MaxRevoked {
		return nil, alert.New(alert.LimitExceeded, "too many revoked serials")
	}
	l := &RevocationList{Version: Version, AuthorityID: sig.KeyID(authority.Public().(ed25519.PublicKey)),
		Number: number, ThisUpdate: uint64(thisUpdate.Unix()), NextUpdate: uint64(nextUpdate.Unix()), Revoked: s}
	copy(l.Signature[:], sig.Sign(authority, keyschedule.SigRevocationList, l.appendTBS(nil)))
	return l, nil
}

// Trust is what a client configured for authority trust knows.
type Trust struct {
	Authority *sig.PublicKey
	Realm     string
	// MinRevocationNumber is the highest revocation list number accepted
	// before; older lists are rejected (CRED-013).
	MinRevocationNumber uint64
}

func within(now time.Time, notBefore, notAfter uint64) (early, late bool) {
	skew := int64(ClockSkew / time.Second)
	n := now.Unix()
	return n+skew < int64(min(notBefore, 1<<62)), n-skew > int64(min(notAfter, 1<<62))
}

// Validate checks a credential and its stapled revocation list for t at
// time now, in this order, each with its alert: parse (CRED-001), authority
// (CRED-002), signature (CRED-003), lifetime (CRED-004), validity window
// (CRED-005), realm (CRED-006), server key (CRED-007), then the list: parse
// and authority (CRED-010), signature (CRED-010), lifetime (CRED-011),
// freshness (CRED-012), rollback (CRED-013), and finally the serial
// (CRED-014). It returns the validated server key and the list.
func Validate(t Trust, credential, revocationList []byte, now time.Time) (*sig.PublicKey, *RevocationList, error) {
	c, err := ParseCredential(credential)
	if err != nil {
		return nil, nil, err
	}
	if c.Version != Version {
		return nil, nil, alert.Errorf(alert.BadCredential, "credential version %d", c.Version)
	}
	authID := t.Authority.ID()
	if subtle.ConstantTimeCompare(c.AuthorityID[:], authID[:]) != 1 {
		return nil, nil, alert.New(alert.UnknownServerKey, "credential from an unknown authority")
	}
	if err := sig.Verify(t.Authority, keyschedule.SigCredential, credential[:len(credential)-64], c.Signature[:]); err != nil {
		return nil, nil, alert.New(alert.BadCredential, "credential signature does not verify")
	}
	if c.NotBefore >= c.NotAfter || c.NotAfter-c.NotBefore > uint64(MaxCredentialLifetime/time.Second) {
		return nil, nil, alert.New(alert.BadCredential, "credential lifetime invalid")
	}
	if early, late := within(now, c.NotBefore, c.NotAfter); early || late {
		return nil, nil, alert.New(alert.CredentialExpired, "credential outside its validity period")
	}
	if subtle.ConstantTimeCompare([]byte(c.Realm), []byte(t.Realm)) != 1 {
		return nil, nil, alert.New(alert.RealmMismatch, "credential for another realm")
	}
	key, err := sig.ParsePublicKey(c.ServerKey[:])
	if err != nil {
		return nil, nil, err
	}

	l, err := ParseRevocationList(revocationList)
	if err != nil {
		return nil, nil, err
	}
	if l.Version != Version || subtle.ConstantTimeCompare(l.AuthorityID[:], authID[:]) != 1 {
		return nil, nil, alert.New(alert.BadCredential, "revocation list version or authority")
	}
	if err := sig.Verify(t.Authority, keyschedule.SigRevocationList, revocationList[:len(revocationList)-64], l.Signature[:]); err != nil {
		return nil, nil, alert.New(alert.BadCredential, "revocation list signature does not verify")
	}
	if l.ThisUpdate >= l.NextUpdate || l.NextUpdate-l.ThisUpdate > uint64(MaxRevocationListLifetime/time.Second) {
		return nil, nil, alert.New(alert.BadCredential, "revocation list lifetime invalid")
	}
	if early, late := within(now, l.ThisUpdate, l.NextUpdate); early || late {
		return nil, nil, alert.New(alert.RevocationStale, "revocation list outside its validity period")
	}
	if l.Number < t.MinRevocationNumber {
		return nil, nil, alert.New(alert.RevocationStale, "revocation list older than one accepted before")
	}
	if _, found := slices.BinarySearch(l.Revoked, c.Serial); found {
		return nil, nil, alert.New(alert.CredentialRevoked, "credential serial is revoked")
	}
	return key, l, nil
}
