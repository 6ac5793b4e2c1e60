// Package sealed implements end-to-end sealed payloads (spec/sealed.md): an
// application-level envelope, carried inside an ordinary SealFeed message
// payload, that a publisher encrypts with HPKE (RFC 9180, base mode) to a
// client's sealing key and signs with its Ed25519 publisher key, so that the
// push server stores, batches and delivers only ciphertext it can neither
// read nor forge.
//
// A client makes a sealing key and a KeyRecord signed by its identity key
// (NewKey); it hands the record to the application's back end, which checks
// it against the identity key it bound in the token flow (VerifyRecord) and
// seals to it (Seal). The client opens envelopes with an Opener.
//
// What a sealed payload does not give: freshness or uniqueness. The server
// can drop, delay, reorder or deliver again an envelope it holds (SEAL-040);
// the application tells copies apart by its own IDs inside the payload.
//
// Every rejection is an *Error with a code of the registry in
// spec/sealed.md §7; error strings carry no key or payload bytes.
package sealed

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// Labels of spec/sealed.md §3 (SEAL-004, SEAL-013, SEAL-015, SEAL-017).
const (
	LabelRecord     = "sealfeed v1 seal key record"
	LabelRecordID   = "sealfeed v1 seal key record id"
	LabelInfo       = "sealfeed v1 sealed payload"
	LabelSignature  = "sealfeed v1 sealed payload signature"
	Version         = 1
	recordMagic     = "SFSK"
	envelopeMagic   = "SFSE"
	idSize          = 32
	signatureSize   = ed25519.SignatureSize
	tagSize         = 16 // every AEAD of §2
	ClockSkew       = 60 * time.Second
	MaxKeyLifetime  = 400 * 24 * time.Hour // SEAL-005
	MaxEnvelopeSize = 65536                // the protocol's max_payload (§15)
)

// HPKE identifiers (RFC 9180 §7, draft-ietf-hpke-pq).
const (
	KEMX25519         uint16 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	KEMMLKEM768X25519 uint16 = 0x647a // MLKEM768-X25519 (X-Wing)
	KDFHKDFSHA256     uint16 = 0x0001
	AEADAES128GCM     uint16 = 0x0001
	AEADChaCha20      uint16 = 0x0003
)

// Suite is an HPKE ciphersuite (SEAL-001).
type Suite struct{ KEM, KDF, AEAD uint16 }

var (
	// SuiteHybrid is the mandatory and default suite (SEAL-001):
	// MLKEM768-X25519, HKDF-SHA256, ChaCha20Poly1305.
	SuiteHybrid = Suite{KEMMLKEM768X25519, KDFHKDFSHA256, AEADChaCha20}
	// SuiteX25519 is DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
	// ChaCha20Poly1305: smaller records (32-byte keys) without post-quantum
	// confidentiality (SEAL-001).
	SuiteX25519 = Suite{KEMX25519, KDFHKDFSHA256, AEADChaCha20}
)

// sizes returns the public key and enc sizes of the suite's KEM and whether
// the suite is one of SEAL-001's.
func (s Suite) sizes() (npk, nenc int, ok bool) {
	if s.KDF != KDFHKDFSHA256 || (s.AEAD != AEADChaCha20 && s.AEAD != AEADAES128GCM) {
		return 0, 0, false
	}
	switch s.KEM {
	case KEMX25519:
		return 32, 32, true
	case KEMMLKEM768X25519:
		return 1216, 1120, true
	}
	return 0, 0, false
}

func (s Suite) hpke() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	kem, _ := hpke.NewKEM(s.KEM)
	kdf, _ := hpke.NewKDF(s.KDF)
	aead, _ := hpke.NewAEAD(s.AEAD)
	return kem, kdf, aead
}

// Code is an error code of the registry in spec/sealed.md §7. These are
// application errors, not protocol alerts: nothing of them goes on the wire.
type Code string

