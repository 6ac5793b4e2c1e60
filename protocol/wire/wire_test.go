package wire

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

func code(t *testing.T, err error) alert.Code {
	t.Helper()
	var e *alert.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v carries no alert code", err)
	}
	return e.Code
}

func TestPrefixLen(t *testing.T) {
	for _, c := range []struct{ max, want int }{
		{0, 1}, {255, 1}, {256, 2}, {65535, 2}, {65536, 3}, {1<<24 - 1, 3}, {1 << 24, 4},
	} {
		if got := PrefixLen(c.max); got != c.want {
			t.Errorf("PrefixLen(%d) = %d, want %d", c.max, got, c.want)
		}
	}
}

// TestReaderRejects: WIRE-001 (short, trailing), WIRE-002 (extension order),
// WIRE-003 (counts checked before allocation), WIRE-010 (type 0).
func TestReaderRejects(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		read func(r *Reader)
		want alert.Code
	}{
		{"short uint16", []byte{1}, func(r *Reader) { r.Uint16("x") }, alert.DecodeError},
		{"short uint64", make([]byte, 7), func(r *Reader) { r.Uint64("x") }, alert.DecodeError},
		{"trailing byte", []byte{1, 2, 3}, func(r *Reader) { r.Uint16("x") }, alert.DecodeError},
		{"opaque longer than input", []byte{5, 1, 2}, func(r *Reader) { r.Opaque(0, 255, "x") }, alert.DecodeError},
		{"opaque below min", []byte{0}, func(r *Reader) { r.Opaque(1, 255, "x") }, alert.DecodeError},
		{"opaque above max", []byte{3, 1, 2, 3}, func(r *Reader) { r.Opaque(0, 2, "x") }, alert.DecodeError},
		{"count cannot fit", []byte{0x00, 0xff, 1, 2}, func(r *Reader) { r.Count(0, 1000, 8, "x") }, alert.DecodeError},
		{"uint24 opaque truncated", []byte{0, 0, 4, 1}, func(r *Reader) { r.Opaque(0, 1<<24-1, "x") }, alert.DecodeError},
		{"extensions out of order", []byte{2, 0, 2, 0, 0, 0, 1, 0, 0}, func(r *Reader) { r.ReadExtensions() }, alert.IllegalParameter},
		{"duplicate extension", []byte{2, 0, 1, 0, 0, 0, 1, 0, 0}, func(r *Reader) { r.ReadExtensions() }, alert.IllegalParameter},
		{"message type zero", []byte{0, 0, 0, 0}, func(r *Reader) { r.ReadMessage() }, alert.UnexpectedMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(c.in)
			c.read(r)
			err := r.Finish(c.name)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := code(t, err); got != c.want {
				t.Fatalf("alert %v, want %v", got, c.want)
			}
		})
	}
}

func TestReaderStopsAfterFirstFailure(t *testing.T) {
	r := NewReader([]byte{1, 2, 3, 4, 5})
	r.Uint64("too long")
	if v := r.Uint8("next"); v != 0 {
		t.Fatalf("read %d after failure", v)
	}
	if r.Err() == nil || r.Len() != 0 {
		t.Fatal("failure not sticky")
	}
}

func TestIntegersRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.Uint8().Draw(t, "a")
		b := rapid.Uint16().Draw(t, "b")
		c := rapid.Uint32Range(0, 1<<24-1).Draw(t, "c")
		d := rapid.Uint32().Draw(t, "d")
		e := rapid.Uint64().Draw(t, "e")
		o := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "o")
		var buf []byte
		buf = AppendUint8(buf, a)
		buf = AppendUint16(buf, b)
		buf = AppendUint24(buf, c)
		buf = AppendUint32(buf, d)
		buf = AppendUint64(buf, e)
		buf = AppendOpaque(buf, o, 65535)
		r := NewReader(buf)
		if r.Uint8("a") != a || r.Uint16("b") != b || r.Uint24("c") != c || r.Uint32("d") != d || r.Uint64("e") != e {
			t.Fatal("integer mismatch")
		}
		if got := r.Opaque(0, 65535, "o"); !bytes.Equal(got, o) {
			t.Fatal("opaque mismatch")
		}
		if err := r.Finish("x"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAnyTruncationOfExtensionsIsRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, MaxExtensions).Draw(t, "n")
		exts := make([]Extension, n)
		next := uint16(0)
		for i := range exts {
			next += uint16(rapid.IntRange(1, 1000).Draw(t, "gap"))
			exts[i] = Extension{Type: next, Data: rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "data")}
		}
		enc := AppendExtensions(nil, exts)
		r := NewReader(enc)
		got := r.ReadExtensions()
		if err := r.Finish("exts"); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(AppendExtensions(nil, got), enc) {
			t.Fatal("round trip differs")
		}
		cut := rapid.IntRange(0, len(enc)-1).Draw(t, "cut")
		r = NewReader(enc[:cut])
		r.ReadExtensions()
		if r.Finish("exts") == nil {
			t.Fatalf("truncation to %d of %d bytes accepted", cut, len(enc))
		}
	})
}

