package credential

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

var now = time.Unix(1_800_000_000, 0)

const (
	hour = uint64(3600)
	day  = 24 * hour
)

func key(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func pub(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

type fixture struct {
	auth, server ed25519.PrivateKey
	trust        Trust
}

func newFixture(t testing.TB) *fixture {
	auth := key(1)
	ak, err := sig.ParsePublicKey(pub(auth))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{auth: auth, server: key(2), trust: Trust{Authority: ak, Realm: "push.example", MinRevocationNumber: 9}}
}

// cred returns a credential valid at now (serial 42, one hour old, valid
// for a day), changed by mut and re-signed by signer (the authority if nil).
func (f *fixture) cred(t testing.TB, signer ed25519.PrivateKey, mut func(c *Credential)) []byte {
	c, err := Issue(f.auth, pub(f.server), "push.example", 42, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		signer = f.auth
	}
	if mut != nil {
		mut(c)
	}
	copy(c.Signature[:], sig.Sign(signer, keyschedule.SigCredential, c.appendTBS(nil)))
	return c.Marshal()
}

// list returns list number 9 valid at now (one hour old, two days to go),
// revoking 3 and 7, changed by mut and re-signed by signer.
func (f *fixture) list(t testing.TB, signer ed25519.PrivateKey, mut func(l *RevocationList)) []byte {
	l, err := IssueRevocationList(f.auth, 9, now.Add(-time.Hour), now.Add(48*time.Hour), []uint64{7, 3, 7})
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		signer = f.auth
	}
	if mut != nil {
		mut(l)
	}
	copy(l.Signature[:], sig.Sign(signer, keyschedule.SigRevocationList, l.appendTBS(nil)))
	return l.Marshal()
}

func flip(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }

// Every CRED rule with the exact alert it names.
func TestValidate(t *testing.T) {
	f := newFixture(t)
	other := key(3)
	good, goodList := f.cred(t, nil, nil), f.list(t, nil, nil)
	k, l, err := Validate(f.trust, good, goodList, now)
	if err != nil || !bytes.Equal(k.Bytes(), pub(f.server)) || l.Number != 9 || !slices.Equal(l.Revoked, []uint64{3, 7}) {
		t.Fatalf("valid credential: %v", err)
	}
	nb := uint64(now.Unix()) - hour // the fixture's not_before and this_update
	mixedKey := func() [32]byte {
		// A small-order point (order 4, y = 0) is not a valid key.
		return [32]byte{}
	}()
	cases := []struct {
		rule, name string
		cred, list []byte
		trust      *Trust
		at         time.Time
		want       alert.Code
	}{
		{"CRED-001", "empty", nil, goodList, nil, now, alert.DecodeError},
		{"CRED-001", "truncated", good[:len(good)-1], goodList, nil, now, alert.DecodeError},
		{"CRED-001", "trailing byte", append(bytes.Clone(good), 0), goodList, nil, now, alert.DecodeError},
		{"CRED-001", "empty realm", f.cred(t, nil, func(c *Credential) { c.Realm = "" }), goodList, nil, now, alert.DecodeError},
		{"CRED-001", "version 2", f.cred(t, nil, func(c *Credential) { c.Version = 2 }), goodList, nil, now, alert.BadCredential},
		{"CRED-001", "version 0", f.cred(t, nil, func(c *Credential) { c.Version = 0 }), goodList, nil, now, alert.BadCredential},
		{"CRED-001", "version 2, truncated", []byte{0, 2}, goodList, nil, now, alert.BadCredential},
		{"CRED-002", "unknown authority", f.cred(t, other, func(c *Credential) { c.AuthorityID = sig.KeyID(pub(other)) }), goodList, nil, now, alert.UnknownServerKey},
		{"CRED-002", "no authority configured", good, goodList, &Trust{Realm: "push.example"}, now, alert.UnknownServerKey},
		{"CRED-003", "signature bit flip", flip(good, len(good)-1), goodList, nil, now, alert.BadCredential},
		{"CRED-003", "realm bit flip", flip(good, 2+64+1), goodList, nil, now, alert.BadCredential},
		{"CRED-003", "signed by another key", f.cred(t, other, nil), goodList, nil, now, alert.BadCredential},
		{"CRED-003", "signed with the list label", func() []byte {
			c, _ := ParseCredential(good)
			copy(c.Signature[:], sig.Sign(f.auth, keyschedule.SigRevocationList, c.appendTBS(nil)))
			return c.Marshal()
		}(), goodList, nil, now, alert.BadCredential},
		{"CRED-004", "lifetime 30 days + 1 s", f.cred(t, nil, func(c *Credential) { c.NotAfter = c.NotBefore + 30*day + 1 }), goodList, nil, now, alert.BadCredential},
		{"CRED-004", "not_after = not_before", f.cred(t, nil, func(c *Credential) { c.NotAfter = c.NotBefore }), goodList, nil, now, alert.BadCredential},
		{"CRED-004", "not_after before not_before", f.cred(t, nil, func(c *Credential) { c.NotAfter = c.NotBefore - 1 }), goodList, nil, now, alert.BadCredential},
		{"CRED-004", "whole uint64 range", f.cred(t, nil, func(c *Credential) { c.NotBefore, c.NotAfter = 0, math.MaxUint64 }), goodList, nil, now, alert.BadCredential},
		{"CRED-005", "expired", good, goodList, nil, now.Add(25 * time.Hour), alert.CredentialExpired},
		{"CRED-005", "1 ns past not_after + skew", good, goodList, nil, time.Unix(int64(nb+25*hour+60), 1), alert.CredentialExpired},
		{"CRED-005", "not yet valid", good, goodList, nil, now.Add(-2 * time.Hour), alert.CredentialExpired},
		{"CRED-005", "1 s before not_before − skew", good, goodList, nil, time.Unix(int64(nb-61), 0), alert.CredentialExpired},
		{"CRED-005", "far future", f.cred(t, nil, func(c *Credential) { c.NotBefore, c.NotAfter = math.MaxUint64-10, math.MaxUint64 }), goodList, nil, now, alert.CredentialExpired},
		{"CRED-006", "other realm", good, goodList, &Trust{Authority: f.trust.Authority, Realm: "other.example"}, now, alert.RealmMismatch},
		{"CRED-006", "realm prefix", good, goodList, &Trust{Authority: f.trust.Authority, Realm: "push.exampl"}, now, alert.RealmMismatch},
		{"CRED-006", "realm case", good, goodList, &Trust{Authority: f.trust.Authority, Realm: "Push.example"}, now, alert.RealmMismatch},
		{"CRED-007", "small-order server key", f.cred(t, nil, func(c *Credential) { c.ServerKey = mixedKey }), goodList, nil, now, alert.BadKey},
		{"CRED-007", "identity server key", f.cred(t, nil, func(c *Credential) { c.ServerKey = [32]byte{1} }), goodList, nil, now, alert.BadKey},
		{"CRED-010", "list empty", good, nil, nil, now, alert.DecodeError},
		{"CRED-010", "list truncated", good, goodList[:20], nil, now, alert.DecodeError},
		{"CRED-010", "list trailing byte", good, append(bytes.Clone(goodList), 0), nil, now, alert.DecodeError},
		{"CRED-010", "list count beyond the input", good, func() []byte {
			b := bytes.Clone(goodList)
			b[2+32+24], b[2+32+24+1] = 0xff, 0xff
			return b
		}(), nil, now, alert.DecodeError},
		{"CRED-010", "list unsorted", good, f.list(t, nil, func(l *RevocationList) { l.Revoked = []uint64{7, 3} }), nil, now, alert.IllegalParameter},
		{"CRED-010", "list duplicate serial", good, f.list(t, nil, func(l *RevocationList) { l.Revoked = []uint64{3, 3} }), nil, now, alert.IllegalParameter},
		{"CRED-010", "list unsorted, badly signed", good, flip(f.list(t, nil, func(l *RevocationList) { l.Revoked = []uint64{7, 3} }), len(goodList)-1), nil, now, alert.IllegalParameter},
		{"CRED-010", "list version 2", good, f.list(t, nil, func(l *RevocationList) { l.Version = 2 }), nil, now, alert.BadCredential},
		{"CRED-010", "list from another authority", good, f.list(t, other, func(l *RevocationList) { l.AuthorityID = sig.KeyID(pub(other)) }), nil, now, alert.BadCredential},
		{"CRED-010", "list naming our authority, signed by another", good, f.list(t, other, nil), nil, now, alert.BadCredential},
		{"CRED-010", "list bit flip", good, flip(goodList, len(goodList)-5), nil, now, alert.BadCredential},
		{"CRED-010", "list serial changed", good, flip(goodList, 2+32+24+2+7), nil, now, alert.BadCredential},
		{"CRED-011", "list lifetime 7 days + 1 s", good, f.list(t, nil, func(l *RevocationList) { l.NextUpdate = l.ThisUpdate + 7*day + 1 }), nil, now, alert.BadCredential},
		{"CRED-011", "list next_update = this_update", good, f.list(t, nil, func(l *RevocationList) { l.NextUpdate = l.ThisUpdate }), nil, now, alert.BadCredential},
		{"CRED-012", "list stale", good, f.list(t, nil, func(l *RevocationList) { l.ThisUpdate, l.NextUpdate = nb-day, nb-61+hour }), nil, now, alert.RevocationStale},
		{"CRED-012", "list from the future", good, f.list(t, nil, func(l *RevocationList) { l.ThisUpdate, l.NextUpdate = nb+hour+61, nb+day }), nil, now, alert.RevocationStale},
		{"CRED-013", "list rollback", good, goodList, &Trust{Authority: f.trust.Authority, Realm: "push.example", MinRevocationNumber: 10}, now, alert.RevocationStale},
		{"CRED-014", "revoked", f.cred(t, nil, func(c *Credential) { c.Serial = 7 }), goodList, nil, now, alert.CredentialRevoked},
		{"CRED-014", "first serial revoked", f.cred(t, nil, func(c *Credential) { c.Serial = 3 }), goodList, nil, now, alert.CredentialRevoked},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			tr := f.trust
			if c.trust != nil {
				tr = *c.trust
			}
			k, l, err := Validate(tr, c.cred, c.list, c.at)
			if got := codeOf(err); got != c.want {
				t.Fatalf("got %v (%v), want %v", got, err, c.want)
			}
			if k != nil || l != nil {
				t.Fatal("rejected credential returned a key or list")
			}
		})
	}
}