const (
	ErrDecode             Code = "decode_error"             // malformed, trailing bytes, sizes
	ErrVersion            Code = "unsupported_version"      // magic right, version not 1
	ErrSuite              Code = "unsupported_suite"        // a suite not of SEAL-001
	ErrBadKey             Code = "bad_key"                  // a key the KEM or SIG-001 rejects
	ErrRecordSignature    Code = "bad_record_signature"     // SEAL-004
	ErrRecordIdentity     Code = "record_identity_mismatch" // SEAL-006
	ErrRecordPeriod       Code = "bad_validity_period"      // SEAL-005
	ErrRecordExpired      Code = "record_expired"           // SEAL-007
	ErrWrongRecipient     Code = "wrong_recipient"          // SEAL-021
	ErrSuiteMismatch      Code = "suite_mismatch"           // SEAL-021
	ErrUntrustedPublisher Code = "untrusted_publisher"      // SEAL-022
	ErrOpen               Code = "open_failed"              // SEAL-023
	ErrPublisherSignature Code = "bad_publisher_signature"  // SEAL-024
	ErrTooLarge           Code = "too_large"                // SEAL-012
)

// Codes returns the registry of spec/sealed.md §7 in its order.
func Codes() []Code {
	return []Code{ErrDecode, ErrVersion, ErrSuite, ErrBadKey, ErrRecordSignature, ErrRecordIdentity, ErrRecordPeriod,
		ErrRecordExpired, ErrWrongRecipient, ErrSuiteMismatch, ErrUntrustedPublisher, ErrOpen, ErrPublisherSignature, ErrTooLarge}
}

// Error is a rejection with its registry code.
type Error struct {
	Code Code
	msg  string
}

func (e *Error) Error() string { return "sealed: " + string(e.Code) + ": " + e.msg }

// Is makes errors.Is(err, &Error{Code: c}) match by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func fail(c Code, msg string) error { return &Error{Code: c, msg: msg} }

// CodeOf returns the code of an *Error in err's chain, or "".
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// reader reads big-endian fields; a short read sets ok to false.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) bytes(n int) []byte {
	if !r.ok || n < 0 || len(r.b) < n {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uint16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) uint64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// readHead reads magic, version and suite, the common start of a record and
// an envelope, in the order of SEAL-003 and SEAL-011: a wrong magic is
// decode_error, then the version, then the suite.
func readHead(r *reader, magic string) (Suite, error) {
	m := r.bytes(4)
	if !r.ok || string(m) != magic {
		return Suite{}, fail(ErrDecode, "not a "+magicName(magic))
	}
	v := r.uint16()
	if !r.ok {
		return Suite{}, fail(ErrDecode, "truncated "+magicName(magic))
	}
	if v != Version {
		return Suite{}, fail(ErrVersion, "unknown "+magicName(magic)+" version")
	}
	s := Suite{r.uint16(), r.uint16(), r.uint16()}
	if !r.ok {
		return Suite{}, fail(ErrDecode, "truncated "+magicName(magic))
	}
	if _, _, ok := s.sizes(); !ok {
		return Suite{}, fail(ErrSuite, "unsupported HPKE suite")
	}
	return s, nil
}

func magicName(m string) string {
	if m == recordMagic {
		return "seal key record"
	}
	return "sealed envelope"
}

func appendHead(b []byte, magic string, s Suite) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	b = binary.BigEndian.AppendUint16(b, s.KEM)
	b = binary.BigEndian.AppendUint16(b, s.KDF)
	return binary.BigEndian.AppendUint16(b, s.AEAD)
}

// KeyRecord is a decoded seal key record (SEAL-002).
type KeyRecord struct {
	Suite       Suite
	IdentityKey ed25519.PublicKey // the client's Ed25519 identity key
	PublicKey   []byte            // the HPKE public key (SerializePublicKey)
	NotBefore   uint64            // Unix seconds
	NotAfter    uint64            // Unix seconds
	Signature   []byte

	raw      []byte
	id       [32]byte
	pub      hpke.PublicKey
	verified bool
}

// Raw returns the record's encoding, as signed.
func (k *KeyRecord) Raw() []byte { return append([]byte(nil), k.raw...) }

