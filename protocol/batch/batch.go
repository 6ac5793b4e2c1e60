// Package batch implements batch envelopes (spec §10): the server seals each
// client's pending messages into one leaf under that client's envelope keys,
// seals broadcast payloads once as blob leaves, builds a Merkle tree over
// all leaves and signs its root once; each client receives its own leaf with
// an inclusion proof, verifies the origin before decrypting anything, and
// opens only what was sealed for it.
package batch

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"hash"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Registered values and limits (spec §10.1, §15).
const (
	Version = 1

	KindRecipient = 1
	KindBlob      = 2

	EntryMessage   = 1
	EntryBroadcast = 2

	HeaderLen  = 2 + 32 + 8 + 8 + 4 + 32
	TagLen     = 16
	DataKeyLen = 32

	MaxBatchLeaves      = 1 << 20
	MaxBlobsPerDelivery = 64
	MaxEntriesPerLeaf   = 65535
	MaxPayload          = 65536
	maxPath             = 32
	maxSealed           = 1<<24 - 1
	minSealed           = suite.TagSize
)

// Header is the signed part of a batch.
type Header struct {
	Version     uint16
	SignerID    [32]byte
	Seq         uint64
	TimestampMs uint64
	LeafCount   uint32
	Root        [32]byte
}

// AppendTo appends the 86-byte encoding of h.
func (h *Header) AppendTo(b []byte) []byte {
	b = wire.AppendUint16(b, h.Version)
	b = append(b, h.SignerID[:]...)
	b = wire.AppendUint64(b, h.Seq)
	b = wire.AppendUint64(b, h.TimestampMs)
	b = wire.AppendUint32(b, h.LeafCount)
	return append(b, h.Root[:]...)
}

func (h *Header) read(r *wire.Reader) {
	h.Version = r.Uint16("batch version")
	r.Copy(h.SignerID[:], "signer id")
	h.Seq = r.Uint64("batch seq")
	h.TimestampMs = r.Uint64("timestamp")
	h.LeafCount = r.Uint32("leaf count")
	r.Copy(h.Root[:], "root")
}

// ParseHeader decodes exactly one header.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	r := wire.NewReader(b)
	h.read(r)
	return h, r.Finish("batch header")
}

// Keys are one client session's envelope keys (spec §7, §10.2): the AEAD
// under env_key, env_iv and the tag MAC under tag_key. A Keys value is not
// safe for concurrent use.
type Keys struct {
	// leaves, blocks, batch and aeadID come first and together:
	// AddRecipient reads and writes only these, one cache line per
	// recipient; sealing reads aead, iv and tagMAC and, from a Builder,
	// writes nothing here but the MAC's state.
	leaves uint64    // leaves charged to this key (BATCH-007)
	blocks uint64    // leafBlocks charged to this key (BATCH-007)
	batch  batchMark // the batch being assembled that holds a leaf for these keys
	aeadID uint16
	iv     [suite.NonceSize]byte
	aead   cipher.AEAD
	tagMAC hash.Hash
	own    tagScratch // Tag's and the Opener's buffers
}

// NewKeys prepares the envelope keys of a session that negotiated aeadID.
func NewKeys(aeadID uint16, ek keyschedule.EnvelopeKeys) (*Keys, error) {
	a, err := suite.NewAEAD(aeadID, ek.Key)
	if err != nil {
		return nil, err
	}
	if len(ek.IV) != suite.NonceSize || len(ek.TagKey) != 32 {
		return nil, alert.New(alert.InternalError, "batch: envelope key sizes")
	}
	k := &Keys{aeadID: aeadID, aead: a, tagMAC: hmac.New(sha256.New, ek.TagKey)}
	copy(k.iv[:], ek.IV)
	return k, nil
}

// Envelope-key limits of BATCH-007.
const (
	MaxAESGCMBlocks = 1 << 36
	MaxChaChaLeaves = 1 << 32
)

// errKeyLimit is the refusal of a leaf that would pass a limit of
// BATCH-007; the server closes that session with limit_exceeded (BATCH-008).
var errKeyLimit = alert.New(alert.LimitExceeded, "batch: envelope key usage limit reached (BATCH-007)")

