// Package wire is the strict codec of the SealFeed presentation language
// (spec §3): fixed-width big-endian integers, length-prefixed byte strings and
// count-prefixed lists.
//
// Encoding appends to a caller's buffer and never allocates beyond growing it.
// Decoding is total and strict: a Reader never panics, reports the first
// failure as an *alert.Error with code decode_error (WIRE-001), and Finish
// rejects trailing bytes. Length prefixes are checked against the bytes
// remaining before anything is sliced (WIRE-003).
package wire

import (
	"github.com/sealfeed/sealfeed/protocol/alert"
)

// PrefixLen returns the width in bytes of a length or count prefix for a
// field whose maximum is max (spec §3): 1, 2, 3 or 4.
func PrefixLen(max int) int {
	switch {
	case max <= 0xff:
		return 1
	case max <= 0xffff:
		return 2
	case max <= 0xffffff:
		return 3
	default:
		return 4
	}
}

// AppendUint8 appends v.
func AppendUint8(b []byte, v uint8) []byte { return append(b, v) }

// AppendUint16 appends v big-endian.
func AppendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

// AppendUint24 appends the low 24 bits of v big-endian.
func AppendUint24(b []byte, v uint32) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }

// AppendUint32 appends v big-endian.
func AppendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendUint64 appends v big-endian.
func AppendUint64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendPrefix appends n as a prefix of the width PrefixLen(max).
func AppendPrefix(b []byte, n, max int) []byte {
	switch PrefixLen(max) {
	case 1:
		return append(b, byte(n))
	case 2:
		return AppendUint16(b, uint16(n))
	case 3:
		return AppendUint24(b, uint32(n))
	default:
		return AppendUint32(b, uint32(n))
	}
}

// AppendOpaque appends v with a length prefix for a field of maximum max.
// The caller guarantees len(v) <= max.
func AppendOpaque(b []byte, v []byte, max int) []byte {
	return append(AppendPrefix(b, len(v), max), v...)
}

// PutUint24 writes the low 24 bits of v at b[0:3].
func PutUint24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v) }

// Reader decodes a byte string strictly. The zero value is an empty reader.
// After the first failure every method returns zero values and Err reports
// that failure.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader over b. The Reader aliases b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first decoding failure, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) }

// Empty reports whether every byte has been read.
func (r *Reader) Empty() bool { return len(r.b) == 0 }

// Fail records err as the reader's failure if none is recorded yet.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
		r.b = nil
	}
}

func (r *Reader) failf(format string, args ...any) {
	r.Fail(alert.Errorf(alert.DecodeError, format, args...))
}

// Bytes reads exactly n bytes and returns them aliased to the input.
func (r *Reader) Bytes(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.failf("%s: need %d bytes, have %d", field, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Copy reads exactly len(dst) bytes into dst.
func (r *Reader) Copy(dst []byte, field string) {
	if v := r.Bytes(len(dst), field); v != nil {
		copy(dst, v)
	}
}

// Uint8 reads one byte.
func (r *Reader) Uint8(field string) uint8 {
	v := r.Bytes(1, field)
	if v == nil {
		return 0
	}
	return v[0]
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16(field string) uint16 {
	v := r.Bytes(2, field)
	if v == nil {
		return 0
	}
	return uint16(v[0])<<8 | uint16(v[1])
}

// Uint24 reads a big-endian uint24.
func (r *Reader) Uint24(field string) uint32 {
	v := r.Bytes(3, field)
	if v == nil {
		return 0
	}
	return uint32(v[0])<<16 | uint32(v[1])<<8 | uint32(v[2])
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32(field string) uint32 {
	v := r.Bytes(4, field)
	if v == nil {
		return 0
	}
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64(field string) uint64 {
	v := r.Bytes(8, field)
	if v == nil {
		return 0
	}
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x
}

// Prefix reads a length or count prefix for a field with bounds [min, max]
// and checks it against them.
func (r *Reader) Prefix(min, max int, field string) int {
	var n int
	switch PrefixLen(max) {
	case 1:
		n = int(r.Uint8(field))
	case 2:
		n = int(r.Uint16(field))
	case 3:
		n = int(r.Uint24(field))
	default:
		n = int(r.Uint32(field))
	}
	if r.err != nil {
		return 0
	}
	if n < min || n > max {
		r.failf("%s: length %d outside [%d, %d]", field, n, min, max)
		return 0
	}
	return n
}

// Opaque reads a byte string with a length prefix and bounds [min, max],
// aliased to the input. The length is checked against the remaining input
// before slicing.
func (r *Reader) Opaque(min, max int, field string) []byte {
	n := r.Prefix(min, max, field)
	if r.err != nil {
		return nil
	}
	return r.Bytes(n, field)
}

// Count reads a list count prefix with bounds [min, max]. minItemLen is the
// smallest encoding of one item: a count that cannot fit in the remaining
// bytes is rejected before the caller allocates for it (WIRE-003).
func (r *Reader) Count(min, max, minItemLen int, field string) int {
	n := r.Prefix(min, max, field)
	if r.err != nil {
		return 0
	}
	if minItemLen > 0 && n > len(r.b)/minItemLen {
		r.failf("%s: %d items cannot fit in %d bytes", field, n, len(r.b))
		return 0
	}
	return n
}

// Finish reports the first failure, or a decode_error if unread bytes remain
// (WIRE-001).
func (r *Reader) Finish(what string) error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		r.err = alert.Errorf(alert.DecodeError, "%s: %d trailing bytes", what, len(r.b))
		r.b = nil
		return r.err
	}
	return nil
}