// ID is the record's ID, the recipient_id of envelopes sealed to it
// (SEAL-009).
func (k *KeyRecord) ID() [32]byte { return k.id }

// ClientID is the client ID of the record's identity key (ID-001).
func (k *KeyRecord) ClientID() [32]byte { return handshake.ClientID(k.IdentityKey) }

func appendRecordTBS(b []byte, s Suite, identity, pub []byte, nb, na uint64) []byte {
	b = appendHead(b, recordMagic, s)
	b = append(b, identity...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pub)))
	b = append(b, pub...)
	b = binary.BigEndian.AppendUint64(b, nb)
	return binary.BigEndian.AppendUint64(b, na)
}

// ParseRecord decodes a seal key record strictly (SEAL-003) and checks that
// its keys are keys (bad_key): the identity key passes SIG-001 and the HPKE
// public key deserializes for the suite's KEM. It does not verify the
// signature or the time: VerifyRecord does. The result does not alias b.
func ParseRecord(b []byte) (*KeyRecord, error) {
	r := &reader{b: b, ok: true}
	s, err := readHead(r, recordMagic)
	if err != nil {
		return nil, err
	}
	npk, _, _ := s.sizes()
	idk := r.bytes(ed25519.PublicKeySize)
	pk := r.bytes(int(r.uint16()))
	k := &KeyRecord{Suite: s, NotBefore: r.uint64(), NotAfter: r.uint64()}
	sg := r.bytes(signatureSize)
	if !r.ok || len(r.b) != 0 || len(pk) != npk {
		return nil, fail(ErrDecode, "seal key record: wrong length or trailing bytes")
	}
	if _, err := sig.ParsePublicKey(idk); err != nil {
		return nil, fail(ErrBadKey, "seal key record: identity key is not a valid Ed25519 key")
	}
	kem, _, _ := s.hpke()
	if k.pub, err = kem.NewPublicKey(pk); err != nil {
		return nil, fail(ErrBadKey, "seal key record: HPKE public key rejected by the KEM")
	}
	k.IdentityKey = append(ed25519.PublicKey(nil), idk...)
	k.PublicKey = append([]byte(nil), pk...)
	k.Signature = append([]byte(nil), sg...)
	k.raw = append([]byte(nil), b...)
	k.id = keyschedule.LabelledHash(LabelRecordID, k.raw)
	return k, nil
}

// VerifyRecord parses raw and checks it in the order of SEAL-006:
//
//  1. the decoding (SEAL-003: decode_error, unsupported_version,
//     unsupported_suite, bad_key);
//  2. the signature under the record's own identity key (SEAL-004,
//     bad_record_signature);
//  3. the identity key is the one the publisher expects (SEAL-006,
//     record_identity_mismatch), compared in constant time;
//  4. not_before < not_after ≤ not_before + MaxKeyLifetime (SEAL-005,
//     bad_validity_period);
//  5. now lies in [not_before − skew, not_after + skew] (SEAL-007,
//     record_expired).
//
// Only a record returned by VerifyRecord can be sealed to: the push
// server, which may carry the record, cannot substitute a key of its own.
func VerifyRecord(raw []byte, identity ed25519.PublicKey, now time.Time) (*KeyRecord, error) {
	k, err := ParseRecord(raw)
	if err != nil {
		return nil, err
	}
	if err := k.verifySignature(); err != nil {
		return nil, err
	}
	if len(identity) != ed25519.PublicKeySize || subtle.ConstantTimeCompare(identity, k.IdentityKey) != 1 {
		return nil, fail(ErrRecordIdentity, "seal key record of another identity key")
	}
	if !periodOK(k.NotBefore, k.NotAfter) {
		return nil, fail(ErrRecordPeriod, "seal key record validity period empty or too long")
	}
	if !within(now, k.NotBefore, k.NotAfter) {
		return nil, fail(ErrRecordExpired, "seal key record outside its validity period")
	}
	k.verified = true
	return k, nil
}

