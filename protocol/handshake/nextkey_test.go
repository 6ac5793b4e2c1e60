package handshake

import (
	"crypto/ed25519"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

var nextKey = edKey(70)

func nextPublic(t testing.TB) *sig.PublicKey {
	k, err := sig.ParsePublicKey(nextKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func announcingServer(t testing.TB) *ServerConfig {
	c := plainServer()
	c.NextKey = nextPublic(t)
	return c
}

// A pinned client learns the announced key from a completed handshake
// (HS-070, ID-010), and not before Welcome has verified (ID-011).
func TestNextServerKeyLearnedOnlyWhenConnected(t *testing.T) {
	c, err := NewClient(pinnedClient())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(announcingServer(t))
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := c.Start()
	out, _, err := s.Handle(hello)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Handle(out[0]); err != nil {
		t.Fatal(err)
	}
	flight, _, err := c.Handle(out[1])
	if err != nil {
		t.Fatal(err)
	}
	if k := c.NextServerKey(); k != nil {
		t.Fatal("ID-011: the announced key is returned before Welcome")
	}
	welcome, _, err := s.Handle(flight[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := c.Handle(welcome[0]); err != nil || !done {
		t.Fatalf("welcome: done %v, %v", done, err)
	}
	if k := c.NextServerKey(); k == nil || !k.Equal(nextPublic(t)) {
		t.Fatalf("HS-070: the client did not return the announced key, got %v", k)
	}
	if r := run(t, pinnedClient(), plainServer(), nil); r.clientErr != nil || r.c.NextServerKey() != nil {
		t.Fatalf("no announcement: %v, next key %v", r.clientErr, r.c.NextServerKey())
	}
}

// A handshake that fails after the announcement was read leaves nothing
// learned (ID-011): a forged ServerVerify, a flight altered in transit, a
// Welcome that does not open.
func TestNextServerKeyNotLearnedFromFailedHandshake(t *testing.T) {
	flip := func(n, off int) tamper {
		return func(from string, i int, f []byte) []byte {
			if from == "server" && i == n {
				f[len(f)-off] ^= 1
			}
			return f
		}
	}
	for name, tc := range map[string]struct {
		tm    tamper
		forge bool
		want  alert.Code
	}{
		"server flight altered": {tm: flip(1, 3), want: alert.BadRecordMAC},
		"welcome altered":       {tm: flip(2, 1), want: alert.BadRecordMAC},
		"signed by another key": {forge: true, want: alert.BadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := NewClient(pinnedClient())
			s, err := NewServer(announcingServer(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.forge {
				s.cfg.Key = edKey(60) // ServerIdentity still names serverKey
			}
			r := runWith(t, c, s, tc.tm)
			if codeOf(r.clientErr) != tc.want {
				t.Fatalf("client error %v, want %v", r.clientErr, tc.want)
			}
			if k := r.c.NextServerKey(); k != nil {
				t.Fatal("ID-011: a failed handshake returned the announced key")
			}
		})
	}
}

// The client accepts a server key that matches either pin (ID-010), and
// no other (ID-003).
func TestNextPinnedKeyAccepted(t *testing.T) {
	other := sig.KeyID(edKey(71).Public().(ed25519.PublicKey))
	for name, tc := range map[string]struct {
		pin, next *[32]byte
		want      alert.Code
	}{
		"first pin":   {pin: &serverID, next: &other, want: 255},
		"second pin":  {pin: &other, next: &serverID, want: 255},
		"neither pin": {pin: &other, next: &other, want: alert.UnknownServerKey},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, &ClientConfig{PinnedKeyID: tc.pin, NextPinnedKeyID: tc.next, Now: fixedNow}, plainServer(), nil)
			if got := codeOf(r.clientErr); got != tc.want {
				t.Fatalf("client error %v, want %v", r.clientErr, tc.want)
			}
		})
	}
	if _, err := NewClient(&ClientConfig{Trust: authority(t), NextPinnedKeyID: &serverID}); codeOf(err) != alert.InternalError {
		t.Fatalf("NextPinnedKeyID with Trust: %v", err)
	}
}

// Every invalid announcement is rejected with the alert of HS-070/HS-071,
// in HS-071's order.
func TestNextServerKeyRejects(t *testing.T) {
	own := serverKey.Public().(ed25519.PublicKey)
	smallOrder := make([]byte, 32)
	smallOrder[0] = 1 // the identity point
	next := nextKey.Public().(ed25519.PublicKey)
	ext := func(d []byte) []wire.Extension { return []wire.Extension{{Type: wire.ExtNextServerKey, Data: d}} }
	other := sig.KeyID(edKey(71).Public().(ed25519.PublicKey))
	cases := []struct {
		name, rule string
		ccfg       *ClientConfig
		scfg       *ServerConfig
		exts       []wire.Extension
		want       alert.Code
	}{
		{"31 bytes", "HS-070", nil, nil, ext(next[:31]), alert.DecodeError},
		{"33 bytes", "HS-070", nil, nil, ext(append(next[:32:32], 0)), alert.DecodeError},
		{"empty", "HS-070", nil, nil, ext(nil), alert.DecodeError},
		{"small-order key", "HS-071", nil, nil, ext(smallOrder), alert.BadKey},
		{"the current key", "HS-071", nil, nil, ext(own), alert.IllegalParameter},
		{"two announcements", "HS-004", nil, nil, append(ext(next), ext(next)...), alert.IllegalParameter},
		{"with a credential", "HS-070", &ClientConfig{Trust: authority(t), Now: fixedNow}, credentialServer(t, 1), ext(next), alert.IllegalParameter},
		{"length before the pin", "HS-071", &ClientConfig{PinnedKeyID: &other, Now: fixedNow}, nil, ext(next[:31]), alert.DecodeError},
		{"pin before the key", "HS-071", &ClientConfig{PinnedKeyID: &other, Now: fixedNow}, nil, ext(smallOrder), alert.UnknownServerKey},
		{"pin before equality", "HS-071", &ClientConfig{PinnedKeyID: &other, Now: fixedNow}, nil, ext(own), alert.UnknownServerKey},
		{"raw key to an authority client", "HS-021", &ClientConfig{Trust: authority(t), Now: fixedNow}, nil, ext(next), alert.UnknownServerKey},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			ccfg, scfg := c.ccfg, c.scfg
			if ccfg == nil {
				ccfg = pinnedClient()
			}
			if scfg == nil {
				scfg = plainServer()
			}
			scfg.identityExtensions = c.exts
			r := run(t, ccfg, scfg, nil)
			if got := codeOf(r.clientErr); got != c.want {
				t.Fatalf("client error %v, want %v", r.clientErr, c.want)
			}
			if r.c.NextServerKey() != nil {
				t.Fatal("a rejected announcement was returned")
			}
		})
	}
}

// A server refuses to announce its own key or to announce with a
// credential (HS-072).
func TestServerRefusesBadNextKey(t *testing.T) {
	own, err := sig.ParsePublicKey(serverKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	c := plainServer()
	c.NextKey = own
	if _, err := NewServer(c); codeOf(err) != alert.InternalError {
		t.Fatalf("own key as next key: %v", err)
	}
	c = credentialServer(t, 1)
	c.NextKey = nextPublic(t)
	if _, err := NewServer(c); codeOf(err) != alert.InternalError {
		t.Fatalf("next key with a credential: %v", err)
	}
}
