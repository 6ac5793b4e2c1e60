package generate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sort"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

// The batch format of spec §10, written here from the spec: encodings,
// sealing, the tree and the signature.

func init() {
	note("Unicast", "BASIC", "Each recipient's own messages in its own leaf.", "")
	note("Broadcast", "BASIC", "One payload sealed once as a blob; each recipient's leaf carries a broadcast_ref with the data key (BATCH-004).", "")
	note("Mixed", "BASIC", "Unicast messages and broadcast references in one batch.", "")
	note("WrongRecipient", "WRONG_KEY", "Another client's leaf, with a valid proof: its tag does not match (BATCH-012).", "")
	note("UnknownSigner", "WRONG_KEY", "A batch signed by a key other than the session's server key (BATCH-010).", "")
	note("BadEnvelope", "MODIFIED", "A leaf or blob that the signer sealed wrongly: it verifies, but does not decrypt (BATCH-013).", "")
	note("BadEntries", "MALFORMED", "A LeafContent that decrypts but breaks an entry rule (BATCH-005, BATCH-013, REPLAY-011).", "")
	note("BadHeader", "MODIFIED", "A header field out of range, signed by the right key.", "")
	note("CheckOrder", "STATE", "A delivery that fails one check of BATCH-011 but would pass the ones after it: the rule's order decides the alert.", "")
	note("LocalReplay", "REPLAY", "A message ID accepted before: the delivery is valid, the message is not handed to the application (REPLAY-012).", "")
}

type bEntry struct {
	typ     byte // 1 message, 2 broadcast_ref
	id      uint64
	payload []byte
	blob    int // index into the batch's blobs, for broadcast_ref
}

type bRecipient struct {
	aead    uint16
	entries []bEntry
	content []byte // overrides the LeafContent encoding
	aadBump uint32 // seals with aad index + aadBump (a signer bug)
	kind    byte   // overrides the leaf kind
}

type bBlob struct {
	aead    uint16
	payload []byte
	aadBump uint32
}

type bBatch struct {
	name      string
	signWith  ed25519.PrivateKey
	signerID  []byte
	seq, ts   uint64
	version   uint16 // overrides the header's version 1
	leafCount uint32 // overrides the header's leaf_count
	// versionZero and zeroCount put 0 in the header's version or
	// leaf_count.
	versionZero, zeroCount bool
	recipients             []bRecipient
	blobs                  []bBlob
}

type builtBatch struct {
	b          *bBatch
	leaves     [][]byte
	hs         [][]byte
	root       []byte
	header     []byte
	sig        []byte
	secrets    [][]byte
	keys       []keyschedule.EnvelopeKeys
	tags       [][]byte
	nonces     [][]byte
	aads       [][]byte
	contents   [][]byte
	dataKeys   [][]byte
	blobAADs   [][]byte
	blobLeaves []int
}

func recipientTag(tagKey, signerID []byte, seq uint64) []byte {
	m := hmac.New(sha256.New, tagKey)
	m.Write([]byte(keyschedule.MACRecipientTag))
	m.Write(signerID)
	m.Write(wire.AppendUint64(nil, seq))
	return m.Sum(nil)[:16]
}

func encodeEntries(es []bEntry, dataKeys [][]byte, blobLeaves []int) []byte {
	b := wire.AppendPrefix(nil, len(es), 65535)
	for _, e := range es {
		b = append(b, e.typ)
		b = wire.AppendUint64(b, e.id)
		switch e.typ {
		case 1:
			b = wire.AppendOpaque(b, e.payload, 1<<24-1)
		case 2:
			b = wire.AppendUint32(b, uint32(blobLeaves[e.blob]))
			b = append(b, dataKeys[e.blob]...)
		default:
			b = wire.AppendOpaque(b, e.payload, 1<<24-1)
		}
	}
	return b
}