// Accepted at the edges: exactly at the skew boundaries (CRED-005,
// CRED-012), the maximum lifetimes (CRED-004, CRED-011), a list number equal
// to the last accepted (CRED-013), an empty list, serials next to ours.
func TestValidateAcceptsAtTheEdges(t *testing.T) {
	f := newFixture(t)
	nb := uint64(now.Unix()) - hour
	good, goodList := f.cred(t, nil, nil), f.list(t, nil, nil)
	cases := []struct {
		name       string
		cred, list []byte
		at         time.Time
	}{
		{"now + skew = not_before", good, goodList, time.Unix(int64(nb-60), 0)},
		{"now − skew = not_after", f.cred(t, nil, func(c *Credential) { c.NotAfter = nb + 2*hour }), goodList, time.Unix(int64(nb+2*hour+60), 0)},
		{"credential lifetime exactly 30 days", f.cred(t, nil, func(c *Credential) { c.NotAfter = c.NotBefore + 30*day }), goodList, now},
		{"list lifetime exactly 7 days", good, f.list(t, nil, func(l *RevocationList) { l.NextUpdate = l.ThisUpdate + 7*day }), now},
		{"list now − skew = next_update", good, f.list(t, nil, func(l *RevocationList) { l.NextUpdate = nb + hour - 60 }), now},
		{"list now + skew = this_update", good, f.list(t, nil, func(l *RevocationList) { l.ThisUpdate = nb + hour + 60 }), now},
		{"empty list", good, f.list(t, nil, func(l *RevocationList) { l.Revoked = nil }), now},
		{"serials around ours", f.cred(t, nil, func(c *Credential) { c.Serial = 5 }), goodList, now},
		{"serial 0 and max", good, f.list(t, nil, func(l *RevocationList) { l.Revoked = []uint64{0, math.MaxUint64} }), now},
	}
	for _, c := range cases {
		if _, _, err := Validate(f.trust, c.cred, c.list, c.at); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// CRED-016: when several rules fail, the first in the documented order
// names the alert.
func TestValidateCheckOrder(t *testing.T) {
	f := newFixture(t)
	other := key(3)
	good, goodList := f.cred(t, nil, nil), f.list(t, nil, nil)
	expiredAt := now.Add(30 * 24 * time.Hour)
	wrongRealm := &Trust{Authority: f.trust.Authority, Realm: "other.example", MinRevocationNumber: 9}
	badKey := f.cred(t, nil, func(c *Credential) { c.ServerKey = [32]byte{1} })
	staleList := f.list(t, nil, func(l *RevocationList) { l.ThisUpdate, l.NextUpdate = 1, 2 })
	cases := []struct {
		name       string
		cred, list []byte
		trust      *Trust
		at         time.Time
		want       alert.Code
	}{
		{"version before authority", f.cred(t, other, func(c *Credential) { c.Version, c.AuthorityID = 2, [32]byte{9} }), goodList, nil, now, alert.BadCredential},
		{"authority before signature", flip(f.cred(t, other, func(c *Credential) { c.AuthorityID = [32]byte{9} }), len(good)-1), goodList, nil, now, alert.UnknownServerKey},
		{"signature before lifetime", f.cred(t, other, func(c *Credential) { c.NotAfter = c.NotBefore }), goodList, nil, now, alert.BadCredential},
		{"signature before validity", f.cred(t, other, nil), goodList, nil, expiredAt, alert.BadCredential},
		{"lifetime before validity", f.cred(t, nil, func(c *Credential) { c.NotAfter = c.NotBefore + 31*day }), goodList, nil, expiredAt.Add(365 * 24 * time.Hour), alert.BadCredential},
		{"validity before realm", good, goodList, wrongRealm, expiredAt, alert.CredentialExpired},
		{"realm before key", badKey, goodList, wrongRealm, now, alert.RealmMismatch},
		{"key before list", badKey, nil, nil, now, alert.BadKey},
		{"credential before list", good, nil, nil, expiredAt, alert.CredentialExpired},
		{"list order before signature", good, flip(f.list(t, nil, func(l *RevocationList) { l.Revoked = []uint64{3, 3} }), len(goodList)-1), nil, now, alert.IllegalParameter},
		{"list authority before staleness", good, f.list(t, other, func(l *RevocationList) { l.AuthorityID, l.ThisUpdate, l.NextUpdate = sig.KeyID(pub(other)), 1, 2 }), nil, now, alert.BadCredential},
		{"list signature before staleness", good, flip(staleList, len(staleList)-1), nil, now, alert.BadCredential},
		{"list lifetime before staleness", good, f.list(t, nil, func(l *RevocationList) { l.ThisUpdate, l.NextUpdate = 1, 1 }), nil, now, alert.BadCredential},
		{"staleness before rollback", good, staleList, &Trust{Authority: f.trust.Authority, Realm: "push.example", MinRevocationNumber: 100}, now, alert.RevocationStale},
		{"rollback before revocation", f.cred(t, nil, func(c *Credential) { c.Serial = 3 }), goodList, &Trust{Authority: f.trust.Authority, Realm: "push.example", MinRevocationNumber: 100}, now, alert.RevocationStale},
		{"list staleness before revocation", f.cred(t, nil, func(c *Credential) { c.Serial = 3 }), f.list(t, nil, func(l *RevocationList) { l.ThisUpdate, l.NextUpdate = 1, 2 }), nil, now, alert.RevocationStale},
	}
	for _, c := range cases {
		tr := f.trust
		if c.trust != nil {
			tr = *c.trust
		}
		if _, _, err := Validate(tr, c.cred, c.list, c.at); codeOf(err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// The validity windows of CRED-005 and CRED-012 match the spec's formulas,
// evaluated in exact arithmetic, for any bounds and any now with a fraction
// of a second, including times before 1970 and near the ends of the ranges.
func TestOutsideMatchesSpecArithmetic(t *testing.T) {
	edge := []int64{math.MinInt64, math.MinInt64 + 59, -61, -60, -59, -1, 0, 1, 59, 60, 61, math.MaxInt64 - 60, math.MaxInt64}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.OneOf(rapid.SampledFrom(edge), rapid.Int64(), rapid.Int64Range(-200, 200)).Draw(t, "now")
		frac := rapid.SampledFrom([]int64{0, 1, 999_999_999}).Draw(t, "frac")
		near := func(name string) uint64 {
			d := rapid.OneOf(rapid.SampledFrom([]int64{-61, -60, -59, -1, 0, 1, 59, 60, 61}), rapid.Int64Range(-62, 62)).Draw(t, name+"Delta")
			if n+d < 0 || (d > 0 && n > math.MaxInt64-d) {
				return rapid.Uint64().Draw(t, name)
			}
			return uint64(n + d)
		}
		from, until := near("from"), near("until")
		if rapid.Bool().Draw(t, "extreme") {
			from, until = rapid.SampledFrom([]uint64{0, 1, math.MaxInt64, math.MaxUint64}).Draw(t, "xf"), rapid.SampledFrom([]uint64{0, math.MaxInt64, math.MaxUint64}).Draw(t, "xu")
		}
		at := time.Unix(n, frac)
		if at.Unix() != n {
			t.Skip("time cannot represent", n)
		}
		// Exact: now = n + frac·10⁻⁹, in nanoseconds.
		giga := big.NewInt(1e9)
		nowNS := new(big.Int).Add(new(big.Int).Mul(big.NewInt(n), giga), big.NewInt(frac))
		skew := new(big.Int).Mul(big.NewInt(60), giga)
		fromNS := new(big.Int).Mul(new(big.Int).SetUint64(from), giga)
		untilNS := new(big.Int).Mul(new(big.Int).SetUint64(until), giga)
		wantEarly := new(big.Int).Add(nowNS, skew).Cmp(fromNS) < 0
		wantLate := new(big.Int).Sub(nowNS, skew).Cmp(untilNS) > 0
		if early, late := outside(at, from, until); early != wantEarly || late != wantLate {
			t.Fatalf("now %d+%dns, [%d, %d]: early %v late %v, want %v %v", n, frac, from, until, early, late, wantEarly, wantLate)
		}
	})
}

func TestIssueRefuses(t *testing.T) {
	f := newFixture(t)
	s := pub(f.server)
	cases := []struct {
		name string
		err  error
		want alert.Code
	}{
		{"small-order server key", func() error { _, err := Issue(f.auth, make([]byte, 32), "r", 1, now, now.Add(time.Hour)); return err }(), alert.BadKey},
		{"short server key", func() error { _, err := Issue(f.auth, s[:31], "r", 1, now, now.Add(time.Hour)); return err }(), alert.BadKey},
		{"short authority key", func() error { _, err := Issue(f.auth[:32], s, "r", 1, now, now.Add(time.Hour)); return err }(), alert.BadKey},
		{"empty realm", func() error { _, err := Issue(f.auth, s, "", 1, now, now.Add(time.Hour)); return err }(), alert.BadCredential},
		{"256-byte realm", func() error {
			_, err := Issue(f.auth, s, string(make([]byte, 256)), 1, now, now.Add(time.Hour))
			return err
		}(), alert.BadCredential},
		{"30 days + 1 s", func() error {
			_, err := Issue(f.auth, s, "r", 1, now, now.Add(MaxCredentialLifetime+time.Second))
			return err
		}(), alert.BadCredential},
		{"empty period", func() error { _, err := Issue(f.auth, s, "r", 1, now, now); return err }(), alert.BadCredential},
		{"before 1970", func() error { _, err := Issue(f.auth, s, "r", 1, time.Unix(-10, 0), time.Unix(10, 0)); return err }(), alert.BadCredential},
		{"list 7 days + 1 s", func() error {
			_, err := IssueRevocationList(f.auth, 1, now, now.Add(MaxRevocationListLifetime+time.Second), nil)
			return err
		}(), alert.BadCredential},
		{"list reversed", func() error { _, err := IssueRevocationList(f.auth, 1, now, now.Add(-time.Second), nil); return err }(), alert.BadCredential},
		{"list short authority key", func() error { _, err := IssueRevocationList(f.auth[:10], 1, now, now.Add(time.Hour), nil); return err }(), alert.BadKey},
		{"list of 65536 serials", func() error {
			serials := make([]uint64, MaxRevoked+1)
			for i := range serials {
				serials[i] = uint64(i)
			}
			_, err := IssueRevocationList(f.auth, 1, now, now.Add(time.Hour), serials)
			return err
		}(), alert.LimitExceeded},
	}
	for _, c := range cases {
		if codeOf(c.err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	// The maximum lifetimes are allowed.
	if _, err := Issue(f.auth, s, "r", 1, now, now.Add(MaxCredentialLifetime)); err != nil {
		t.Error(err)
	}
	if _, err := IssueRevocationList(f.auth, 1, now, now.Add(MaxRevocationListLifetime), nil); err != nil {
		t.Error(err)
	}
}

func TestIssueRevocationListSortsAndDeduplicates(t *testing.T) {
	f := newFixture(t)
	l, err := IssueRevocationList(f.auth, 1, now, now.Add(time.Hour), []uint64{9, 1, 9, 4, 1, math.MaxUint64, 0})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Revoked, []uint64{0, 1, 4, 9, math.MaxUint64}) {
		t.Fatalf("serials %v", l.Revoked)
	}
	if _, err := ParseRevocationList(l.Marshal()); err != nil {
		t.Fatal(err)
	}
}

// Issued credentials and lists validate for every now inside both windows
// and are rejected with the right alert outside them.
func TestIssuedCredentialValidatesExactlyInItsWindow(t *testing.T) {
	f := newFixture(t)
	rapid.Check(t, func(t *rapid.T) {
		base := time.Unix(rapid.Int64Range(0, 1<<40).Draw(t, "base"), 0)
		life := time.Duration(rapid.Int64Range(1, int64(MaxCredentialLifetime/time.Second)).Draw(t, "life")) * time.Second
		serial := rapid.Uint64().Draw(t, "serial")
		realm := string(rapid.SliceOfN(rapid.Byte(), 1, 255).Draw(t, "realm"))
		c, err := Issue(f.auth, pub(f.server), realm, serial, base, base.Add(life))
		if err != nil {
			t.Fatal(err)
		}
		listLife := time.Duration(rapid.Int64Range(1, int64(MaxRevocationListLifetime/time.Second)).Draw(t, "listLife")) * time.Second
		listStart := base.Add(time.Duration(rapid.Int64Range(-int64(listLife/time.Second), int64(life/time.Second)).Draw(t, "listStart")) * time.Second)
		if listStart.Unix() < 0 {
			listStart = time.Unix(0, 0)
		}
		revoked := rapid.SliceOfN(rapid.Uint64(), 0, 20).Draw(t, "revoked")
		l, err := IssueRevocationList(f.auth, 9, listStart, listStart.Add(listLife), revoked)
		if err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(rapid.Int64Range(-2*int64(ClockSkew), int64(life+2*ClockSkew)).Draw(t, "at")))
		tr := f.trust
		tr.Realm = realm
		k, got, err := Validate(tr, c.Marshal(), l.Marshal(), at)

		in := func(from, until time.Time) bool {
			return !at.Add(ClockSkew).Before(from) && !at.Add(-ClockSkew).After(until)
		}
		var want alert.Code
		switch {
		case !in(base, base.Add(life)):
			want = alert.CredentialExpired
		case !in(listStart, listStart.Add(listLife)):
			want = alert.RevocationStale
		case slices.Contains(revoked, serial):
			want = alert.CredentialRevoked
		default:
			if err != nil || !bytes.Equal(k.Bytes(), pub(f.server)) || got.Number != 9 {
				t.Fatalf("valid: %v", err)
			}
			return
		}
		if codeOf(err) != want {
			t.Fatalf("got %v, want %v", err, want)
		}
	})
}

// Decoding then encoding a valid structure gives the same bytes and the
// same fields, for any field values.
func TestCredentialAndListRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := &Credential{Version: Version, Realm: string(rapid.SliceOfN(rapid.Byte(), 1, 255).Draw(t, "realm")),
			Serial: rapid.Uint64().Draw(t, "serial"), NotBefore: rapid.Uint64().Draw(t, "nb"), NotAfter: rapid.Uint64().Draw(t, "na")}
		copy(c.AuthorityID[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "auth"))
		copy(c.ServerKey[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "key"))
		copy(c.Signature[:], rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "sig"))
		enc := c.Marshal()
		d, err := ParseCredential(enc)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if *d != *c || !bytes.Equal(d.Marshal(), enc) {
			t.Fatalf("round trip changed the credential")
		}

		l := &RevocationList{Version: Version, Number: rapid.Uint64().Draw(t, "n"),
			ThisUpdate: rapid.Uint64().Draw(t, "tu"), NextUpdate: rapid.Uint64().Draw(t, "nu")}
		copy(l.AuthorityID[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "lauth"))
		copy(l.Signature[:], rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(t, "lsig"))
		l.Revoked = slices.Sorted(slices.Values(rapid.SliceOfNDistinct(rapid.Uint64(), 0, 100, rapid.ID[uint64]).Draw(t, "serials")))
		if len(l.Revoked) == 0 {
			l.Revoked = nil
		}
		le := l.Marshal()
		dl, err := ParseRevocationList(le)
		if err != nil {
			t.Fatalf("list parse: %v", err)
		}
		if !slices.Equal(dl.Revoked, l.Revoked) || dl.Number != l.Number || dl.ThisUpdate != l.ThisUpdate ||
			dl.NextUpdate != l.NextUpdate || dl.AuthorityID != l.AuthorityID || dl.Signature != l.Signature || !bytes.Equal(dl.Marshal(), le) {
			t.Fatalf("list round trip changed the list")
		}
		// Any truncation or extension of a valid encoding is rejected.
		cut := rapid.IntRange(0, len(enc)-1).Draw(t, "cut")
		if _, err := ParseCredential(enc[:cut]); err == nil {
			t.Fatalf("credential truncated to %d bytes accepted", cut)
		}
		if _, err := ParseRevocationList(append(bytes.Clone(le), 0)); err == nil {
			t.Fatal("list with a trailing byte accepted")
		}
	})
}
