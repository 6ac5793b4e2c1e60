// Package record implements the SealFeed record layer (spec §8): one
// direction's AEAD state with an implicit sequence number, strict order,
// zero padding, key update and AEAD usage limits.
//
// A Sealer and an Opener are not safe for concurrent use. Seal and Open
// allocate nothing in steady state: the nonce is computed into an array in
// the state, Seal appends to the caller's buffer and Open decrypts in place.
package record

import (
	"crypto/cipher"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Limit returns the number of protected frames one key may protect
// (REC-005): 2^20 for AES-256-GCM, 2^32 for ChaCha20-Poly1305.
func Limit(aead uint16) uint64 {
	if aead == suite.AEADAES256GCM {
		return 1 << 20
	}
	return 1 << 32
}

type state struct {
	aeadID uint16
	secret []byte // the current traffic secret, owned by the state
	aead   cipher.AEAD
	iv     [suite.NonceSize]byte
	seq    uint64
	limit  uint64
	nbuf   [suite.NonceSize]byte // the current nonce; kept here so it does not escape per call
	err    error                 // sticky failure: the state is unusable
}

func (s *state) init(aeadID uint16, secret []byte) error {
	k := keyschedule.Traffic(secret)
	a, err := suite.NewAEAD(aeadID, k.Key)
	clear(k.Key)
	if err != nil {
		clear(k.IV)
		return err
	}
	s.aeadID, s.secret, s.aead, s.seq = aeadID, secret, a, 0
	copy(s.iv[:], k.IV)
	clear(k.IV)
	if s.limit == 0 {
		s.limit = Limit(aeadID)
	}
	return nil
}

// nonce returns iv XOR (0^4 || uint64 seq) (spec §8).
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
	if s.err != nil {
		return s.err
	}
	next := keyschedule.NextTrafficSecret(s.secret)
	clear(s.secret)
	if err := s.init(s.aeadID, next); err != nil {
		s.err = err
		return err
	}
	return nil
}

// erase clears the secret and IV and makes the state unusable (KS-003, best
// effort: the expanded AEAD key schedule inside cipher.AEAD cannot be
// cleared).
func (s *state) erase() {
	clear(s.secret)
	clear(s.iv[:])
	clear(s.nbuf[:])
	s.secret, s.aead = nil, nil
	if s.err == nil {
		s.err = alert.New(alert.InternalError, "record: state erased")
	}
}

func newState(aead uint16, trafficSecret []byte) (state, error) {
	if len(trafficSecret) != suite.HashSize {
		return state{}, alert.New(alert.InternalError, "record: traffic secret must be 32 bytes")
	}
	var s state
	err := s.init(aead, append([]byte(nil), trafficSecret...))
	return s, err
}

// Sealer protects frames in one direction.
type Sealer struct{ s state }

