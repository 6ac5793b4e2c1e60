package generate

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("TokenExpired", "EXPIRY", "The token's validity period ended before now − skew, or starts after now + skew (TOK-004).",
		"A stolen token stays usable after it expires.")
	note("TokenLifetime", "EXPIRY", "A validity period that is empty, reversed or longer than MaxTokenLifetime (1 h) (TOK-003).",
		"An issuer mints tokens that outlive the bound the server promises.")
	note("WrongAudience", "WRONG_KEY", "A valid token for another deployment: another realm or server key (TOK-005).",
		"A token issued for one deployment is replayed on another that trusts the same publisher key.")
	note("BoundToOtherKey", "WRONG_KEY", "A valid token that binds another client key than the one the client proved (TOK-006).",
		"A token stolen from one device is used from another.")
	note("UnknownIssuer", "WRONG_KEY", "issuer_id names a key that is not a registered publisher key (TOK-002).", "")
	note("BadTokenSignature", "MODIFIED", "The token was changed after signing, signed by another key or under another label (TOK-002).", "")
	note("Token", "BASIC", "A handshake with an access token in the client flight, or a server that requires one (HS-060 … HS-063).", "")
	note("NotUTF8", "MALFORMED", "subject or device is not valid UTF-8 (TOK-001).", "")
}

// tokenNow is the clock of the token groups: 2026-01-01T00:00:00Z.
const tokenNow = credNow

// tok is the unsigned part of an AccessTokenBody (spec §6.8).
type tok struct {
	version   uint16
	issuerID  []byte
	audType   byte
	audience  []byte // the realm, or the server key ID
	subject   []byte
	device    []byte
	clientKey []byte
	id        []byte
	nb, na    uint64
}

func (t tok) tbs() []byte {
	b := wire.AppendUint16(nil, t.version)
	b = append(b, t.issuerID...)
	b = append(b, t.audType)
	if t.audType == 2 {
		b = append(b, t.audience...)
	} else {
		b = wire.AppendOpaque(b, t.audience, 255)
	}
	b = wire.AppendOpaque(b, t.subject, 255)
	b = wire.AppendOpaque(b, t.device, 255)
	b = append(b, t.clientKey...)
	b = append(b, t.id...)
	b = wire.AppendUint64(b, t.nb)
	return wire.AppendUint64(b, t.na)
}

func (t tok) sign(sk ed25519.PrivateKey, label string) []byte {
	tbs := t.tbs()
	return append(tbs, ed25519.Sign(sk, labelled(label, tbs))...)
}

const tokenLabel = "sealfeed v1 access token"

