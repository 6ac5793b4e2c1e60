package generate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("RecordSubstituted", "WRONG_KEY", "A seal key record that is not the client's: signed by another identity key, or another identity's record (SEAL-004, SEAL-006).",
		"The push server substitutes its own HPKE key and reads every sealed payload.")
	note("RecordExpired", "EXPIRY", "A seal key record outside its validity period, or with an empty or too long one (SEAL-005, SEAL-007).", "")
	note("SealedWrongRecipient", "WRONG_KEY", "An envelope for another recipient key, or whose recipient_id was changed (SEAL-021, SEAL-023).", "")
	note("SealedTampered", "MODIFIED", "An envelope changed after sealing: enc, ciphertext or a header field bound by the HPKE info (SEAL-013, SEAL-023).",
		"The server alters a payload it cannot read and the client accepts it.")
	note("SealedForged", "WRONG_KEY", "An envelope whose inner signature is not the named trusted publisher's over this header (SEAL-015, SEAL-022, SEAL-024).",
		"The server, or another recipient, forges or redirects a publisher's payload.")
	note("SealedSuite", "EXTENSION", "An envelope or record naming a suite outside SEAL-001, or another suite than its record (SEAL-001, SEAL-021).", "")
}

// SealedHPKEPath is the path, relative to the vectors directory, of the HPKE
// outputs (enc || ciphertext) of sealed.json. crypto/hpke draws the
// sender's ephemeral randomness itself, so an envelope cannot be derived
// from a seed: each is made once, kept here by test name, and reused while it
// still opens to the same plaintext under the same key and info; otherwise
// the generator seals again and rewrites this file.
const SealedHPKEPath = "internal/generate/sealed_hpke.json"

//go:embed sealed_hpke.json
var sealedHPKEJSON []byte

var sealedHPKE map[string]string

func loadSealedHPKE() error {
	if sealedHPKE != nil {
		return nil
	}
	sealedHPKE = map[string]string{}
	return json.Unmarshal(sealedHPKEJSON, &sealedHPKE)
}

func sealedHPKEFile() ([]byte, error) { return encode(sealedHPKE) }

const (
	sealRecordLabel    = "sealfeed v1 seal key record"
	sealRecordIDLabel  = "sealfeed v1 seal key record id"
	sealInfoLabel      = "sealfeed v1 sealed payload"
	sealSignatureLabel = "sealfeed v1 sealed payload signature"
)

type sealSuite struct{ kem, kdf, aead uint16 }

var (
	sealHybrid = sealSuite{0x647a, 1, 3}
	sealX25519 = sealSuite{0x0020, 1, 3}
)

func (s sealSuite) head(magic string, version uint16) []byte {
	b := append([]byte(magic), byte(version>>8), byte(version))
	b = binary.BigEndian.AppendUint16(b, s.kem)
	b = binary.BigEndian.AppendUint16(b, s.kdf)
	return binary.BigEndian.AppendUint16(b, s.aead)
}

// sealRec is the unsigned part of a seal key record (spec/sealed.md §4).
type sealRec struct {
	version  uint16
	suite    sealSuite
	identity []byte
	pk       []byte
	nb, na   uint64
}

func (r sealRec) tbs() []byte {
	b := r.suite.head("SFSK", r.version)
	b = append(b, r.identity...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.pk)))
	b = append(b, r.pk...)
	b = binary.BigEndian.AppendUint64(b, r.nb)
	return binary.BigEndian.AppendUint64(b, r.na)
}

func (r sealRec) sign(k ed25519.PrivateKey, label string) []byte {
	tbs := r.tbs()
	return append(tbs, ed25519.Sign(k, labelled(label, tbs))...)
}

func recordID(raw []byte) []byte {
	id := keyschedule.LabelledHash(sealRecordIDLabel, raw)
	return id[:]
}

// sealEnv builds envelopes (spec/sealed.md §5) field by field.
type sealEnv struct {
	version   uint16
	suite     sealSuite
	recipient []byte
	publisher []byte
}