// verifySignature is SEAL-004: the signature verifies under the record's
// own identity key.
func (k *KeyRecord) verifySignature() error {
	idk, err := sig.ParsePublicKey(k.IdentityKey)
	if err != nil {
		return fail(ErrBadKey, "seal key record: identity key is not a valid Ed25519 key")
	}
	if sig.Verify(idk, LabelRecord, k.raw[:len(k.raw)-signatureSize], k.Signature) != nil {
		return fail(ErrRecordSignature, "seal key record signature does not verify")
	}
	return nil
}

// VerifyRecordForClient is VerifyRecord for a publisher that knows the
// client by its client ID (ID-001) rather than its identity key: the
// record's identity key must derive that ID (SEAL-006).
func VerifyRecordForClient(raw []byte, clientID [32]byte, now time.Time) (*KeyRecord, error) {
	k, err := ParseRecord(raw)
	if err != nil {
		return nil, err
	}
	id := handshake.ClientID(k.IdentityKey)
	if subtle.ConstantTimeCompare(id[:], clientID[:]) != 1 {
		// The signature first, keeping VerifyRecord's order of codes.
		if err := k.verifySignature(); err != nil {
			return nil, err
		}
		return nil, fail(ErrRecordIdentity, "seal key record of another client")
	}
	return VerifyRecord(raw, k.IdentityKey, now)
}

func periodOK(nb, na uint64) bool {
	return nb < na && na-nb <= uint64(MaxKeyLifetime/time.Second)
}

// within reports whether now lies in [nb − skew, na + skew], boundaries
// included, without overflow.
func within(now time.Time, nb, na uint64) bool {
	n := now.Unix()
	skew := int64(ClockSkew / time.Second)
	if n+skew < 0 || uint64(n+skew) < nb {
		return false
	}
	if n-skew < 0 {
		return true
	}
	m := uint64(n - skew)
	return m < na || (m == na && now.Nanosecond() == 0)
}

// Key is a client's sealing key: the HPKE private key and its record.
type Key struct {
	Private hpke.PrivateKey
	Record  *KeyRecord
}

// NewKey generates an HPKE key pair for suite and a record of it signed by
// the client's identity key, valid from notBefore (zero: now) for lifetime
// (zero: 90 days; at most MaxKeyLifetime).
func NewKey(identity ed25519.PrivateKey, s Suite, notBefore time.Time, lifetime time.Duration) (*Key, error) {
	if _, _, ok := s.sizes(); !ok {
		return nil, fail(ErrSuite, "unsupported HPKE suite")
	}
	kem, _, _ := s.hpke()
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, err
	}
	return SignRecord(identity, priv, s, notBefore, lifetime)
}

// SignRecord makes the record of priv, signed by identity (SEAL-002,
// SEAL-004), and returns it with priv.
func SignRecord(identity ed25519.PrivateKey, priv hpke.PrivateKey, s Suite, notBefore time.Time, lifetime time.Duration) (*Key, error) {
	if err := sig.CheckPrivateKey(identity); err != nil {
		return nil, fail(ErrBadKey, "identity key is not a consistent Ed25519 private key")
	}
	if _, _, ok := s.sizes(); !ok || priv.KEM().ID() != s.KEM {
		return nil, fail(ErrSuite, "private key not of the suite's KEM")
	}
	if lifetime == 0 {
		lifetime = 90 * 24 * time.Hour
	}
	if notBefore.IsZero() {
		notBefore = time.Now()
	}
	if notBefore.Unix() < 0 || lifetime < time.Second || lifetime > MaxKeyLifetime {
		return nil, fail(ErrRecordPeriod, "lifetime must be 1 s to 400 days, from after 1970")
	}
	nb := uint64(notBefore.Unix())
	na := nb + uint64(lifetime/time.Second)
	pub := identity.Public().(ed25519.PublicKey)
	tbs := appendRecordTBS(nil, s, pub, priv.PublicKey().Bytes(), nb, na)
	raw := append(tbs, sig.Sign(identity, LabelRecord, tbs)...)
	rec, err := ParseRecord(raw)
	if err != nil {
		return nil, err
	}
	return &Key{Private: priv, Record: rec}, nil
}

