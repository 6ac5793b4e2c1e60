package handshake

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
)

var publisherKey = edKey(7)

func tokenVerifier(t testing.TB) *token.Verifier {
	pk, err := sig.ParsePublicKey(publisherKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &token.Verifier{Issuers: map[[32]byte]*sig.PublicKey{pk.ID(): pk}, ServerKeyID: serverID}
}

func issueToken(t testing.TB, client ed25519.PrivateKey, edit func(*token.Params)) []byte {
	p := token.Params{Subject: "alice", Device: "phone", Audience: token.Audience{Type: token.AudienceServerKey, ServerKeyID: serverID},
		ClientKey: client.Public().(ed25519.PublicKey), NotBefore: testNow.Add(-time.Minute), Lifetime: 10 * time.Minute}
	if edit != nil {
		edit(&p)
	}
	tk, err := token.Issue(publisherKey, p)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Marshal()
}

// TestTokenInHandshake: a key-identified client presents a token bound to
// its key without parsing it (TOK-010);
// the server verifies it after the flight authenticated and the
// session carries it (HS-060, HS-061, HS-062).
func TestTokenInHandshake(t *testing.T) {
	scfg := plainServer()
	scfg.Tokens, scfg.RequireToken = tokenVerifier(t), true
	r := run(t, &ClientConfig{PinnedKeyID: &serverID, Now: fixedNow, Identity: clientKey, Token: issueToken(t, clientKey, nil)}, scfg, nil)
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
	}
	tk := r.server.State().Token
	if tk == nil || tk.Subject != "alice" || tk.Device != "phone" {
		t.Fatalf("server session token %+v", tk)
	}
	if r.client.State().Token != nil {
		t.Fatal("the client's session holds a verified token; only servers verify")
	}
}

// TestTokenRejections: every reject of HS-062 and TOK-* reaches the server
// with its alert, and the client learns it from the server's Alert.
func TestTokenRejections(t *testing.T) {
	other := edKey(8)
	cases := []struct {
		name, rule string
		tok        []byte
		key        ed25519.PrivateKey // the client's identity; nil: anonymous without a token
		require    bool
		want       alert.Code
	}{
		{"anonymous on a server that requires tokens", "HS-062", nil, nil, true, alert.TokenRequired},
		{"key-identified without a token", "HS-062", nil, clientKey, true, alert.TokenRequired},
		{"expired", "TOK-004", issueToken(t, clientKey, func(p *token.Params) { p.NotBefore = testNow.Add(-time.Hour - 2*time.Minute) }), clientKey, false, alert.TokenExpired},
		{"not yet valid", "TOK-004", issueToken(t, clientKey, func(p *token.Params) { p.NotBefore = testNow.Add(2 * time.Minute) }), clientKey, false, alert.TokenExpired},
		{"another deployment's server key", "TOK-005", issueToken(t, clientKey, func(p *token.Params) { p.Audience.ServerKeyID[0] ^= 1 }), clientKey, false, alert.RealmMismatch},
		{"realm on a server without one", "TOK-005", issueToken(t, clientKey, func(p *token.Params) { p.Audience = token.Audience{Type: token.AudienceRealm, Realm: "push.example"} }), clientKey, false, alert.RealmMismatch},
		{"bound to another client key", "TOK-006", issueToken(t, other, nil), clientKey, false, alert.TokenKeyMismatch},
		{"malformed", "TOK-001", []byte{0, 1, 2}, clientKey, false, alert.DecodeError},
		{"trailing byte", "TOK-001", append(issueToken(t, clientKey, nil), 0), clientKey, false, alert.DecodeError},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			scfg := plainServer()
			scfg.Tokens, scfg.RequireToken = tokenVerifier(t), c.require
			r := run(t, &ClientConfig{PinnedKeyID: &serverID, Now: fixedNow, Identity: c.key, Token: c.tok}, scfg, nil)
			if got := codeOf(r.serverErr); got != c.want {
				t.Fatalf("server error %v, want %v", r.serverErr, c.want)
			}
		})
	}
}

// TestTokenWithoutIssuers: a server with no registered issuer rejects
// every token as unknown_signer (TOK-002) rather than ignore it.
func TestTokenWithoutIssuers(t *testing.T) {
	r := run(t, &ClientConfig{PinnedKeyID: &serverID, Now: fixedNow, Identity: clientKey, Token: issueToken(t, clientKey, nil)}, plainServer(), nil)
	if codeOf(r.serverErr) != alert.UnknownSigner {
		t.Fatalf("server %v, want unknown_signer", r.serverErr)
	}
}

// TestClientVerifyCoversToken: a flight whose ClientVerify signs the
// transcript without the AccessToken (a token slipped in beside someone
// else's proof) is bad_signature (HS-061); a token without ClientIdentity is
// out of place (HS-060).
func TestClientVerifyCoversToken(t *testing.T) {
	for _, c := range []struct {
		mode tokenTest
		want alert.Code
	}{{tokenTestSignBefore, alert.BadSignature}, {tokenTestAnonymousWith, alert.UnexpectedMessage}} {
		scfg := plainServer()
		scfg.Tokens = tokenVerifier(t)
		s, _ := NewServer(scfg)
		cl, err := NewClient(&ClientConfig{PinnedKeyID: &serverID, Now: fixedNow, Identity: clientKey, Token: issueToken(t, clientKey, nil)})
		if err != nil {
			t.Fatal(err)
		}
		cl.testingOnlyToken = c.mode
		r := runWith(t, cl, s, nil)
		if codeOf(r.serverErr) != c.want {
			t.Fatalf("mode %d: server %v, want %v", c.mode, r.serverErr, c.want)
		}
	}
}

// TestTokenNeedsIdentity: an anonymous client cannot be configured with a
// token (HS-063), and a flight with AccessToken but no ClientIdentity is
// out of place (HS-060).
func TestTokenNeedsIdentity(t *testing.T) {
	if _, err := NewClient(&ClientConfig{PinnedKeyID: &serverID, Token: []byte{1}}); err == nil {
		t.Fatal("NewClient took a token without an identity key")
	}
}
