package generate

import (
	"bytes"
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("Truncated", "MALFORMED", "The encoding stops before its last field ends (WIRE-001).",
		"A decoder that reads past the end crashes or reads foreign memory.")
	note("TrailingData", "MALFORMED", "Bytes follow the last field (WIRE-001).",
		"Two parsers disagree on what was signed or hashed.")
	note("LengthMismatch", "MALFORMED", "A length or count prefix disagrees with the data or is out of its range (WIRE-001).", "")
	note("UnknownType", "MALFORMED", "A type or kind value not in the registry.", "")
	note("UnexpectedMessage", "STATE", "A message type not allowed where it appears (WIRE-010, WIRE-020, HS-050).", "")
	note("Oversize", "RESOURCE", "A size above a limit of spec §15: rejected before the data is read or decrypted.",
		"An implementation that buffers first can be made to allocate large amounts of memory.")
	note("MaxSize", "EDGE_CASE", "A size exactly at a limit of spec §15: accepted.", "")
	note("OutOfOrder", "MALFORMED", "A list that must be strictly ascending is not (WIRE-002).", "")
	note("Duplicate", "MALFORMED", "A list holds one item twice (WIRE-002, HS-002).", "")
	note("UnknownCriticalExtension", "EXTENSION", "A critical extension (type & 0x8000) the receiver does not implement (EXT-002).",
		"Ignoring it lets a peer believe a security feature is in force when it is not.")
	note("UnknownExtension", "EXTENSION", "A non-critical extension the receiver does not implement: ignored (EXT-002).", "")
	note("GREASE", "EXTENSION", "A GREASE value (EXT-003): ignored by the receiver.",
		"An implementation that rejects GREASE ossifies the protocol.")
	note("Padding", "EDGE_CASE", "Zero padding after the last message of a protected record (REC-003).", "")
	note("NonZeroPadding", "MALFORMED", "A non-zero byte in record padding (REC-003).", "")
	note("MinSize", "EDGE_CASE", "The smallest size a field allows.", "")
	note("Empty", "EDGE_CASE", "An empty list or byte string where the field allows one.", "")
}

// decoder collects the tests of one Decode group.
type decoder struct {
	a *area
	g vectors.DecodeGroup
}

func newDecoder(a *area, structure string, known ...uint16) *decoder {
	return &decoder{a: a, g: vectors.DecodeGroup{Type: "Decode", Structure: structure, Known: known}}
}

func (d *decoder) name(n string) string { return d.g.Structure + "/" + n }

func (d *decoder) valid(name, comment, req string, in []byte, flags ...string) {
	d.g.Tests = append(d.g.Tests, vectors.DecodeTest{Test: d.a.valid(d.name(name), comment, req, flags...), Input: nonNil(in)})
}

func (d *decoder) invalid(name, comment, req string, code alert.Code, in []byte, flags ...string) {
	d.g.Tests = append(d.g.Tests, vectors.DecodeTest{Test: d.a.invalid(d.name(name), comment, req, code.String(), flags...), Input: nonNil(in)})
}

// truncate adds one decode_error test per cut point: the encoding in cut
// after cut bytes. Cut points are field boundaries and the middle of fields.
func (d *decoder) truncate(base string, in []byte, cuts ...int) {
	for _, c := range cuts {
		if c < 0 || c >= len(in) {
			d.a.fail("%s: cut %d outside 0..%d", d.name(base), c, len(in)-1)
			continue
		}
		d.invalid(fmt.Sprintf("%s-truncated-%d", base, c), fmt.Sprintf("%s truncated to %d of %d bytes", base, c, len(in)),
			"WIRE-001", alert.DecodeError, in[:c], "Truncated")
	}
}

// trailing adds a decode_error test with one byte appended.
func (d *decoder) trailing(base string, in []byte, req string) {
	d.invalid(base+"-trailing-byte", base+" followed by one extra byte", req, alert.DecodeError,
		append(bytes.Clone(in), 0x00), "TrailingData")
}

func nonNil(b []byte) vectors.Hex {
	if b == nil {
		return vectors.Hex{}
	}
	return b
}

// decodeStructures lists the structure builders of decode.json in order.
// Each returns its group; areas of later packages append to it.
var decodeStructures = []func(*area) (*decoder, error){
	decodeFrame, decodePlaintextFrame, decodeAlert, decodeExtensions,
}

