// Package session is the connected state of a SealFeed connection (spec §9):
// protected application messages over the record layer, the Welcome and Ack
// messages, key updates and alerts. The handshake package creates Sessions.
package session

import (
	"bytes"
	"errors"
	"slices"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limits of spec §9 and §15.
const (
	MaxAckIDs                = 4096
	MaxKeyUpdatesWithoutData = 16
	MaxPayload               = 65536         // the largest message payload (spec §15)
	MaxTicketLifetime        = 7 * 24 * 3600 // seconds
	FlagResumed              = 0x01
)

// PeerReason is the Reason of every *alert.Error that reports an Alert
// received from the peer rather than a local failure; see FromPeer.
const PeerReason = "received from peer"

// PeerAlert returns the error that reports an Alert with code received
// from the peer.
func PeerAlert(code alert.Code) *alert.Error { return alert.New(code, PeerReason) }

// FromPeer reports whether err reports an Alert received from the peer.
// Such an error is never answered with an Alert (POST-006).
func FromPeer(err error) bool {
	var e *alert.Error
	return errors.As(err, &e) && e.Reason == PeerReason
}

// registeredExtension reports whether t is an extension type of the
// registry (registries.md §Extensions).
func registeredExtension(t uint16) bool {
	return t == wire.ExtRealm || t == wire.ExtResumptionTicket || t == wire.ExtPSKAccepted || t == wire.ExtNextServerKey
}

// CheckExtensions applies EXT-002 and EXT-005 to the extensions of one
// received message, given the types this receiver implements in that
// message: a registered extension not allowed in it is illegal_parameter,
// an unknown critical one unknown_critical_extension, an unknown
// non-critical one (GREASE included) is ignored. The first offending
// extension in list order decides. It does not check the data of allowed
// extensions.
func CheckExtensions(exts []wire.Extension, allowed ...uint16) error {
outer:
	for _, e := range exts {
		for _, a := range allowed {
			if e.Type == a {
				continue outer
			}
		}
		switch {
		case registeredExtension(e.Type):
			return alert.Errorf(alert.IllegalParameter, "extension 0x%04x not allowed in this message", e.Type)
		case wire.Critical(e.Type):
			return alert.Errorf(alert.UnknownCriticalExtension, "extension 0x%04x", e.Type)
		}
	}
	return nil
}

// Welcome is the server's first application message (POST-001).
type Welcome struct {
	ClientID       [32]byte
	Resumed        bool
	MaxPayload     uint32
	MaxRecord      uint32
	IdleTimeoutMs  uint32
	Ticket         []byte // empty for key-identified clients
	TicketLifetime uint32 // seconds; 0 iff Ticket is empty
	// StoreEpoch names the server's store (POST-010): a restored store has
	// a new one, and a client refuses one it has left (REPLAY-020).
	StoreEpoch [16]byte
	Extensions []wire.Extension
}

// AppendTo appends the complete Welcome message (header and body). The
// caller keeps Ticket within 65535 bytes and Extensions sorted.
func (w *Welcome) AppendTo(b []byte) []byte {
	b, off := wire.BeginMessage(b, wire.TypeWelcome)
	b = append(b, w.ClientID[:]...)
	var flags uint8
	if w.Resumed {
		flags |= FlagResumed
	}
	b = append(b, flags)
	b = wire.AppendUint32(b, w.MaxPayload)
	b = wire.AppendUint32(b, w.MaxRecord)
	b = wire.AppendUint32(b, w.IdleTimeoutMs)
	b = wire.AppendOpaque(b, w.Ticket, 65535)
	b = wire.AppendUint32(b, w.TicketLifetime)
	b = append(b, w.StoreEpoch[:]...)
	b = wire.AppendExtensions(b, w.Extensions)
	return wire.EndMessage(b, off)
}

// ParseWelcome decodes a Welcome body strictly (WIRE-001) and applies
// POST-002 and EXT-002/EXT-005. The result aliases body.
func ParseWelcome(body []byte) (*Welcome, error) {
	r := wire.NewReader(body)
	w := &Welcome{}
	r.Copy(w.ClientID[:], "client id")
	flags := r.Uint8("flags")
	w.MaxPayload = r.Uint32("max_payload")
	w.MaxRecord = r.Uint32("max_record")
	w.IdleTimeoutMs = r.Uint32("idle_timeout_ms")
	w.Ticket = r.Opaque(0, 65535, "ticket")
	w.TicketLifetime = r.Uint32("ticket_lifetime")
	r.Copy(w.StoreEpoch[:], "store_epoch")
	w.Extensions = r.ReadExtensions()
	if err := r.Finish("welcome"); err != nil {
		return nil, err
	}
	switch {
	case flags&^FlagResumed != 0:
		return nil, alert.New(alert.IllegalParameter, "welcome: undefined flag set")
	case w.MaxRecord > wire.MaxRecordPlaintext:
		return nil, alert.New(alert.IllegalParameter, "welcome: max_record above MaxRecordPlaintext")
	case w.MaxPayload > MaxPayload:
		return nil, alert.New(alert.IllegalParameter, "welcome: max_payload above MaxPayload (POST-002)")
	case (len(w.Ticket) == 0) != (w.TicketLifetime == 0):
		return nil, alert.New(alert.IllegalParameter, "welcome: ticket and ticket_lifetime disagree")
	case w.TicketLifetime > MaxTicketLifetime:
		return nil, alert.New(alert.IllegalParameter, "welcome: ticket_lifetime above 7 days")
	}
	if err := CheckExtensions(w.Extensions); err != nil {
		return nil, err
	}
	w.Resumed = flags&FlagResumed != 0
	return w, nil
}

// AppendAck appends an Ack message for ids. The caller passes 1 to 4096
// strictly ascending, non-zero IDs (POST-005).
func AppendAck(b []byte, ids []uint64) []byte {
	b, off := wire.BeginMessage(b, wire.TypeAck)
	b = wire.AppendPrefix(b, len(ids), MaxAckIDs)
	for _, id := range ids {
		b = wire.AppendUint64(b, id)
	}
	return wire.EndMessage(b, off)
}

// ParseAck decodes an Ack body: 1 to 4096 IDs (decode_error otherwise),
// strictly ascending and non-zero (POST-005, illegal_parameter).
func ParseAck(body []byte) ([]uint64, error) {
	r := wire.NewReader(body)
	n := r.Count(1, MaxAckIDs, 8, "ack ids")
	ids := make([]uint64, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		id := r.Uint64("ack id")
		if r.Err() == nil && (id == 0 || (i > 0 && id <= ids[i-1])) {
			return nil, alert.New(alert.IllegalParameter, "ack IDs not strictly ascending and non-zero")
		}
		ids = append(ids, id)
	}
	if err := r.Finish("ack"); err != nil {
		return nil, err
	}
	return ids, nil
}

// AppendHeartbeat appends a Heartbeat message (POST-020).
func AppendHeartbeat(b []byte, replyRequested bool) []byte {
	var r byte
	if replyRequested {
		r = 1
	}
	return wire.AppendMessage(b, wire.TypeHeartbeat, []byte{r})
}

// ParseHeartbeat decodes a Heartbeat body: reply_requested other than 0 or
// 1 is illegal_parameter (POST-020).
func ParseHeartbeat(body []byte) (replyRequested bool, err error) {
	r := wire.NewReader(body)
	v := r.Uint8("reply_requested")
	if err := r.Finish("heartbeat"); err != nil {
		return false, err
	}
	if v > 1 {
		return false, alert.New(alert.IllegalParameter, "reply_requested not 0 or 1")
	}
	return v == 1, nil
}

// AppendKeyUpdate appends a KeyUpdate message (POST-003).
func AppendKeyUpdate(b []byte, request bool) []byte {
	var r byte
	if request {
		r = 1
	}
	return wire.AppendMessage(b, wire.TypeKeyUpdate, []byte{r})
}

// ParseKeyUpdate decodes a KeyUpdate body: request_update other than 0 or
// 1 is illegal_parameter (POST-003).
func ParseKeyUpdate(body []byte) (request bool, err error) {
	r := wire.NewReader(body)
	v := r.Uint8("request_update")
	if err := r.Finish("key update"); err != nil {
		return false, err
	}
	if v > 1 {
		return false, alert.New(alert.IllegalParameter, "request_update not 0 or 1")
	}
	return v == 1, nil
}

// Role says which side of the connection a Session is.
type Role uint8

const (
	Client Role = iota + 1
	Server
)

// Message is one received application message. Body aliases the frame
// passed to Open.
type Message struct {
	Type wire.MsgType
	Body []byte
}

// Session is a connected SealFeed session. It is not safe for concurrent
// use; a transport serialises Seal, Open and Pending (one goroutine, or a
// lock around each call and the write of its result).
//
// A Session holds its secrets unexported: State reports what was
// negotiated, and BatchKeys hands the envelope keys to the batch layer
// without exposing them.
type Session struct {
	st  State
	env keyschedule.EnvelopeKeys

	sealer     *record.Sealer
	opener     *record.Opener
	pending    [][]byte
	updatesRun int  // KeyUpdates received in a row without other messages (POST-004)
	welcomed   bool // client: the handshake consumed Welcome
	closed     bool
}

// State is a snapshot of what a session negotiated and authenticated, like
// crypto/tls's ConnectionState. It holds no secret; changing it changes
// nothing in the Session.
type State struct {
	Role                 Role
	Version, Group, AEAD uint16
	ClientID             [32]byte
	Resumed              bool
	ServerKey            *sig.PublicKey // the authenticated server key
	ClientKey            *sig.PublicKey // the proven client key, nil for anonymous clients
	Welcome              Welcome        // as sent (server) or received (client); zero before one
	// Token is the access token the server verified in the handshake
	// (HS-062), nil on clients and without one; a refresh (POST-030)
	// does not change it here: the layer above tracks the current one.
	Token *token.Token
}

// New returns a Session over a record layer, with the parameters st (its
// Role says the side) and the envelope keys env. The handshake package
// calls it; tests of the session layer alone leave all but st.Role zero.
func New(st State, env keyschedule.EnvelopeKeys, sealer *record.Sealer, opener *record.Opener) *Session {
	return &Session{st: st, env: env, sealer: sealer, opener: opener}
}

// State returns a snapshot of the session's parameters.
func (s *Session) State() State {
	st := s.st
	st.Welcome.Ticket = bytes.Clone(st.Welcome.Ticket)
	st.Welcome.Extensions = slices.Clone(st.Welcome.Extensions)
	for i := range st.Welcome.Extensions {
		st.Welcome.Extensions[i].Data = bytes.Clone(st.Welcome.Extensions[i].Data)
	}
	return st
}

// BatchKeys returns the batch layer's keys for this session's envelope keys
// (spec §10.2); the keys themselves stay inside the Session and the
// batch.Keys.
func (s *Session) BatchKeys() (*batch.Keys, error) { return batch.NewKeys(s.st.AEAD, s.env) }

// MarkWelcomed records, on the client, that Welcome was received: every
// later Welcome is rejected (POST-001).
func (s *Session) MarkWelcomed() { s.welcomed = true }

// Seal returns one protected frame, appended to dst, carrying msgs, each a
// complete encoded message. When the sending key has spent three quarters
// of its usage limit, Seal appends KeyUpdate(0) as the frame's last message
// and switches the sending key after it (REC-005, POST-003).
//
// Frames returned by Pending must be sent before any frame sealed after the
// Open call that queued them; Seal fails with internal_error while any are
// unclaimed, rather than produce a frame the peer could not open.
func (s *Session) Seal(dst []byte, msgs ...[]byte) ([]byte, error) {
	return s.SealPadded(dst, 0, msgs...)
}

// SealPadded is Seal with padding zero bytes (REC-004).
func (s *Session) SealPadded(dst []byte, padding int, msgs ...[]byte) ([]byte, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	if len(s.pending) > 0 {
		return nil, alert.New(alert.InternalError, "session: send the frames of Pending first")
	}
	update := s.sealer.NeedsUpdate()
	var inner []byte
	switch {
	case len(msgs) == 1 && !update:
		inner = msgs[0]
	default:
		for _, m := range msgs {
			inner = append(inner, m...)
		}
		if update {
			inner = AppendKeyUpdate(inner, false)
		}
	}
	out, err := s.sealer.Seal(dst, inner, padding)
	if err != nil {
		return nil, err
	}
	if update {
		if err := s.sealer.Update(); err != nil {
			return nil, s.fail(err)
		}
	}
	return out, nil
}

// Sealer exposes the sending record layer, for tests of REC-005.
func (s *Session) Sealer() *record.Sealer { return s.sealer }

// Opener exposes the receiving record layer, for tests of REC-005.
func (s *Session) Opener() *record.Opener { return s.opener }

func (s *Session) fail(err error) error {
	s.closed = true
	return err
}

// Open decrypts a frame in place and returns its application messages:
// BatchDelivery and TokenAccepted on a client, Ack and TokenRefresh on a
// server (POST-016). It handles KeyUpdate and
// Heartbeat itself (POST-003, POST-004, POST-020): the receiving key
// switches after the frame, and an answer owed to the peer is queued for
// Pending. A received Alert is
// returned as an *alert.Error with the peer's code (close_notify included;
// FromPeer reports true). A Welcome after the first (POST-001), a message
// for the other role, a handshake message or an undefined type is
// unexpected_message (HS-052, WIRE-010). Any failure closes the session;
// messages that preceded the failing one in the frame are not returned.
func (s *Session) Open(frame []byte) ([]Message, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	inner, err := s.opener.Open(frame)
	if err != nil {
		return nil, s.fail(err)
	}
	var out []Message
	update, answer, beat := false, false, false
	err = record.ForEachMessage(inner, func(t wire.MsgType, body, raw []byte) error {
		if update {
			return alert.New(alert.UnexpectedMessage, "KeyUpdate not last in its frame")
		}
		switch t {
		case wire.TypeKeyUpdate:
			req, err := ParseKeyUpdate(body)
			if err != nil {
				return err
			}
			s.updatesRun++
			if s.updatesRun > MaxKeyUpdatesWithoutData {
				return alert.New(alert.LimitExceeded, "too many KeyUpdates without data")
			}
			update, answer = true, req
			return nil
		case wire.TypeHeartbeat:
			// POST-020: handled here, never passed up; it does not end a
			// run of KeyUpdates (POST-004).
			req, err := ParseHeartbeat(body)
			if err != nil {
				return err
			}
			beat = beat || req
			return nil
		case wire.TypeAlert:
			c, err := wire.ParseAlert(body)
			if err != nil {
				return err
			}
			return PeerAlert(c)
		case wire.TypeWelcome:
			if s.st.Role != Client {
				return alert.New(alert.UnexpectedMessage, "Welcome sent to a server")
			}
			if !s.welcomed {
				// The handshake consumes the first Welcome; a Session
				// that never saw it cannot tell which one this is.
				return alert.New(alert.UnexpectedMessage, "Welcome outside the handshake")
			}
			return alert.New(alert.UnexpectedMessage, "second Welcome")
		case wire.TypeBatchDelivery:
			if s.st.Role != Client {
				return alert.New(alert.UnexpectedMessage, "BatchDelivery sent to a server")
			}
		case wire.TypeAck:
			if s.st.Role != Server {
				return alert.New(alert.UnexpectedMessage, "Ack sent to a client")
			}
		case wire.TypeTokenRefresh:
			// POST-030: only a key-identified client has a key to bind.
			if s.st.Role != Server || s.st.ClientKey == nil {
				return alert.New(alert.UnexpectedMessage, "TokenRefresh from an anonymous client or to a client")
			}
		case wire.TypeTokenAccepted:
			if s.st.Role != Client {
				return alert.New(alert.UnexpectedMessage, "TokenAccepted sent to a server")
			}
		default:
			return alert.Errorf(alert.UnexpectedMessage, "message type 0x%02x after the handshake", uint8(t))
		}
		s.updatesRun = 0
		out = append(out, Message{Type: t, Body: body})
		return nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	if update {
		if err := s.opener.Update(); err != nil {
			return nil, s.fail(err)
		}
	}
	if beat || answer {
		// POST-020, POST-003: one frame answers a Heartbeat(1) with
		// Heartbeat(0) and a KeyUpdate(1) with KeyUpdate(0), the
		// KeyUpdate last, before any further data.
		var buf [2 * (wire.MessageHeaderLen + 1)]byte
		inner := buf[:0]
		if beat {
			inner = AppendHeartbeat(inner, false)
		}
		if answer {
			inner = AppendKeyUpdate(inner, false)
		}
		f, err := s.sealer.Seal(nil, inner, 0)
		if err != nil {
			return nil, s.fail(err)
		}
		if answer {
			if err := s.sealer.Update(); err != nil {
				return nil, s.fail(err)
			}
		}
		s.pending = append(s.pending, f)
	}
	return out, nil
}

// Heartbeat returns a frame carrying Heartbeat(replyRequested) (POST-020,
// POST-021).
func (s *Session) Heartbeat(replyRequested bool) ([]byte, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	if len(s.pending) > 0 {
		return nil, alert.New(alert.InternalError, "session: send the frames of Pending first")
	}
	var buf [wire.MessageHeaderLen + 1]byte
	return s.Seal(nil, AppendHeartbeat(buf[:0], replyRequested))
}

// KeyUpdate returns a frame carrying KeyUpdate(request) and switches the
// sending key right after it (POST-003). With request set, the peer answers
// with KeyUpdate(0), which Open handles.
func (s *Session) KeyUpdate(request bool) ([]byte, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	if len(s.pending) > 0 {
		return nil, alert.New(alert.InternalError, "session: send the frames of Pending first")
	}
	return s.keyUpdate(request)
}

func (s *Session) keyUpdate(request bool) ([]byte, error) {
	var buf [wire.MessageHeaderLen + 1]byte
	f, err := s.sealer.Seal(nil, AppendKeyUpdate(buf[:0], request), 0)
	if err != nil {
		return nil, err
	}
	if err := s.sealer.Update(); err != nil {
		return nil, s.fail(err)
	}
	return f, nil
}

// Pending returns and clears the frames owed to the peer, in order: the
// answers to Heartbeat(1) and KeyUpdate(1) (POST-020, POST-003). The caller
// sends them before any frame it seals next.
func (s *Session) Pending() [][]byte {
	p := s.pending
	s.pending = nil
	return p
}

// AlertFrame returns a protected frame carrying an Alert under the current
// sending key (ALERT-001) and closes the session. It returns nil for
// local-only codes, which are never sent (ALERT-002), and when the sending
// key is exhausted. An Alert received from the peer is never answered
// (POST-006): callers check FromPeer first.
func (s *Session) AlertFrame(code alert.Code) []byte {
	s.closed = true
	if code.LocalOnly() {
		return nil
	}
	f, err := s.sealer.Seal(nil, wire.AppendAlert(nil, code), 0)
	if err != nil {
		return nil
	}
	return f
}

// Closed reports whether the session failed or was closed.
func (s *Session) Closed() bool { return s.closed }

// AppendTokenAccepted appends a TokenAccepted message (POST-032): the ID
// and not_after of the access token the server now holds.
func AppendTokenAccepted(b []byte, id [16]byte, notAfter uint64) []byte {
	b, off := wire.BeginMessage(b, wire.TypeTokenAccepted)
	b = append(b, id[:]...)
	b = wire.AppendUint64(b, notAfter)
	return wire.EndMessage(b, off)
}

// ParseTokenAccepted decodes a TokenAccepted body strictly (WIRE-001).
func ParseTokenAccepted(body []byte) (id [16]byte, notAfter uint64, err error) {
	r := wire.NewReader(body)
	r.Copy(id[:], "token id")
	notAfter = r.Uint64("token not_after")
	if err := r.Finish("token accepted"); err != nil {
		return [16]byte{}, 0, err
	}
	return id, notAfter, nil
}
