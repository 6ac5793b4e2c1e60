package wire

import (
	"github.com/sealfeed/sealfeed/protocol/alert"
)

// MsgType is a message type (registries.md §Message types).
type MsgType uint8

// Message types. 0 is reserved: it marks record padding (WIRE-010, REC-007).
const (
	TypeClientHello    MsgType = 0x01
	TypeServerHello    MsgType = 0x02
	TypeServerIdentity MsgType = 0x03
	TypeServerVerify   MsgType = 0x04
	TypeFinished       MsgType = 0x05
	TypeClientIdentity MsgType = 0x06
	TypeClientVerify   MsgType = 0x07
	TypeAccessToken    MsgType = 0x08 // client flight, between ClientIdentity and ClientVerify (HS-060)
	TypeWelcome        MsgType = 0x10
	TypeKeyUpdate      MsgType = 0x11
	TypeBatchDelivery  MsgType = 0x12
	TypeAck            MsgType = 0x13
	TypeHeartbeat      MsgType = 0x14
	TypeAlert          MsgType = 0x15
	TypeTokenRefresh   MsgType = 0x16 // client → server (POST-030)
	TypeTokenAccepted  MsgType = 0x17 // server → client (POST-032)
)

// MaxMessageBody is the largest body a uint24 length can describe.
const MaxMessageBody = 1<<24 - 1

// MessageHeaderLen is the length of a Message header (type + uint24 length).
const MessageHeaderLen = 4

// BeginMessage appends a message header with a placeholder length and
// returns the extended buffer and the offset of the header. The caller
// appends the body and calls EndMessage.
func BeginMessage(b []byte, t MsgType) ([]byte, int) {
	off := len(b)
	return append(b, byte(t), 0, 0, 0), off
}

// EndMessage fills in the length of the message that starts at off.
func EndMessage(b []byte, off int) []byte {
	PutUint24(b[off+1:], uint32(len(b)-off-MessageHeaderLen))
	return b
}

// AppendMessage appends a complete message with the given body.
func AppendMessage(b []byte, t MsgType, body []byte) []byte {
	b = append(b, byte(t))
	b = AppendUint24(b, uint32(len(body)))
	return append(b, body...)
}

// ReadMessage reads one Message from r: its type, its body (aliased) and the
// full encoding including the header (aliased), for the transcript.
func (r *Reader) ReadMessage() (t MsgType, body, raw []byte) {
	start := r.b
	t = MsgType(r.Uint8("message type"))
	if r.err == nil && t == 0 {
		r.Fail(alert.New(alert.UnexpectedMessage, "message type 0"))
	}
	body = r.Opaque(0, MaxMessageBody, "message body")
	if r.err != nil {
		return 0, nil, nil
	}
	return t, body, start[:MessageHeaderLen+len(body)]
}

// FrameType is the first byte of a frame (spec §3.2).
type FrameType uint8

const (
	FramePlaintext FrameType = 0x16
	FrameProtected FrameType = 0x17
)

// FrameHeaderLen is the length of a frame header.
const FrameHeaderLen = 4

// Limits from spec §15 used by the codec.
const (
	MaxPlaintextFrame  = 16384
	MaxRecordPlaintext = 1 << 20
	AEADOverhead       = 16
	MaxProtectedFrame  = MaxRecordPlaintext + AEADOverhead
)

// Receive limits of a server for a client's records, below the limits of
// WIRE-023 (spec §15, LIM-003): the inner plaintext of the client's flight
// record and of a record it sends when connected.
const (
	MaxClientFlightRecord = 4096
	MaxClientRecord       = 65536
)

// ParseFrame splits a frame into its type, its 4-byte header and its
// fragment, enforcing WIRE-022 and WIRE-023. The results alias frame.
func ParseFrame(frame []byte) (ft FrameType, header, fragment []byte, err error) {
	r := NewReader(frame)
	ft = FrameType(r.Uint8("frame type"))
	n := int(r.Uint24("frame length"))
	if r.err != nil {
		return 0, nil, nil, r.err
	}
	switch ft {
	case FramePlaintext:
		if n > MaxPlaintextFrame {
			return 0, nil, nil, alert.Errorf(alert.RecordOverflow, "plaintext frame of %d bytes", n)
		}
	case FrameProtected:
		if n > MaxProtectedFrame {
			return 0, nil, nil, alert.Errorf(alert.RecordOverflow, "protected frame of %d bytes", n)
		}
	default:
		return 0, nil, nil, alert.Errorf(alert.DecodeError, "unknown frame type 0x%02x", uint8(ft))
	}
	if n == 0 {
		return 0, nil, nil, alert.New(alert.DecodeError, "empty frame")
	}
	fragment = r.Bytes(n, "frame fragment")
	if err := r.Finish("frame"); err != nil {
		return 0, nil, nil, err
	}
	return ft, frame[:FrameHeaderLen], fragment, nil
}

// AppendFrameHeader appends a frame header for a fragment of length n.
func AppendFrameHeader(b []byte, ft FrameType, n int) []byte {
	return AppendUint24(append(b, byte(ft)), uint32(n))
}

// AppendPlaintextFrame appends a plaintext frame carrying one message.
func AppendPlaintextFrame(b []byte, msg []byte) []byte {
	return append(AppendFrameHeader(b, FramePlaintext, len(msg)), msg...)
}

// ParsePlaintextFrame parses a plaintext frame and the single message in it
// (WIRE-020). A protected frame yields unexpected_message.
func ParsePlaintextFrame(frame []byte) (t MsgType, body, raw []byte, err error) {
	ft, _, frag, err := ParseFrame(frame)
	if err != nil {
		return 0, nil, nil, err
	}
	if ft != FramePlaintext {
		return 0, nil, nil, alert.New(alert.UnexpectedMessage, "protected frame before keys")
	}
	r := NewReader(frag)
	t, body, raw = r.ReadMessage()
	if err := r.Finish("plaintext frame"); err != nil {
		return 0, nil, nil, err
	}
	switch t {
	case TypeClientHello, TypeServerHello, TypeAlert:
	default:
		return 0, nil, nil, alert.Errorf(alert.UnexpectedMessage, "message type 0x%02x in plaintext frame", uint8(t))
	}
	return t, body, raw, nil
}

// AppendAlert appends an Alert message (POST-006).
func AppendAlert(b []byte, c alert.Code) []byte {
	return AppendMessage(b, TypeAlert, []byte{byte(c)})
}

// ParseAlert decodes an Alert body. Unknown codes are mapped to
// internal_error (POST-006).
func ParseAlert(body []byte) (alert.Code, error) {
	r := NewReader(body)
	c := alert.Code(r.Uint8("alert code"))
	if err := r.Finish("alert"); err != nil {
		return 0, err
	}
	if !c.Known() {
		c = alert.InternalError
	}
	return c, nil
}
