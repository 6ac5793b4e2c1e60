package batch

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

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
	content    int // length of the encoded LeafContent
	off        int // offset of the leaf in the arena, after the blob leaves
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
	// recipBytes is the size of the recipient leaves queued so far: each
	// recipient's place in the arena is known when it is added, so Build
	// makes no pass over the recipients on one goroutine.
	recipBytes int
	// dirtyRecips and dirtyEntries count the slots of recips and entries
	// that may still hold a reference from an earlier batch: Reset leaves
	// them to be overwritten, and Build clears those the batch does not
	// reuse.
	dirtyRecips, dirtyEntries int
	// id and gen mark the Keys of the sessions with a leaf in the batch
	// being assembled (BATCH-002): Reset moves to a new generation, so no
	// set needs clearing and the check touches only the Keys themselves.
	id, gen uint64

	arena     []byte
	blobSpans []span // the blob leaves' places in the arena
	blobBytes int    // their total size: the recipient leaves follow
	tree      merkle.Tree
	scratch   []*scratch // one per worker
	workers   int

	layoutBroken atomic.Bool
}

type span struct{ off, end int }

// builderIDs numbers Builders, so that a mark left on Keys by one Builder
// is never taken for a mark of another.
var builderIDs atomic.Uint64

// batchMark names the batch a Keys value has a leaf in: a Builder and the
// generation of its content (Reset starts the next one). The zero value
// names no batch.
type batchMark struct{ builder, gen uint64 }

// NewBuilder returns a Builder signing with signer. rand supplies the
// broadcast data keys (nil: crypto/rand; BATCH-003). It refuses, with
// bad_key, a signer whose public half does not match its seed (SIG-006).
func NewBuilder(signer ed25519.PrivateKey, r io.Reader) (*Builder, error) {
	if err := sig.CheckPrivateKey(signer); err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	return &Builder{signer: signer, signerID: sig.KeyID(signer.Public().(ed25519.PublicKey)), rand: r,
		id: builderIDs.Add(1), gen: 1}, nil
}

// SignerID returns KeyID of the signing key.
func (b *Builder) SignerID() [32]byte { return b.signerID }

// Reset forgets the pending content and keeps the buffers. Its cost does
// not grow with the recipients: the next batch overwrites their slots, and
// its Build clears the slots it leaves over.
func (b *Builder) Reset() {
	clear(b.blobs)
	b.blobs = b.blobs[:0]
	b.dirtyRecips = max(b.dirtyRecips, len(b.recips))
	b.recips = b.recips[:0]
	b.recipBytes = 0
	b.gen++
	b.dirtyEntries = max(b.dirtyEntries, len(b.entries))
	b.entries = b.entries[:0]
}

// AddBroadcast queues a payload to be sealed once (BATCH-004) and returns
// the handle recipients' entries use to reference it.
func (b *Builder) AddBroadcast(payload []byte) int {
	b.blobs = append(b.blobs, payload)
	return len(b.blobs)
}

// holds reports whether k already has a leaf in the batch being assembled.
// The mark on k answers in constant time, so the check stays linear in
// recipients; only when another Builder marked k since (keys moved between
// builders) does it scan this batch's recipients.
func (b *Builder) holds(k *Keys) bool {
	switch k.batch.builder {
	case 0:
		return false
	case b.id:
		return k.batch.gen == b.gen
	}
	for i := range b.recips {
		if b.recips[i].keys == k {
			return true
		}
	}
	return false
}

