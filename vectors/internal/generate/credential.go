package generate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("Expired", "EXPIRY", "The credential's validity period ended before now − skew, or starts after now + skew (CRED-005).",
		"A stolen server key stays usable after its credential expires.")
	note("ClockSkew", "EXPIRY", "A time exactly at the ClockSkew (60 s) boundary: still accepted.", "")
	note("Lifetime", "EXPIRY", "A validity period that is empty, reversed or longer than the maximum (CRED-004, CRED-011).", "")
	note("Revoked", "REVOCATION", "The credential's serial is in the stapled revocation list (CRED-014).",
		"A revoked server key keeps authenticating the server.")
	note("StaleList", "REVOCATION", "The revocation list is outside its validity period (CRED-012).",
		"An old list from before the revocation hides it.")
	note("Rollback", "REVOCATION", "The revocation list is older (lower number) than one accepted before (CRED-013).", "")
	note("RealmMismatch", "WRONG_KEY", "A valid credential for another realm of the same authority (CRED-006).",
		"A credential for one deployment authenticates another.")
	note("UnknownAuthority", "WRONG_KEY", "authority_id names an authority the client does not trust (CRED-002).", "")
	note("BadCredentialSignature", "MODIFIED", "The credential or list was changed after signing, or signed by another key (CRED-003, CRED-010).", "")
	note("UnknownVersion", "EXTENSION", "A structure version other than 1.", "")
	note("WeakServerKey", "WEAK_KEY", "The credential certifies a server key that fails SIG-001 (CRED-007).", "")
}

// Fixed clock of the credential groups: 2026-01-01T00:00:00Z.
const credNow = 1767225600

const (
	day  = 86400
	skew = 60
)

func keyID(pk []byte) []byte {
	h := sha256.New()
	h.Write([]byte(keyschedule.HashKeyID))
	h.Write([]byte{0})
	h.Write(pk)
	return h.Sum(nil)
}

// cred is the unsigned part of a Credential (spec §5.1).
type cred struct {
	version   uint16
	authID    []byte
	serverKey []byte
	realm     []byte
	serial    uint64
	nb, na    uint64
}

func (c cred) tbs() []byte {
	b := wire.AppendUint16(nil, c.version)
	b = append(b, c.authID...)
	b = append(b, c.serverKey...)
	b = wire.AppendOpaque(b, c.realm, 255)
	b = wire.AppendUint64(b, c.serial)
	b = wire.AppendUint64(b, c.nb)
	return wire.AppendUint64(b, c.na)
}

// sign returns the encoded credential signed by sk with label.
func (c cred) sign(sk ed25519.PrivateKey, label string) []byte {
	tbs := c.tbs()
	return append(tbs, ed25519.Sign(sk, labelled(label, tbs))...)
}

// rl is the unsigned part of a RevocationList (spec §5.2).
type rl struct {
	version    uint16
	authID     []byte
	number     uint64
	this, next uint64
	revoked    []uint64
}

func (r rl) tbs() []byte {
	b := wire.AppendUint16(nil, r.version)
	b = append(b, r.authID...)
	b = wire.AppendUint64(b, r.number)
	b = wire.AppendUint64(b, r.this)
	b = wire.AppendUint64(b, r.next)
	b = wire.AppendPrefix(b, len(r.revoked), 0xffff)
	for _, s := range r.revoked {
		b = wire.AppendUint64(b, s)
	}
	return b
}

func (r rl) sign(sk ed25519.PrivateKey, label string) []byte {
	tbs := r.tbs()
	return append(tbs, ed25519.Sign(sk, labelled(label, tbs))...)
}