// build seals the batch. Leaf order follows MERKLE-004: the blobs first,
// then one recipient leaf per client; a broadcast_ref's blob_index is the
// blob's leaf index.
func (b *bBatch) build(area string) *builtBatch {
	bt := &builtBatch{b: b}
	m := len(b.blobs)
	for j, bl := range b.blobs {
		bt.dataKeys = append(bt.dataKeys, randBytes(area, fmt.Sprintf("%s/blob/%d/key", b.name, j), 32))
		bt.blobLeaves = append(bt.blobLeaves, j)
		aad := append(bytes.Clone(b.signerID), wire.AppendUint64(nil, b.seq)...)
		aad = wire.AppendUint32(aad, uint32(j)+bl.aadBump)
		aad = wire.AppendUint16(append(aad, 0x02), bl.aead)
		sealed := aeadFor(bl.aead, bt.dataKeys[j]).Seal(nil, make([]byte, 12), bl.payload, aad)
		leaf := wire.AppendUint16([]byte{2}, bl.aead)
		leaf = wire.AppendOpaque(leaf, sealed, 1<<24-1)
		bt.leaves = append(bt.leaves, leaf)
		bt.blobAADs = append(bt.blobAADs, aad)
	}
	for i, r := range b.recipients {
		secret := randBytes(area, fmt.Sprintf("%s/recipient/%d", b.name, i), 32)
		k := keyschedule.Envelope(secret)
		tag := recipientTag(k.TagKey, b.signerID, b.seq)
		content := r.content
		if content == nil {
			content = encodeEntries(r.entries, bt.dataKeys, bt.blobLeaves)
		}
		nonce := xorNonce(k.IV, b.seq)
		aad := append(bytes.Clone(b.signerID), wire.AppendUint64(nil, b.seq)...)
		aad = wire.AppendUint32(aad, uint32(m+i)+r.aadBump)
		aad = append(append(aad, 0x01), tag...)
		sealed := aeadFor(r.aead, k.Key).Seal(nil, nonce, content, aad)
		kind := byte(1)
		if r.kind != 0 {
			kind = r.kind
		}
		leaf := append([]byte{kind}, tag...)
		leaf = wire.AppendOpaque(leaf, sealed, 1<<24-1)
		bt.leaves = append(bt.leaves, leaf)
		bt.secrets = append(bt.secrets, secret)
		bt.keys = append(bt.keys, k)
		bt.tags = append(bt.tags, tag)
		bt.nonces = append(bt.nonces, nonce)
		bt.aads = append(bt.aads, aad[:len(aad):len(aad)])
		bt.contents = append(bt.contents, content)
	}
	for _, l := range bt.leaves {
		bt.hs = append(bt.hs, leafHash(l))
	}
	bt.root = mth(bt.hs)
	version := uint16(1)
	if b.version != 0 {
		version = b.version
	}
	count := uint32(len(bt.leaves))
	if b.leafCount != 0 {
		count = b.leafCount
	}
	if b.versionZero {
		version = 0
	}
	if b.zeroCount {
		count = 0
	}
	h := wire.AppendUint16(nil, version)
	h = append(h, b.signerID...)
	h = wire.AppendUint64(h, b.seq)
	h = wire.AppendUint64(h, b.ts)
	h = wire.AppendUint32(h, count)
	bt.header = append(h, bt.root...)
	bt.sig = ed25519.Sign(b.signWith, labelled(keyschedule.SigBatch, bt.header))
	return bt
}

// leafProof encodes LeafProof for leaf i of the batch.
func (bt *builtBatch) leafProof(i int) []byte {
	b := wire.AppendUint32(nil, uint32(i))
	b = append(b, bt.leaves[i]...)
	path := auditPath(i, bt.hs)
	b = wire.AppendPrefix(b, len(path), 32)
	for _, p := range path {
		b = append(b, p...)
	}
	return b
}

// referencedBlobs returns the numbers of the blobs recipient i refers to,
// ascending.
func (bt *builtBatch) referencedBlobs(i int) []int {
	seen := map[int]bool{}
	var out []int
	for _, e := range bt.b.recipients[i].entries {
		if e.typ == 2 && !seen[e.blob] {
			seen[e.blob] = true
			out = append(out, e.blob)
		}
	}
	sort.Ints(out)
	return out
}

// delivery encodes the BatchDelivery body of recipient own with the blobs
// numbered in blobs.
func (bt *builtBatch) delivery(own int, blobs []int) []byte {
	var ls []int
	for _, j := range blobs {
		ls = append(ls, bt.blobLeaves[j])
	}
	return bt.deliveryLeaves(len(bt.b.blobs)+own, ls)
}

// deliveryLeaves encodes a BatchDelivery body with the leaf at index own as
// its own leaf and the leaves at indices blobs as its blobs.
func (bt *builtBatch) deliveryLeaves(own int, blobs []int) []byte {
	d := append(bytes.Clone(bt.header), bt.sig...)
	d = append(d, bt.leafProof(own)...)
	d = wire.AppendPrefix(d, len(blobs), 64)
	for _, j := range blobs {
		d = append(d, bt.leafProof(j)...)
	}
	return d
}

// messages returns what recipient i's client obtains from a valid
// delivery, given the IDs it accepted before.
func (bt *builtBatch) messages(i int, accepted []uint64) []vectors.BatchMessage {
	w := &windowModel{accepted: map[uint64]bool{}}
	for _, id := range accepted {
		w.accept(id)
	}
	out := []vectors.BatchMessage{}
	for _, e := range bt.b.recipients[i].entries {
		p := e.payload
		if e.typ == 2 {
			p = bt.b.blobs[e.blob].payload
		}
		status := "deliver"
		if c := w.decide(e.id); c != 0 {
			status = c.String()
		} else {
			w.accept(e.id)
		}
		out = append(out, vectors.BatchMessage{MessageID: vectors.U64(e.id), Payload: nonNil(p), Status: status})
	}
	return out
}

