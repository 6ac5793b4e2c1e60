package credential

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

var now = time.Unix(1_800_000_000, 0)

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

func newFixture(t *testing.T) *fixture {
	auth := key(1)
	ak, err := sig.ParsePublicKey(pub(auth))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{auth: auth, server: key(2), trust: Trust{Authority: ak, Realm: "push.example"}}
}

func (f *fixture) cred(t *testing.T, mut func(c *Credential)) []byte {
	c, err := Issue(f.auth, pub(f.server), "push.example", 42, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if mut != nil {
		mut(c)
		copy(c.Signature[:], sig.Sign(f.auth, keyschedule.SigCredential, c.appendTBS(nil)))
	}
	return c.Marshal()
}

func (f *fixture) list(t *testing.T, mut func(l *RevocationList)) []byte {
	l, err := IssueRevocationList(f.auth, 9, now.Add(-time.Hour), now.Add(48*time.Hour), []uint64{7, 3, 7})
	if err != nil {
		t.Fatal(err)
	}
	if mut != nil {
		mut(l)
		copy(l.Signature[:], sig.Sign(f.auth, keyschedule.SigRevocationList, l.appendTBS(nil)))
	}
	return l.Marshal()
}

func TestValidate(t *testing.T) {
	f := newFixture(t)
	other := key(3)
	good, goodList := f.cred(t, nil), f.list(t, nil)
	k, l, err := Validate(f.trust, good, goodList, now)
	if err != nil || !bytes.Equal(k.Bytes(), pub(f.server)) || l.Number != 9 || len(l.Revoked) != 2 {
		t.Fatalf("valid credential: %v", err)
	}
	flip := func(b []byte, i int) []byte { b = append([]byte(nil), b...); b[i] ^= 1; return b }
	hour := uint64(3600)
	cases := []struct {
		name, rule string
		cred, list []byte
		trust      *Trust
		at         time.Time
		want       alert.Code
	}{
		{"truncated credential", "CRED-001", good[:len(good)-1], goodList, nil, now, alert.DecodeError},
		{"trailing byte", "CRED-001", append(append([]byte(nil), good...), 0), goodList, nil, now, alert.DecodeError},
		{"version 2", "CRED-001", f.cred(t, func(c *Credential) { c.Version = 2 }), goodList, nil, now, alert.BadCredential},
		{"unknown authority", "CRED-002", f.cred(t, func(c *Credential) { c.AuthorityID[0] ^= 1 }), goodList, nil, now, alert.UnknownServerKey},
		{"bad signature", "CRED-003", flip(good, len(good)-1), goodList, nil, now, alert.BadCredential},
		{"realm bit flip breaks signature", "CRED-003", flip(good, 2+64+1), goodList, nil, now, alert.BadCredential},
		{"lifetime over 30 days", "CRED-004", f.cred(t, func(c *Credential) { c.NotAfter = c.NotBefore + 31*24*hour }), goodList, nil, now, alert.BadCredential},
		{"not_after before not_before", "CRED-004", f.cred(t, func(c *Credential) { c.NotAfter = c.NotBefore - 1 }), goodList, nil, now, alert.BadCredential},
		{"overflowing lifetime", "CRED-004", f.cred(t, func(c *Credential) { c.NotBefore, c.NotAfter = 0, ^uint64(0) }), goodList, nil, now, alert.BadCredential},
		{"expired", "CRED-005", good, goodList, nil, now.Add(25 * time.Hour), alert.CredentialExpired},
		{"not yet valid", "CRED-005", good, goodList, nil, now.Add(-2 * time.Hour), alert.CredentialExpired},
		{"wrong realm", "CRED-006", good, goodList, &Trust{Authority: f.trust.Authority, Realm: "other.example"}, now, alert.RealmMismatch},
		{"small-order server key", "CRED-007", f.cred(t, func(c *Credential) { c.ServerKey = [32]byte{1} }), goodList, nil, now, alert.BadKey},
		{"list truncated", "CRED-010", good, goodList[:20], nil, now, alert.DecodeError},
		{"list unsorted", "CRED-010", good, f.list(t, func(l *RevocationList) { l.Revoked = []uint64{7, 3} }), nil, now, alert.IllegalParameter},
		{"list duplicate serial", "CRED-010", good, f.list(t, func(l *RevocationList) { l.Revoked = []uint64{3, 3} }), nil, now, alert.IllegalParameter},
		{"list from another authority", "CRED-010", good, func() []byte {
			l, _ := IssueRevocationList(other, 9, now.Add(-time.Hour), now.Add(time.Hour), nil)
			return l.Marshal()
		}(), nil, now, alert.BadCredential},
		{"list bad signature", "CRED-010", good, flip(goodList, len(goodList)-5), nil, now, alert.BadCredential},
		{"list lifetime over 7 days", "CRED-011", good, f.list(t, func(l *RevocationList) { l.NextUpdate = l.ThisUpdate + 8*24*hour }), nil, now, alert.BadCredential},
		{"list rollback", "CRED-013", good, goodList, &Trust{Authority: f.trust.Authority, Realm: "push.example", MinRevocationNumber: 10}, now, alert.RevocationStale},
		{"revoked", "CRED-014", f.cred(t, func(c *Credential) { c.Serial = 7 }), goodList, nil, now, alert.CredentialRevoked},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			tr := f.trust
			if c.trust != nil {
				tr = *c.trust
			}
			_, _, err := Validate(tr, c.cred, c.list, c.at)
			if got := codeOf(err); got != c.want {
				t.Fatalf("got %v (%v), want %v", got, err, c.want)
			}
		})
	}
}