// NewSealer returns a Sealer keyed from a 32-byte traffic secret, at
// sequence number 0. It copies the secret.
func NewSealer(aead uint16, trafficSecret []byte) (*Sealer, error) {
	s, err := newState(aead, trafficSecret)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// SetLimit overrides the AEAD usage limit (REC-005) for this and every
// following key; for tests of the limit, which cannot reach 2^20 or 2^32
// frames. It never raises the limit above Limit(aead).
func (s *Sealer) SetLimit(n uint64) { s.s.limit = min(n, Limit(s.s.aeadID)) }

// Seq returns the sequence number of the next frame.
func (s *Sealer) Seq() uint64 { return s.s.seq }

// NeedsUpdate reports whether three quarters of the usage limit of the
// current key are spent, the point at which the sender updates its key so
// that it never reaches the limit (REC-005).
func (s *Sealer) NeedsUpdate() bool { return s.s.seq >= s.s.limit/4*3 }

// Seal appends to dst a complete protected frame carrying inner (one or more
// encoded messages) followed by padding zero bytes (REC-003, REC-004), and
// advances the sequence number (REC-001). It refuses, with limit_exceeded,
// to protect a frame beyond the key's usage limit (REC-005), and with
// record_overflow an inner plaintext above MaxRecordPlaintext (REC-003).
// It does not check that inner is a valid sequence of messages.
func (s *Sealer) Seal(dst, inner []byte, padding int) ([]byte, error) {
	if s.s.err != nil {
		return nil, s.s.err
	}
	if len(inner) == 0 || padding < 0 {
		return nil, alert.New(alert.InternalError, "record: nothing to seal")
	}
	if len(inner) > wire.MaxRecordPlaintext || padding > wire.MaxRecordPlaintext-len(inner) {
		return nil, alert.New(alert.RecordOverflow, "record plaintext above MaxRecordPlaintext")
	}
	if s.s.seq >= s.s.limit {
		return nil, alert.New(alert.LimitExceeded, "AEAD usage limit reached without a key update")
	}
	n := len(inner) + padding + suite.TagSize
	dst = wire.AppendFrameHeader(dst, wire.FrameProtected, n)
	hdr := len(dst) - wire.FrameHeaderLen
	pt := len(dst)
	dst = append(dst, inner...)
	dst = append(dst, make([]byte, padding)...)
	dst = s.s.aead.Seal(dst[:pt], s.s.nonce(), dst[pt:], dst[hdr:pt])
	s.s.seq++
	return dst, nil
}

// Update switches to the next traffic secret (POST-003) and restarts the
// sequence number at 0 (REC-002).
func (s *Sealer) Update() error { return s.s.update() }

// Erase clears the traffic secret and IV; the Sealer is unusable afterwards
// (KS-003).
func (s *Sealer) Erase() { s.s.erase() }

// Opener removes protection from frames in one direction.
type Opener struct{ s state }

// NewOpener returns an Opener keyed from a 32-byte traffic secret, expecting
// sequence number 0. It copies the secret.
func NewOpener(aead uint16, trafficSecret []byte) (*Opener, error) {
	s, err := newState(aead, trafficSecret)
	if err != nil {
		return nil, err
	}
	return &Opener{s: s}, nil
}

// SetLimit overrides the AEAD usage limit (REC-005) for this and every
// following key; for tests. It never raises the limit above Limit(aead).
func (o *Opener) SetLimit(n uint64) { o.s.limit = min(n, Limit(o.s.aeadID)) }

// Seq returns the sequence number expected next.
func (o *Opener) Seq() uint64 { return o.s.seq }

// Open decrypts a protected frame in place and returns the inner messages
// without padding; the result aliases frame. The receiver uses its own
// sequence number, so a replayed, reordered or dropped frame fails: every
// AEAD failure is bad_record_mac (REC-001). Other failures: a plaintext
// frame is unexpected_message (REC-006), a frame above the size limits is
// record_overflow before any decryption (WIRE-023), a frame beyond the
// key's usage limit is limit_exceeded (REC-005), non-zero padding or no
// message is decode_error (REC-003, REC-007).
//
// Every failure is fatal: the Opener rejects all later frames with the same
// error. Open checks the framing of the inner messages but not their types;
// that is the caller's (WIRE-010).
func (o *Opener) Open(frame []byte) ([]byte, error) {
	if o.s.err != nil {
		return nil, o.s.err
	}
	inner, err := o.open(frame)
	if err != nil {
		o.s.err = err
		return nil, err
	}
	return inner, nil
}

func (o *Opener) open(frame []byte) ([]byte, error) {
	ft, hdr, frag, err := wire.ParseFrame(frame)
	if err != nil {
		return nil, err
	}
	if ft != wire.FrameProtected {
		return nil, alert.New(alert.UnexpectedMessage, "plaintext frame after keys")
	}
	if o.s.seq >= o.s.limit {
		return nil, alert.New(alert.LimitExceeded, "peer exceeded the AEAD usage limit")
	}
	if len(frag) < suite.TagSize {
		return nil, alert.New(alert.BadRecordMAC, "protected fragment shorter than a tag")
	}
	inner, err := o.s.aead.Open(frag[:0], o.s.nonce(), frag, hdr)
	if err != nil {
		return nil, alert.New(alert.BadRecordMAC, "record does not decrypt")
	}
	o.s.seq++
	// ParseFrame bounds the fragment by MaxRecordPlaintext + 16, so inner
	// cannot exceed MaxRecordPlaintext (REC-003).
	return trimPadding(inner)
}

// Update switches to the next traffic secret (POST-003) and restarts the
// sequence number at 0 (REC-002).
func (o *Opener) Update() error { return o.s.update() }

// Erase clears the traffic secret and IV; the Opener is unusable afterwards
// (KS-003).
func (o *Opener) Erase() { o.s.erase() }

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

// trimPadding returns inner up to the end of its last message (REC-003,
// REC-007): messages are read until the end or a 0x00 where a message type
// is expected; every byte from there must be zero, and at least one message
// must precede it.
func trimPadding(inner []byte) ([]byte, error) {
	end := 0
	for end < len(inner) && inner[end] != 0 {
		if len(inner)-end < wire.MessageHeaderLen {
			return nil, alert.New(alert.DecodeError, "record: truncated message header")
		}
		n := int(inner[end+1])<<16 | int(inner[end+2])<<8 | int(inner[end+3])
		if n > len(inner)-end-wire.MessageHeaderLen {
			return nil, alert.New(alert.DecodeError, "record: truncated message body")
		}
		end += wire.MessageHeaderLen + n
	}
	if end == 0 {
		return nil, alert.New(alert.DecodeError, "record holds no message")
	}
	for _, b := range inner[end:] {
		if b != 0 {
			return nil, alert.New(alert.DecodeError, "non-zero byte in record padding")
		}
	}
	return inner[:end], nil
}

// ForEachMessage calls fn for every message of an inner plaintext as
// returned by Open, in order, with the message's type, its body and its
// complete encoding (both aliasing inner). It is strict: a truncated
// message or trailing bytes are decode_error (WIRE-001), a message type 0
// (padding, which Open has removed) is unexpected_message (WIRE-010). It
// stops at the first error fn returns.
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