var credentialArea = areaDef{
	name: "credential",
	build: func(a *area) (any, error) {
		auth := ed25519.NewKeyFromSeed(randBytes(a.name, "authority", 32))
		other := ed25519.NewKeyFromSeed(randBytes(a.name, "other-authority", 32))
		server := ed25519.NewKeyFromSeed(randBytes(a.name, "server", 32))
		authPub, serverPub := auth.Public().(ed25519.PublicKey), server.Public().(ed25519.PublicKey)
		authID := keyID(authPub)
		realm := []byte("push.example")
		now := uint64(credNow)

		base := cred{version: 1, authID: authID, serverKey: serverPub, realm: realm, serial: 1000, nb: now - day, na: now + 6*day}
		list := rl{version: 1, authID: authID, number: 7, this: now - day, next: now + day, revoked: []uint64{17, 999, 1001, 5000}}
		good := base.sign(auth, keyschedule.SigCredential)
		goodRL := list.sign(auth, keyschedule.SigRevocationList)

		newGroup := func(accepted *uint64) vectors.CredentialGroup {
			g := vectors.CredentialGroup{Type: "CredentialVerify", AuthorityKey: vectors.Hex(authPub), Realm: realm, Now: vectors.U64(now)}
			if accepted != nil {
				n := vectors.U64(*accepted)
				g.AcceptedNumber = &n
			}
			return g
		}
		g := newGroup(nil)
		valid := func(name, comment, req string, c, l []byte, flags ...string) {
			g.Tests = append(g.Tests, vectors.CredentialTest{Test: a.valid(name, comment, req, flags...),
				Credential: c, RevocationList: l, ServerKey: vectors.Hex(serverPub)})
		}
		invalid := func(name, comment, req string, code alert.Code, c, l []byte, flags ...string) {
			g.Tests = append(g.Tests, vectors.CredentialTest{Test: a.invalid(name, comment, req, code.String(), flags...),
				Credential: nonNil(c), RevocationList: nonNil(l), ServerKey: vectors.Hex{}})
		}
		signed := func(c cred) []byte { return c.sign(auth, keyschedule.SigCredential) }
		signedRL := func(r rl) []byte { return r.sign(auth, keyschedule.SigRevocationList) }
		flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }

		// Valid credentials.
		valid("valid", "a credential valid for six more days, a fresh list that does not name its serial", "CRED-015", good, goodRL, "Normal")
		{
			l := list
			l.revoked = nil
			valid("valid-empty-list", "an empty revocation list", "CRED-015", good, signedRL(l), "Empty")
		}
		{
			c := base
			c.nb, c.na = now-day, now-day+30*day
			valid("lifetime-30-days", "a lifetime of exactly MaxCredentialLifetime (30 days)", "CRED-004", signed(c), goodRL, "MaxSize")
			l := list
			l.this, l.next = now-day, now+6*day
			valid("list-lifetime-7-days", "a list lifetime of exactly MaxRevocationListLifetime (7 days)", "CRED-011", good, signedRL(l), "MaxSize")
			c.nb, c.na = now+skew, now+skew+day
			valid("not-before-now-plus-skew", "not_before = now + 60 s: within the skew", "CRED-005", signed(c), goodRL, "ClockSkew")
			c.nb, c.na = now-skew-day, now-skew
			valid("not-after-now-minus-skew", "not_after = now − 60 s: within the skew", "CRED-005", signed(c), goodRL, "ClockSkew")
			l.this, l.next = now+skew, now+skew+day
			valid("list-this-update-now-plus-skew", "this_update = now + 60 s: within the skew", "CRED-012", good, signedRL(l), "ClockSkew")
			l.this, l.next = now-skew-day, now-skew
			valid("list-next-update-now-minus-skew", "next_update = now − 60 s: within the skew", "CRED-012", good, signedRL(l), "ClockSkew")
			c = base
			c.nb, c.na = now-1, now
			valid("lifetime-1-second", "a lifetime of one second", "CRED-004", signed(c), goodRL, "MinSize")
		}
		g2 := newGroup(nil)
		{
			c := base
			c.realm = bytes.Repeat([]byte{'r'}, 255)
			g2.Realm = c.realm
			g2.Tests = append(g2.Tests, vectors.CredentialTest{Test: a.valid("realm-255", "a 255-byte realm", "CRED-006", "MaxSize"),
				Credential: signed(c), RevocationList: goodRL, ServerKey: vectors.Hex(serverPub)})
		}

		// Decoding (CRED-001, CRED-010, WIRE-001).
		credCuts := []int{0, 1, 2, 34, 66, 67, 67 + len(realm), 67 + len(realm) + 8, len(good) - 64, len(good) - 1}
		for _, c := range credCuts {
			invalid(fmt.Sprintf("credential-truncated-%d", c), fmt.Sprintf("credential truncated to %d of %d bytes", c, len(good)),
				"CRED-001", alert.DecodeError, good[:c], goodRL, "Truncated")
		}
		invalid("credential-trailing-byte", "credential followed by one byte", "CRED-001", alert.DecodeError, append(bytes.Clone(good), 0), goodRL, "TrailingData")
		{
			c := base
			c.realm = nil
			invalid("credential-realm-empty", "an empty realm (realm<1..255>)", "CRED-001", alert.DecodeError, signed(c), goodRL, "LengthMismatch")
		}
		for _, v := range []uint16{0, 2, 0xffff} {
			c := base
			c.version = v
			invalid(fmt.Sprintf("credential-version-%d", v), fmt.Sprintf("credential version %d", v), "CRED-001", alert.BadCredential, signed(c), goodRL, "UnknownVersion")
		}
		rlCuts := []int{0, 1, 2, 34, 42, 50, 58, 60, 68, len(goodRL) - 64, len(goodRL) - 1}
		for _, c := range rlCuts {
			invalid(fmt.Sprintf("list-truncated-%d", c), fmt.Sprintf("revocation list truncated to %d of %d bytes", c, len(goodRL)),
				"CRED-010", alert.DecodeError, good, goodRL[:c], "Truncated")
		}
		invalid("list-trailing-byte", "revocation list followed by one byte", "CRED-010", alert.DecodeError, good, append(bytes.Clone(goodRL), 0), "TrailingData")
		{
			b := bytes.Clone(goodRL)
			b[59]++ // count of revoked serials, low byte
			invalid("list-count-plus-1", "the revoked count says 5 for 4 serials", "CRED-010", alert.DecodeError, good, b, "LengthMismatch")
		}
		for _, c := range []struct {
			name, comment string
			revoked       []uint64
			flag          string
		}{
			{"list-descending", "serials 999 then 17", []uint64{999, 17}, "OutOfOrder"},
			{"list-duplicate", "serial 17 twice", []uint64{17, 17, 999}, "Duplicate"},
			{"list-descending-end", "the last two serials swapped", []uint64{17, 999, 5000, 1001}, "OutOfOrder"},
		} {
			l := list
			l.revoked = c.revoked
			invalid(c.name, c.comment, "CRED-010", alert.IllegalParameter, good, signedRL(l), c.flag)
		}
		for _, v := range []uint16{0, 2} {
			l := list
			l.version = v
			invalid(fmt.Sprintf("list-version-%d", v), fmt.Sprintf("revocation list version %d", v), "CRED-010", alert.BadCredential, good, signedRL(l), "UnknownVersion")
		}

		// Authority and signatures (CRED-002, CRED-003, CRED-010).
		{
			c := base
			c.authID = keyID(other.Public().(ed25519.PublicKey))
			invalid("unknown-authority", "a credential signed by an authority the client does not trust", "CRED-002", alert.UnknownServerKey,
				c.sign(other, keyschedule.SigCredential), goodRL, "UnknownAuthority")
			c = base
			invalid("credential-signed-by-other", "authority_id names the trusted authority, another key signed", "CRED-003", alert.BadCredential,
				c.sign(other, keyschedule.SigCredential), goodRL, "BadCredentialSignature")
			invalid("credential-wrong-label", "signed with the revocation-list label", "CRED-003", alert.BadCredential,
				c.sign(auth, keyschedule.SigRevocationList), goodRL, "BadCredentialSignature", "WrongLabel")
			invalid("credential-signature-bit-flip", "bit 0 of the signature's S flipped", "CRED-003", alert.BadCredential,
				flip(good, len(good)-32), goodRL, "BadCredentialSignature")
			invalid("credential-serial-modified", "the serial changed after signing", "CRED-003", alert.BadCredential,
				flip(good, 67+len(realm)+7), goodRL, "BadCredentialSignature")
			invalid("credential-not-after-modified", "not_after changed after signing", "CRED-003", alert.BadCredential,
				flip(good, 67+len(realm)+16+3), goodRL, "BadCredentialSignature")
			invalid("credential-server-key-replaced", "server_key changed after signing", "CRED-003", alert.BadCredential,
				flip(good, 40), goodRL, "BadCredentialSignature")
			sig := good[len(good)-64:]
			invalid("credential-s-plus-l", "the signature's S replaced by S + L", "CRED-003", alert.BadCredential,
				append(bytes.Clone(good[:len(good)-32]), addL(sig[32:])...), goodRL, "BadCredentialSignature", "NonCanonicalS")
			l := list
			l.authID = keyID(other.Public().(ed25519.PublicKey))
			invalid("list-other-authority", "a revocation list of another authority", "CRED-010", alert.BadCredential,
				good, l.sign(other, keyschedule.SigRevocationList), "UnknownAuthority")
			invalid("list-signed-by-other", "a list naming the trusted authority, signed by another key", "CRED-010", alert.BadCredential,
				good, list.sign(other, keyschedule.SigRevocationList), "BadCredentialSignature")
			invalid("list-wrong-label", "a list signed with the credential label", "CRED-010", alert.BadCredential,
				good, list.sign(auth, keyschedule.SigCredential), "BadCredentialSignature", "WrongLabel")
			invalid("list-serial-removed", "a serial changed after signing", "CRED-010", alert.BadCredential,
				good, flip(goodRL, 60+7), "BadCredentialSignature")
			invalid("list-signature-bit-flip", "bit 0 of the list signature's R flipped", "CRED-010", alert.BadCredential,
				good, flip(goodRL, len(goodRL)-64), "BadCredentialSignature")
		}

		// Lifetimes (CRED-004, CRED-011) and times (CRED-005, CRED-012).
		for _, c := range []struct {
			name, comment string
			nb, na        uint64
			req           string
			code          alert.Code
			flag          string
		}{
			{"lifetime-reversed", "not_before = now + 10 s after not_after = now − 10 s", now + 10, now - 10, "CRED-004", alert.BadCredential, "Lifetime"},
			{"lifetime-empty", "not_before = not_after", now, now, "CRED-004", alert.BadCredential, "Lifetime"},
			{"lifetime-30-days-plus-1", "a lifetime of 30 days + 1 s", now - day, now - day + 30*day + 1, "CRED-004", alert.BadCredential, "Lifetime"},
			{"lifetime-huge", "not_after = 2^64 − 1", now - day, 1<<64 - 1, "CRED-004", alert.BadCredential, "Lifetime"},
			{"expired", "not_after a day before now", now - 3*day, now - day, "CRED-005", alert.CredentialExpired, "Expired"},
			{"expired-by-skew-plus-1", "not_after = now − 61 s", now - day, now - skew - 1, "CRED-005", alert.CredentialExpired, "Expired"},
			{"not-yet-valid", "not_before a day after now", now + day, now + 2*day, "CRED-005", alert.CredentialExpired, "Expired"},
			{"not-yet-valid-by-skew-plus-1", "not_before = now + 61 s", now + skew + 1, now + day, "CRED-005", alert.CredentialExpired, "Expired"},
		} {
			cr := base
			cr.nb, cr.na = c.nb, c.na
			invalid(c.name, c.comment, c.req, c.code, signed(cr), goodRL, c.flag)
		}
		for _, c := range []struct {
			name, comment string
			this, next    uint64
			req           string
			code          alert.Code
			flag          string
		}{
			{"list-lifetime-reversed", "this_update = now + 10 s after next_update = now − 10 s", now + 10, now - 10, "CRED-011", alert.BadCredential, "Lifetime"},
			{"list-lifetime-empty", "this_update = next_update", now, now, "CRED-011", alert.BadCredential, "Lifetime"},
			{"list-lifetime-7-days-plus-1", "a list lifetime of 7 days + 1 s", now - day, now + 6*day + 1, "CRED-011", alert.BadCredential, "Lifetime"},
			{"list-stale", "next_update a day before now", now - 3*day, now - day, "CRED-012", alert.RevocationStale, "StaleList"},
			{"list-stale-by-skew-plus-1", "next_update = now − 61 s", now - day, now - skew - 1, "CRED-012", alert.RevocationStale, "StaleList"},
			{"list-from-future", "this_update a day after now", now + day, now + 2*day, "CRED-012", alert.RevocationStale, "StaleList"},
			{"list-from-future-by-skew-plus-1", "this_update = now + 61 s", now + skew + 1, now + day, "CRED-012", alert.RevocationStale, "StaleList"},
		} {
			l := list
			l.this, l.next = c.this, c.next
			invalid(c.name, c.comment, c.req, c.code, good, signedRL(l), c.flag)
		}

		// Realm (CRED-006) and server key (CRED-007).
		for _, c := range []struct{ name, realm string }{
			{"other", "other.example"}, {"prefix", "push.exampl"}, {"extension", "push.example."}, {"case", "Push.example"},
		} {
			cr := base
			cr.realm = []byte(c.realm)
			invalid("realm-"+c.name, fmt.Sprintf("a credential for realm %q", c.realm), "CRED-006", alert.RealmMismatch, signed(cr), goodRL, "RealmMismatch")
		}
		T, err := torsionGenerator()
		if err != nil {
			return nil, err
		}
		A, _ := new(edwards25519.Point).SetBytes(serverPub)
		for _, c := range []struct {
			name, comment string
			key           []byte
		}{
			{"server-key-identity", "server_key is the identity point", identityEnc},
			{"server-key-small-order", "server_key is a point of order 8", T.Bytes()},
			{"server-key-mixed-order", "server_key has a component of order 8", new(edwards25519.Point).Add(A, T).Bytes()},
			{"server-key-noncanonical", "server_key y = 2^255 − 1 ≥ p", bytes.Repeat([]byte{0xff}, 32)},
		} {
			cr := base
			cr.serverKey = c.key
			invalid(c.name, c.comment, "CRED-007", alert.BadKey, signed(cr), goodRL, "WeakServerKey")
		}

		// Revocation (CRED-014).
		for _, c := range []struct {
			name    string
			revoked []uint64
		}{
			{"revoked-only", []uint64{1000}}, {"revoked-first", []uint64{1000, 1001}}, {"revoked-middle", []uint64{17, 1000, 5000}},
			{"revoked-last", []uint64{17, 999, 1000}},
		} {
			l := list
			l.revoked = c.revoked
			invalid(c.name, fmt.Sprintf("serial 1000 in the list %v", c.revoked), "CRED-014", alert.CredentialRevoked, good, signedRL(l), "Revoked")
		}
		{
			l := list
			var many []uint64
			for s := uint64(0); s < 2000; s += 2 {
				many = append(many, s)
			}
			l.revoked = many
			invalid("revoked-among-1000", "serial 1000 among 1000 even serials", "CRED-014", alert.CredentialRevoked, good, signedRL(l), "Revoked")
			l.revoked = []uint64{999, 1001}
			valid("neighbours-revoked", "serials 999 and 1001 revoked, not 1000", "CRED-014", good, signedRL(l), "Normal")
		}

		// Rollback (CRED-013): the client accepted list number 7 before.
		seven := uint64(7)
		gr := newGroup(&seven)
		for _, c := range []struct {
			name, comment string
			number        uint64
			result        bool
		}{
			{"rollback-same-number", "number 7 again: not lower, accepted", 7, true},
			{"rollback-newer", "number 8", 8, true},
			{"rollback-older", "number 6 after 7", 6, false},
			{"rollback-zero", "number 0 after 7", 0, false},
		} {
			l := list
			l.number = c.number
			t := vectors.CredentialTest{Credential: good, RevocationList: signedRL(l)}
			if c.result {
				t.Test = a.valid(c.name, c.comment, "CRED-013", "Rollback")
				t.ServerKey = vectors.Hex(serverPub)
			} else {
				t.Test = a.invalid(c.name, c.comment, "CRED-013", alert.RevocationStale.String(), "Rollback")
				t.ServerKey = vectors.Hex{}
			}
			gr.Tests = append(gr.Tests, t)
		}
		groups := []vectors.CredentialGroup{g, g2, gr}
		return file(a, []string{
			"Server credentials and stapled revocation lists (spec §5.1, §5.2) as a client with authority trust checks them (CRED-015).",
			"Each test gives a Credential and a RevocationList, both encoded; the group gives the trusted authority key, the realm the client is configured for and its clock (Unix seconds, ClockSkew 60 s).",
			"Signatures are Sign(authority, \"sealfeed v1 credential\" or \"sealfeed v1 revocation list\", all preceding bytes), spec §4.2.",
		}, groups), nil
	},
	schema: func() map[string]any {
		return fileSchema("credential", "SealFeed v1 credential and revocation list vectors",
			obj{"type": constant("CredentialVerify"), "authorityKey": hexLen(32), "realm": hexAny(), "now": u64(),
				"acceptedNumber": u64()}, []string{"acceptedNumber"},
			obj{"credential": hexAny(), "revocationList": hexAny(), "serverKey": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}}, nil)
	},
}
