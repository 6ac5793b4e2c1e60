package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

var (
	credFuzzAuthority = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	credFuzzServer    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)).Public().(ed25519.PublicKey)
	credFuzzNow       = time.Unix(1_800_000_000, 0)
)

func credFuzzSeeds() (cred, list []byte) {
	c, err := credential.Issue(credFuzzAuthority, credFuzzServer, "push.example", 42, credFuzzNow.Add(-time.Hour), credFuzzNow.Add(time.Hour))
	if err != nil {
		panic(err)
	}
	l, err := credential.IssueRevocationList(credFuzzAuthority, 3, credFuzzNow.Add(-time.Hour), credFuzzNow.Add(time.Hour), []uint64{1, 5, 9})
	if err != nil {
		panic(err)
	}
	return c.Marshal(), l.Marshal()
}

// FuzzParseCredential: no panic; an accepted credential re-encodes to the
// same bytes (CRED-001).
func FuzzParseCredential(f *testing.F) {
	c, _ := credFuzzSeeds()
	f.Add(c)
	f.Add(c[:len(c)-1])
	f.Add([]byte{0, 1})
	f.Add([]byte{0, 2})
	f.Add(append(bytes.Clone(c[:66]), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := credential.ParseCredential(b)
		if err != nil {
			return
		}
		if c.Version != credential.Version || len(c.Realm) == 0 || len(c.Realm) > 255 {
			t.Fatalf("accepted version %d, realm of %d bytes", c.Version, len(c.Realm))
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatal("credential does not re-encode to the same bytes")
		}
	})
}

// FuzzParseRevocationList: no panic; an accepted list has strictly
// ascending serials and re-encodes to the same bytes (CRED-010).
func FuzzParseRevocationList(f *testing.F) {
	_, l := credFuzzSeeds()
	f.Add(l)
	f.Add(l[:len(l)-1])
	empty, _ := credential.IssueRevocationList(credFuzzAuthority, 1, credFuzzNow, credFuzzNow.Add(time.Hour), nil)
	f.Add(empty.Marshal())
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := credential.ParseRevocationList(b)
		if err != nil {
			return
		}
		for i := 1; i < len(l.Revoked); i++ {
			if l.Revoked[i] <= l.Revoked[i-1] {
				t.Fatal("serials not strictly ascending")
			}
		}
		if !bytes.Equal(l.Marshal(), b) {
			t.Fatal("revocation list does not re-encode to the same bytes")
		}
	})
}

// FuzzValidateCredential: no panic; whatever Validate accepts parses, names
// the trusted authority, certifies the returned key, is within its windows
// and does not revoke its serial (CRED-015).
func FuzzValidateCredential(f *testing.F) {
	c, l := credFuzzSeeds()
	f.Add(c, l, int64(0))
	f.Add(c, l, int64(3601+60))
	f.Add(c, l[:10], int64(0))
	f.Add(l, c, int64(0))
	auth, err := sig.ParsePublicKey(credFuzzAuthority.Public().(ed25519.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	trust := credential.Trust{Authority: auth, Realm: "push.example", MinRevocationNumber: 2}
	f.Fuzz(func(t *testing.T, cb, lb []byte, offset int64) {
		now := credFuzzNow.Add(time.Duration(offset) * time.Second)
		k, list, err := credential.Validate(trust, cb, lb, now)
		if err != nil {
			if k != nil || list != nil {
				t.Fatal("rejection returned a key or list")
			}
			return
		}
		c, err := credential.ParseCredential(cb)
		if err != nil || c.AuthorityID != auth.ID() || !bytes.Equal(k.Bytes(), c.ServerKey[:]) {
			t.Fatal("accepted credential does not certify the returned key")
		}
		if list.AuthorityID != auth.ID() || list.Number < trust.MinRevocationNumber {
			t.Fatal("accepted list from another authority or rolled back")
		}
		for _, s := range list.Revoked {
			if s == c.Serial {
				t.Fatal("revoked credential accepted")
			}
		}
	})
}
