package conformance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
)

// The runner's publisher key, which issues the tokens of the client token
// tests, and the identity seed of their shim.
var (
	tokenPublisher = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5e}, 32))
	tokenSeed      = strings.Repeat("0c", 32)
)

// tokenArgs are the shim's arguments: key-identified, presenting a token
// for its key and the runner's server key (CONF-010).
func tokenArgs(e *env) []string {
	seed, _ := hex.DecodeString(tokenSeed)
	t, err := token.Issue(tokenPublisher, token.Params{Subject: "conformance-user", Device: "shim",
		ClientKey: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey),
		Audience:  token.Audience{Type: token.AudienceServerKey, ServerKeyID: e.pin}, NotBefore: time.Now().Add(-time.Minute)})
	if err != nil {
		panic(err) // fixed, valid inputs
	}
	return append(e.pinArgs(), "-identity-seed", tokenSeed, "-token", hex.EncodeToString(t.Marshal()))
}

func tokenVerifierFor(e *env) *token.Verifier {
	pk, _ := sig.ParsePublicKey(tokenPublisher.Public().(ed25519.PublicKey))
	return &token.Verifier{Issuers: map[[32]byte]*sig.PublicKey{pk.ID(): pk}, ServerKeyID: e.pin}
}

// tokenClientTests check that a client presents its token in the flight,
// bound to its key and covered by ClientVerify, and only to a server that
// authenticated itself (HS-060, HS-061, HS-063).
func tokenClientTests() []*clientTest {
	return []*clientTest{
		{id: "client/token/presented-in-flight", reqs: []string{"HS-060", "HS-061", "HS-063", "TOK-010", "CONF-022"}, needs: []string{"identity", "token"},
			doc:  "a key-identified client presents its token in the client flight to a server that requires one, which verifies it and records the user",
			want: expect{ok: true, messages: []msg{m1}},
			setup: func(e *env) *peer {
				return &peer{cfg: func(int) *handshake.ServerConfig {
					c := rawConfig(e)
					c.Tokens, c.RequireToken = tokenVerifierFor(e), true
					return c
				}, script: func(_ int, c *conn) error {
					t := c.sess.State().Token
					if t == nil || t.Subject != "conformance-user" {
						return fmt.Errorf("the server recorded no token (HS-062)")
					}
					return deliverAll([]msg{m1})(c)
				}}
			},
			args: tokenArgs},
		{id: "client/token/not-sent-to-unauthenticated-server", reqs: []string{"HS-063", "HS-022", "CONF-022"}, needs: []string{"identity", "token"},
			doc:   "a server flight whose ServerVerify fails ends the handshake with bad_signature: the client never sends its flight, so the token reaches no impostor",
			want:  expect{alert: alert.BadSignature},
			setup: withBugs(serverBugs{editFlight: flipInMessage(1)}),
			args:  tokenArgs},
	}
}
