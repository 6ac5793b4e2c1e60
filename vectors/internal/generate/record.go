package generate

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("SequenceBoundary", "EDGE_CASE", "A sequence number where the nonce's low byte wraps (255, 256) or at the AEAD's usage limit (REC-005).", "")
	note("Reordered", "REPLAY", "A record presented under another sequence number than it was sealed with: dropped, reordered or replayed (REC-001).", "")
	note("StaleKey", "STATE", "A record under the traffic key before or after the current one (REC-002, POST-003).", "")
	note("UsageLimit", "RESOURCE", "A record beyond the AEAD's per-key usage limit (REC-005).",
		"Confidentiality and integrity bounds of the AEAD no longer hold.")
	note("KeyUpdateRecord", "BASIC", "Records around a KeyUpdate: the receiving key changes after the frame that carries it (POST-003).", "")
	note("ModifiedRecord", "MODIFIED", "A protected record with a changed bit (REC-001).", "")
}

// aeadFor returns the AEAD with id a, from the primitives directly.
func aeadFor(a uint16, key []byte) cipher.AEAD {
	switch a {
	case suite.AEADChaCha20Poly1305:
		c, err := chacha20poly1305.New(key)
		if err != nil {
			panic(err)
		}
		return c
	case suite.AEADAES256GCM:
		b, err := aes.NewCipher(key)
		if err != nil {
			panic(err)
		}
		c, err := cipher.NewGCM(b)
		if err != nil {
			panic(err)
		}
		return c
	}
	panic("unknown AEAD")
}

// xorNonce is iv XOR (0^4 || uint64 seq), spec §8 and §10.2.
func xorNonce(iv []byte, seq uint64) []byte {
	n := bytes.Clone(iv)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		n[4+i] ^= s[i]
	}
	return n
}

// sealRecord returns a protected frame of inner under secret at seq.
func sealRecord(a uint16, secret []byte, seq uint64, inner []byte) []byte {
	k := keyschedule.Traffic(secret)
	c := aeadFor(a, k.Key)
	hdr := wire.AppendFrameHeader(nil, wire.FrameProtected, len(inner)+c.Overhead())
	return c.Seal(hdr, xorNonce(k.IV, seq), inner, hdr)
}

// ackMsg returns an encoded Ack message for the given IDs (spec §9).
func ackMsg(ids ...uint64) []byte {
	body := wire.AppendPrefix(nil, len(ids), 4096)
	for _, id := range ids {
		body = wire.AppendUint64(body, id)
	}
	return wire.AppendMessage(nil, wire.TypeAck, body)
}

func keyUpdateMsg(req byte) []byte { return wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{req}) }
func heartbeatMsg(req byte) []byte { return wire.AppendMessage(nil, wire.TypeHeartbeat, []byte{req}) }

func aeadName(a uint16) string {
	if a == suite.AEADAES256GCM {
		return "aes256gcm"
	}
	return "chacha20poly1305"
}

// aeadLimit is the per-key frame limit of REC-005.
func aeadLimit(a uint16) uint64 {
	if a == suite.AEADAES256GCM {
		return 1 << 20
	}
	return 1 << 32
}

