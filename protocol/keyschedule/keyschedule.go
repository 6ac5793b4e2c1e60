// Package keyschedule implements the SealFeed v1 key schedule (spec §7): the
// labelled HKDF-SHA256 derivations, quoted from the spec in one place.
package keyschedule

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"

	"github.com/sealfeed/sealfeed/protocol/wire"
)

// LabelPrefix starts every label (SUITE-010).
const LabelPrefix = "sealfeed v1 "

// Labels of spec §7 and §10.2 (KS-002: one purpose each).
const (
	LabelDerived         = "derived"
	LabelClientHandshake = "c hs traffic"
	LabelServerHandshake = "s hs traffic"
	LabelClientApp       = "c ap traffic"
	LabelServerApp       = "s ap traffic"
	LabelEnvelope        = "envelope"
	LabelResumption      = "resumption"
	LabelKey             = "key"
	LabelIV              = "iv"
	LabelFinished        = "finished"
	LabelTrafficUpdate   = "traffic upd"
	LabelEnvKey          = "env key"
	LabelEnvIV           = "env iv"
	LabelEnvTag          = "env tag"
)

// Signature and hash labels (SIG, ID, §10).
const (
	SigServer         = "sealfeed v1 server signature"
	SigClient         = "sealfeed v1 client signature"
	SigCredential     = "sealfeed v1 credential"
	SigRevocationList = "sealfeed v1 revocation list"
	SigBatch          = "sealfeed v1 batch signature"
	SigAccessToken    = "sealfeed v1 access token"
	HashKeyID         = "sealfeed v1 key id"
	HashClientID      = "sealfeed v1 client id"
	MACRecipientTag   = "sealfeed v1 recipient tag"
)

var zeros [32]byte

// ExpandLabel is HKDF-Expand(secret, HkdfLabel, length) (spec §7).
func ExpandLabel(secret []byte, label string, context []byte, length int) []byte {
	info := make([]byte, 0, 2+1+len(LabelPrefix)+len(label)+1+len(context))
	info = wire.AppendUint16(info, uint16(length))
	info = append(info, byte(len(LabelPrefix)+len(label)))
	info = append(info, LabelPrefix...)
	info = append(info, label...)
	info = wire.AppendOpaque(info, context, 255)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		panic("keyschedule: HKDF-Expand length out of range") // lengths are constants of this package's callers
	}
	return out
}

// DeriveSecret is ExpandLabel(secret, label, transcriptHash, 32), where
// transcriptHash is SHA-256 of the messages (spec §7).
func DeriveSecret(secret []byte, label string, transcriptHash []byte) []byte {
	return ExpandLabel(secret, label, transcriptHash, 32)
}

// EmptyHash is SHA-256 of the empty string, the context of "derived".
var EmptyHash = func() []byte { h := sha256.Sum256(nil); return h[:] }()

// Extract is HKDF-Extract(salt, ikm) with SHA-256.
func Extract(salt, ikm []byte) []byte {
	out, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic("keyschedule: HKDF-Extract failed")
	}
	return out
}

// EarlySecret returns HKDF-Extract(0^32, psk or 0^32) (KS-001).
func EarlySecret(psk []byte) []byte {
	if psk == nil {
		psk = zeros[:]
	}
	return Extract(zeros[:], psk)
}

// HandshakeSecret returns the handshake secret from the early secret and the
// key-exchange shared secret.
func HandshakeSecret(early, shared []byte) []byte {
	return Extract(DeriveSecret(early, LabelDerived, EmptyHash), shared)
}

// MasterSecret returns the master secret from the handshake secret.
func MasterSecret(handshake []byte) []byte {
	return Extract(DeriveSecret(handshake, LabelDerived, EmptyHash), zeros[:])
}

// TrafficKeys are the AEAD key and IV of one traffic secret.
type TrafficKeys struct {
	Key []byte // 32 bytes
	IV  []byte // 12 bytes
}

// Traffic derives key and IV from a traffic secret.
func Traffic(secret []byte) TrafficKeys {
	return TrafficKeys{
		Key: ExpandLabel(secret, LabelKey, nil, 32),
		IV:  ExpandLabel(secret, LabelIV, nil, 12),
	}
}

// NextTrafficSecret returns the traffic secret after a KeyUpdate (POST-003).
func NextTrafficSecret(secret []byte) []byte {
	return ExpandLabel(secret, LabelTrafficUpdate, nil, 32)
}

// FinishedMAC returns HMAC-SHA256(finished_key, transcriptHash), with
// finished_key derived from a handshake traffic secret (HS-023).
func FinishedMAC(handshakeTraffic, transcriptHash []byte) []byte {
	m := hmac.New(sha256.New, ExpandLabel(handshakeTraffic, LabelFinished, nil, 32))
	m.Write(transcriptHash)
	return m.Sum(nil)
}

// LabelledHash returns SHA-256(label || 0x00 || data), the form of KeyID
// and of key-derived client IDs (spec §4.1, ID-001).
func LabelledHash(label string, data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// EnvelopeKeys are the per-session envelope keys (spec §7, §10.2).
type EnvelopeKeys struct {
	Key    []byte // env_key, 32 bytes
	IV     []byte // env_iv, 12 bytes
	TagKey []byte // tag_key, 32 bytes
}

// Envelope derives the envelope keys from envelope_secret.
func Envelope(envelopeSecret []byte) EnvelopeKeys {
	return EnvelopeKeys{
		Key:    ExpandLabel(envelopeSecret, LabelEnvKey, nil, 32),
		IV:     ExpandLabel(envelopeSecret, LabelEnvIV, nil, 12),
		TagKey: ExpandLabel(envelopeSecret, LabelEnvTag, nil, 32),
	}
}
