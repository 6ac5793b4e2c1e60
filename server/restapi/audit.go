package restapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
)

// HeaderRequestID names the header that carries a request's ID in both
// directions (OPS-053): a publisher or proxy may send one, and every answer
// carries the ID the node used, which its audit line and the answer's
// problem detail name too.
const HeaderRequestID = "Request-Id"

// maxRequestIDLen bounds a Request-Id the node takes over from a request.
const maxRequestIDLen = 64

// requestID returns the request's Request-Id when it is one header of 1 to
// 64 letters, digits and '-', '_', '.', ':' (nothing that could forge or
// split a log line), else a new random one: 16 bytes in hex (OPS-053).
func requestID(r *http.Request) string {
	if v := r.Header.Values(HeaderRequestID); len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// peerIP is the address of the request's peer, without its port: the
// client address when no ClientIP resolver is configured.
func peerIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// auditWriter records, while a publish request is answered, what its audit
// line reports: the status, the problem type of a refusal, the publisher's
// key ID once the signature verified, the message count once the body
// parsed, and why the signature check refused it.
type auditWriter struct {
	http.ResponseWriter
	status   int
	problem  string
	keyID    string
	messages int
	reason   error
	nonce    deferredNonce // the request's nonce, recorded with its publish
}

func (w *auditWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *auditWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// unwrapAudit returns the writer an auditWriter wraps, or w.
func unwrapAudit(w http.ResponseWriter) http.ResponseWriter {
	if aw, ok := w.(*auditWriter); ok {
		return aw.ResponseWriter
	}
	return w
}

// audit logs one line for a publish request once it has been answered
// (OPS-052): request ID, key ID (empty when the signature did not verify),
// client address, path, message count (0 before the body parsed), status
// and, for a refusal, the problem type and reason. Never the body, its
// payloads or the signature.
func (a *API) audit(w *auditWriter, r *http.Request) {
	if !a.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	outcome := "accepted"
	if status >= 300 {
		outcome = "refused"
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("outcome", outcome),
		slog.String("request_id", w.Header().Get(HeaderRequestID)),
		slog.String("keyid", w.keyID),
		slog.String("remote", a.cfg.ClientIP(r)),
		slog.String("path", r.URL.Path),
		slog.Int("messages", w.messages),
		slog.Int("status", status))
	if outcome == "refused" {
		attrs = append(attrs, slog.String("problem", w.problem))
		if w.reason != nil {
			attrs = append(attrs, slog.String("reason", w.reason.Error()))
		}
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, AuditMessage, attrs...)
}

// AuditMessage is the message of every audit line (OPS-052).
const AuditMessage = "publish audit"