var decodeArea = areaDef{
	name: "decode",
	build: func(a *area) (any, error) {
		var groups []vectors.DecodeGroup
		for _, f := range decodeStructures {
			d, err := f(a)
			if err != nil {
				return nil, err
			}
			groups = append(groups, d.g)
		}
		return file(a, []string{
			"Strict decoding (WIRE-001, WIRE-002): each group applies the decoder of one structure to encodings.",
			"A valid input decodes (and re-encodes to the same bytes); an invalid one is rejected with the alert given.",
			"Semantic checks that need keys or state are in the other files; these tests need none.",
		}, groups), nil
	},
	schema: func() map[string]any {
		return fileSchema("decode", "SealFeed v1 strict decoding vectors",
			obj{"type": constant("Decode"), "structure": str(), "known": uint16s()}, []string{"known"},
			obj{"input": hexAny()}, nil)
	},
}

func frame(ft byte, frag []byte) []byte {
	return append(wire.AppendFrameHeader(nil, wire.FrameType(ft), len(frag)), frag...)
}

func decodeFrame(a *area) (*decoder, error) {
	d := newDecoder(a, "Frame")
	alertMsg := wire.AppendAlert(nil, alert.CloseNotify)
	pt := frame(0x16, alertMsg)
	prot := frame(0x17, randBytes(a.name, "frame/protected", 40))
	d.valid("plaintext", "a plaintext frame holding an Alert message", "WIRE-022", pt, "Normal")
	d.valid("protected", "a protected frame with a 40-byte fragment", "WIRE-021", prot, "Normal")
	d.valid("protected-17", "the smallest useful protected fragment: tag plus one byte", "WIRE-021", frame(0x17, randBytes(a.name, "frame/p17", 17)), "MinSize")
	d.valid("plaintext-1", "a plaintext frame with a 1-byte fragment (the frame layer does not parse the message)", "WIRE-022", frame(0x16, []byte{0x15}), "MinSize")
	d.valid("plaintext-max", "a plaintext fragment of exactly MaxPlaintextFrame (16384) bytes", "WIRE-023",
		frame(0x16, randBytes(a.name, "frame/ptmax", wire.MaxPlaintextFrame)), "MaxSize")
	d.truncate("plaintext", pt, 0, 1, 3, 4, len(pt)-1)
	d.trailing("plaintext", pt, "WIRE-022")
	d.trailing("protected", prot, "WIRE-022")
	for _, ft := range []byte{0x00, 0x15, 0x18, 0xff} {
		d.invalid(fmt.Sprintf("type-%02x", ft), fmt.Sprintf("frame type 0x%02x is neither plaintext nor protected", ft),
			"WIRE-022", alert.DecodeError, frame(ft, alertMsg), "UnknownType")
	}
	d.invalid("plaintext-empty", "plaintext frame with length 0", "WIRE-022", alert.DecodeError, []byte{0x16, 0, 0, 0}, "LengthMismatch")
	d.invalid("protected-empty", "protected frame with length 0", "WIRE-022", alert.DecodeError, []byte{0x17, 0, 0, 0}, "LengthMismatch")
	long := bytes.Clone(pt)
	wire.PutUint24(long[1:], uint32(len(pt)-4+1))
	d.invalid("length-plus-1", "length one more than the bytes that follow", "WIRE-022", alert.DecodeError, long, "LengthMismatch")
	short := bytes.Clone(pt)
	wire.PutUint24(short[1:], uint32(len(pt)-4-1))
	d.invalid("length-minus-1", "length one less than the bytes that follow", "WIRE-022", alert.DecodeError, short, "LengthMismatch", "TrailingData")
	d.invalid("plaintext-oversize-header", "only the header of a plaintext frame of MaxPlaintextFrame + 1 bytes: rejected before reading on",
		"WIRE-023", alert.RecordOverflow, wire.AppendFrameHeader(nil, wire.FramePlaintext, wire.MaxPlaintextFrame+1), "Oversize")
	d.invalid("plaintext-oversize", "a complete plaintext frame of MaxPlaintextFrame + 1 bytes",
		"WIRE-023", alert.RecordOverflow, frame(0x16, randBytes(a.name, "frame/ptover", wire.MaxPlaintextFrame+1)), "Oversize")
	d.invalid("protected-oversize-header", "only the header of a protected frame of MaxRecordPlaintext + 17 bytes: rejected before any decryption",
		"WIRE-023", alert.RecordOverflow, wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1), "Oversize")
	d.invalid("protected-max-length-field", "a protected frame header with length 2^24 - 1",
		"WIRE-023", alert.RecordOverflow, []byte{0x17, 0xff, 0xff, 0xff}, "Oversize")
	return d, nil
}