// AddRecipient queues one leaf for the session with keys k and returns its
// handle for AppendDelivery. Entries must have strictly ascending, non-zero
// message IDs (BATCH-005) and payloads within MaxPayload.
//
// AddRecipient charges the leaf to k's usage limits (BATCH-007) here, where
// the leaf's size is known, so that Build never fails for one recipient
// (BATCH-008): a leaf that would pass a limit is refused with
// limit_exceeded, nothing is charged, the batch goes on without that
// session, and the caller closes it with limit_exceeded. A leaf charged
// here counts as sealed even if the batch is never built (a safe
// overcount). Any refusal concerns this recipient only; the Builder is left
// as it was.
func (b *Builder) AddRecipient(k *Keys, entries []Entry) (int, error) {
	if len(entries) == 0 || len(entries) > MaxEntriesPerLeaf {
		return 0, alert.Errorf(alert.InternalError, "batch: %d entries for one recipient", len(entries))
	}
	// One pass checks the entries and sums the size of their LeafContent.
	var prev uint64
	c := 2
	for i := range entries {
		e := &entries[i]
		if e.MessageID <= prev {
			return 0, alert.Errorf(alert.InternalError, "batch: entry %d: message IDs must be non-zero and ascending", i)
		}
		prev = e.MessageID
		switch {
		case e.Broadcast == 0:
			if len(e.Payload) > MaxPayload {
				return 0, alert.Errorf(alert.RecordOverflow, "batch: entry %d: payload of %d bytes", i, len(e.Payload))
			}
			c += 1 + 8 + 3 + len(e.Payload)
		case e.Broadcast < 0 || e.Broadcast > len(b.blobs):
			return 0, alert.Errorf(alert.InternalError, "batch: entry %d: unknown broadcast handle", i)
		default:
			c += 1 + 8 + 4 + DataKeyLen
		}
	}
	if b.holds(k) {
		return 0, alert.New(alert.InternalError, "batch: two leaves for one session (BATCH-002)")
	}
	if c > maxSealed-suite.TagSize {
		return 0, alert.New(alert.RecordOverflow, "batch: leaf too large")
	}
	if err := k.spend(c); err != nil {
		return 0, err
	}
	k.batch = batchMark{b.id, b.gen}
	first := len(b.entries)
	b.entries = append(b.entries, entries...)
	b.recips = append(b.recips, recipient{keys: k, first: first, end: len(b.entries), content: c, off: b.recipBytes})
	b.recipBytes += recipientLeafLen(c)
	return len(b.recips) - 1, nil
}

// Batch is a built, signed batch. It aliases the Builder's buffers and is
// valid until the Builder's next Build or Reset.
type Batch struct {
	Header    Header
	Signature [sig.SignatureSize]byte
	b         *Builder
}

// recipientLeafLen is the size of a recipient leaf whose LeafContent is
// c bytes: kind, tag, the sealed content's length and the sealed content.
func recipientLeafLen(c int) int { return 1 + TagLen + 3 + c + suite.TagSize }

// blobLeafLen is the size of the blob leaf of a payload of p bytes: kind,
// AEAD, the sealed payload's length and the sealed payload.
func blobLeafLen(p int) int { return 1 + 2 + 3 + p + suite.TagSize }

// span returns the place of leaf i in the arena.
func (b *Builder) span(i int) span {
	if i < len(b.blobSpans) {
		return b.blobSpans[i]
	}
	r := &b.recips[i-len(b.blobSpans)]
	off := b.blobBytes + r.off
	return span{off, off + recipientLeafLen(r.content)}
}

// parallelMin is the sealed size below which Build does not split the work:
// starting goroutines costs more than it saves on small batches.
const parallelMin = 64 << 10

// SetWorkers sets how many goroutines Build may use to seal and hash
// leaves (default: GOMAXPROCS). The goroutines live only for the duration
// of a Build call.
func (b *Builder) SetWorkers(n int) {
	if n < 1 {
		n = 1
	}
	b.workers = n
}

