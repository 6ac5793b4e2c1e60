// Package alert defines the alert codes of the SealFeed protocol (spec §14,
// registries.md §Alerts) and the typed error that carries one.
//
// Every rejection in the protocol packages returns an *Error whose Code is the
// alert named by the spec rule that failed (ALERT-002). Error strings never
// contain secrets or decrypted data (ALERT-003).
package alert

import (
	"errors"
	"fmt"
	"log/slog"
)

// Code is a one-byte alert code.
type Code uint8

// Alert codes. Values are stable; see spec/registries.md.
const (
	CloseNotify              Code = 0
	GoingAway                Code = 1 // orderly close: reconnect elsewhere (POST-022)
	UnexpectedMessage        Code = 10
	DecodeError              Code = 20
	IllegalParameter         Code = 21
	RecordOverflow           Code = 22
	ProtocolVersion          Code = 30
	HandshakeFailure         Code = 31
	UnknownCriticalExtension Code = 32
	BadSignature             Code = 40
	BadRecordMAC             Code = 41
	DecryptError             Code = 42
	BadKey                   Code = 50
	BadCredential            Code = 51
	CredentialExpired        Code = 52
	CredentialRevoked        Code = 53
	RevocationStale          Code = 54
	UnknownServerKey         Code = 55
	RealmMismatch            Code = 56
	ClientAuthRequired       Code = 57
	TokenRequired            Code = 58 // HS-062
	TokenKeyMismatch         Code = 59 // TOK-006
	UnknownSigner            Code = 60
	ReplayedBatch            Code = 61
	BadProof                 Code = 62
	WrongRecipient           Code = 63
	BadEnvelopeMAC           Code = 64
	ReplayedMessage          Code = 65 // local only, never sent
	StaleMessage             Code = 66 // local only, never sent
	ReplayedEpoch            Code = 67
	LimitExceeded            Code = 70
	Timeout                  Code = 71
	TokenExpired             Code = 72 // TOK-004, TOK-011
	InternalError            Code = 80
	Overloaded               Code = 81
)

var names = map[Code]string{
	CloseNotify:              "close_notify",
	GoingAway:                "going_away",
	UnexpectedMessage:        "unexpected_message",
	DecodeError:              "decode_error",
	IllegalParameter:         "illegal_parameter",
	RecordOverflow:           "record_overflow",
	ProtocolVersion:          "protocol_version",
	HandshakeFailure:         "handshake_failure",
	UnknownCriticalExtension: "unknown_critical_extension",
	BadSignature:             "bad_signature",
	BadRecordMAC:             "bad_record_mac",
	DecryptError:             "decrypt_error",
	BadKey:                   "bad_key",
	BadCredential:            "bad_credential",
	CredentialExpired:        "credential_expired",
	CredentialRevoked:        "credential_revoked",
	RevocationStale:          "revocation_stale",
	UnknownServerKey:         "unknown_server_key",
	RealmMismatch:            "realm_mismatch",
	ClientAuthRequired:       "client_auth_required",
	TokenRequired:            "token_required",
	TokenKeyMismatch:         "token_key_mismatch",
	UnknownSigner:            "unknown_signer",
	ReplayedBatch:            "replayed_batch",
	BadProof:                 "bad_proof",
	WrongRecipient:           "wrong_recipient",
	BadEnvelopeMAC:           "bad_envelope_mac",
	ReplayedMessage:          "replayed_message",
	StaleMessage:             "stale_message",
	ReplayedEpoch:            "replayed_epoch",
	LimitExceeded:            "limit_exceeded",
	Timeout:                  "timeout",
	TokenExpired:             "token_expired",
	InternalError:            "internal_error",
	Overloaded:               "overloaded",
}

// Known reports whether c is a registered alert code.
func (c Code) Known() bool { _, ok := names[c]; return ok }

// LocalOnly reports whether c is a local result that is never sent on the
// wire (ALERT-002).
func (c Code) LocalOnly() bool { return c == ReplayedMessage || c == StaleMessage }

func (c Code) String() string {
	if n, ok := names[c]; ok {
		return n
	}
	return fmt.Sprintf("alert(%d)", uint8(c))
}

// LogValue logs a code by its registered name, also under a JSON handler
// that would otherwise write the number (OPS-054).
func (c Code) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Codes returns every registered code in ascending order.
func Codes() []Code {
	var out []Code
	for c := 0; c < 256; c++ {
		if Code(c).Known() {
			out = append(out, Code(c))
		}
	}
	return out
}

// Error is a protocol rejection: the alert code and a short, secret-free
// description of the rule that failed.
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return "sealfeed: " + e.Code.String()
	}
	return "sealfeed: " + e.Code.String() + ": " + e.Reason
}

// Is makes errors.Is(err, alert.DecodeError) style checks work via Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Reason == ""
}

// New returns an *Error with the given code and reason.
func New(c Code, reason string) *Error { return &Error{Code: c, Reason: reason} }

// Errorf returns an *Error with a formatted reason. Callers must not format
// secrets into it.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Reason: fmt.Sprintf(format, args...)}
}

// Sentinel returns a reason-less error usable as an errors.Is target.
func Sentinel(c Code) error { return &Error{Code: c} }

// CodeOf extracts the alert code from err. Errors that carry no code map to
// InternalError; a nil error has no code and returns (0, false).
func CodeOf(err error) (Code, bool) {
	if err == nil {
		return 0, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return InternalError, true
}

// Find reports the alert code carried by err, and false for errors that
// carry none (a closed socket, a timeout): unlike CodeOf it does not map
// them to InternalError.
func Find(err error) (Code, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}
