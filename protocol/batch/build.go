package batch

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Entry is one message for one recipient.
type Entry struct {
	MessageID uint64
	// Payload of a unicast message. Ignored when Broadcast is set.
	Payload []byte
	// Broadcast is 0 for a unicast message, or the handle AddBroadcast
	// returned for a broadcast payload.
	Broadcast int
}

type recipient struct {
	keys       *Keys
	first, end int // range in Builder.entries
	content    int // length of the encoded LeafContent, set by Build
}

// Builder builds batches. It is reusable: Reset keeps every buffer, so a
// server that builds one batch per tick allocates nothing per message in
// steady state. The payload slices passed in must stay unchanged until
// Build returns. A Builder is not safe for concurrent use.
type Builder struct {
	signer   ed25519.PrivateKey
	signerID [32]byte
	rand     io.Reader

	blobs    [][]byte
	dataKeys [][DataKeyLen]byte
	recips   []recipient
	entries  []Entry

	arena  []byte
	leaves []span
	hashes [][merkle.HashSize]byte
	tree   merkle.Tree
	aad    []byte
}

type span struct{ off, end int }

// NewBuilder returns a Builder signing with signer. rand supplies the
// broadcast data keys (nil: crypto/rand; BATCH-003).
func NewBuilder(signer ed25519.PrivateKey, r io.Reader) *Builder {
	if r == nil {
		r = rand.Reader
	}
	return &Builder{signer: signer, signerID: sig.KeyID(signer.Public().(ed25519.PublicKey)), rand: r}
}

// SignerID returns KeyID of the signing key.
func (b *Builder) SignerID() [32]byte { return b.signerID }

// Reset forgets the pending content and keeps the buffers.
func (b *Builder) Reset() {
	clear(b.blobs)
	b.blobs = b.blobs[:0]
	clear(b.recips)
	b.recips = b.recips[:0]
	clear(b.entries)
	b.entries = b.entries[:0]
}

// AddBroadcast queues a payload to be sealed once (BATCH-004) and returns
// the handle recipients' entries use to reference it.
func (b *Builder) AddBroadcast(payload []byte) int {
	b.blobs = append(b.blobs, payload)
	return len(b.blobs)
}

// AddRecipient queues one leaf for the session with keys k and returns its
// handle for AppendDelivery. Entries must have strictly ascending, non-zero
// message IDs (BATCH-005) and payloads within MaxPayload.
func (b *Builder) AddRecipient(k *Keys, entries []Entry) (int, error) {
	if len(entries) == 0 || len(entries) > MaxEntriesPerLeaf {
		return 0, alert.Errorf(alert.InternalError, "batch: %d entries for one recipient", len(entries))
	}
	var prev uint64
	for i, e := range entries {
		if e.MessageID <= prev {
			return 0, alert.Errorf(alert.InternalError, "batch: entry %d: message IDs must be non-zero and ascending", i)
		}
		prev = e.MessageID
		if e.Broadcast < 0 || e.Broadcast > len(b.blobs) {
			return 0, alert.Errorf(alert.InternalError, "batch: entry %d: unknown broadcast handle", i)
		}
		if e.Broadcast == 0 && len(e.Payload) > MaxPayload {
			return 0, alert.Errorf(alert.RecordOverflow, "batch: entry %d: payload of %d bytes", i, len(e.Payload))
		}
	}
	for _, r := range b.recips {
		if r.keys == k {
			return 0, alert.New(alert.InternalError, "batch: two leaves for one session (BATCH-002)")
		}
	}
	first := len(b.entries)
	b.entries = append(b.entries, entries...)
	b.recips = append(b.recips, recipient{keys: k, first: first, end: len(b.entries)})
	return len(b.recips) - 1, nil
}

// Batch is a built, signed batch. It aliases the Builder's buffers and is
// valid until the Builder's next Build or Reset.
type Batch struct {
	Header    Header
	Signature [sig.SignatureSize]byte
	Witness   [sig.WitnessSize]byte
	b         *Builder
}

func (b *Builder) contentLen(r *recipient) int {
	n := 2
	for _, e := range b.entries[r.first:r.end] {
		n += 1 + 8
		if e.Broadcast == 0 {
			n += 3 + len(e.Payload)
		} else {
			n += 4 + DataKeyLen
		}
	}
	return n
}