func decodePlaintextFrame(a *area) (*decoder, error) {
	d := newDecoder(a, "PlaintextFrame")
	alertFrame := wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.BadSignature))
	d.valid("alert", "a plaintext frame with one Alert message (bad_signature)", "WIRE-020", alertFrame, "Normal")
	d.valid("alert-close-notify", "a plaintext frame with Alert close_notify", "WIRE-020",
		wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.CloseNotify)), "Normal")
	for _, t := range []struct {
		typ  wire.MsgType
		name string
	}{
		{wire.TypeServerIdentity, "ServerIdentity"}, {wire.TypeServerVerify, "ServerVerify"}, {wire.TypeFinished, "Finished"},
		{wire.TypeClientIdentity, "ClientIdentity"}, {wire.TypeClientVerify, "ClientVerify"}, {wire.TypeWelcome, "Welcome"},
		{wire.TypeKeyUpdate, "KeyUpdate"}, {wire.TypeBatchDelivery, "BatchDelivery"}, {wire.TypeAck, "Ack"},
	} {
		body := randBytes(a.name, "ptframe/"+t.name, 8)
		d.invalid("type-"+t.name, t.name+" in a plaintext frame", "WIRE-020", alert.UnexpectedMessage,
			wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, t.typ, body)), "UnexpectedMessage")
	}
	for _, t := range []byte{0x08, 0x14, 0x16, 0xff} {
		d.invalid(fmt.Sprintf("type-%02x", t), fmt.Sprintf("unregistered message type 0x%02x", t), "WIRE-010", alert.UnexpectedMessage,
			wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.MsgType(t), []byte{1})), "UnknownType")
	}
	d.invalid("type-00", "message type 0, reserved for padding", "WIRE-010", alert.UnexpectedMessage,
		wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, 0, []byte{1})), "UnknownType")
	two := wire.AppendAlert(wire.AppendAlert(nil, alert.CloseNotify), alert.CloseNotify)
	d.invalid("two-messages", "two Alert messages in one plaintext frame", "WIRE-020", alert.DecodeError,
		wire.AppendPlaintextFrame(nil, two), "TrailingData")
	msg := wire.AppendAlert(nil, alert.CloseNotify)
	d.invalid("message-trailing-zero", "an Alert followed by a zero byte: plaintext frames carry no padding", "WIRE-020", alert.DecodeError,
		wire.AppendPlaintextFrame(nil, append(bytes.Clone(msg), 0)), "TrailingData")
	d.invalid("message-truncated-header", "a fragment shorter than a message header", "WIRE-001", alert.DecodeError,
		wire.AppendPlaintextFrame(nil, msg[:3]), "Truncated")
	bad := bytes.Clone(msg)
	wire.PutUint24(bad[1:], 2)
	d.invalid("message-length-plus-1", "message length one more than its body", "WIRE-001", alert.DecodeError,
		wire.AppendPlaintextFrame(nil, bad), "LengthMismatch")
	d.invalid("protected-frame", "a protected frame where a plaintext one is expected (no keys yet)", "REC-006", alert.UnexpectedMessage,
		frame(0x17, randBytes(a.name, "ptframe/protected", 24)), "UnexpectedMessage")
	return d, nil
}

func decodeAlert(a *area) (*decoder, error) {
	d := newDecoder(a, "Alert")
	for _, c := range []alert.Code{alert.CloseNotify, alert.DecodeError, alert.BadSignature, alert.Overloaded} {
		d.valid(c.String(), "Alert body "+c.String(), "POST-006", []byte{byte(c)}, "Normal")
	}
	d.valid("unknown-code", "an unregistered code: accepted and treated as internal_error", "POST-006", []byte{0xc8}, "UnknownType")
	d.invalid("empty", "an empty Alert body", "WIRE-001", alert.DecodeError, []byte{}, "Truncated")
	d.invalid("two-bytes", "an Alert body of two bytes", "WIRE-001", alert.DecodeError, []byte{40, 0}, "TrailingData")
	return d, nil
}