// envelopeHeader is magic … publisher_key_id (SEAL-010).
func envelopeHeader(s Suite, recipient, publisher [32]byte) []byte {
	b := appendHead(make([]byte, 0, headerSize), envelopeMagic, s)
	b = append(b, recipient[:]...)
	return append(b, publisher[:]...)
}

const headerSize = 4 + 2 + 6 + idSize + idSize

// info is SEAL-013: label || 0x00 || header.
func info(header []byte) []byte {
	b := append([]byte(LabelInfo), 0)
	return append(b, header...)
}

// signedContent is SEAL-015: header || sealed_at || payload<0..2^32-1>.
func appendInner(b []byte, sealedAt uint64, payload []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, sealedAt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// Overhead is how many bytes an envelope of suite s adds to its payload.
func Overhead(s Suite) int {
	_, nenc, _ := s.sizes()
	return headerSize + 2 + nenc + tagSize + 8 + 4 + signatureSize
}

// Seal encrypts payload to the record's key and signs it with publisher
// (SEAL-010 … SEAL-016). rec must come from VerifyRecord or
// VerifyRecordForClient; the time sealedAt is stated inside (zero: now).
// The envelope is at most MaxEnvelopeSize bytes (too_large otherwise).
func Seal(rec *KeyRecord, publisher ed25519.PrivateKey, payload []byte, sealedAt time.Time) ([]byte, error) {
	if rec == nil || !rec.verified {
		return nil, fail(ErrRecordSignature, "record not verified: obtain it from VerifyRecord")
	}
	if err := sig.CheckPrivateKey(publisher); err != nil {
		return nil, fail(ErrBadKey, "publisher key is not a consistent Ed25519 private key")
	}
	if len(payload) > MaxEnvelopeSize-Overhead(rec.Suite) {
		return nil, fail(ErrTooLarge, "payload too large for a sealed envelope")
	}
	if sealedAt.IsZero() {
		sealedAt = time.Now()
	}
	if sealedAt.Unix() < 0 {
		return nil, fail(ErrDecode, "sealing time before 1970")
	}
	pubID := sig.KeyID(publisher.Public().(ed25519.PublicKey))
	header := envelopeHeader(rec.Suite, rec.id, pubID)
	inner := appendInner(nil, uint64(sealedAt.Unix()), payload)
	signed := append(append(make([]byte, 0, len(header)+len(inner)), header...), inner...)
	inner = append(inner, sig.Sign(publisher, LabelSignature, signed)...)
	return sealInner(rec, header, inner)
}

// sealInner is the HPKE step of Seal, apart so that tests can build
// envelopes whose inner part breaks a rule.
func sealInner(rec *KeyRecord, header, inner []byte) ([]byte, error) {
	_, kdf, aead := rec.Suite.hpke()
	enc, s, err := hpke.NewSender(rec.pub, kdf, aead, info(header))
	if err != nil {
		return nil, err
	}
	ct, err := s.Seal(nil, inner)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(header)+2+len(enc)+len(ct))
	out = append(out, header...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(enc)))
	out = append(out, enc...)
	return append(out, ct...), nil
}

// IsEnvelope reports whether payload starts with the envelope magic
// (SEAL-030): whether a client with sealing keys treats it as sealed.
func IsEnvelope(payload []byte) bool {
	return len(payload) >= len(envelopeMagic) && string(payload[:len(envelopeMagic)]) == envelopeMagic
}

// Opened is an opened envelope.
type Opened struct {
	Payload     []byte
	PublisherID [32]byte  // KeyID of the publisher key that signed it
	SealedAt    time.Time // as the publisher stated it (SEAL-016)
	RecipientID [32]byte  // ID of the record it was sealed to
}

