package record

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

var secret = bytes.Repeat([]byte{0x5a}, 32)

func pair(t testing.TB, aead uint16) (*Sealer, *Opener) {
	s, err := NewSealer(aead, secret)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOpener(aead, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

func msg(body string) []byte { return wire.AppendMessage(nil, wire.TypeAck, []byte(body)) }

func TestRecordRoundTripAndTamperRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		aead := rapid.SampledFrom([]uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM}).Draw(t, "aead")
		s, _ := NewSealer(aead, secret)
		o, _ := NewOpener(aead, secret)
		n := rapid.IntRange(1, 20).Draw(t, "records")
		for i := 0; i < n; i++ {
			var inner []byte
			for j := rapid.IntRange(1, 3).Draw(t, "msgs"); j > 0; j-- {
				inner = wire.AppendMessage(inner, wire.TypeAck, rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "body"))
			}
			pad := rapid.IntRange(0, 64).Draw(t, "pad")
			f, err := s.Seal(nil, inner, pad)
			if err != nil {
				t.Fatal(err)
			}
			if rapid.Bool().Draw(t, "truncate") {
				cut := rapid.IntRange(0, len(f)-1).Draw(t, "cut")
				if _, err := o.Open(f[:cut]); err == nil {
					t.Fatalf("truncation to %d accepted", cut)
				}
				return
			}
			if rapid.Bool().Draw(t, "tamper") {
				bit := rapid.IntRange(0, 8*len(f)-1).Draw(t, "bit")
				f[bit/8] ^= 1 << (bit % 8)
				if _, err := o.Open(f); err == nil {
					t.Fatalf("bit %d flip accepted", bit)
				}
				return
			}
			got, err := o.Open(f)
			if err != nil || !bytes.Equal(got, inner) {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	})
}

// REC-001: with the sequence number implicit, replayed, reordered and
// dropped records fail to decrypt.
// REPLAY-002 is REC-001.
func TestReplayReorderDrop(t *testing.T) {
	for _, aead := range []uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM} {
		s, o := pair(t, aead)
		f0, _ := s.Seal(nil, msg("0"), 0)
		f1, _ := s.Seal(nil, msg("1"), 0)
		f2, _ := s.Seal(nil, msg("2"), 0)
		if _, err := o.Open(append([]byte(nil), f0...)); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Open(append([]byte(nil), f0...)); codeOf(err) != alert.BadRecordMAC {
			t.Fatalf("replay: %v", err)
		}
		_, o = pair(t, aead)
		if _, err := o.Open(f1); codeOf(err) != alert.BadRecordMAC {
			t.Fatalf("reorder/drop: %v", err)
		}
		_ = f2
	}
}

// Sequence numbers 0, 1, 255, 256 use distinct nonces: a frame sealed at
// one number does not open at another.
func TestSequenceNumbersInNonce(t *testing.T) {
	s, _ := pair(t, suite.AEADChaCha20Poly1305)
	frames := map[uint64][]byte{}
	for i := uint64(0); i <= 256; i++ {
		f, _ := s.Seal(nil, msg("same"), 0)
		frames[i] = f
	}
	for _, a := range []uint64{0, 1, 255, 256} {
		for _, b := range []uint64{0, 1, 255, 256} {
			if a != b && bytes.Equal(frames[a], frames[b]) {
				t.Fatalf("frames %d and %d identical", a, b)
			}
		}
	}
	_, o := pair(t, suite.AEADChaCha20Poly1305)
	for i := uint64(0); i <= 256; i++ {
		if _, err := o.Open(frames[i]); err != nil {
			t.Fatalf("seq %d: %v", i, err)
		}
	}
}