func (bt *builtBatch) group(signerPub []byte) vectors.BatchGroup {
	g := vectors.BatchGroup{Type: "BatchOpen", SigningSeed: bt.b.signWith.Seed(), SignerKey: signerPub, SignerID: bt.b.signerID, BatchSeq: vectors.U64(bt.b.seq),
		TimestampMs: vectors.U64(bt.b.ts), Leaves: hexList(bt.leaves), Root: bt.root, Header: bt.header, Signature: bt.sig,
		Recipients: []vectors.BatchRecipient{}, Blobs: []vectors.BatchBlob{}}
	for i, r := range bt.b.recipients {
		g.Recipients = append(g.Recipients, vectors.BatchRecipient{EnvelopeSecret: bt.secrets[i], EnvKey: bt.keys[i].Key,
			EnvIV: bt.keys[i].IV, TagKey: bt.keys[i].TagKey, AEAD: r.aead, LeafIndex: uint32(len(bt.b.blobs) + i), Tag: bt.tags[i],
			Nonce: bt.nonces[i], AAD: bt.aads[i], LeafContent: bt.contents[i]})
	}
	for j, bl := range bt.b.blobs {
		g.Blobs = append(g.Blobs, vectors.BatchBlob{LeafIndex: uint32(bt.blobLeaves[j]), AEAD: bl.aead, DataKey: bt.dataKeys[j],
			AAD: bt.blobAADs[j], Payload: nonNil(bl.payload)})
	}
	return g
}

func u64s(v []uint64) []vectors.U64 {
	out := []vectors.U64{}
	for _, x := range v {
		out = append(out, vectors.U64(x))
	}
	return out
}

const defaultMaxPayload = 65536