func (e sealEnv) header() []byte {
	b := e.suite.head("SFSE", e.version)
	b = append(b, e.recipient...)
	return append(b, e.publisher...)
}

// inner is sealed_at || payload<0..2^32-1> || signature over header ||
// both, signed by k under label.
func sealInnerPT(header []byte, at uint64, payload []byte, k ed25519.PrivateKey, label string) []byte {
	b := binary.BigEndian.AppendUint64(nil, at)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return append(b, ed25519.Sign(k, labelled(label, append(bytes.Clone(header), b...)))...)
}

type sealKey struct {
	priv   hpke.PrivateKey
	suite  sealSuite
	record []byte
}

func newSealKey(a *area, name string, s sealSuite, identity ed25519.PrivateKey, nb, na uint64) sealKey {
	kem, err := hpke.NewKEM(s.kem)
	if err != nil {
		a.fail("%v", err)
		return sealKey{}
	}
	priv, err := kem.NewPrivateKey(randBytes(a.name, name, 32))
	if err != nil {
		a.fail("%s: %v", name, err)
		return sealKey{}
	}
	r := sealRec{version: 1, suite: s, identity: identity.Public().(ed25519.PublicKey), pk: priv.PublicKey().Bytes(), nb: nb, na: na}
	return sealKey{priv: priv, suite: s, record: r.sign(identity, sealRecordLabel)}
}

// hpkeSeal returns enc || ciphertext of pt sealed to k with info, the one
// kept under name if it still opens to pt (SealedHPKEPath).
func hpkeSeal(a *area, name string, k sealKey, info, pt []byte) []byte {
	kdf, _ := hpke.NewKDF(k.suite.kdf)
	aead, _ := hpke.NewAEAD(k.suite.aead)
	nenc := 32
	if k.suite.kem == sealHybrid.kem {
		nenc = 1120
	}
	key := a.name + "/" + name
	if kept, err := hex.DecodeString(sealedHPKE[key]); err == nil && len(kept) > nenc {
		if r, err := hpke.NewRecipient(kept[:nenc], k.priv, kdf, aead, info); err == nil {
			if got, err := r.Open(nil, kept[nenc:]); err == nil && bytes.Equal(got, pt) {
				return kept
			}
		}
	}
	enc, s, err := hpke.NewSender(k.priv.PublicKey(), kdf, aead, info)
	if err != nil {
		a.fail("%s: %v", name, err)
		return nil
	}
	ct, err := s.Seal(nil, pt)
	if err != nil {
		a.fail("%s: %v", name, err)
		return nil
	}
	out := append(enc, ct...)
	sealedHPKE[key] = hex.EncodeToString(out)
	return out
}

func sealInfo(header []byte) []byte { return labelled(sealInfoLabel, header) }

// envelope assembles header || enc<..> || ct from hpkeSeal's output.
func envelope(header, encCT []byte, nenc int) []byte {
	b := bytes.Clone(header)
	b = binary.BigEndian.AppendUint16(b, uint16(nenc))
	return append(b, encCT...)
}