// Build seals every leaf, builds the tree and signs the header. seq must be
// strictly above every sequence this signer used before (BATCH-020); the
// caller persists it.
func (b *Builder) Build(seq, timestampMs uint64) (*Batch, error) {
	nBlobs, nLeaves := len(b.blobs), len(b.blobs)+len(b.recips)
	if nLeaves == 0 || nLeaves > MaxBatchLeaves {
		return nil, alert.Errorf(alert.InternalError, "batch: %d leaves", nLeaves)
	}
	// Size the arena once so sealing in place never moves it mid-leaf.
	total := 0
	for _, p := range b.blobs {
		total += 1 + 2 + 3 + len(p) + suite.TagSize
	}
	for i := range b.recips {
		n := b.contentLen(&b.recips[i])
		b.recips[i].content = n
		if n > maxSealed-suite.TagSize {
			return nil, alert.New(alert.RecordOverflow, "batch: leaf too large")
		}
		if err := b.recips[i].keys.spend(n); err != nil {
			return nil, err
		}
		total += 1 + TagLen + 3 + n + suite.TagSize
	}
	if cap(b.arena) < total {
		b.arena = make([]byte, 0, total)
	}
	arena := b.arena[:0]
	b.leaves = b.leaves[:0]
	b.hashes = b.hashes[:0]
	if cap(b.dataKeys) < nBlobs {
		b.dataKeys = make([][DataKeyLen]byte, nBlobs)
	}
	b.dataKeys = b.dataKeys[:nBlobs]

	for j, p := range b.blobs {
		dk := &b.dataKeys[j]
		if _, err := io.ReadFull(b.rand, dk[:]); err != nil {
			return nil, alert.New(alert.InternalError, "batch: randomness source failed")
		}
		a, err := chacha20poly1305.New(dk[:])
		if err != nil {
			return nil, err
		}
		off := len(arena)
		arena = append(arena, KindBlob)
		arena = wire.AppendUint16(arena, suite.AEADChaCha20Poly1305)
		arena = wire.AppendUint24(arena, uint32(len(p)+suite.TagSize))
		b.aad = blobAAD(b.aad[:0], &b.signerID, seq, uint32(j), suite.AEADChaCha20Poly1305)
		arena = a.Seal(arena, zeroNonce[:], p, b.aad)
		b.leaves = append(b.leaves, span{off, len(arena)})
	}
	for i := range b.recips {
		r := &b.recips[i]
		index := uint32(nBlobs + i)
		tag := r.keys.Tag(&b.signerID, seq)
		off := len(arena)
		arena = append(arena, KindRecipient)
		arena = append(arena, tag[:]...)
		arena = wire.AppendUint24(arena, uint32(r.content+suite.TagSize))
		pt := len(arena)
		arena = wire.AppendUint16(arena, uint16(r.end-r.first))
		for _, e := range b.entries[r.first:r.end] {
			if e.Broadcast == 0 {
				arena = append(arena, EntryMessage)
				arena = wire.AppendUint64(arena, e.MessageID)
				arena = wire.AppendOpaque(arena, e.Payload, maxSealed)
			} else {
				arena = append(arena, EntryBroadcast)
				arena = wire.AppendUint64(arena, e.MessageID)
				arena = wire.AppendUint32(arena, uint32(e.Broadcast-1))
				arena = append(arena, b.dataKeys[e.Broadcast-1][:]...)
			}
		}
		b.aad = recipientAAD(b.aad[:0], &b.signerID, seq, index, &tag)
		arena = r.keys.aead.Seal(arena[:pt], r.keys.nonce(seq), arena[pt:], b.aad)
		b.leaves = append(b.leaves, span{off, len(arena)})
	}
	b.arena = arena
	for _, l := range b.leaves {
		b.hashes = append(b.hashes, merkle.LeafHash(arena[l.off:l.end]))
	}
	bt := &Batch{b: b, Header: Header{Version: Version, SignerID: b.signerID, Seq: seq,
		TimestampMs: timestampMs, LeafCount: uint32(nLeaves), Root: b.tree.Build(b.hashes)}}
	hdr := bt.Header.AppendTo(b.aad[:0])
	s, w, err := sig.SignWitnessed(b.signer, keyschedule.SigBatch, hdr)
	if err != nil {
		return nil, err
	}
	copy(bt.Signature[:], s)
	copy(bt.Witness[:], w)
	return bt, nil
}

// Leaves returns the number of leaves.
func (bt *Batch) Leaves() int { return len(bt.b.leaves) }

// Leaf returns the encoding of leaf i (aliases the builder's arena).
func (bt *Batch) Leaf(i int) []byte { l := bt.b.leaves[i]; return bt.b.arena[l.off:l.end] }

func (bt *Batch) appendLeafProof(dst []byte, index int) []byte {
	dst = wire.AppendUint32(dst, uint32(index))
	dst = append(dst, bt.Leaf(index)...)
	start := len(dst)
	dst = append(dst, 0)
	var buf [maxPath][merkle.HashSize]byte
	path := bt.b.tree.AppendPath(buf[:0], uint32(index))
	dst[start] = byte(len(path))
	for i := range path {
		dst = append(dst, path[i][:]...)
	}
	return dst
}

// AppendDelivery appends the body of the BatchDelivery message for a
// recipient handle: the header, the signature and witness, the recipient's
// leaf and proof, and the blobs its entries reference with their proofs.
func (bt *Batch) AppendDelivery(dst []byte, recipient int) ([]byte, error) {
	b := bt.b
	if recipient < 0 || recipient >= len(b.recips) {
		return nil, alert.New(alert.InternalError, "batch: unknown recipient handle")
	}
	start := len(dst)
	dst = bt.Header.AppendTo(dst)
	dst = append(dst, bt.Signature[:]...)
	dst = append(dst, bt.Witness[:]...)
	dst = bt.appendLeafProof(dst, len(b.blobs)+recipient)
	r := &b.recips[recipient]
	var used [MaxBlobsPerDelivery + 1]int // blob handles in ascending order, deduplicated
	n := 0
	for _, e := range b.entries[r.first:r.end] {
		if e.Broadcast == 0 {
			continue
		}
		dup := false
		for _, u := range used[:n] {
			dup = dup || u == e.Broadcast
		}
		if !dup {
			if n == MaxBlobsPerDelivery {
				return nil, alert.New(alert.LimitExceeded, "batch: more than 64 broadcasts for one recipient")
			}
			used[n] = e.Broadcast
			n++
		}
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && used[j] < used[j-1]; j-- {
			used[j], used[j-1] = used[j-1], used[j]
		}
	}
	dst = append(dst, byte(n))
	for _, h := range used[:n] {
		dst = bt.appendLeafProof(dst, h-1)
	}
	if len(dst)-start > wire.MaxRecordPlaintext-wire.MessageHeaderLen {
		return nil, alert.New(alert.RecordOverflow, "batch: delivery exceeds the record size")
	}
	return dst, nil
}