var batchArea = areaDef{
	name: "batch",
	build: func(a *area) (any, error) {
		signer := ed25519.NewKeyFromSeed(randBytes(a.name, "signer", 32))
		other := ed25519.NewKeyFromSeed(randBytes(a.name, "other-signer", 32))
		signerPub := signer.Public().(ed25519.PublicKey)
		signerID := keyID(signerPub)
		payload := func(name string, n int) []byte { return randBytes(a.name, "payload/"+name, n) }
		msg := func(id uint64, n int) bEntry {
			return bEntry{typ: 1, id: id, payload: payload(fmt.Sprintf("%d-%d", id, n), n)}
		}
		ref := func(id uint64, blob int) bEntry { return bEntry{typ: 2, id: id, blob: blob} }
		cc, gcm := suite.AEADChaCha20Poly1305, suite.AEADAES256GCM
		var groups []vectors.BatchGroup

		type tcase struct {
			name, comment, req string
			recipient          int
			delivery           []byte
			highest            *uint64
			accepted           []uint64
			maxPayload         uint32
			code               alert.Code
			flags              []string
		}
		addTests := func(g *vectors.BatchGroup, bt *builtBatch, prefix string, cs []tcase) {
			for _, c := range cs {
				mp := c.maxPayload
				if mp == 0 {
					mp = defaultMaxPayload
				}
				t := vectors.BatchTest{Recipient: c.recipient, MaxPayload: mp, AcceptedIDs: u64s(c.accepted), Delivery: c.delivery,
					Messages: []vectors.BatchMessage{}}
				if c.highest != nil {
					h := vectors.U64(*c.highest)
					t.HighestBatchSeq = &h
				}
				if c.code == 0 {
					t.Test = a.valid(prefix+c.name, c.comment, c.req, c.flags...)
					t.Messages = bt.messages(c.recipient, c.accepted)
				} else {
					t.Test = a.invalid(prefix+c.name, c.comment, c.req, c.code.String(), c.flags...)
				}
				g.Tests = append(g.Tests, t)
			}
		}
		seqp := func(v uint64) *uint64 { return &v }

		// 1. Unicast: four clients, one with an AES-256-GCM session.
		uni := &bBatch{name: "unicast", signWith: signer, signerID: signerID, seq: 41, ts: 1767225600123, recipients: []bRecipient{
			{aead: cc, entries: []bEntry{msg(1, 12)}},
			{aead: cc, entries: []bEntry{msg(7, 0), msg(8, 40), msg(20, 3)}},
			{aead: gcm, entries: []bEntry{msg(100, 64)}},
			{aead: cc, entries: []bEntry{msg(1, 1)}},
		}}
		ub := uni.build(a.name)
		ug := ub.group(signerPub)
		var ucs []tcase
		for i := range uni.recipients {
			ucs = append(ucs, tcase{name: fmt.Sprintf("recipient-%d", i), comment: fmt.Sprintf("recipient %d opens its leaf", i), req: "BATCH-011",
				recipient: i, delivery: ub.delivery(i, nil), highest: seqp(40), flags: []string{"Unicast"}})
		}
		d1 := ub.delivery(1, nil)
		ucs = append(ucs,
			tcase{name: "first-batch", comment: "no batch accepted before in this session", req: "REPLAY-010", recipient: 0, delivery: ub.delivery(0, nil), flags: []string{"Unicast"}},
			tcase{name: "gap", comment: "highest accepted batch_seq 3: gaps are allowed", req: "REPLAY-010", recipient: 0, delivery: ub.delivery(0, nil), highest: seqp(3), flags: []string{"Unicast"}},
			tcase{name: "duplicate-message", comment: "message 8 was accepted before: not delivered again", req: "REPLAY-012", recipient: 1, delivery: d1,
				highest: seqp(40), accepted: []uint64{8}, flags: []string{"LocalReplay"}},
			tcase{name: "stale-message", comment: "IDs up to 2000 accepted: messages 7, 8 and 20 are stale", req: "REPLAY-012", recipient: 1, delivery: d1,
				highest: seqp(40), accepted: []uint64{2000}, flags: []string{"LocalReplay"}},
			tcase{name: "replayed-batch", comment: "batch_seq 41 was accepted before", req: "REPLAY-010", recipient: 1, delivery: d1, highest: seqp(41),
				code: alert.ReplayedBatch, flags: []string{"ReplayedBatch"}},
			tcase{name: "older-batch", comment: "batch_seq 42 was accepted before", req: "REPLAY-010", recipient: 1, delivery: d1, highest: seqp(42),
				code: alert.ReplayedBatch, flags: []string{"ReplayedBatch"}},
			tcase{name: "other-recipients-leaf", comment: "recipient 1 receives the delivery of recipient 0", req: "BATCH-012", recipient: 1,
				delivery: ub.delivery(0, nil), highest: seqp(40), code: alert.WrongRecipient, flags: []string{"WrongRecipient"}},
			tcase{name: "other-recipients-leaf-same-ids", comment: "recipient 3 receives recipient 0's leaf (both have message 1)", req: "BATCH-012", recipient: 3,
				delivery: ub.delivery(0, nil), highest: seqp(40), code: alert.WrongRecipient, flags: []string{"WrongRecipient"}},
			tcase{name: "payload-over-max", comment: "message 8 has 40 bytes; the session's max_payload is 39", req: "BATCH-005", recipient: 1, delivery: d1,
				highest: seqp(40), maxPayload: 39, code: alert.RecordOverflow, flags: []string{"Oversize"}},
		)
		ucs = append(ucs, tcase{name: "payload-at-max", comment: "message 8 has 40 bytes; max_payload is 40", req: "BATCH-005", recipient: 1, delivery: d1,
			highest: seqp(40), maxPayload: 40, flags: []string{"MaxSize"}})
		// Modified deliveries (each breaks exactly one check).
		flip := func(d []byte, i int, bit byte) []byte { d = bytes.Clone(d); d[i] ^= bit; return d }
		hdrLen := len(ub.header)
		sigOff, ownOff := hdrLen, hdrLen+64
		ucs = append(ucs,
			tcase{name: "signature-r-flip", comment: "bit 0 of the signature's R flipped", req: "BATCH-011", recipient: 1, delivery: flip(d1, sigOff, 1),
				highest: seqp(40), code: alert.BadSignature, flags: []string{"ModifiedSignature"}},
			tcase{name: "signature-s-flip", comment: "bit 0 of the signature's S flipped", req: "BATCH-011", recipient: 1, delivery: flip(d1, sigOff+32, 1),
				highest: seqp(40), code: alert.BadSignature, flags: []string{"ModifiedSignature"}},
			tcase{name: "root-flip", comment: "bit 0 of the header's root flipped", req: "BATCH-011", recipient: 1, delivery: flip(d1, hdrLen-32, 1),
				highest: seqp(40), code: alert.BadSignature, flags: []string{"ModifiedSignature"}},
			tcase{name: "timestamp-flip", comment: "bit 0 of the header's timestamp flipped", req: "BATCH-011", recipient: 1, delivery: flip(d1, 2+32+8+7, 1),
				highest: seqp(40), code: alert.BadSignature, flags: []string{"ModifiedSignature"}},
			tcase{name: "seq-lowered", comment: "batch_seq changed from 41 to 40 = the highest accepted: replayed_batch comes before the signature", req: "BATCH-011",
				recipient: 1, delivery: flip(d1, 2+32+7, 1), highest: seqp(40), code: alert.ReplayedBatch, flags: []string{"CheckOrder", "ReplayedBatch"}},
			tcase{name: "seq-raised", comment: "batch_seq changed from 41 to 43: the signature fails", req: "BATCH-011",
				recipient: 1, delivery: flip(d1, 2+32+7, 2), highest: seqp(40), code: alert.BadSignature, flags: []string{"ModifiedSignature"}},
			tcase{name: "leaf-index-flip", comment: "own leaf_index 1 changed to 0", req: "MERKLE-001", recipient: 1, delivery: flip(d1, ownOff+3, 1),
				highest: seqp(40), code: alert.BadProof, flags: []string{"WrongIndex"}},
			tcase{name: "sealed-flip", comment: "bit 0 of the sealed leaf's last byte flipped: the proof fails before any decryption", req: "BATCH-011", recipient: 1,
				delivery: flip(d1, ownOff+4+len(ub.leaves[1])-1, 1), highest: seqp(40), code: alert.BadProof, flags: []string{"ModifiedLeaf", "CheckOrder"}},
			tcase{name: "tag-flip", comment: "bit 0 of the leaf's tag flipped: the proof fails", req: "BATCH-011", recipient: 1,
				delivery: flip(d1, ownOff+5, 1), highest: seqp(40), code: alert.BadProof, flags: []string{"ModifiedLeaf"}},
			tcase{name: "path-flip", comment: "bit 0 of the first path hash flipped", req: "MERKLE-001", recipient: 1,
				delivery: flip(d1, len(d1)-1-64, 1), highest: seqp(40), code: alert.BadProof, flags: []string{"ModifiedPath"}},
		)
		// Decoding (WIRE-001).
		for _, cut := range []int{0, 2, hdrLen - 1, hdrLen, sigOff + 64, ownOff + 4, len(d1) - 33, len(d1) - 1} {
			ucs = append(ucs, tcase{name: fmt.Sprintf("truncated-%d", cut), comment: fmt.Sprintf("delivery truncated to %d of %d bytes", cut, len(d1)),
				req: "WIRE-001", recipient: 1, delivery: d1[:cut], highest: seqp(40), code: alert.DecodeError, flags: []string{"Truncated"}})
		}
		ucs = append(ucs, tcase{name: "trailing-byte", comment: "delivery followed by one byte", req: "WIRE-001", recipient: 1,
			delivery: append(bytes.Clone(d1), 0), highest: seqp(40), code: alert.DecodeError, flags: []string{"TrailingData"}})
		{
			// The path count of the own proof: 2 hashes; announce 33.
			d := bytes.Clone(d1)
			d[len(d)-1-64-1] = 33
			ucs = append(ucs, tcase{name: "path-count-33", comment: "own path count 33 (path<0..32>)", req: "WIRE-001", recipient: 1,
				delivery: d, highest: seqp(40), code: alert.DecodeError, flags: []string{"LengthMismatch"}})
			d = bytes.Clone(d1)
			d[len(d)-1] = 65
			ucs = append(ucs, tcase{name: "blob-count-65", comment: "blob count 65 (blobs<0..64>)", req: "WIRE-001", recipient: 1,
				delivery: d, highest: seqp(40), code: alert.DecodeError, flags: []string{"LengthMismatch"}})
			d = bytes.Clone(d1)
			d[ownOff+4] = 3
			ucs = append(ucs, tcase{name: "leaf-kind-3", comment: "own leaf kind 3", req: "WIRE-001", recipient: 1,
				delivery: d, highest: seqp(40), code: alert.DecodeError, flags: []string{"UnknownType"}})
		}
		addTests(&ug, ub, "unicast/", ucs)
		groups = append(groups, ug)

		// 2. Broadcast: one payload for four clients, one blob.
		bc := &bBatch{name: "broadcast", signWith: signer, signerID: signerID, seq: 42, ts: 1767225601000,
			blobs: []bBlob{{aead: cc, payload: payload("broadcast", 200)}}}
		for i := 0; i < 4; i++ {
			r := bRecipient{aead: cc, entries: []bEntry{ref(uint64(10+i), 0)}}
			if i == 3 {
				r.aead = gcm
			}
			bc.recipients = append(bc.recipients, r)
		}
		bb := bc.build(a.name)
		bg := bb.group(signerPub)
		var bcs []tcase
		for i := range bc.recipients {
			bcs = append(bcs, tcase{name: fmt.Sprintf("recipient-%d", i), comment: fmt.Sprintf("recipient %d opens the broadcast", i), req: "BATCH-004",
				recipient: i, delivery: bb.delivery(i, bb.referencedBlobs(i)), highest: seqp(41), flags: []string{"Broadcast"}})
		}
		bd := bb.delivery(0, bb.referencedBlobs(0))
		bcs = append(bcs,
			tcase{name: "blob-missing", comment: "the broadcast_ref's blob is not in the delivery", req: "BATCH-013", recipient: 0,
				delivery: bb.delivery(0, nil), highest: seqp(41), code: alert.BadProof, flags: []string{"BadEntries"}},
			tcase{name: "blob-as-own", comment: "the blob's proof in place of the recipient's own", req: "BATCH-012", recipient: 0,
				delivery: bb.deliveryLeaves(0, []int{0}), highest: seqp(41), code: alert.IllegalParameter, flags: []string{"WrongRecipient"}},
			tcase{name: "recipient-as-blob", comment: "another recipient's leaf proof in the blob list, after the referenced blob", req: "BATCH-012", recipient: 0,
				delivery: bb.deliveryLeaves(1, []int{0, 2}), highest: seqp(41), code: alert.IllegalParameter, flags: []string{"BadEntries"}},
			tcase{name: "blob-sealed-flip", comment: "bit 0 of the blob's last sealed byte flipped: the blob proof fails", req: "BATCH-011", recipient: 0,
				delivery: flip(bd, bytes.LastIndex(bd, bb.leaves[0])+len(bb.leaves[0])-1, 1), highest: seqp(41), code: alert.BadProof, flags: []string{"ModifiedLeaf"}},
		)
		addTests(&bg, bb, "broadcast/", bcs)
		groups = append(groups, bg)

		// 3. Mixed: unicast messages and two broadcasts.
		mx := &bBatch{name: "mixed", signWith: signer, signerID: signerID, seq: 43, ts: 1767225602000,
			blobs: []bBlob{{aead: cc, payload: payload("mixed-blob-0", 100)}, {aead: cc, payload: payload("mixed-blob-1", 33)}},
			recipients: []bRecipient{
				{aead: cc, entries: []bEntry{msg(1, 5), ref(2, 0), msg(3, 7)}},
				{aead: cc, entries: []bEntry{msg(50, 9)}},
				{aead: gcm, entries: []bEntry{ref(5, 0), ref(6, 1)}},
				{aead: cc, entries: []bEntry{ref(9, 1), msg(10, 0)}},
				{aead: cc, entries: []bEntry{msg(1, 2)}},
			}}
		mb := mx.build(a.name)
		mg := mb.group(signerPub)
		var mcs []tcase
		for i := range mx.recipients {
			mcs = append(mcs, tcase{name: fmt.Sprintf("recipient-%d", i), comment: fmt.Sprintf("recipient %d opens its leaf and the blobs it references", i),
				req: "BATCH-011", recipient: i, delivery: mb.delivery(i, mb.referencedBlobs(i)), highest: seqp(42), flags: []string{"Mixed"}})
		}
		mcs = append(mcs,
			tcase{name: "extra-blob", comment: "recipient 1 receives a blob it does not reference", req: "BATCH-013", recipient: 1,
				delivery: mb.delivery(1, []int{0}), highest: seqp(42), code: alert.IllegalParameter, flags: []string{"BadEntries"}},
			tcase{name: "one-blob-missing", comment: "recipient 2 references blobs 0 and 1; only 0 is delivered", req: "BATCH-013", recipient: 2,
				delivery: mb.delivery(2, []int{0}), highest: seqp(42), code: alert.BadProof, flags: []string{"BadEntries"}},
			tcase{name: "blobs-descending", comment: "recipient 2's blobs in the order 1, 0", req: "BATCH-013", recipient: 2,
				delivery: mb.delivery(2, []int{1, 0}), highest: seqp(42), code: alert.IllegalParameter, flags: []string{"BadEntries", "OutOfOrder"}},
			tcase{name: "blobs-twice", comment: "recipient 0's blob delivered twice", req: "BATCH-013", recipient: 0,
				delivery: mb.delivery(0, []int{0, 0}), highest: seqp(42), code: alert.IllegalParameter, flags: []string{"BadEntries", "Duplicate"}},
			tcase{name: "own-leaf-as-blob", comment: "recipient 1's own leaf repeated in its blob list", req: "BATCH-013", recipient: 1,
				delivery: mb.deliveryLeaves(3, []int{3}), highest: seqp(42), code: alert.IllegalParameter, flags: []string{"BadEntries"}},
		)
		addTests(&mg, mb, "mixed/", mcs)
		groups = append(groups, mg)

		// 4. A batch whose signer sealed or encoded leaves wrongly: every
		// proof and the signature verify; the content check fails.
		malformed := []struct {
			r bRecipient
			c tcase
		}{
			{bRecipient{aead: cc, entries: []bEntry{msg(1, 4)}, aadBump: 1},
				tcase{name: "aad-index", comment: "the leaf was sealed with index + 1 in its aad", req: "BATCH-013", code: alert.BadEnvelopeMAC, flags: []string{"BadEnvelope"}}},
			{bRecipient{aead: gcm, entries: []bEntry{msg(1, 4)}, aadBump: 1 << 31},
				tcase{name: "aad-index-gcm", comment: "an AES-256-GCM leaf sealed with a wrong index in its aad", req: "BATCH-013", code: alert.BadEnvelopeMAC, flags: []string{"BadEnvelope"}}},
			{bRecipient{aead: cc, entries: []bEntry{msg(5, 4), msg(4, 4)}},
				tcase{name: "ids-descending", comment: "message IDs 5 then 4", req: "BATCH-005", code: alert.IllegalParameter, flags: []string{"BadEntries", "OutOfOrder"}}},
			{bRecipient{aead: cc, entries: []bEntry{msg(5, 4), msg(5, 4)}},
				tcase{name: "ids-duplicate", comment: "message ID 5 twice", req: "BATCH-005", code: alert.IllegalParameter, flags: []string{"BadEntries", "Duplicate"}}},
			{bRecipient{aead: cc, entries: []bEntry{{typ: 3, id: 1, payload: []byte{1}}}},
				tcase{name: "entry-type-3", comment: "an entry of type 3", req: "BATCH-005", code: alert.DecodeError, flags: []string{"BadEntries", "UnknownType"}}},
			{bRecipient{aead: cc, entries: []bEntry{{typ: 0, id: 1, payload: []byte{1}}}},
				tcase{name: "entry-type-0", comment: "an entry of type 0", req: "BATCH-005", code: alert.DecodeError, flags: []string{"BadEntries", "UnknownType"}}},
			{bRecipient{aead: cc, entries: []bEntry{msg(0, 4)}},
				tcase{name: "message-id-0", comment: "message ID 0", req: "REPLAY-011", code: alert.IllegalParameter, flags: []string{"BadEntries", "ZeroID"}}},
			{bRecipient{aead: cc, content: []byte{0, 0}},
				tcase{name: "no-entries", comment: "a LeafContent with 0 entries (entries<1..65535>)", req: "WIRE-001", code: alert.DecodeError, flags: []string{"BadEntries", "LengthMismatch"}}},
			{bRecipient{aead: cc, content: append(encodeEntries([]bEntry{msg(1, 4)}, nil, nil), 0)},
				tcase{name: "content-trailing", comment: "a LeafContent followed by one byte", req: "WIRE-001", code: alert.DecodeError, flags: []string{"BadEntries", "TrailingData"}}},
			{bRecipient{aead: cc, content: []byte{}},
				tcase{name: "empty-content", comment: "an empty LeafContent", req: "WIRE-001", code: alert.DecodeError, flags: []string{"BadEntries", "Truncated"}}},
			{bRecipient{aead: cc, content: encodeEntries([]bEntry{msg(1, 4)}, nil, nil)[:7]},
				tcase{name: "content-truncated", comment: "a LeafContent cut inside its first entry", req: "WIRE-001", code: alert.DecodeError, flags: []string{"BadEntries", "Truncated"}}},
			{bRecipient{aead: cc, entries: []bEntry{ref(1, 1)}},
				tcase{name: "blob-aad-index", comment: "the referenced blob was sealed with index + 1 in its aad", req: "BATCH-013", code: alert.BadEnvelopeMAC, flags: []string{"BadEnvelope"}}},
		}
		bad := &bBatch{name: "malformed", signWith: signer, signerID: signerID, seq: 44, ts: 1767225603000,
			blobs: []bBlob{{aead: cc, payload: payload("malformed-blob-0", 20)}, {aead: cc, payload: payload("malformed-blob-1", 20), aadBump: 1}}}
		var xcs []tcase
		for i, m := range malformed {
			bad.recipients = append(bad.recipients, m.r)
			m.c.recipient = i
			xcs = append(xcs, m.c)
		}
		xb := bad.build(a.name)
		xg := xb.group(signerPub)
		for i := range xcs {
			xcs[i].delivery = xb.delivery(xcs[i].recipient, xb.referencedBlobs(xcs[i].recipient))
			xcs[i].highest = seqp(43)
		}
		addTests(&xg, xb, "malformed/", xcs)
		groups = append(groups, xg)

		// 5. Header defects, each signed by the key named in signer_id or
		// by another key.
		otherPub := other.Public().(ed25519.PublicKey)
		headers := []struct {
			name, comment, req string
			b                  bBatch
			code               alert.Code
			flags              []string
		}{
			{"unknown-signer", "a batch signed by another key, with that key's signer_id", "BATCH-010",
				bBatch{signWith: other, signerID: keyID(otherPub)}, alert.UnknownSigner, []string{"UnknownSigner"}},
			{"signed-by-other", "signer_id of the session's server key, signature by another key", "BATCH-011",
				bBatch{signWith: other, signerID: signerID}, alert.BadSignature, []string{"WrongKey"}},
			{"version-2", "header version 2", "BATCH-010", bBatch{signWith: signer, signerID: signerID, version: 2}, alert.ProtocolVersion, []string{"UnknownVersion"}},
			{"version-0", "header version 0", "BATCH-010", bBatch{signWith: signer, signerID: signerID, versionZero: true}, alert.ProtocolVersion, []string{"UnknownVersion"}},
			{"version-ffff", "header version 0xffff", "BATCH-010", bBatch{signWith: signer, signerID: signerID, version: 0xffff}, alert.ProtocolVersion, []string{"UnknownVersion"}},
			{"leaf-count-0", "leaf_count 0", "MERKLE-002", bBatch{signWith: signer, signerID: signerID, zeroCount: true}, alert.IllegalParameter, []string{"LeafCount"}},
			{"leaf-count-max-uint32", "leaf_count 2^32 − 1", "MERKLE-002", bBatch{signWith: signer, signerID: signerID, leafCount: 1<<32 - 1}, alert.IllegalParameter, []string{"LeafCount"}},
			{"leaf-count-over-max", "leaf_count MaxBatchLeaves + 1", "MERKLE-002", bBatch{signWith: signer, signerID: signerID, leafCount: 1<<20 + 1}, alert.IllegalParameter, []string{"LeafCount"}},
			{"leaf-count-plus-1", "leaf_count one more than the tree has", "MERKLE-001", bBatch{signWith: signer, signerID: signerID, leafCount: 3}, alert.BadProof, []string{"WrongIndex"}},
		}
		for i, h := range headers {
			b := h.b
			b.name = "header-" + h.name
			b.seq, b.ts = 50+uint64(i), 1767225604000
			b.recipients = []bRecipient{{aead: cc, entries: []bEntry{msg(1, 4)}}, {aead: cc, entries: []bEntry{msg(2, 4)}}}
			hb := b.build(a.name)
			hg := hb.group(signerPub)
			addTests(&hg, hb, "header/", []tcase{{name: h.name, comment: h.comment, req: h.req, recipient: 0,
				delivery: hb.delivery(0, nil), highest: seqp(49), code: h.code, flags: append(h.flags, "BadHeader")}})
			groups = append(groups, hg)
		}
		return file(a, []string{
			"Batch envelopes (spec §10): each group is one batch as the signer built it, with every leaf, the tree head, the header and the signature (plain Ed25519, §10.4), and for each recipient session its envelope keys and plaintext.",
			"Each test opens one BatchDelivery body as one recipient's client, with the replay state given (highestBatchSeq: the highest batch_seq accepted in this session, absent if none); checks run in the order of BATCH-011 (batch sequence, signature, proofs, then decryption) and a failed delivery changes no state.",
			"Recipient leaf i: nonce = env_iv XOR (0^4 || batch_seq), aad = signer_id || batch_seq || uint32 i || 0x01 || tag; blob j: key data_key, nonce 0^12, aad = signer_id || batch_seq || uint32 j || 0x02 || uint16 aead.",
		}, groups), nil
	},
	schema: func() map[string]any {
		recipient := strict(obj{"envelopeSecret": hexLen(32), "envKey": hexLen(32), "envIv": hexLen(12), "tagKey": hexLen(32),
			"aead": enum(1, 2), "leafIndex": integer(0, 1<<20), "tag": hexLen(16), "nonce": hexLen(12), "aad": hexAny(), "leafContent": hexAny()})
		blob := strict(obj{"leafIndex": integer(0, 1<<20), "aead": enum(1, 2), "dataKey": hexLen(32), "aad": hexAny(), "payload": hexAny()})
		message := strict(obj{"messageId": u64(), "payload": hexAny(), "status": enum("deliver", "replayed_message", "stale_message")})
		return fileSchema("batch", "SealFeed v1 batch envelope vectors",
			obj{"type": constant("BatchOpen"), "signingSeed": hexLen(32), "signerKey": hexLen(32), "signerId": hexLen(32), "batchSeq": u64(), "timestampMs": u64(),
				"leaves": arrayOf(hexAny()), "root": hexLen(32), "header": hexAny(), "signature": hexLen(64),
				"recipients": arrayOf(recipient), "blobs": arrayOf(blob)}, nil,
			obj{"recipient": integer(0, 1<<20), "maxPayload": integer(0, 1<<32-1), "highestBatchSeq": u64(), "acceptedIds": arrayOf(u64()),
				"delivery": hexAny(), "messages": arrayOf(message)}, []string{"highestBatchSeq"})
	},
}