var recordArea = areaDef{
	name: "record",
	build: func(a *area) (any, error) {
		var groups []vectors.RecordGroup
		for _, aead := range []uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM} {
			an := aeadName(aead)
			secret := randBytes(a.name, an+"/secret", 32)
			next := keyschedule.NextTrafficSecret(secret)
			next2 := keyschedule.NextTrafficSecret(next)
			other := randBytes(a.name, an+"/other-direction", 32)
			k := keyschedule.Traffic(secret)
			g := vectors.RecordGroup{Type: "RecordOpen", AEAD: aead, TrafficSecret: secret, Key: k.Key, IV: k.IV}

			type step struct {
				secret  []byte // sealing secret
				seq     uint64 // sealing sequence number
				recvSeq uint64 // the receiver's sequence number
				inner   []byte
				frame   []byte // overrides the sealed frame
				msgs    [][]byte
				update  bool
				result  alert.Code
			}
			add := func(name, comment, req string, start uint64, steps []step, flags ...string) {
				var vs []vectors.RecordStep
				var last alert.Code
				recv := secret
				for _, s := range steps {
					f := s.frame
					if f == nil {
						f = sealRecord(aead, s.secret, s.seq, s.inner)
					}
					st := vectors.RecordStep{Sequence: vectors.U64(s.recvSeq), Nonce: xorNonce(keyschedule.Traffic(recv).IV, s.recvSeq),
						Frame: f, Messages: hexList(s.msgs), UpdateKey: s.update, Result: "accept"}
					if s.result != 0 {
						st.Result, st.Messages, st.UpdateKey = s.result.String(), []vectors.Hex{}, false
					}
					if s.update {
						recv = keyschedule.NextTrafficSecret(recv)
					}
					vs = append(vs, st)
					last = s.result
				}
				var t vectors.Test
				if last == 0 {
					t = a.valid(an+"/"+name, comment, req, flags...)
				} else {
					t = a.invalid(an+"/"+name, comment, req, last.String(), flags...)
				}
				g.Tests = append(g.Tests, vectors.RecordTest{Test: t, StartSequence: vectors.U64(start), Steps: vs})
			}
			ack := ackMsg(1, 2, 3)
			ok := func(seq uint64, inner []byte, msgs ...[]byte) step {
				return step{secret: secret, seq: seq, recvSeq: seq, inner: inner, msgs: msgs}
			}
			bad := func(s step, c alert.Code) step { s.result = c; return s }

			for _, seq := range []uint64{0, 1, 255, 256, 65535, 65536} {
				fl := "Normal"
				if seq >= 255 {
					fl = "SequenceBoundary"
				}
				add(fmt.Sprintf("seq-%d", seq), fmt.Sprintf("one Ack at sequence %d", seq), "REC-001", seq, []step{ok(seq, ack, ack)}, fl)
			}
			lim := aeadLimit(aead)
			add("seq-last-before-limit", fmt.Sprintf("sequence %d, the last frame the usage limit allows", lim-1), "REC-005", lim-1,
				[]step{ok(lim-1, ack, ack)}, "SequenceBoundary")
			add("seq-limit", fmt.Sprintf("sequence %d: one frame beyond the usage limit", lim), "REC-005", lim,
				[]step{bad(ok(lim, ack, ack), alert.LimitExceeded)}, "UsageLimit")
			garbled := sealRecord(aead, secret, lim, ack)
			garbled[len(garbled)-1] ^= 1
			add("seq-limit-garbled", fmt.Sprintf("sequence %d, a frame that would not decrypt: the limit is checked before opening", lim), "REC-008", lim,
				[]step{bad(step{frame: garbled, recvSeq: lim}, alert.LimitExceeded)}, "UsageLimit")
			add("consecutive", "sequences 0, 1, 2", "REC-001", 0, []step{ok(0, ack, ack), ok(1, ackMsg(4), ackMsg(4)), ok(2, ackMsg(5), ackMsg(5))}, "Normal")
			add("consecutive-255-256", "sequences 254, 255, 256, 257", "REC-001", 254,
				[]step{ok(254, ack, ack), ok(255, ack, ack), ok(256, ack, ack), ok(257, ack, ack)}, "SequenceBoundary")
			add("padding", "one Ack and 16 zero bytes of padding", "REC-004", 0, []step{ok(0, append(bytes.Clone(ack), make([]byte, 16)...), ack)}, "Padding")
			add("padding-1", "one Ack and one zero byte", "REC-003", 0, []step{ok(0, append(bytes.Clone(ack), 0), ack)}, "Padding")
			two := append(bytes.Clone(ack), ackMsg(9)...)
			add("two-messages", "two Acks in one record", "REC-007", 0, []step{ok(0, two, ack, ackMsg(9))}, "Normal")
			add("two-messages-padding", "two Acks and 7 bytes of padding", "REC-007", 0,
				[]step{ok(0, append(bytes.Clone(two), make([]byte, 7)...), ack, ackMsg(9))}, "Padding")

			// Around a KeyUpdate (POST-003).
			ku := keyUpdateMsg(0)
			add("key-update", "Ack at 255; KeyUpdate at 256; then sequences 0 and 1 under the next secret", "POST-003", 255, []step{
				ok(255, ack, ack),
				{secret: secret, seq: 256, recvSeq: 256, inner: ku, msgs: [][]byte{ku}, update: true},
				{secret: next, seq: 0, recvSeq: 0, inner: ack, msgs: [][]byte{ack}},
				{secret: next, seq: 1, recvSeq: 1, inner: ack, msgs: [][]byte{ack}},
			}, "KeyUpdateRecord", "SequenceBoundary")
			add("key-update-twice", "two KeyUpdates: sequences restart at 0 under each new secret", "REC-002", 0, []step{
				{secret: secret, seq: 0, recvSeq: 0, inner: ku, msgs: [][]byte{ku}, update: true},
				{secret: next, seq: 0, recvSeq: 0, inner: ku, msgs: [][]byte{ku}, update: true},
				{secret: next2, seq: 0, recvSeq: 0, inner: ack, msgs: [][]byte{ack}},
			}, "KeyUpdateRecord")
			kuAck := append(bytes.Clone(ack), keyUpdateMsg(1)...)
			add("key-update-after-ack", "an Ack then KeyUpdate(1) in one record, then a record under the next secret", "POST-003", 3, []step{
				{secret: secret, seq: 3, recvSeq: 3, inner: kuAck, msgs: [][]byte{ack, keyUpdateMsg(1)}, update: true},
				{secret: next, seq: 0, recvSeq: 0, inner: ack, msgs: [][]byte{ack}},
			}, "KeyUpdateRecord")
			add("old-key-after-update", "after the KeyUpdate record, a record under the old secret at sequence 257", "REC-002", 256, []step{
				{secret: secret, seq: 256, recvSeq: 256, inner: ku, msgs: [][]byte{ku}, update: true},
				{secret: secret, seq: 257, recvSeq: 0, inner: ack, result: alert.BadRecordMAC},
			}, "StaleKey")
			add("no-sequence-reset", "after the KeyUpdate record, the next secret but sequence 1 (no restart at 0)", "REC-002", 0, []step{
				{secret: secret, seq: 0, recvSeq: 0, inner: ku, msgs: [][]byte{ku}, update: true},
				{secret: next, seq: 1, recvSeq: 0, inner: ack, result: alert.BadRecordMAC},
			}, "StaleKey")
			add("new-key-early", "a record under the next secret without a KeyUpdate", "REC-002", 0, []step{
				{secret: next, seq: 0, recvSeq: 0, inner: ack, result: alert.BadRecordMAC},
			}, "StaleKey")

			// Modified and misplaced records (REC-001).
			f0 := sealRecord(aead, secret, 0, ack)
			flip := func(i int) []byte { f := bytes.Clone(f0); f[i] ^= 1; return f }
			add("tag-bit-flip", "bit 0 of the last tag byte flipped", "REC-001", 0, []step{{frame: flip(len(f0) - 1), result: alert.BadRecordMAC}}, "ModifiedRecord")
			add("ciphertext-bit-flip", "bit 0 of the first ciphertext byte flipped", "REC-001", 0, []step{{frame: flip(4), result: alert.BadRecordMAC}}, "ModifiedRecord")
			add("dropped", "the record of sequence 1 arrives where 0 is expected", "REC-001", 0, []step{
				{secret: secret, seq: 1, recvSeq: 0, inner: ack, result: alert.BadRecordMAC}}, "Reordered")
			add("replayed", "the record of sequence 0 arrives twice", "REC-001", 0, []step{
				ok(0, ack, ack), {frame: f0, recvSeq: 1, result: alert.BadRecordMAC}}, "Reordered")
			add("reordered-256", "sequence 255 expected, the record of 256 arrives", "REC-001", 255, []step{
				{secret: secret, seq: 256, recvSeq: 255, inner: ack, result: alert.BadRecordMAC}}, "Reordered", "SequenceBoundary")
			add("other-direction", "a record under the other direction's secret", "REC-002", 0, []step{
				{secret: other, seq: 0, recvSeq: 0, inner: ack, result: alert.BadRecordMAC}}, "WrongKey")
			short := wire.AppendFrameHeader(nil, wire.FrameProtected, 15)
			short = append(short, randBytes(a.name, an+"/short", 15)...)
			add("fragment-shorter-than-tag", "a 15-byte fragment", "REC-001", 0, []step{{frame: short, result: alert.BadRecordMAC}}, "Truncated")
			hdrFlip := bytes.Clone(f0)
			hdrFlip = append(hdrFlip, 0)
			wire.PutUint24(hdrFlip[1:], uint32(len(hdrFlip)-4))
			add("extended-fragment", "one byte appended to the fragment and the length fixed up: the tag no longer matches", "REC-001", 0,
				[]step{{frame: hdrFlip, result: alert.BadRecordMAC}}, "ModifiedRecord")

			// Inner plaintext (REC-003, REC-007).
			add("inner-only-padding", "an inner plaintext of 8 zero bytes: no message", "REC-003", 0,
				[]step{bad(ok(0, make([]byte, 8)), alert.DecodeError)}, "Empty")
			add("inner-empty", "an empty inner plaintext", "REC-003", 0,
				[]step{bad(ok(0, []byte{}), alert.DecodeError)}, "Empty")
			add("nonzero-padding", "an Ack, zero bytes, then 0x01", "REC-003", 0,
				[]step{bad(ok(0, append(bytes.Clone(ack), 0, 0, 1)), alert.DecodeError)}, "NonZeroPadding")
			add("message-after-padding", "an Ack, one zero byte, then another Ack", "REC-007", 0,
				[]step{bad(ok(0, append(append(bytes.Clone(ack), 0), ack...)), alert.DecodeError)}, "NonZeroPadding")
			add("truncated-message", "a message header announcing more bytes than the record holds", "WIRE-001", 0,
				[]step{bad(ok(0, ack[:len(ack)-3]), alert.DecodeError)}, "Truncated")
			add("truncated-header", "three bytes of a message header", "WIRE-001", 0,
				[]step{bad(ok(0, ack[:3]), alert.DecodeError)}, "Truncated")
			groups = append(groups, g)
		}
		return file(a, []string{
			"Protected records (spec §8): nonce = iv XOR (0^4 || uint64 sequence), aad = the frame header (0x17, uint24 length), inner = Message+ || 0x00*.",
			"Each test starts a receiver at startSequence with the group's traffic secret and feeds it the steps in order. A step with updateKey switches the receiver to the next traffic secret (ExpandLabel(S, \"traffic upd\", \"\", 32)) at sequence 0 after the frame.",
			"Per-key limits (REC-005): ChaCha20-Poly1305 2^32 frames, AES-256-GCM 2^20 frames; a receiver needs a way to start at a given sequence number to run the tests at the limits.",
		}, groups), nil
	},
	schema: func() map[string]any {
		step := strict(obj{"sequence": u64(), "nonce": hexLen(12), "frame": hexAny(), "messages": arrayOf(hexAny()),
			"updateKey": obj{"type": "boolean"}, "result": obj{"anyOf": []any{constant("accept"), obj{"$ref": "#/$defs/alert"}}}})
		return fileSchema("record", "SealFeed v1 record layer vectors",
			obj{"type": constant("RecordOpen"), "aead": enum(1, 2), "trafficSecret": hexLen(32), "key": hexLen(32), "iv": hexLen(12)}, nil,
			obj{"startSequence": u64(), "steps": obj{"type": "array", "minItems": 1, "items": step}}, nil)
	},
}