// TestGREASE: EXT-001, EXT-003, EXT-004.
func TestGREASE(t *testing.T) {
	var n int
	for v := 0; v < 1<<16; v++ {
		if IsGREASE(uint16(v)) {
			n++
			if v&0x0f0f != 0x0a0a || v>>12 != (v>>4)&0xf {
				t.Fatalf("0x%04x is not of the form 0x?A?A", v)
			}
		}
	}
	if n != 16 {
		t.Fatalf("%d GREASE values, want 16", n)
	}
	if !IsGREASEExtension(0x7a7a) || IsGREASEExtension(0x8a8a) || !Critical(0x8a8a) {
		t.Fatal("critical GREASE range wrong (EXT-003, EXT-004)")
	}
}

// TestCheckExtensions: EXT-002.
func TestCheckExtensions(t *testing.T) {
	known := func(t uint16) bool { return t == ExtRealm }
	if err := CheckExtensions([]Extension{{Type: ExtRealm}, {Type: 0x0a0a}, {Type: 0x4444}}, known); err != nil {
		t.Fatalf("unknown non-critical rejected: %v", err)
	}
	err := CheckExtensions([]Extension{{Type: 0x8a8a}}, known)
	if err == nil || code(t, err) != alert.UnknownCriticalExtension {
		t.Fatalf("unknown critical: %v", err)
	}
}

// TestParseFrame: WIRE-011, WIRE-020, WIRE-021, WIRE-022, WIRE-023.
func TestParseFrame(t *testing.T) {
	msg := AppendMessage(nil, TypeClientHello, []byte("hello"))
	good := AppendPlaintextFrame(nil, msg)
	if typ, body, raw, err := ParsePlaintextFrame(good); err != nil || typ != TypeClientHello ||
		string(body) != "hello" || !bytes.Equal(raw, msg) {
		t.Fatalf("good frame: %v %v %q", typ, err, body)
	}
	big := AppendFrameHeader(nil, FramePlaintext, MaxPlaintextFrame+1)
	big = append(big, make([]byte, MaxPlaintextFrame+1)...)
	ackMsg := AppendMessage(nil, TypeAck, nil)
	cases := []struct {
		name  string
		frame []byte
		want  alert.Code
	}{
		{"empty", nil, alert.DecodeError},
		{"unknown frame type", append([]byte{0x18}, good[1:]...), alert.DecodeError},
		{"length too long", append([]byte{0x16, 0, 0, byte(len(msg) + 1)}, msg...), alert.DecodeError},
		{"trailing byte", append(append([]byte{}, good...), 0), alert.DecodeError},
		{"zero length", []byte{0x16, 0, 0, 0}, alert.DecodeError},
		{"oversize plaintext", big, alert.RecordOverflow},
		{"protected before keys", append([]byte{0x17}, good[1:]...), alert.UnexpectedMessage},
		{"two messages", AppendPlaintextFrame(nil, append(append([]byte{}, msg...), msg...)), alert.DecodeError},
		{"wrong message type in plaintext", AppendPlaintextFrame(nil, ackMsg), alert.UnexpectedMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := ParsePlaintextFrame(c.frame)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := code(t, err); got != c.want {
				t.Fatalf("alert %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseAlert(t *testing.T) {
	c, err := ParseAlert([]byte{byte(alert.BadSignature)})
	if err != nil || c != alert.BadSignature {
		t.Fatal(c, err)
	}
	if c, _ := ParseAlert([]byte{200}); c != alert.InternalError {
		t.Fatalf("unknown code mapped to %v (POST-006)", c)
	}
	if _, err := ParseAlert([]byte{1, 2}); err == nil {
		t.Fatal("trailing byte accepted")
	}
}