func decodeExtensions(a *area) (*decoder, error) {
	d := newDecoder(a, "Extensions", wire.ExtRealm, wire.ExtResumptionTicket, wire.ExtPSKAccepted)
	ext := func(es ...wire.Extension) []byte { return wire.AppendExtensions(nil, es) }
	realm := wire.Extension{Type: wire.ExtRealm, Data: []byte("example realm")}
	d.valid("empty", "an empty list", "WIRE-001", ext(), "Empty")
	d.valid("realm", "one known extension", "EXT-002", ext(realm), "Normal")
	d.valid("grease", "a known extension and a GREASE extension with arbitrary data", "EXT-003",
		ext(realm, wire.Extension{Type: 0x1a1a, Data: randBytes(a.name, "ext/grease", 5)}), "GREASE")
	d.valid("grease-7a7a", "the largest non-critical GREASE type, with empty data", "EXT-003", ext(wire.Extension{Type: 0x7a7a}), "GREASE")
	d.valid("unknown-non-critical", "unknown non-critical extensions are ignored", "EXT-002",
		ext(realm, wire.Extension{Type: 0x00ff, Data: []byte{1}}, wire.Extension{Type: 0x7fff}), "UnknownExtension")
	var max []wire.Extension
	for i := 0; i < wire.MaxExtensions; i++ {
		max = append(max, wire.Extension{Type: uint16(0x0100 + i)})
	}
	d.valid("max-count", "32 extensions, the most a list may hold", "WIRE-001", ext(max...), "MaxSize")
	d.valid("max-data", "an extension with 65535 bytes of data", "WIRE-001",
		ext(wire.Extension{Type: 0x0200, Data: randBytes(a.name, "ext/maxdata", 0xffff)}), "MaxSize")
	two := ext(realm, wire.Extension{Type: wire.ExtResumptionTicket, Data: []byte{1, 2, 3}})
	d.truncate("two", two, 0, 1, 2, 3, 4, 10, len(two)-1)
	d.trailing("two", two, "WIRE-001")
	over := append(ext(max...), 0x04, 0x00, 0x00, 0x00)
	over[0] = wire.MaxExtensions + 1
	d.invalid("count-33", "a count of 33, above the maximum of 32", "WIRE-001", alert.DecodeError, over, "LengthMismatch", "Oversize")
	cnt := bytes.Clone(two)
	cnt[0] = 3
	d.invalid("count-plus-1", "a count of 3 for 2 extensions", "WIRE-001", alert.DecodeError, cnt, "LengthMismatch")
	d.invalid("out-of-order", "types 2 then 1", "HS-004", alert.IllegalParameter,
		ext(wire.Extension{Type: 2, Data: []byte{1}}, wire.Extension{Type: 1, Data: []byte("r")}), "OutOfOrder")
	d.invalid("out-of-order-critical", "an unknown critical extension 0x8001, then type 1: the order is checked before criticality (EXT-008)", "EXT-008", alert.IllegalParameter,
		ext(wire.Extension{Type: 0x8001}, wire.Extension{Type: 1, Data: []byte("r")}), "OutOfOrder", "OrderOfChecks")
	d.invalid("duplicate", "type 1 twice", "HS-004", alert.IllegalParameter,
		ext(realm, realm), "Duplicate")
	d.invalid("duplicate-grease", "the same GREASE type twice", "HS-004", alert.IllegalParameter,
		ext(wire.Extension{Type: 0x2a2a}, wire.Extension{Type: 0x2a2a}), "Duplicate", "GREASE")
	d.invalid("critical-8001", "an unknown critical extension 0x8001", "EXT-002", alert.UnknownCriticalExtension,
		ext(realm, wire.Extension{Type: 0x8001}), "UnknownCriticalExtension")
	d.invalid("critical-grease-8a8a", "the reserved critical value 0x8a8a (EXT-004)", "EXT-004", alert.UnknownCriticalExtension,
		ext(wire.Extension{Type: 0x8a8a, Data: []byte{0}}), "UnknownCriticalExtension", "GREASE")
	d.invalid("critical-ffff", "an unknown critical extension 0xffff after a GREASE one", "EXT-001", alert.UnknownCriticalExtension,
		ext(wire.Extension{Type: 0x0a0a}, wire.Extension{Type: 0xffff}), "UnknownCriticalExtension")
	return d, nil
}