// Build seals every leaf, builds the tree and signs the header. seq must be
// at least 1 and above the seq of every earlier batch that held a leaf for
// any of its recipients' sessions (BATCH-020: strictly increasing within a
// session); one counter for all sessions does. A seq given to a Build that
// failed counts as used: leaves may have been sealed under it before the
// failure. Build does not fail for one recipient: AddRecipient already
// refused any leaf past its key's limits (BATCH-008). Sealing and leaf
// hashing run on up to SetWorkers goroutines, the caller's among them,
// each writing its own leaves of the arena and the subtrees above them
// (sealParallel).
func (b *Builder) Build(seq, timestampMs uint64) (*Batch, error) {
	nBlobs, nLeaves := len(b.blobs), len(b.blobs)+len(b.recips)
	if nLeaves == 0 || nLeaves > MaxBatchLeaves {
		return nil, alert.Errorf(alert.InternalError, "batch: %d leaves", nLeaves)
	}
	// The slots of an earlier, larger batch that this one does not reuse
	// drop their references.
	if b.dirtyRecips > len(b.recips) {
		clear(b.recips[len(b.recips):b.dirtyRecips])
	}
	if b.dirtyEntries > len(b.entries) {
		clear(b.entries[len(b.entries):b.dirtyEntries])
	}
	b.dirtyRecips, b.dirtyEntries = len(b.recips), len(b.entries)
	// Every leaf has its place before any is sealed, so that sealing in
	// place never moves the arena and leaves can be sealed independently:
	// the blob leaves first, then the recipient leaves, each of which
	// AddRecipient placed (and checked, and charged to its key's limits).
	b.blobSpans = b.blobSpans[:0]
	b.blobBytes = 0
	for _, p := range b.blobs {
		n := blobLeafLen(len(p))
		b.blobSpans = append(b.blobSpans, span{b.blobBytes, b.blobBytes + n})
		b.blobBytes += n
	}
	total := b.blobBytes + b.recipBytes
	if cap(b.arena) < total {
		b.arena = make([]byte, total)
	}
	b.arena = b.arena[:total]
	if cap(b.dataKeys) < nBlobs {
		b.dataKeys = make([][DataKeyLen]byte, nBlobs)
	}
	b.dataKeys = b.dataKeys[:nBlobs]
	for j := range b.dataKeys {
		if _, err := io.ReadFull(b.rand, b.dataKeys[j][:]); err != nil {
			return nil, alert.New(alert.InternalError, "batch: randomness source failed")
		}
	}
	// Workers hash leaves straight into the tree's leaf level.
	hashes := b.tree.Prepare(nLeaves)

	workers := b.workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if total < parallelMin || nLeaves < 2 {
		workers = 1
	}
	for len(b.scratch) < workers {
		b.scratch = append(b.scratch, new(scratch))
	}
	var root [merkle.HashSize]byte
	if workers == 1 {
		b.sealRange(0, nLeaves, seq, hashes, b.scratch[0])
		root = b.tree.Finish(0)
	} else {
		root = b.sealParallel(workers, total, seq, hashes)
	}
	if b.layoutBroken.Swap(false) {
		return nil, alert.New(alert.InternalError, "batch: leaf size differs from its layout")
	}

	bt := &Batch{b: b, Header: Header{Version: Version, SignerID: b.signerID, Seq: seq,
		TimestampMs: timestampMs, LeafCount: uint32(nLeaves), Root: root}}
	// The one signing path (§10.4): crypto/ed25519 through sig.Sign.
	hdr := bt.Header.AppendTo(b.scratch[0].aad[:0])
	copy(bt.Signature[:], sig.Sign(b.signer, keyschedule.SigBatch, hdr))
	return bt, nil
}

