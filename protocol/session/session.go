// Package session is the connected state of a SealFeed connection (spec §9):
// protected application messages over the record layer, the Welcome and Ack
// messages, key updates and alerts. The handshake package creates Sessions.
package session

import (
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limits of spec §9 and §15.
const (
	MaxAckIDs                = 4096
	MaxKeyUpdatesWithoutData = 16
	MaxTicketLifetime        = 7 * 24 * 3600
	FlagResumed              = 0x01
)

// Welcome is the server's first application message (POST-001).
type Welcome struct {
	ClientID       [32]byte
	Resumed        bool
	MaxPayload     uint32
	MaxRecord      uint32
	IdleTimeoutMs  uint32
	Ticket         []byte
	TicketLifetime uint32
	Extensions     []wire.Extension
}

// AppendTo appends the complete Welcome message (header and body).
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
	b = wire.AppendExtensions(b, w.Extensions)
	return wire.EndMessage(b, off)
}

// ParseWelcome decodes a Welcome body strictly (POST-002).
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
	w.Extensions = r.ReadExtensions()
	if err := r.Finish("welcome"); err != nil {
		return nil, err
	}
	switch {
	case flags&^FlagResumed != 0:
		return nil, alert.New(alert.IllegalParameter, "welcome: undefined flag set")
	case w.MaxRecord > wire.MaxRecordPlaintext:
		return nil, alert.New(alert.IllegalParameter, "welcome: max_record above MaxRecordPlaintext")
	case (len(w.Ticket) == 0) != (w.TicketLifetime == 0):
		return nil, alert.New(alert.IllegalParameter, "welcome: ticket and ticket_lifetime disagree")
	case w.TicketLifetime > MaxTicketLifetime:
		return nil, alert.New(alert.IllegalParameter, "welcome: ticket_lifetime above 7 days")
	}
	if err := wire.CheckExtensions(w.Extensions, func(uint16) bool { return false }); err != nil {
		return nil, err
	}
	w.Resumed = flags&FlagResumed != 0
	return w, nil
}

// AppendAck appends an Ack message for ids (strictly ascending, 1 to 4096).
func AppendAck(b []byte, ids []uint64) []byte {
	b, off := wire.BeginMessage(b, wire.TypeAck)
	b = wire.AppendPrefix(b, len(ids), MaxAckIDs)
	for _, id := range ids {
		b = wire.AppendUint64(b, id)
	}
	return wire.EndMessage(b, off)
}

// ParseAck decodes an Ack body (POST-005).
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

// Role says which side of the connection a Session is.
type Role uint8

const (
	Client Role = iota + 1
	Server
)

// Message is one received application message.
type Message struct {
	Type wire.MsgType
	Body []byte
}

// Session is a connected SealFeed session. It is not safe for concurrent
// use; a transport serialises Seal and Open calls (one reader, one writer
// with a lock, or one goroutine).
type Session struct {
	Role                 Role
	Version, Group, AEAD uint16
	ClientID             [32]byte
	Resumed              bool
	ServerKey            *sig.PublicKey // the authenticated server key
	ClientKey            *sig.PublicKey // the proven client key, nil for anonymous clients
	Envelope             keyschedule.EnvelopeKeys
	Welcome              *Welcome
	ResumptionPSK        []byte

	sealer     *record.Sealer
	opener     *record.Opener
	pending    [][]byte
	updatesRun int
	welcomed   bool // client: Welcome received
	closed     bool
}

// New returns a Session over a record layer. The handshake package calls it.
func New(role Role, sealer *record.Sealer, opener *record.Opener) *Session {
	return &Session{Role: role, sealer: sealer, opener: opener}
}

// MarkWelcomed records, on the client, that Welcome was received.
func (s *Session) MarkWelcomed() { s.welcomed = true }