// REC-003, REC-004, REC-007: zero padding.
func TestPadding(t *testing.T) {
	s, o := pair(t, suite.AEADChaCha20Poly1305)
	f, _ := s.Seal(nil, msg("x"), 100)
	got, err := o.Open(f)
	if err != nil || !bytes.Equal(got, msg("x")) {
		t.Fatal(err)
	}
	// Non-zero padding (REC-003) and an all-padding record.
	for name, inner := range map[string][]byte{
		"non-zero padding":  append(msg("x"), 0, 0, 1),
		"no message":        {0, 0, 0},
		"truncated message": msg("abc")[:5],
	} {
		s, o := pair(t, suite.AEADChaCha20Poly1305)
		f, err := s.Seal(nil, inner, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Open(f); codeOf(err) != alert.DecodeError {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestLimits(t *testing.T) {
	if Limit(suite.AEADAES256GCM) != 1<<20 || Limit(suite.AEADChaCha20Poly1305) != 1<<32 {
		t.Fatal("REC-005 limits")
	}
	s, o := pair(t, suite.AEADAES256GCM)
	s.SetLimit(3)
	o.SetLimit(2)
	var frames [][]byte
	for i := 0; i < 3; i++ {
		f, err := s.Seal(nil, msg("m"), 0)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	if _, err := s.Seal(nil, msg("m"), 0); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("sealer past limit: %v", err)
	}
	o.Open(frames[0])
	o.Open(frames[1])
	if _, err := o.Open(frames[2]); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("opener past limit: %v", err)
	}
	// After an update the counter restarts (REC-002).
	if err := s.Update(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, msg("m"), 0); err != nil {
		t.Fatalf("after update: %v", err)
	}
	if _, err := s.Seal(nil, make([]byte, wire.MaxRecordPlaintext+1), 0); codeOf(err) != alert.RecordOverflow {
		t.Fatalf("oversize: %v", err)
	}
}

func TestKeyUpdateChangesKeys(t *testing.T) {
	s, o := pair(t, suite.AEADChaCha20Poly1305)
	s.Update()
	f, _ := s.Seal(nil, msg("after"), 0)
	if _, err := o.Open(append([]byte(nil), f...)); codeOf(err) != alert.BadRecordMAC {
		t.Fatal("old key opened a frame under the new key")
	}
	_, o = pair(t, suite.AEADChaCha20Poly1305)
	o.Update()
	if _, err := o.Open(f); err != nil {
		t.Fatal(err)
	}
}

// REC-006 (plaintext after keys), WIRE-023 (oversize before decryption).
func TestOpenRejectsFrames(t *testing.T) {
	for name, c := range map[string]struct {
		f    []byte
		want alert.Code
	}{
		"plaintext frame":  {wire.AppendPlaintextFrame(nil, msg("x")), alert.UnexpectedMessage},
		"shorter than tag": {append(wire.AppendFrameHeader(nil, wire.FrameProtected, 5), 1, 2, 3, 4, 5), alert.BadRecordMAC},
		"oversize":         {wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1), alert.RecordOverflow},
	} {
		_, o := pair(t, suite.AEADChaCha20Poly1305) // every failure is fatal to an Opener
		if _, err := o.Open(c.f); codeOf(err) != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if _, err := o.Open(c.f); codeOf(err) != c.want {
			t.Errorf("%s: second Open after a failure: %v, want the same %v", name, err, c.want)
		}
	}
}

func TestSealOpenDoNotAllocate(t *testing.T) {
	s, o := pair(t, suite.AEADChaCha20Poly1305)
	inner := msg("steady state")
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		f, err := s.Seal(buf[:0], inner, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Open(f); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per Seal+Open", n)
	}
}

func TestAdvanceOnlyForward(t *testing.T) {
	s, o := pair(t, suite.AEADChaCha20Poly1305)
	var frames [][]byte
	for i := 0; i < 300; i++ {
		f, _ := s.Seal(nil, msg("m"), 0)
		frames = append(frames, f)
	}
	if err := o.Advance(256); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(frames[256]); err != nil {
		t.Fatalf("frame 256 after Advance(256): %v", err)
	}
	if o.Advance(5) == nil {
		t.Fatal("Advance moved backward")
	}
	if _, err := o.Open(frames[5]); codeOf(err) != alert.BadRecordMAC {
		t.Fatalf("old frame after Advance: %v", err)
	}
}