// sealParallel seals and hashes every leaf on workers goroutines (the
// caller's and workers − 1 more) and returns the tree's root. The leaves go
// out in chunks of about total/(8·workers) bytes, each worker taking the
// next chunk when it is done with one: a worker slowed by the rest of the
// machine takes fewer chunks instead of holding up the batch. A chunk is
// made of whole aligned blocks of 2^depth leaves, so the worker that seals
// it also hashes the subtrees above them while they are in its cache
// (merkle.Tree.HashSubtrees); only the few levels above the blocks are left
// for one goroutine. Every phase of a build that touches each leaf or
// recipient thus runs on all workers, and they write disjoint parts of the
// arena and the tree.
func (b *Builder) sealParallel(workers, total int, seq uint64, hashes [][merkle.HashSize]byte) [merkle.HashSize]byte {
	n := len(hashes)
	depth := merkle.SubtreeDepth(n, 16*workers)
	target := max(total/(8*workers), 1)
	chunks := (total + target - 1) / target
	// start returns the first leaf of chunk c: the first block boundary at
	// or past byte c·target of the arena (n past the last). Each worker
	// finds its chunks' bounds itself, by binary search over the leaves'
	// offsets, so no pass over the leaves runs on one goroutine.
	start := func(c int) int {
		if c >= chunks {
			return n
		}
		blocks := (n + 1<<depth - 1) >> depth
		k := sort.Search(blocks, func(k int) bool { return b.span(k<<depth).off >= c*target })
		return min(k<<depth, n)
	}
	var next atomic.Int64
	work := func(s *scratch) {
		for c := int(next.Add(1)) - 1; c < chunks; c = int(next.Add(1)) - 1 {
			lo, hi := start(c), start(c+1)
			if lo < hi {
				b.sealRange(lo, hi, seq, hashes, s)
				b.tree.HashSubtrees(depth, lo, hi)
			}
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func(s *scratch) {
			defer wg.Done()
			work(s)
		}(b.scratch[w])
	}
	work(b.scratch[0])
	wg.Wait()
	return b.tree.Finish(depth)
}

// sealRange seals leaves lo…hi−1 into their places in the arena and writes
// their hashes into hashes. Each recipient's Keys appear in one leaf only
// (BATCH-002), so ranges never share state.
func (b *Builder) sealRange(lo, hi int, seq uint64, hashes [][merkle.HashSize]byte, s *scratch) {
	nBlobs := len(b.blobs)
	for i := lo; i < hi; i++ {
		l := b.span(i)
		leaf := b.arena[l.off:l.off]
		if i < nBlobs {
			p := b.blobs[i]
			leaf = append(leaf, KindBlob)
			leaf = wire.AppendUint16(leaf, suite.AEADChaCha20Poly1305)
			leaf = wire.AppendUint24(leaf, uint32(len(p)+suite.TagSize))
			aad := blobAAD(s.aad[:0], &b.signerID, seq, uint32(i), suite.AEADChaCha20Poly1305)
			// The key has the right size, so New cannot fail.
			a, _ := chacha20poly1305.New(b.dataKeys[i][:])
			leaf = a.Seal(leaf, zeroNonce[:], p, aad)
		} else {
			r := &b.recips[i-nBlobs]
			tag := r.keys.tag(&b.signerID, seq, &s.tagScratch)
			leaf = append(leaf, KindRecipient)
			leaf = append(leaf, tag[:]...)
			leaf = wire.AppendUint24(leaf, uint32(r.content+suite.TagSize))
			pt := len(leaf)
			leaf = wire.AppendUint16(leaf, uint16(r.end-r.first))
			for _, e := range b.entries[r.first:r.end] {
				if e.Broadcast == 0 {
					leaf = append(leaf, EntryMessage)
					leaf = wire.AppendUint64(leaf, e.MessageID)
					leaf = wire.AppendOpaque(leaf, e.Payload, maxSealed)
				} else {
					leaf = append(leaf, EntryBroadcast)
					leaf = wire.AppendUint64(leaf, e.MessageID)
					leaf = wire.AppendUint32(leaf, uint32(e.Broadcast-1))
					leaf = append(leaf, b.dataKeys[e.Broadcast-1][:]...)
				}
			}
			aad := recipientAAD(s.aad[:0], &b.signerID, seq, uint32(i), &tag)
			leaf = r.keys.aead.Seal(leaf[:pt], r.keys.nonceInto(&s.nonce, seq), leaf[pt:], aad)
		}
		if len(leaf) != l.end-l.off {
			// A bug in AddRecipient's size; the leaf is left unhashed and
			// Build fails.
			b.layoutBroken.Store(true)
			continue
		}
		hashes[i] = merkle.LeafHash(b.arena[l.off:l.end])
	}
}

// Leaves returns the number of leaves.
func (bt *Batch) Leaves() int { return int(bt.Header.LeafCount) }

// Leaf returns the encoding of leaf i (aliases the builder's arena).
func (bt *Batch) Leaf(i int) []byte { l := bt.b.span(i); return bt.b.arena[l.off:l.end] }

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
// recipient handle: the header, the signature, the recipient's
// leaf and proof, and the blobs its entries reference with their proofs.
func (bt *Batch) AppendDelivery(dst []byte, recipient int) ([]byte, error) {
	b := bt.b
	if recipient < 0 || recipient >= len(b.recips) {
		return nil, alert.New(alert.InternalError, "batch: unknown recipient handle")
	}
	start := len(dst)
	dst = bt.Header.AppendTo(dst)
	dst = append(dst, bt.Signature[:]...)
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