// Seal returns one protected frame (appended to dst) carrying msgs, each a
// complete encoded message.
func (s *Session) Seal(dst []byte, msgs ...[]byte) ([]byte, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	return s.SealPadded(dst, 0, msgs...)
}

// SealPadded is Seal with padding zero bytes (REC-004).
func (s *Session) SealPadded(dst []byte, padding int, msgs ...[]byte) ([]byte, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	if len(msgs) == 1 {
		return s.sealer.Seal(dst, msgs[0], padding)
	}
	var inner []byte
	for _, m := range msgs {
		inner = append(inner, m...)
	}
	return s.sealer.Seal(dst, inner, padding)
}

// Sealer and Opener expose the record layer, for tests of REC-005.
func (s *Session) Sealer() *record.Sealer { return s.sealer }

// Opener exposes the receiving record layer.
func (s *Session) Opener() *record.Opener { return s.opener }

func (s *Session) fail(err error) error {
	s.closed = true
	return err
}

// Open decrypts a frame and returns its application messages. It handles
// KeyUpdate itself (POST-003, POST-004): an answer owed to the peer is
// queued for Pending. A received Alert is returned as an *alert.Error with
// the peer's code (close_notify included). Any failure closes the session.
func (s *Session) Open(frame []byte) ([]Message, error) {
	if s.closed {
		return nil, alert.New(alert.UnexpectedMessage, "session closed")
	}
	inner, err := s.opener.Open(frame)
	if err != nil {
		return nil, s.fail(err)
	}
	var out []Message
	update := false
	err = record.ForEachMessage(inner, func(t wire.MsgType, body, raw []byte) error {
		if update {
			return alert.New(alert.UnexpectedMessage, "KeyUpdate not last in its frame")
		}
		switch t {
		case wire.TypeKeyUpdate:
			r := wire.NewReader(body)
			req := r.Uint8("request_update")
			if err := r.Finish("key update"); err != nil {
				return err
			}
			if req > 1 {
				return alert.New(alert.IllegalParameter, "request_update not 0 or 1")
			}
			s.updatesRun++
			if s.updatesRun > MaxKeyUpdatesWithoutData {
				return alert.New(alert.LimitExceeded, "too many KeyUpdates without data")
			}
			update = true
			if req == 1 {
				f, err := s.KeyUpdate(false)
				if err != nil {
					return err
				}
				s.pending = append(s.pending, f)
			}
			return nil
		case wire.TypeAlert:
			c, err := wire.ParseAlert(body)
			if err != nil {
				return err
			}
			s.closed = true
			return alert.New(c, "received from peer")
		case wire.TypeWelcome:
			if s.Role != Client || s.welcomed {
				return alert.New(alert.UnexpectedMessage, "unexpected Welcome")
			}
			// The handshake consumes the first Welcome; this is a second.
			return alert.New(alert.UnexpectedMessage, "second Welcome")
		case wire.TypeBatchDelivery:
			if s.Role != Client {
				return alert.New(alert.UnexpectedMessage, "BatchDelivery sent to a server")
			}
		case wire.TypeAck:
			if s.Role != Server {
				return alert.New(alert.UnexpectedMessage, "Ack sent to a client")
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
	return out, nil
}

// KeyUpdate returns a frame carrying KeyUpdate(request) and switches the
// sending key right after it (POST-003).
func (s *Session) KeyUpdate(request bool) ([]byte, error) {
	var r uint8
	if request {
		r = 1
	}
	f, err := s.sealer.Seal(nil, wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{r}), 0)
	if err != nil {
		return nil, err
	}
	if err := s.sealer.Update(); err != nil {
		return nil, err
	}
	return f, nil
}

// Pending returns and clears the frames owed to the peer.
func (s *Session) Pending() [][]byte {
	p := s.pending
	s.pending = nil
	return p
}

// AlertFrame returns a protected frame carrying an Alert (ALERT-001) and
// closes the session. Local-only codes are never sent (ALERT-002): for
// them it returns nil.
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