var tokenArea = areaDef{
	name: "token",
	build: func(a *area) (any, error) {
		issuer := ed25519.NewKeyFromSeed(randBytes(a.name, "issuer", 32))
		second := ed25519.NewKeyFromSeed(randBytes(a.name, "second-issuer", 32))
		stranger := ed25519.NewKeyFromSeed(randBytes(a.name, "stranger", 32))
		server := ed25519.NewKeyFromSeed(randBytes(a.name, "server", 32))
		client := ed25519.NewKeyFromSeed(randBytes(a.name, "client", 32))
		otherClient := ed25519.NewKeyFromSeed(randBytes(a.name, "other-client", 32))
		pub := func(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }
		serverID := keyID(pub(server))
		realm := []byte("push.example")
		now := uint64(tokenNow)

		base := tok{version: 1, issuerID: keyID(pub(issuer)), audType: 1, audience: realm, subject: []byte("alice"),
			device: []byte("phone"), clientKey: pub(client), id: randBytes(a.name, "token-id", 16), nb: now - 60, na: now + 840}
		good := base.sign(issuer, tokenLabel)

		g := vectors.TokenGroup{Type: "TokenVerify", IssuerKeys: []vectors.Hex{pub(issuer), pub(second)}, Realm: realm,
			ServerKeyID: serverID, ClientKey: pub(client), Now: vectors.U64(now)}
		valid := func(name, comment, req string, t tok, raw []byte, flags ...string) {
			g.Tests = append(g.Tests, vectors.TokenTest{Test: a.valid(name, comment, req, flags...), Token: raw,
				Subject: nonNil(t.subject), Device: nonNil(t.device), TokenID: t.id, NotAfter: vectors.U64(t.na)})
		}
		invalid := func(name, comment, req string, code alert.Code, raw []byte, flags ...string) {
			g.Tests = append(g.Tests, vectors.TokenTest{Test: a.invalid(name, comment, req, code.String(), flags...), Token: nonNil(raw),
				Subject: vectors.Hex{}, Device: vectors.Hex{}, TokenID: vectors.Hex{}})
		}
		signed := func(t tok) []byte { return t.sign(issuer, tokenLabel) }
		flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }

		// Valid tokens.
		valid("valid-realm", "a token for the server's realm, valid for 15 minutes from a minute ago", "TOK-007", base, good, "Normal")
		{
			t := base
			t.audType, t.audience = 2, serverID
			valid("valid-server-key", "a token whose audience is the server key's KeyID (pinned trust)", "TOK-005", t, signed(t), "Normal")
			t = base
			t.device = nil
			valid("valid-no-device", "a token without a device", "TOK-001", t, signed(t), "Normal")
			t = base
			t.issuerID = keyID(pub(second))
			valid("valid-second-issuer", "a token from the second registered publisher key", "TOK-002", t, t.sign(second, tokenLabel), "Normal")
			t = base
			t.nb, t.na = now-1800, now+1800
			valid("lifetime-1-hour", "a lifetime of exactly MaxTokenLifetime (1 h)", "TOK-003", t, signed(t), "MaxSize")
			t.nb, t.na = now+60, now+120
			valid("not-before-now-plus-skew", "not_before = now + 60 s: within the skew", "TOK-004", t, signed(t), "ClockSkew")
			t.nb, t.na = now-120, now-60
			valid("not-after-now-minus-skew", "not_after = now − 60 s: within the skew", "TOK-004", t, signed(t), "ClockSkew")
			t = base
			t.subject, t.device = bytes.Repeat([]byte("é"), 127), bytes.Repeat([]byte{'d'}, 255)
			t.subject = append(t.subject, 'x')
			valid("max-subject-device", "a 255-byte UTF-8 subject and a 255-byte device", "TOK-001", t, signed(t), "MaxSize")
		}

		// Decoding (TOK-001).
		cuts := []int{0, 1, 2, 34, 35, 36, 36 + len(realm), len(good) - 64 - 16, len(good) - 64, len(good) - 1}
		for _, c := range cuts {
			invalid(fmt.Sprintf("truncated-%d", c), fmt.Sprintf("token truncated to %d of %d bytes", c, len(good)),
				"TOK-001", alert.DecodeError, good[:c], "Truncated")
		}
		invalid("trailing-byte", "the token followed by one byte", "TOK-001", alert.DecodeError, append(bytes.Clone(good), 0), "TrailingData")
		for _, v := range []uint16{0, 2, 0xffff} {
			t := base
			t.version = v
			invalid(fmt.Sprintf("version-%d", v), fmt.Sprintf("token version %d", v), "TOK-001", alert.DecodeError, signed(t), "UnknownVersion")
		}
		for _, at := range []byte{0, 3, 0xff} {
			t := base
			t.audType = at
			invalid(fmt.Sprintf("audience-type-%d", at), fmt.Sprintf("audience_type %d", at), "TOK-001", alert.DecodeError, signed(t), "LengthMismatch")
		}
		{
			t := base
			t.subject = nil
			invalid("subject-empty", "an empty subject (subject<1..255>)", "TOK-001", alert.DecodeError, signed(t), "LengthMismatch")
			t = base
			t.audience = nil
			invalid("realm-empty", "an empty realm audience (realm<1..255>)", "TOK-001", alert.DecodeError, signed(t), "LengthMismatch")
			t = base
			t.subject = []byte{'a', 0xff, 'b'}
			invalid("subject-not-utf8", "subject holds the byte 0xff", "TOK-001", alert.DecodeError, signed(t), "NotUTF8")
			t = base
			t.device = []byte{0xc3}
			invalid("device-not-utf8", "device holds a truncated two-byte sequence", "TOK-001", alert.DecodeError, signed(t), "NotUTF8")
			// Oversize: a 256-byte subject cannot be encoded with a one-byte
			// prefix; the longest encoding plus one byte is decode_error.
			t = base
			t.audience, t.subject, t.device = bytes.Repeat([]byte{'r'}, 255), bytes.Repeat([]byte{'s'}, 255), bytes.Repeat([]byte{'d'}, 255)
			big := signed(t)
			invalid("oversize", fmt.Sprintf("a token of %d bytes: the largest encoding (%d) and one more byte", len(big)+1, len(big)),
				"TOK-001", alert.DecodeError, append(big, 0), "TrailingData", "MaxSize")
			b := bytes.Clone(good)
			b[36+len(realm)]++ // the subject's length, one more than its bytes
			invalid("subject-length-plus-1", "subject's length prefix one more than its bytes", "TOK-001", alert.DecodeError, b, "LengthMismatch")
		}

		// Issuer and signature (TOK-002).
		{
			t := base
			t.issuerID = keyID(pub(stranger))
			invalid("unknown-issuer", "signed by a key that is not a registered publisher key", "TOK-002", alert.UnknownSigner,
				t.sign(stranger, tokenLabel), "UnknownIssuer")
			invalid("signed-by-other-issuer", "issuer_id names the first issuer, the second signed", "TOK-002", alert.BadSignature,
				base.sign(second, tokenLabel), "BadTokenSignature")
			invalid("wrong-label", "signed with the credential label", "TOK-002", alert.BadSignature,
				base.sign(issuer, "sealfeed v1 credential"), "BadTokenSignature", "WrongLabel")
			invalid("signature-bit-flip", "bit 0 of the signature's S flipped", "TOK-002", alert.BadSignature, flip(good, len(good)-32), "BadTokenSignature")
			invalid("subject-modified", "the subject changed after signing (alice → blice)", "TOK-002", alert.BadSignature,
				flip(good, 36+len(realm)+1), "BadTokenSignature")
			invalid("not-after-modified", "not_after changed after signing", "TOK-002", alert.BadSignature,
				flip(good, len(good)-64-3), "BadTokenSignature")
		}

		// Lifetime and time (TOK-003, TOK-004).
		for _, c := range []struct {
			name, comment string
			nb, na        uint64
		}{
			{"lifetime-1-hour-plus-1", "a lifetime of 1 h + 1 s", now - 1800, now + 1801},
			{"lifetime-empty", "not_before = not_after", now, now},
			{"lifetime-reversed", "not_after before not_before", now + 10, now - 10},
		} {
			t := base
			t.nb, t.na = c.nb, c.na
			invalid(c.name, c.comment, "TOK-003", alert.IllegalParameter, signed(t), "TokenLifetime")
		}
		for _, c := range []struct {
			name, comment string
			nb, na        uint64
		}{
			{"expired", "not_after = now − 61 s", now - 900, now - 61},
			{"expired-long-ago", "expired a day ago", now - 86400 - 900, now - 86400},
			{"not-yet-valid", "not_before = now + 61 s", now + 61, now + 900},
		} {
			t := base
			t.nb, t.na = c.nb, c.na
			invalid(c.name, c.comment, "TOK-004", alert.TokenExpired, signed(t), "TokenExpired")
		}

		// Audience and binding (TOK-005, TOK-006).
		{
			t := base
			t.audience = []byte("push.other")
			invalid("other-realm", "a token for another realm of the same publisher", "TOK-005", alert.RealmMismatch, signed(t), "WrongAudience")
			t.audience = []byte("push.example.")
			invalid("realm-prefix", "a realm that extends the server's by one byte", "TOK-005", alert.RealmMismatch, signed(t), "WrongAudience")
			t = base
			t.audType, t.audience = 2, keyID(pub(stranger))
			invalid("other-server-key", "a token for another server key (another pinned deployment)", "TOK-005", alert.RealmMismatch, signed(t), "WrongAudience")
			t = base
			t.clientKey = pub(otherClient)
			invalid("bound-to-other-client", "a valid token that binds another client key", "TOK-006", alert.TokenKeyMismatch, signed(t), "BoundToOtherKey")
		}

		// Order of checks (TOK-007): one token, several defects.
		{
			t := base
			t.clientKey = pub(otherClient)
			t.nb, t.na = now-900, now-61
			invalid("order-expired-before-binding", "expired and bound to another key: TOK-004 comes first", "TOK-007", alert.TokenExpired, signed(t), "CheckOrder")
			t = base
			t.audience = []byte("push.other")
			t.nb, t.na = now, now+7200
			invalid("order-lifetime-before-audience", "too long and for another realm: TOK-003 comes first", "TOK-007", alert.IllegalParameter, signed(t), "CheckOrder")
			t = base
			t.na = now - 61
			invalid("order-signature-before-expiry", "expired and altered after signing: TOK-002 comes first", "TOK-007", alert.BadSignature,
				flip(signed(t), len(good)-32), "CheckOrder")
		}

		// A server without a realm accepts no realm audience (TOK-005).
		g2 := vectors.TokenGroup{Type: "TokenVerify", IssuerKeys: []vectors.Hex{pub(issuer)}, Realm: vectors.Hex{},
			ServerKeyID: serverID, ClientKey: pub(client), Now: vectors.U64(now)}
		{
			t := base
			g2.Tests = append(g2.Tests, vectors.TokenTest{Test: a.invalid("realm-without-credential",
				"a realm audience on a server without a credential (pinned trust only)", "TOK-005", alert.RealmMismatch.String(), "WrongAudience"),
				Token: signed(t), Subject: vectors.Hex{}, Device: vectors.Hex{}, TokenID: vectors.Hex{}})
			t.audType, t.audience = 2, serverID
			g2.Tests = append(g2.Tests, vectors.TokenTest{Test: a.valid("server-key-without-credential",
				"a server-key audience on the same server", "TOK-005", "Normal"),
				Token: signed(t), Subject: t.subject, Device: t.device, TokenID: t.id, NotAfter: vectors.U64(t.na)})
		}
		return file(a, []string{
			"Access tokens (spec §6.8) as a server checks them in the client flight (TOK-007, HS-062) or in TokenRefresh (POST-030).",
			"Each test gives an encoded AccessTokenBody; the group gives the server's registered publisher keys, its realm (empty: none), the KeyID of its key, the client key the client proved, and its clock (Unix seconds, ClockSkew 60 s).",
			"Signatures are Sign(publisher key, \"sealfeed v1 access token\", all preceding bytes), spec §4.2. On success the outputs are the subject, device, token_id and not_after the server records (TOK-009, TOK-011).",
		}, []vectors.TokenGroup{g, g2}), nil
	},
	schema: func() map[string]any {
		return fileSchema("token", "SealFeed v1 access token vectors",
			obj{"type": constant("TokenVerify"), "issuerKeys": obj{"type": "array", "items": hexLen(32)}, "realm": hexAny(),
				"serverKeyId": hexLen(32), "clientKey": hexLen(32), "now": u64()}, nil,
			obj{"token": hexAny(), "subject": hexAny(), "device": hexAny(), "tokenId": obj{"type": "string", "pattern": "^([0-9a-f]{32})?$"},
				"notAfter": u64()}, []string{"notAfter"})
	},
}
