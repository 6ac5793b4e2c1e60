package batch

import (
	"crypto/subtle"
	"github.com/sealfeed/sealfeed/internal/bugs"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// LeafProof is a leaf with its position and audit path.
type LeafProof struct {
	Index uint32
	Leaf  []byte // the encoded Leaf, aliasing the delivery
	Path  [][merkle.HashSize]byte

	kind   uint8
	tag    []byte // recipient leaves
	aead   uint16 // blob leaves
	sealed []byte
}

// Delivery is a parsed BatchDelivery body. It aliases the input.
type Delivery struct {
	Header      Header
	HeaderBytes []byte
	Signature   []byte
	Own         LeafProof
	Blobs       []LeafProof
}

func readLeafProof(r *wire.Reader, p *LeafProof) {
	p.Index = r.Uint32("leaf index")
	start := r.Len()
	var rest []byte
	if r.Err() == nil {
		rest = r.Bytes(r.Len(), "leaf")
	}
	lr := wire.NewReader(rest)
	p.kind = lr.Uint8("leaf kind")
	switch p.kind {
	case KindRecipient:
		p.tag = lr.Bytes(TagLen, "recipient tag")
	case KindBlob:
		p.aead = lr.Uint16("blob aead")
	default:
		if lr.Err() == nil {
			r.Fail(alert.Errorf(alert.DecodeError, "leaf kind %d", p.kind))
			return
		}
	}
	p.sealed = lr.Opaque(minSealed, maxSealed, "sealed")
	if err := lr.Err(); err != nil {
		r.Fail(err)
		return
	}
	leafLen := start - lr.Len()
	p.Leaf = rest[:leafLen:leafLen]
	// Continue reading from where the leaf ends.
	*r = *wire.NewReader(rest[leafLen:])
	n := r.Count(0, maxPath, merkle.HashSize, "path")
	if r.Err() != nil {
		return
	}
	p.Path = make([][merkle.HashSize]byte, n)
	for i := range p.Path {
		r.Copy(p.Path[i][:], "path hash")
	}
}

// ParseDelivery decodes a BatchDelivery body strictly (WIRE-001, limits of
// §15). It checks structure only; Opener.Open checks everything else.
func ParseDelivery(body []byte) (*Delivery, error) {
	r := wire.NewReader(body)
	d := &Delivery{}
	d.HeaderBytes = r.Bytes(HeaderLen, "batch header")
	d.Signature = r.Bytes(sig.SignatureSize, "batch signature")
	if r.Err() == nil {
		d.Header, _ = ParseHeader(d.HeaderBytes)
	}
	readLeafProof(r, &d.Own)
	n := r.Count(0, MaxBlobsPerDelivery, 4+1+2+3+minSealed+1, "blobs")
	if r.Err() == nil && n > 0 {
		d.Blobs = make([]LeafProof, n)
		for i := range d.Blobs {
			readLeafProof(r, &d.Blobs[i])
		}
	}
	if err := r.Finish("batch delivery"); err != nil {
		return nil, err
	}
	return d, nil
}

// AppendTo re-encodes a parsed delivery.
func (d *Delivery) AppendTo(b []byte) []byte {
	b = append(b, d.HeaderBytes...)
	b = append(b, d.Signature...)
	lp := func(b []byte, p *LeafProof) []byte {
		b = wire.AppendUint32(b, p.Index)
		b = append(b, p.Leaf...)
		b = append(b, byte(len(p.Path)))
		for i := range p.Path {
			b = append(b, p.Path[i][:]...)
		}
		return b
	}
	b = lp(b, &d.Own)
	b = append(b, byte(len(d.Blobs)))
	for i := range d.Blobs {
		b = lp(b, &d.Blobs[i])
	}
	return b
}

// Message is one opened message.
type Message struct {
	ID        uint64
	Payload   []byte
	Broadcast bool
}

// Opener opens the deliveries of one client session.
type Opener struct {
	server     *sig.PublicKey
	serverID   [32]byte
	keys       *Keys
	maxPayload int
}

// NewOpener returns an Opener for deliveries signed by server (the key
// authenticated in the handshake, BATCH-010) and sealed under keys.
// maxPayload is the session's max_payload (BATCH-005).
func NewOpener(server *sig.PublicKey, keys *Keys, maxPayload int) *Opener {
	if maxPayload <= 0 || maxPayload > MaxPayload {
		maxPayload = MaxPayload
	}
	return &Opener{server: server, serverID: server.ID(), keys: keys, maxPayload: maxPayload}
}

// checkHeader applies BATCH-010, MERKLE-002 and REPLAY-010.
func (o *Opener) checkHeader(d *Delivery, lastSeq uint64) error {
	h := &d.Header
	if h.Version != Version {
		return alert.Errorf(alert.ProtocolVersion, "batch version %d", h.Version)
	}
	if subtle.ConstantTimeCompare(h.SignerID[:], o.serverID[:]) != 1 {
		return alert.New(alert.UnknownSigner, "batch signed by a key other than the session's server")
	}
	if h.LeafCount == 0 || h.LeafCount > MaxBatchLeaves {
		return alert.Errorf(alert.IllegalParameter, "leaf count %d", h.LeafCount)
	}
	if h.Seq <= lastSeq {
		return alert.Errorf(alert.ReplayedBatch, "batch sequence %d not above %d", h.Seq, lastSeq)
	}
	return nil
}

// Open verifies and opens a delivery: header and sequence (BATCH-010,
// REPLAY-010: lastSeq is the highest batch_seq accepted in this session, 0
// at its start), the signature (SIG-001 … SIG-005), inclusion proofs
// (MERKLE-001), leaf kinds and tag (BATCH-012), then decrypts (BATCH-013)
// and parses (BATCH-005). Nothing is decrypted before the origin is
// verified (BATCH-011). Open changes no state; the caller records the
// sequence and message IDs after it succeeds (BATCH-014).
func (o *Opener) Open(d *Delivery, lastSeq uint64) ([]Message, error) {
	if err := o.checkHeader(d, lastSeq); err != nil {
		return nil, err
	}
	// One strict single verification (SIG-001 … SIG-005).
	if err := sig.Verify(o.server, keyschedule.SigBatch, d.HeaderBytes, d.Signature); err != nil && !bugs.SkipBatchSignature {
		return nil, err
	}
	return o.openAfterSignature(d)
}

func (o *Opener) openAfterSignature(d *Delivery) ([]Message, error) {
	h := &d.Header
	if err := checkProof(&d.Own, h); err != nil {
		return nil, err
	}
	for i := range d.Blobs {
		if err := checkProof(&d.Blobs[i], h); err != nil {
			return nil, err
		}
	}
	if d.Own.kind != KindRecipient {
		return nil, alert.New(alert.IllegalParameter, "own leaf is not a recipient leaf")
	}
	for i := range d.Blobs {
		b := &d.Blobs[i]
		if b.kind != KindBlob {
			return nil, alert.New(alert.IllegalParameter, "blob leaf is not a blob")
		}
		if b.Index == d.Own.Index || (i > 0 && b.Index <= d.Blobs[i-1].Index) {
			return nil, alert.New(alert.IllegalParameter, "blob indices not strictly ascending")
		}
	}
	tag := o.keys.Tag(&h.SignerID, h.Seq)
	if subtle.ConstantTimeCompare(tag[:], d.Own.tag) != 1 {
		return nil, alert.New(alert.WrongRecipient, "leaf is not addressed to this session")
	}
	var aad [32 + 8 + 4 + 1 + TagLen]byte
	pt, err := o.keys.aead.Open(nil, o.keys.nonce(h.Seq), d.Own.sealed, recipientAAD(aad[:0], &h.SignerID, h.Seq, d.Own.Index, &tag))
	if err != nil {
		return nil, alert.New(alert.BadEnvelopeMAC, "leaf does not decrypt")
	}
	return o.parseContent(pt, d)
}

func checkProof(p *LeafProof, h *Header) error {
	if bugs.SkipMerkleProof {
		return nil
	}
	return merkle.VerifyInclusion(merkle.LeafHash(p.Leaf), p.Index, h.LeafCount, p.Path, h.Root)
}

func (o *Opener) parseContent(pt []byte, d *Delivery) ([]Message, error) {
	h := &d.Header
	r := wire.NewReader(pt)
	n := r.Count(1, MaxEntriesPerLeaf, 1+8+3, "entries")
	msgs := make([]Message, 0, n)
	used := make([]bool, len(d.Blobs))
	var prev uint64
	for i := 0; i < n && r.Err() == nil; i++ {
		typ := r.Uint8("entry type")
		id := r.Uint64("message id")
		if r.Err() != nil {
			break
		}
		if id <= prev {
			return nil, alert.New(alert.IllegalParameter, "message IDs not strictly ascending and non-zero")
		}
		prev = id
		switch typ {
		case EntryMessage:
			p := r.Opaque(0, maxSealed, "payload")
			if len(p) > o.maxPayload {
				return nil, alert.Errorf(alert.RecordOverflow, "payload of %d bytes", len(p))
			}
			msgs = append(msgs, Message{ID: id, Payload: p})
		case EntryBroadcast:
			index := r.Uint32("blob index")
			key := r.Bytes(DataKeyLen, "data key")
			if r.Err() != nil {
				break
			}
			j := -1
			for k := range d.Blobs {
				if d.Blobs[k].Index == index {
					j = k
				}
			}
			if j < 0 {
				return nil, alert.Errorf(alert.BadProof, "broadcast blob %d not delivered", index)
			}
			used[j] = true
			b := &d.Blobs[j]
			if b.aead != suite.AEADChaCha20Poly1305 {
				return nil, alert.Errorf(alert.IllegalParameter, "blob AEAD 0x%04x", b.aead)
			}
			a, err := chacha20poly1305.New(key)
			if err != nil {
				return nil, alert.New(alert.InternalError, "blob key")
			}
			var aad [32 + 8 + 4 + 1 + 2]byte
			p, err := a.Open(nil, zeroNonce[:], b.sealed, blobAAD(aad[:0], &h.SignerID, h.Seq, b.Index, b.aead))
			if err != nil {
				return nil, alert.New(alert.BadEnvelopeMAC, "broadcast blob does not decrypt")
			}
			if len(p) > o.maxPayload {
				return nil, alert.Errorf(alert.RecordOverflow, "payload of %d bytes", len(p))
			}
			msgs = append(msgs, Message{ID: id, Payload: p, Broadcast: true})
		default:
			return nil, alert.Errorf(alert.DecodeError, "entry type %d", typ)
		}
	}
	if err := r.Finish("leaf content"); err != nil {
		return nil, err
	}
	for j, u := range used {
		if !u {
			return nil, alert.Errorf(alert.IllegalParameter, "blob %d delivered but not referenced", d.Blobs[j].Index)
		}
	}
	return msgs, nil
}