var sealedArea = areaDef{
	name: "sealed",
	build: func(a *area) (any, error) {
		if err := loadSealedHPKE(); err != nil {
			return nil, err
		}
		identity := ed25519.NewKeyFromSeed(randBytes(a.name, "identity", 32))
		other := ed25519.NewKeyFromSeed(randBytes(a.name, "other-identity", 32))
		publisher := ed25519.NewKeyFromSeed(randBytes(a.name, "publisher", 32))
		second := ed25519.NewKeyFromSeed(randBytes(a.name, "second-publisher", 32))
		stranger := ed25519.NewKeyFromSeed(randBytes(a.name, "stranger", 32))
		pub := func(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }
		now := uint64(credNow)
		nb, na := now-day, now+89*day

		// Key records (SEAL-002 … SEAL-007).
		rg := vectors.SealRecordGroup{Type: "SealKeyRecordVerify", IdentityKey: pub(identity), Now: vectors.U64(now)}
		rvalid := func(name, comment, req string, r sealRec, raw []byte, flags ...string) {
			rg.Tests = append(rg.Tests, vectors.SealRecordTest{Test: a.valid(name, comment, req, flags...), Record: raw,
				RecordID: recordID(raw), PublicKey: r.pk, NotAfter: vectors.U64(r.na)})
		}
		rinvalid := func(name, comment, req, code string, raw []byte, flags ...string) {
			rg.Tests = append(rg.Tests, vectors.SealRecordTest{Test: a.invalid(name, comment, req, code, flags...), Record: nonNil(raw),
				RecordID: vectors.Hex{}, PublicKey: vectors.Hex{}})
		}
		xk := newSealKey(a, "x25519-key", sealX25519, identity, nb, na)
		hk := newSealKey(a, "hybrid-key", sealHybrid, identity, nb, na)
		base := sealRec{version: 1, suite: sealX25519, identity: pub(identity), pk: xk.priv.PublicKey().Bytes(), nb: nb, na: na}
		hbase := base
		hbase.suite, hbase.pk = sealHybrid, hk.priv.PublicKey().Bytes()
		good := base.sign(identity, sealRecordLabel)
		rvalid("record-x25519", "a record of a DHKEM(X25519) key, valid for 90 days from a day ago", "SEAL-006", base, good, "Normal")
		rvalid("record-hybrid", "a record of an MLKEM768-X25519 key", "SEAL-001", hbase, hbase.sign(identity, sealRecordLabel), "Normal")
		{
			r := base
			r.suite.aead = 1
			rvalid("record-aes128gcm", "a record naming AES-128-GCM", "SEAL-001", r, r.sign(identity, sealRecordLabel), "Normal")
			r = base
			r.nb, r.na = now-400*day+60, now-60
			rvalid("record-max-lifetime-skew", "a lifetime of exactly 400 days whose not_after is now − 60 s", "SEAL-007", r, r.sign(identity, sealRecordLabel), "ClockSkew")
			r = base
			r.nb, r.na = now+60, now+120
			rvalid("record-not-before-skew", "not_before = now + 60 s", "SEAL-007", r, r.sign(identity, sealRecordLabel), "ClockSkew")
		}
		for _, c := range []int{0, 4, 6, 12, 44, 46, len(good) - 80, len(good) - 64, len(good) - 1} {
			rinvalid(fmt.Sprintf("record-truncated-%d", c), fmt.Sprintf("the record truncated to %d of %d bytes", c, len(good)),
				"SEAL-003", "decode_error", good[:c], "Truncated")
		}
		rinvalid("record-trailing-byte", "the record followed by one byte", "SEAL-003", "decode_error", append(bytes.Clone(good), 0), "TrailingData")
		{
			b := bytes.Clone(good)
			b[0] = 'X'
			rinvalid("record-magic", "a record whose magic is not \"SFSK\"", "SEAL-003", "decode_error", b, "LengthMismatch")
			r := base
			r.version = 2
			rinvalid("record-version-2", "record version 2", "SEAL-003", "unsupported_version", r.sign(identity, sealRecordLabel), "UnknownVersion")
			for _, s := range []sealSuite{{0x0021, 1, 3}, {0x0020, 2, 3}, {0x0020, 1, 2}, {0x0041, 1, 3}} {
				r = base
				r.suite = s
				rinvalid(fmt.Sprintf("record-suite-%04x-%04x-%04x", s.kem, s.kdf, s.aead), fmt.Sprintf("a record naming the suite KEM 0x%04x, KDF 0x%04x, AEAD 0x%04x", s.kem, s.kdf, s.aead),
					"SEAL-001", "unsupported_suite", r.sign(identity, sealRecordLabel), "SealedSuite")
			}
			r = base
			r.suite = sealHybrid
			rinvalid("record-key-length", "a hybrid record carrying a 32-byte X25519 key", "SEAL-003", "decode_error", r.sign(identity, sealRecordLabel), "LengthMismatch")
			r = base
			r.identity = make([]byte, 32)
			r.identity[0] = 1 // the identity point, of small order
			rinvalid("record-identity-small-order", "an identity key of small order (SIG-001)", "SEAL-003", "bad_key", r.sign(identity, sealRecordLabel), "SmallOrderKey")
		}
		{
			b := bytes.Clone(good)
			b[len(b)-70] ^= 1 // not_after, after signing
			rinvalid("record-tampered", "not_after changed after signing", "SEAL-004", "bad_record_signature", b, "RecordSubstituted")
			rinvalid("record-signed-by-other", "the client's identity key in the record, signed by another key (a substituted HPKE key)", "SEAL-004", "bad_record_signature",
				sealRec{1, sealX25519, pub(identity), newSealKey(a, "server-key", sealX25519, other, nb, na).priv.PublicKey().Bytes(), nb, na}.sign(other, sealRecordLabel), "RecordSubstituted")
			rinvalid("record-wrong-label", "signed under the access-token label", "SEAL-004", "bad_record_signature", base.sign(identity, "sealfeed v1 access token"), "WrongLabel")
			o := base
			o.identity = pub(other)
			rinvalid("record-other-identity", "another identity's valid record", "SEAL-006", "record_identity_mismatch", o.sign(other, sealRecordLabel), "RecordSubstituted")
			r := base
			r.na = r.nb
			rinvalid("record-empty-period", "not_after = not_before", "SEAL-005", "bad_validity_period", r.sign(identity, sealRecordLabel), "RecordExpired")
			r.nb, r.na = now-200*day, now+200*day+1
			rinvalid("record-too-long", "a lifetime of 400 days and one second", "SEAL-005", "bad_validity_period", r.sign(identity, sealRecordLabel), "RecordExpired")
			r.nb, r.na = now-90*day, now-61
			rinvalid("record-expired", "not_after = now − 61 s", "SEAL-007", "record_expired", r.sign(identity, sealRecordLabel), "RecordExpired")
			r.nb, r.na = now+61, now+day
			rinvalid("record-not-yet-valid", "not_before = now + 61 s", "SEAL-007", "record_expired", r.sign(identity, sealRecordLabel), "RecordExpired")
		}

		// Envelopes (SEAL-010 … SEAL-024), one group per KEM.
		pubID, secondID, strangerID := keyID(pub(publisher)), keyID(pub(second)), keyID(pub(stranger))
		var groups []any
		groups = append(groups, rg)
		for _, k := range []sealKey{hk, xk} {
			sname := "x25519"
			nenc := 32
			if k.suite == sealHybrid {
				sname, nenc = "hybrid", 1120
			}
			sk, _ := k.priv.Bytes()
			og := vectors.SealOpenGroup{Type: "SealedOpen", RecipientRecord: k.record, RecipientPrivateKey: sk,
				PublisherKeys: []vectors.Hex{pub(publisher), pub(second)}}
			ovalid := func(name, comment, req string, env []byte, payload, signer []byte, at uint64, flags ...string) {
				og.Tests = append(og.Tests, vectors.SealOpenTest{Test: a.valid(sname+"-"+name, comment, req, flags...), Envelope: env,
					Payload: nonNil(payload), PublisherKeyID: signer, SealedAt: vectors.U64(at)})
			}
			oinvalid := func(name, comment, req, code string, env []byte, flags ...string) {
				og.Tests = append(og.Tests, vectors.SealOpenTest{Test: a.invalid(sname+"-"+name, comment, req, code, flags...), Envelope: nonNil(env),
					Payload: vectors.Hex{}, PublisherKeyID: vectors.Hex{}})
			}
			rid := recordID(k.record)
			e := sealEnv{version: 1, suite: k.suite, recipient: rid, publisher: pubID}
			payload := []byte("order 1042 shipped")
			seal := func(name string, e sealEnv, sealTo sealKey, infoHeader, pt []byte) []byte {
				return envelope(e.header(), hpkeSeal(a, sname+"-"+name, sealTo, sealInfo(infoHeader), pt), nenc)
			}
			h := e.header()
			good := seal("valid", e, k, h, sealInnerPT(h, now, payload, publisher, sealSignatureLabel))
			ovalid("valid", "a payload sealed and signed by a trusted publisher", "SEAL-020", good, payload, pubID, now, "Normal")
			{
				e2 := e
				e2.publisher = secondID
				h2 := e2.header()
				ovalid("valid-second-publisher-empty", "an empty payload from the second trusted publisher", "SEAL-022",
					seal("valid-second", e2, k, h2, sealInnerPT(h2, 0, nil, second, sealSignatureLabel)), nil, secondID, 0, "Normal")
			}
			flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
			oinvalid("truncated-header", "an envelope cut inside its header", "SEAL-011", "decode_error", good[:40], "Truncated")
			oinvalid("truncated-enc", "an envelope cut inside enc", "SEAL-011", "decode_error", good[:78+nenc/2], "Truncated")
			oinvalid("enc-length", "enc's length one less than the KEM's Nenc", "SEAL-011", "decode_error",
				func() []byte { b := bytes.Clone(good); b[77]--; return b }(), "LengthMismatch")
			oinvalid("magic", "a payload that does not start with \"SFSE\"", "SEAL-011", "decode_error", flip(good, 3), "LengthMismatch")
			oinvalid("version-2", "envelope version 2", "SEAL-011", "unsupported_version", flip(good, 5)[:], "UnknownVersion")
			oinvalid("unknown-kem", "KEM 0x0021", "SEAL-011", "unsupported_suite",
				func() []byte { b := bytes.Clone(good); b[6], b[7] = 0, 0x21; return b }(), "SealedSuite")
			oinvalid("suite-mismatch", "AES-128-GCM named, the record's suite is ChaCha20Poly1305", "SEAL-021", "suite_mismatch",
				func() []byte { b := bytes.Clone(good); b[11] = 1; return b }(), "SealedSuite")
			oinvalid("trailing-byte", "the envelope followed by one byte: the ciphertext no longer authenticates", "SEAL-023", "open_failed",
				append(bytes.Clone(good), 0), "TrailingData")
			oinvalid("tampered-ciphertext", "the last byte of the ciphertext flipped", "SEAL-023", "open_failed", flip(good, len(good)-1), "SealedTampered")
			oinvalid("tampered-enc", "the first byte of enc flipped", "SEAL-023", "open_failed", flip(good, 78), "SealedTampered")
			oinvalid("tampered-publisher-id", "publisher_key_id changed to the second trusted key after sealing (bound by the info)", "SEAL-013", "open_failed",
				func() []byte { b := bytes.Clone(good); copy(b[44:76], secondID); return b }(), "SealedTampered")
			{
				other := newSealKey(a, sname+"-other-recipient", k.suite, identity, nb, na)
				oe := e
				oe.recipient = recordID(other.record)
				oh := oe.header()
				toOther := seal("to-other", oe, other, oh, sealInnerPT(oh, now, payload, publisher, sealSignatureLabel))
				oinvalid("wrong-recipient", "an envelope for another record of the same client", "SEAL-021", "wrong_recipient", toOther, "SealedWrongRecipient")
				// Sealed to the other key, recipient_id rewritten to this record's.
				b := bytes.Clone(toOther)
				copy(b[12:44], rid)
				oinvalid("recipient-id-rewritten", "sealed to another key, recipient_id rewritten to this record's", "SEAL-023", "open_failed", b, "SealedWrongRecipient")
				// Signed for the other recipient, sealed (with a correct info) to this one.
				oinvalid("signed-for-other-recipient", "the publisher's signature covers another recipient_id", "SEAL-024", "bad_publisher_signature",
					seal("signed-for-other", e, k, h, sealInnerPT(oh, now, payload, publisher, sealSignatureLabel)), "SealedForged")
				// The info without the recipient: all zeros in its place.
				zh := e
				zh.recipient = make([]byte, 32)
				oinvalid("info-without-recipient", "HPKE info built with a zero recipient_id", "SEAL-013", "open_failed",
					seal("info-zero-recipient", e, k, zh.header(), sealInnerPT(h, now, payload, publisher, sealSignatureLabel)), "SealedTampered")
			}
			{
				se := e
				se.publisher = strangerID
				sh := se.header()
				oinvalid("untrusted-publisher", "sealed and signed by a publisher key the client does not trust", "SEAL-022", "untrusted_publisher",
					seal("untrusted", se, k, sh, sealInnerPT(sh, now, payload, stranger, sealSignatureLabel)), "SealedForged")
				oinvalid("signed-by-untrusted-under-trusted-id", "a trusted publisher's key ID, signed by an untrusted key", "SEAL-024", "bad_publisher_signature",
					seal("forged", e, k, h, sealInnerPT(h, now, payload, stranger, sealSignatureLabel)), "SealedForged")
				oinvalid("signed-by-second-under-first-id", "the first publisher named, the second signed", "SEAL-024", "bad_publisher_signature",
					seal("swapped", e, k, h, sealInnerPT(h, now, payload, second, sealSignatureLabel)), "SealedForged")
				oinvalid("signature-wrong-label", "the inner signature made under the seal key record label", "SEAL-024", "bad_publisher_signature",
					seal("wrong-label", e, k, h, sealInnerPT(h, now, payload, publisher, sealRecordLabel)), "WrongLabel")
				pt := sealInnerPT(h, now, payload, publisher, sealSignatureLabel)
				oinvalid("inner-trailing-byte", "the sealed plaintext followed by one byte", "SEAL-014", "decode_error",
					seal("inner-trailing", e, k, h, append(bytes.Clone(pt), 0)), "TrailingData")
				short := bytes.Clone(pt)
				binary.BigEndian.PutUint32(short[8:], uint32(len(payload)+1))
				oinvalid("inner-length", "the payload's length prefix one more than its bytes", "SEAL-014", "decode_error",
					seal("inner-length", e, k, h, short), "LengthMismatch")
			}
			groups = append(groups, og)
		}
		return file(a, []string{
			"Sealed payloads (spec/sealed.md): seal key records as a publisher checks them (SEAL-006) and envelopes as a client opens them (SEAL-020).",
			"The alert field names a code of the sealed-payload error registry (spec/sealed.md §7), not a protocol alert: these are application errors.",
			"crypto/hpke draws the sender's ephemeral key itself, so each envelope's enc and ciphertext were made once and are kept (vectors/internal/generate/sealed_hpke.json); implementations check them by opening.",
		}, groups), nil
	},
	schema: func() map[string]any {
		s := fileSchema("sealed", "SealFeed v1 sealed payload vectors",
			obj{"type": enum("SealKeyRecordVerify", "SealedOpen"), "identityKey": hexLen(32), "now": u64(),
				"recipientRecord": hexAny(), "recipientPrivateKey": hexAny(), "publisherKeys": arrayOf(hexLen(32))},
			[]string{"identityKey", "now", "recipientRecord", "recipientPrivateKey", "publisherKeys"},
			obj{"record": hexAny(), "recordId": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "publicKey": hexAny(), "notAfter": u64(),
				"envelope": hexAny(), "payload": hexAny(), "publisherKeyId": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "sealedAt": u64()},
			[]string{"record", "recordId", "publicKey", "notAfter", "envelope", "payload", "publisherKeyId", "sealedAt"})
		s["$defs"].(obj)["alert"] = obj{"enum": SealedErrorCodes}
		return s
	},
}

// SealedErrorCodes is the registry of spec/sealed.md §7.
var SealedErrorCodes = []any{"decode_error", "unsupported_version", "unsupported_suite", "bad_key", "bad_record_signature",
	"record_identity_mismatch", "bad_validity_period", "record_expired", "wrong_recipient", "suite_mismatch",
	"untrusted_publisher", "open_failed", "bad_publisher_signature", "too_large"}