// leafBlocks is what one recipient leaf of n plaintext bytes counts against
// an AES-256-GCM envelope key (BATCH-007): ⌈n/16⌉ blocks of plaintext, 4 of
// additional data and 1 for the leaf itself.
func leafBlocks(n int) uint64 { return (uint64(n)+15)/16 + 5 }

// spend records one leaf of n plaintext bytes, refusing, with nothing
// recorded, a leaf that would pass a limit of BATCH-007: more than
// MaxChaChaLeaves leaves under the key (any AEAD), or, under AES-256-GCM,
// a sum of leafBlocks above MaxAESGCMBlocks.
func (k *Keys) spend(n int) error {
	blocks := leafBlocks(n)
	if k.leaves >= MaxChaChaLeaves || (k.aeadID == suite.AEADAES256GCM && blocks > MaxAESGCMBlocks-k.blocks) {
		return errKeyLimit
	}
	k.leaves++
	k.blocks += blocks
	return nil
}

// AEAD returns the AEAD identifier of the session.
func (k *Keys) AEAD() uint16 { return k.aeadID }

// Tag returns the recipient tag of this session in batch (signer, seq)
// (BATCH-006).
func (k *Keys) Tag(signerID *[32]byte, seq uint64) [TagLen]byte {
	return k.tag(signerID, seq, &k.own)
}

// tag is Tag with its input and output in s: a Builder's workers pass
// their own scratch, so sealing a leaf writes nothing into the session's
// Keys but its MAC's state.
func (k *Keys) tag(signerID *[32]byte, seq uint64, s *tagScratch) [TagLen]byte {
	in := append(s.tagIn[:0], keyschedule.MACRecipientTag...)
	in = append(in, signerID[:]...)
	in = wire.AppendUint64(in, seq)
	k.tagMAC.Reset()
	k.tagMAC.Write(in)
	var t [TagLen]byte
	copy(t[:], k.tagMAC.Sum(s.sum[:0]))
	return t
}

// nonce returns env_iv XOR (0^4 || seq) (spec §10.2), in a buffer of k.
func (k *Keys) nonce(seq uint64) []byte { return k.nonceInto(&k.own.nonce, seq) }

// nonceInto is nonce written into buf.
func (k *Keys) nonceInto(buf *[suite.NonceSize]byte, seq uint64) []byte {
	*buf = k.iv
	for i := 0; i < 8; i++ {
		buf[4+i] ^= byte(seq >> (56 - 8*i))
	}
	return buf[:]
}

// tagScratch holds what computing a recipient tag and a nonce writes
// besides the MAC's state: the MAC's input and output and the nonce. A
// stack buffer would escape through the MAC and AEAD interfaces and cost an
// allocation per leaf.
type tagScratch struct {
	tagIn [len(keyschedule.MACRecipientTag) + 32 + 8]byte
	sum   [sha256.Size]byte
	nonce [suite.NonceSize]byte
}

// scratch is one Builder worker's buffers: its own tagScratch, so that
// sealing a leaf writes nothing into the session's Keys but its MAC's
// state, and the additional data.
type scratch struct {
	tagScratch
	aad [HeaderLen]byte // the longest additional data, and the header the Builder signs
	// The tail keeps the next allocation's bytes off the cache lines that
	// the fields above share with no other worker.
	_ [64]byte
}

// zeroNonce is the nonce of every blob: each data key seals one blob only
// (BATCH-003).
var zeroNonce [suite.NonceSize]byte

// recipientAAD is signer_id || seq || index || 0x01 || tag.
func recipientAAD(b []byte, signer *[32]byte, seq uint64, index uint32, tag *[TagLen]byte) []byte {
	b = append(b, signer[:]...)
	b = wire.AppendUint64(b, seq)
	b = wire.AppendUint32(b, index)
	b = append(b, KindRecipient)
	return append(b, tag[:]...)
}

// blobAAD is signer_id || seq || index || 0x02 || aead.
func blobAAD(b []byte, signer *[32]byte, seq uint64, index uint32, aead uint16) []byte {
	b = append(b, signer[:]...)
	b = wire.AppendUint64(b, seq)
	b = wire.AppendUint32(b, index)
	b = append(b, KindBlob)
	return wire.AppendUint16(b, aead)
}

var _ = merkle.HashSize
