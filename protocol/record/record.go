// Package record implements the SealFeed record layer (spec §8): one
// direction's AEAD state with an implicit sequence number, strict order,
// zero padding, key update and AEAD usage limits.
package record

import (
	"crypto/cipher"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limit returns the number of protected frames one key may protect
// (REC-005).
func Limit(aead uint16) uint64 {
	if aead == suite.AEADAES256GCM {
		return 1 << 20
	}
	return 1 << 32
}

type state struct {
	aeadID uint16
	secret []byte
	aead   cipher.AEAD
	iv     [suite.NonceSize]byte
	seq    uint64
	limit  uint64
	nbuf   [suite.NonceSize]byte // the current nonce, kept here so it does not escape per call
}

func (s *state) init(aeadID uint16, secret []byte) error {
	k := keyschedule.Traffic(secret)
	a, err := suite.NewAEAD(aeadID, k.Key)
	if err != nil {
		return err
	}
	s.aeadID, s.secret, s.aead, s.seq = aeadID, secret, a, 0
	copy(s.iv[:], k.IV)
	if s.limit == 0 {
		s.limit = Limit(aeadID)
	}
	return nil
}

// nonce returns iv XOR (0^4 || seq) (spec §8).
func (s *state) nonce() []byte {
	s.nbuf = s.iv
	for i := 0; i < 8; i++ {
		s.nbuf[4+i] ^= byte(s.seq >> (56 - 8*i))
	}
	return s.nbuf[:]
}

// update moves to the next traffic secret (POST-003) and restarts the
// sequence number (REC-002).
func (s *state) update() error {
	next := keyschedule.NextTrafficSecret(s.secret)
	clear(s.secret)
	return s.init(s.aeadID, next)
}

// Sealer protects frames in one direction.
type Sealer struct{ s state }

// NewSealer returns a Sealer keyed from a traffic secret.
func NewSealer(aead uint16, trafficSecret []byte) (*Sealer, error) {
	var s Sealer
	if err := s.s.init(aead, append([]byte(nil), trafficSecret...)); err != nil {
		return nil, err
	}
	return &s, nil
}

// SetLimit overrides the AEAD usage limit; for tests of REC-005.
func (s *Sealer) SetLimit(n uint64) { s.s.limit = n }

// Seq returns the sequence number of the next frame.
func (s *Sealer) Seq() uint64 { return s.s.seq }

// NeedsUpdate reports whether three quarters of the usage limit are spent,
// the point at which the sender should update its key (REC-005).
func (s *Sealer) NeedsUpdate() bool { return s.s.seq >= s.s.limit/4*3 }

// Seal appends a protected frame carrying inner (one or more encoded
// messages) followed by padding zero bytes (REC-003, REC-004).
func (s *Sealer) Seal(dst, inner []byte, padding int) ([]byte, error) {
	if len(inner) == 0 || padding < 0 || len(inner)+padding > wire.MaxRecordPlaintext {
		return nil, alert.New(alert.RecordOverflow, "record plaintext empty or too large")
	}
	if s.s.seq >= s.s.limit {
		return nil, alert.New(alert.LimitExceeded, "AEAD usage limit reached without a key update")
	}
	n := len(inner) + padding + suite.TagSize
	dst = wire.AppendFrameHeader(dst, wire.FrameProtected, n)
	hdr := len(dst) - wire.FrameHeaderLen
	pt := len(dst)
	dst = append(dst, inner...)
	for i := 0; i < padding; i++ {
		dst = append(dst, 0)
	}
	dst = s.s.aead.Seal(dst[:pt], s.s.nonce(), dst[pt:], dst[hdr:pt])
	s.s.seq++
	return dst, nil
}

// Update switches to the next traffic secret.
func (s *Sealer) Update() error { return s.s.update() }

// Opener removes protection from frames in one direction.
type Opener struct{ s state }

// NewOpener returns an Opener keyed from a traffic secret.
func NewOpener(aead uint16, trafficSecret []byte) (*Opener, error) {
	var o Opener
	if err := o.s.init(aead, append([]byte(nil), trafficSecret...)); err != nil {
		return nil, err
	}
	return &o, nil
}

// SetLimit overrides the AEAD usage limit; for tests of REC-005.
func (o *Opener) SetLimit(n uint64) { o.s.limit = n }

// Seq returns the sequence number expected next.
func (o *Opener) Seq() uint64 { return o.s.seq }

// Open decrypts a protected frame in place and returns the inner messages
// without padding (aliasing frame). Every AEAD failure is bad_record_mac:
// a replayed, reordered or dropped frame fails because the receiver uses
// its own sequence number (REC-001).
func (o *Opener) Open(frame []byte) ([]byte, error) {
	ft, hdr, frag, err := wire.ParseFrame(frame)
	if err != nil {
		return nil, err
	}
	if ft != wire.FrameProtected {
		return nil, alert.New(alert.UnexpectedMessage, "plaintext frame after keys")
	}
	if len(frag) < suite.TagSize {
		return nil, alert.New(alert.BadRecordMAC, "protected fragment shorter than a tag")
	}
	if o.s.seq >= o.s.limit {
		return nil, alert.New(alert.LimitExceeded, "peer exceeded the AEAD usage limit")
	}
	inner, err := o.s.aead.Open(frag[:0], o.s.nonce(), frag, hdr)
	if err != nil {
		return nil, alert.New(alert.BadRecordMAC, "record does not decrypt")
	}
	o.s.seq++
	if len(inner) > wire.MaxRecordPlaintext {
		return nil, alert.New(alert.RecordOverflow, "record plaintext too large")
	}
	return trimPadding(inner)
}

// Update switches to the next traffic secret.
func (o *Opener) Update() error { return o.s.update() }

// Advance moves the expected sequence number forward to n, as if frames
// up to n−1 had been received. It exists for test vectors and conformance
// runs that start a receiver mid-stream; it never moves backward, so it
// cannot make a replayed frame acceptable.
func (o *Opener) Advance(n uint64) error {
	if n < o.s.seq {
		return alert.New(alert.InternalError, "record: sequence numbers only move forward")
	}
	o.s.seq = n
	return nil
}

// trimPadding finds the end of the last message (REC-003, REC-007).
func trimPadding(inner []byte) ([]byte, error) {
	r := wire.NewReader(inner)
	end := 0
	for !r.Empty() {
		rest := inner[end:]
		if rest[0] == 0 {
			for _, b := range rest {
				if b != 0 {
					return nil, alert.New(alert.DecodeError, "non-zero byte in record padding")
				}
			}
			break
		}
		r.ReadMessage()
		if err := r.Err(); err != nil {
			return nil, err
		}
		end = len(inner) - r.Len()
	}
	if end == 0 {
		return nil, alert.New(alert.DecodeError, "record holds no message")
	}
	return inner[:end], nil
}

// ForEachMessage calls fn for every message of an inner plaintext returned
// by Open, in order.
func ForEachMessage(inner []byte, fn func(t wire.MsgType, body, raw []byte) error) error {
	r := wire.NewReader(inner)
	for !r.Empty() {
		t, body, raw := r.ReadMessage()
		if err := r.Err(); err != nil {
			return err
		}
		if err := fn(t, body, raw); err != nil {
			return err
		}
	}
	return nil
}