func TestStaleListAlone(t *testing.T) {
	f := newFixture(t)
	// A fresh credential with a list whose next_update has passed.
	c, _ := Issue(f.auth, pub(f.server), "push.example", 1, now.Add(-time.Hour), now.Add(20*24*time.Hour))
	l, _ := IssueRevocationList(f.auth, 1, now.Add(-3*24*time.Hour), now.Add(-2*time.Minute), nil)
	if _, _, err := Validate(f.trust, c.Marshal(), l.Marshal(), now); codeOf(err) != alert.RevocationStale {
		t.Fatalf("stale list: %v (CRED-012)", err)
	}
	// Within the clock skew it is still accepted.
	l, _ = IssueRevocationList(f.auth, 1, now.Add(-3*24*time.Hour), now.Add(-30*time.Second), nil)
	if _, _, err := Validate(f.trust, c.Marshal(), l.Marshal(), now); err != nil {
		t.Fatalf("list within skew rejected: %v", err)
	}
}

func TestIssueRefuses(t *testing.T) {
	f := newFixture(t)
	if _, err := Issue(f.auth, make([]byte, 32), "r", 1, now, now.Add(time.Hour)); err == nil {
		t.Error("small-order server key issued")
	}
	if _, err := Issue(f.auth, pub(f.server), "", 1, now, now.Add(time.Hour)); err == nil {
		t.Error("empty realm issued")
	}
	if _, err := Issue(f.auth, pub(f.server), "r", 1, now, now.Add(31*24*time.Hour)); err == nil {
		t.Error("31-day credential issued")
	}
	if _, err := IssueRevocationList(f.auth, 1, now, now.Add(8*24*time.Hour), nil); err == nil {
		t.Error("8-day list issued")
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := &Credential{Version: rapid.Uint16().Draw(t, "v"), Realm: rapid.StringN(1, 100, 255).Draw(t, "realm"),
			Serial: rapid.Uint64().Draw(t, "serial"), NotBefore: rapid.Uint64().Draw(t, "nb"), NotAfter: rapid.Uint64().Draw(t, "na")}
		if len(c.Realm) > 255 {
			c.Realm = c.Realm[:255]
		}
		copy(c.ServerKey[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "key"))
		enc := c.Marshal()
		d, err := ParseCredential(enc)
		if err != nil || !bytes.Equal(d.Marshal(), enc) {
			t.Fatalf("round trip: %v", err)
		}
		l := &RevocationList{Version: 1, Number: rapid.Uint64().Draw(t, "n")}
		l.Revoked = rapid.SliceOfNDistinct(rapid.Uint64(), 0, 50, func(v uint64) uint64 { return v }).Draw(t, "serials")
		for i := range l.Revoked { // sort
			for j := i + 1; j < len(l.Revoked); j++ {
				if l.Revoked[j] < l.Revoked[i] {
					l.Revoked[i], l.Revoked[j] = l.Revoked[j], l.Revoked[i]
				}
			}
		}
		le := l.Marshal()
		dl, err := ParseRevocationList(le)
		if err != nil || !bytes.Equal(dl.Marshal(), le) {
			t.Fatalf("list round trip: %v", err)
		}
	})
}
