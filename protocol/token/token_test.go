package token

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

var now = time.Unix(1_800_000_000, 0)

func key(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func pub(t testing.TB, k ed25519.PrivateKey) *sig.PublicKey {
	p, err := sig.ParsePublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

var (
	issuer = key(1)
	client = key(2)
	server = key(3)
)

func verifier(t testing.TB) *Verifier {
	ip := pub(t, issuer)
	return &Verifier{Issuers: map[[32]byte]*sig.PublicKey{ip.ID(): ip}, Realm: "push.example", ServerKeyID: pub(t, server).ID()}
}

func issue(t testing.TB, edit func(*Params)) []byte {
	p := Params{Subject: "alice", Device: "laptop", Audience: Audience{Type: AudienceRealm, Realm: "push.example"},
		ClientKey: client.Public().(ed25519.PublicKey), NotBefore: now.Add(-time.Minute), Lifetime: 15 * time.Minute}
	if edit != nil {
		edit(&p)
	}
	tk, err := Issue(issuer, p)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Marshal()
}

// resign replaces the signature of an altered encoding with a valid one.
func resign(k ed25519.PrivateKey, b []byte) []byte {
	tbs := b[:len(b)-64]
	return append(append([]byte(nil), tbs...), sig.Sign(k, "sealfeed v1 access token", tbs)...)
}

func TestTokenRoundTrip(t *testing.T) {
	raw := issue(t, nil)
	tk, err := verifier(t).Verify(raw, pub(t, client), now)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Subject != "alice" || tk.Device != "laptop" || tk.NotAfter-tk.NotBefore != 900 || !bytes.Equal(tk.Marshal(), raw) {
		t.Fatalf("round trip: %+v", tk)
	}
	raw = issue(t, func(p *Params) {
		p.Audience = Audience{Type: AudienceServerKey, ServerKeyID: pub(t, server).ID()}
		p.Device = ""
	})
	if _, err := verifier(t).Verify(raw, pub(t, client), now); err != nil {
		t.Fatalf("server-key audience: %v", err)
	}
}

// TestVerifyRejects: one defect per token, each with the alert TOK-007
// names for it.
func TestVerifyRejects(t *testing.T) {
	good := issue(t, nil)
	unknownVersion := append([]byte{0, 2}, good[2:]...)
	badAudType := bytes.Clone(good)
	badAudType[34] = 3
	badUTF8 := resign(issuer, bytes.Replace(good, []byte("alice"), []byte{'a', 0xff, 'i', 'c', 'e'}, 1))
	long := resign(issuer, func() []byte { // not_after = not_before + 1 h + 1 s
		tk, _ := Parse(good)
		tk.NotAfter = tk.NotBefore + 3601
		return tk.Marshal()
	}())
	empty := resign(issuer, func() []byte {
		tk, _ := Parse(good)
		tk.NotAfter = tk.NotBefore
		return tk.Marshal()
	}())
	flipped := bytes.Clone(good)
	flipped[len(flipped)-70] ^= 1 // in not_after, under the signature
	cases := []struct {
		name, rule string
		raw        []byte
		at         time.Time
		clientKey  *sig.PublicKey
		want       alert.Code
	}{
		{"empty", "TOK-001", nil, now, nil, alert.DecodeError},
		{"truncated", "TOK-001", good[:len(good)-1], now, nil, alert.DecodeError},
		{"trailing byte", "TOK-001", append(bytes.Clone(good), 0), now, nil, alert.DecodeError},
		{"unknown version", "TOK-001", unknownVersion, now, nil, alert.DecodeError},
		{"undefined audience type", "TOK-001", badAudType, now, nil, alert.DecodeError},
		{"subject not UTF-8", "TOK-001", badUTF8, now, nil, alert.DecodeError},
		{"oversize", "TOK-001", make([]byte, MaxSize+1), now, nil, alert.DecodeError},
		{"unknown issuer", "TOK-002", func() []byte {
			tk, _ := Issue(key(9), Params{Subject: "alice", Audience: Audience{Type: AudienceRealm, Realm: "push.example"}, ClientKey: client.Public().(ed25519.PublicKey), NotBefore: now})
			return tk.Marshal()
		}(), now, pub(t, client), alert.UnknownSigner},
		{"altered after signing", "TOK-002", flipped, now, pub(t, client), alert.BadSignature},
		{"lifetime above 1 h", "TOK-003", long, now, pub(t, client), alert.IllegalParameter},
		{"empty lifetime", "TOK-003", empty, now, pub(t, client), alert.IllegalParameter},
		{"expired", "TOK-004", good, now.Add(15*time.Minute + ClockSkew), pub(t, client), alert.TokenExpired},
		{"not yet valid", "TOK-004", good, now.Add(-2*time.Minute - time.Second), pub(t, client), alert.TokenExpired},
		{"another realm", "TOK-005", issue(t, func(p *Params) { p.Audience.Realm = "push.other" }), now, pub(t, client), alert.RealmMismatch},
		{"another server key", "TOK-005", issue(t, func(p *Params) { p.Audience = Audience{Type: AudienceServerKey} }), now, pub(t, client), alert.RealmMismatch},
		{"another client key", "TOK-006", good, now, pub(t, key(4)), alert.TokenKeyMismatch},
	}
	// The last instant inside the skew is still valid (TOK-004).
	tk, _ := Parse(good)
	if _, err := verifier(t).Verify(good, pub(t, client), time.Unix(int64(tk.NotAfter)+60, 0)); err != nil {
		t.Fatalf("at not_after + skew: %v", err)
	}
	if _, err := verifier(t).Verify(good, pub(t, client), time.Unix(int64(tk.NotBefore)-60, 0)); err != nil {
		t.Fatalf("at not_before − skew: %v", err)
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			_, err := verifier(t).Verify(c.raw, c.clientKey, c.at)
			if codeOf(err) != c.want {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestExpiredAndDeadline: Expired turns true exactly at Deadline (TOK-011).
func TestExpiredAndDeadline(t *testing.T) {
	tk, _ := Parse(issue(t, nil))
	d := tk.Deadline()
	if tk.Expired(d.Add(-time.Nanosecond)) || !tk.Expired(d) {
		t.Fatalf("Expired around the deadline %v", d)
	}
}

// TestIssueRefuses: an issuer refuses what a verifier would reject, and a
// key whose halves disagree (TOK-008, SIG-006); token IDs are fresh.
func TestIssueRefuses(t *testing.T) {
	a, b := issue(t, nil), issue(t, nil)
	if ta, _ := Parse(a); ta.ID == [16]byte(b[len(b)-64-16-IDSize:len(b)-64-16]) || ta.ID == [16]byte{} {
		t.Fatal("two tokens share a token_id (TOK-008)")
	}
	for name, edit := range map[string]func(*Params){
		"lifetime above 1 h": func(p *Params) { p.Lifetime = time.Hour + time.Second },
		"empty subject":      func(p *Params) { p.Subject = "" },
		"weak client key":    func(p *Params) { p.ClientKey = make([]byte, 32) },
		"realm too long":     func(p *Params) { p.Audience.Realm = string(make([]byte, 256)) },
	} {
		p := Params{Subject: "alice", Audience: Audience{Type: AudienceRealm, Realm: "r"}, ClientKey: client.Public().(ed25519.PublicKey)}
		edit(&p)
		if _, err := Issue(issuer, p); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
	bad := bytes.Clone(issuer)
	bad[63] ^= 1
	if _, err := Issue(bad, Params{Subject: "a", Audience: Audience{Type: AudienceRealm, Realm: "r"}, ClientKey: client.Public().(ed25519.PublicKey)}); codeOf(err) != alert.BadKey {
		t.Errorf("mismatched private halves: %v, want bad_key (SIG-006)", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(issue(f, nil))
	f.Add(issue(f, func(p *Params) { p.Audience = Audience{Type: AudienceServerKey} }))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := Parse(b)
		if err != nil {
			if codeOf(err) != alert.DecodeError {
				t.Fatalf("parse error %v is not decode_error", err)
			}
			return
		}
		if !bytes.Equal(tk.Marshal(), b) {
			t.Fatal("a parsed token re-encodes differently (WIRE-002)")
		}
	})
}