// Opener opens envelopes for one client.
type Opener struct {
	// Keys are the client's sealing keys, current and recent ones (after a
	// rotation, envelopes sealed to the old record may still be in
	// flight).
	Keys []*Key
	// Publishers are the publisher keys whose envelopes are accepted
	// (SEAL-022), known to the client out of band: never from the push
	// server, which could substitute its own.
	Publishers []*sig.PublicKey
}

// Open checks and decrypts an envelope in the order of SEAL-020 … SEAL-025,
// returning the first failing rule's code:
//
//  1. the decoding (SEAL-011: decode_error, unsupported_version,
//     unsupported_suite; an envelope over MaxEnvelopeSize, an enc of
//     another size than the KEM's and a ciphertext shorter than the
//     smallest sealed plaintext are decode_error);
//  2. recipient_id names one of Keys (wrong_recipient) whose suite is the
//     envelope's (suite_mismatch) (SEAL-021);
//  3. publisher_key_id names one of Publishers (SEAL-022,
//     untrusted_publisher);
//  4. HPKE decryption with info bound to the header (SEAL-023,
//     open_failed: one error for every failure of it);
//  5. the plaintext decodes (decode_error) and the publisher's signature
//     over header, time and payload verifies (SEAL-024,
//     bad_publisher_signature).
//
// Nothing decrypted is returned unless every step passed. Open does not
// check the record's validity period nor the time stated inside (SEAL-025).
func (o *Opener) Open(env []byte) (*Opened, error) {
	if len(env) > MaxEnvelopeSize {
		return nil, fail(ErrDecode, "sealed envelope longer than the largest payload")
	}
	r := &reader{b: env, ok: true}
	s, err := readHead(r, envelopeMagic)
	if err != nil {
		return nil, err
	}
	_, nenc, _ := s.sizes()
	var recipient, publisher [32]byte
	copy(recipient[:], r.bytes(idSize))
	copy(publisher[:], r.bytes(idSize))
	enc := r.bytes(int(r.uint16()))
	ct := r.b
	if !r.ok || len(enc) != nenc || len(ct) < tagSize+8+4+signatureSize {
		return nil, fail(ErrDecode, "sealed envelope: wrong length")
	}
	header := env[:headerSize]
	var key *Key
	for _, k := range o.Keys {
		id := k.Record.ID()
		if subtle.ConstantTimeCompare(id[:], recipient[:]) == 1 {
			key = k
			break
		}
	}
	if key == nil {
		return nil, fail(ErrWrongRecipient, "sealed to a key this client does not hold")
	}
	if key.Record.Suite != s {
		return nil, fail(ErrSuiteMismatch, "envelope suite differs from its record's")
	}
	var pk *sig.PublicKey
	for _, p := range o.Publishers {
		if id := p.ID(); subtle.ConstantTimeCompare(id[:], publisher[:]) == 1 {
			pk = p
			break
		}
	}
	if pk == nil {
		return nil, fail(ErrUntrustedPublisher, "sealed by a publisher key this client does not trust")
	}
	_, kdf, aead := s.hpke()
	rcp, err := hpke.NewRecipient(enc, key.Private, kdf, aead, info(header))
	if err != nil {
		return nil, errOpen
	}
	inner, err := rcp.Open(nil, ct)
	if err != nil {
		return nil, errOpen
	}
	ir := &reader{b: inner, ok: true}
	at := ir.uint64()
	payload := ir.bytes(int(ir.uint32()))
	sg := ir.bytes(signatureSize)
	if !ir.ok || len(ir.b) != 0 || at > 1<<63-1 {
		return nil, fail(ErrDecode, "sealed plaintext: wrong length, trailing bytes or time out of range")
	}
	signed := append(append(make([]byte, 0, headerSize+len(inner)), header...), inner[:len(inner)-signatureSize]...)
	if sig.Verify(pk, LabelSignature, signed, sg) != nil {
		return nil, fail(ErrPublisherSignature, "publisher signature does not verify")
	}
	return &Opened{Payload: payload, PublisherID: publisher, SealedAt: time.Unix(int64(at), 0).UTC(), RecipientID: recipient}, nil
}

var errOpen = fail(ErrOpen, "HPKE decryption failed")
