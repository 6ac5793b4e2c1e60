package batch

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

type seeded struct{ r *mrand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

type party struct {
	server, client *Keys // the two copies of one session's envelope keys
	opener         *Opener
}

func newParty(t interface{ Fatal(...any) }, serverPub *sig.PublicKey, seed byte, aead uint16) *party {
	secret := bytes.Repeat([]byte{seed}, 32)
	ek := keyschedule.Envelope(secret)
	s, err := NewKeys(aead, ek)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewKeys(aead, ek)
	return &party{server: s, client: c, opener: NewOpener(serverPub, c, MaxPayload)}
}

func signer(seed byte) (ed25519.PrivateKey, *sig.PublicKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	pk, _ := sig.ParsePublicKey(priv.Public().(ed25519.PublicKey))
	return priv, pk
}

func newBuilder(t interface {
	Helper()
	Fatal(...any)
}, priv ed25519.PrivateKey, r io.Reader) *Builder {
	t.Helper()
	b, err := NewBuilder(priv, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SIG-006: NewBuilder refuses a signing key whose public half is not its
// seed's, before anything is signed with it.
func TestNewBuilderChecksKeyHalves(t *testing.T) {
	priv, _ := signer(1)
	other, _ := signer(2)
	mixed := append(bytes.Clone(priv[:32]), other[32:]...)
	if _, err := NewBuilder(mixed, nil); codeOf(err) != alert.BadKey {
		t.Fatalf("mismatched halves: %v", err)
	}
	if _, err := NewBuilder(priv[:32], nil); codeOf(err) != alert.BadKey {
		t.Fatalf("seed only: %v", err)
	}
	if _, err := NewBuilder(priv, nil); err != nil {
		t.Fatal(err)
	}
}

// fixture: three clients, one broadcast, built as batch seq 5.
func fixture(t testing.TB) (*Batch, []*party, []int, *sig.PublicKey) {
	priv, pk := signer(1)
	ps := []*party{newParty(t, pk, 10, suite.AEADChaCha20Poly1305), newParty(t, pk, 11, suite.AEADAES256GCM), newParty(t, pk, 12, suite.AEADChaCha20Poly1305)}
	b := newBuilder(t, priv, seeded{mrand.NewChaCha8([32]byte{1})})
	news := b.AddBroadcast([]byte("to everyone"))
	var hs []int
	for i, p := range ps {
		h, err := b.AddRecipient(p.server, []Entry{{MessageID: 3, Payload: []byte(fmt.Sprintf("for %d", i))}, {MessageID: 9, Broadcast: news}})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	bt, err := b.Build(5, 1_700_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return bt, ps, hs, pk
}

// BATCH-001, BATCH-004, BATCH-021 (order kept).
func TestOpenDelivery(t *testing.T) {
	bt, ps, hs, _ := fixture(t)
	for i, p := range ps {
		body, err := bt.AppendDelivery(nil, hs[i])
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseDelivery(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.AppendTo(nil), body) {
			t.Fatal("delivery does not re-encode")
		}
		msgs, err := p.opener.Open(d, 4)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if len(msgs) != 2 || msgs[0].ID != 3 || string(msgs[0].Payload) != fmt.Sprintf("for %d", i) ||
			msgs[1].ID != 9 || !msgs[1].Broadcast || string(msgs[1].Payload) != "to everyone" {
			t.Fatalf("client %d opened %+v", i, msgs)
		}
	}
}

// BATCH-010, BATCH-011 (checks before decryption), BATCH-012, MERKLE-001,
// REPLAY-010.
func TestOpenRejects(t *testing.T) {
	bt, ps, hs, pk := fixture(t)
	body0, _ := bt.AppendDelivery(nil, hs[0])
	body1, _ := bt.AppendDelivery(nil, hs[1])
	_, otherPK := signer(2)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), body0...)) }
	flipAt := func(off int) []byte { return mut(func(b []byte) []byte { b[off] ^= 0x01; return b }) }
	ownLeaf := HeaderLen + 64 + 4 // start of the own Leaf
	cases := []struct {
		name, rule string
		body       []byte
		opener     *Opener
		lastSeq    uint64
		want       alert.Code
	}{
		{"truncated", "WIRE-001", body0[:len(body0)-1], nil, 0, alert.DecodeError},
		{"trailing byte", "WIRE-001", append(append([]byte(nil), body0...), 0), nil, 0, alert.DecodeError},
		{"version 2", "BATCH-010", flipAt(1) /* 0x0001 -> 0x0000 */, nil, 0, alert.ProtocolVersion},
		{"signer id changed", "BATCH-010", flipAt(2), nil, 0, alert.UnknownSigner},
		{"other server's opener", "BATCH-010", body0, NewOpener(otherPK, ps[0].client, 0), 0, alert.UnknownSigner},
		{"replayed seq", "REPLAY-010", body0, nil, 5, alert.ReplayedBatch},
		{"older seq", "REPLAY-010", body0, nil, 6, alert.ReplayedBatch},
		{"seq changed", "SIG-003", flipAt(2 + 32 + 7), nil, 0, alert.BadSignature},
		{"timestamp changed", "SIG-003", flipAt(2 + 32 + 8 + 7), nil, 0, alert.BadSignature},
		{"root changed", "SIG-003", flipAt(HeaderLen - 1), nil, 0, alert.BadSignature},
		{"signature bit", "SIG-003", flipAt(HeaderLen + 40), nil, 0, alert.BadSignature},
		{"leaf index", "MERKLE-001", flipAt(ownLeaf - 1), nil, 0, alert.BadProof},
		{"tag bit", "MERKLE-001", flipAt(ownLeaf + 1), nil, 0, alert.BadProof},
		{"ciphertext bit", "MERKLE-001", flipAt(ownLeaf + 1 + 16 + 3 + 5), nil, 0, alert.BadProof},
		{"path bit", "MERKLE-001", flipAt(len(body0) - 5), nil, 0, alert.BadProof},
		{"leaf for another client", "BATCH-012", body1, nil, 0, alert.WrongRecipient},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			o := c.opener
			if o == nil {
				o = ps[0].opener
			}
			d, err := ParseDelivery(c.body)
			if err == nil {
				_, err = o.Open(d, c.lastSeq)
			}
			if got := codeOf(err); got != c.want {
				t.Fatalf("got %v (%v), want %v", got, err, c.want)
			}
		})
	}
	_ = pk
}

// A server that lies inside a validly signed batch: the signer builds leaves
// that break BATCH-005/BATCH-013 rules; the client still rejects them.
// BATCH-005, BATCH-013.
func TestOpenRejectsMisbuiltContent(t *testing.T) {
	priv, pk := signer(1)
	p := newParty(t, pk, 20, suite.AEADChaCha20Poly1305)
	build := func(add func(b *Builder) int) *Delivery {
		b := newBuilder(t, priv, nil)
		h := add(b)
		bt, err := b.Build(1, 0)
		if err != nil {
			t.Fatal(err)
		}
		body, err := bt.AppendDelivery(nil, h)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseDelivery(body)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Blob dropped from the delivery: the reference has nothing to open.
	d := build(func(b *Builder) int {
		x := b.AddBroadcast([]byte("x"))
		h, _ := b.AddRecipient(p.server, []Entry{{MessageID: 1, Broadcast: x}})
		return h
	})
	d.Blobs = nil
	if _, err := p.opener.Open(d, 0); codeOf(err) != alert.BadProof {
		t.Fatalf("missing blob: %v", err)
	}
	// A blob delivered that the leaf does not reference.
	priv2 := priv
	b := newBuilder(t, priv2, nil)
	x := b.AddBroadcast([]byte("x"))
	y := b.AddBroadcast([]byte("y"))
	h1, _ := b.AddRecipient(p.server, []Entry{{MessageID: 1, Broadcast: x}})
	q := newParty(t, pk, 21, suite.AEADChaCha20Poly1305)
	h2, _ := b.AddRecipient(q.server, []Entry{{MessageID: 1, Broadcast: y}})
	bt, _ := b.Build(2, 0)
	b1, _ := bt.AppendDelivery(nil, h1)
	b2, _ := bt.AppendDelivery(nil, h2)
	d1, _ := ParseDelivery(b1)
	d2, _ := ParseDelivery(b2)
	d1.Blobs = append(d1.Blobs, d2.Blobs...)
	if _, err := p.opener.Open(d1, 0); codeOf(err) != alert.IllegalParameter {
		t.Fatalf("unreferenced blob: %v", err)
	}
	// A payload above the session's max_payload.
	small := NewOpener(pk, p.client, 4)
	d = build(func(b *Builder) int {
		h, _ := b.AddRecipient(p.server, []Entry{{MessageID: 1, Payload: []byte("12345")}})
		return h
	})
	if _, err := small.Open(d, 0); codeOf(err) != alert.RecordOverflow {
		t.Fatalf("oversize payload: %v", err)
	}
}

func TestBuilderRefuses(t *testing.T) {
	priv, pk := signer(1)
	p := newParty(t, pk, 30, suite.AEADChaCha20Poly1305)
	b := newBuilder(t, priv, nil)
	for name, entries := range map[string][]Entry{
		"descending IDs":   {{MessageID: 2}, {MessageID: 1}},
		"zero ID":          {{MessageID: 0}},
		"oversize payload": {{MessageID: 1, Payload: make([]byte, MaxPayload+1)}},
		"unknown handle":   {{MessageID: 1, Broadcast: 3}},
		"empty":            nil,
	} {
		if _, err := b.AddRecipient(p.server, entries); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 2}}); err == nil {
		t.Error("two leaves for one session accepted (BATCH-002)")
	}
	// Another builder's batch takes one leaf for the session too; that does
	// not hide the leaf already in this batch.
	other := newBuilder(t, b.signer, nil)
	if _, err := other.AddRecipient(p.server, []Entry{{MessageID: 3}}); err != nil {
		t.Errorf("another builder refused the session: %v", err)
	}
	if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 3}}); err == nil {
		t.Error("two leaves for one session accepted once another builder marked it (BATCH-002)")
	}
	if _, err := other.AddRecipient(p.server, []Entry{{MessageID: 4}}); err == nil {
		t.Error("the other builder accepted a second leaf (BATCH-002)")
	}
	// This builder's next batch takes one leaf again.
	b.Reset()
	if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 4}}); err != nil {
		t.Errorf("the next batch refused the session: %v", err)
	}
	if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 5}}); err == nil {
		t.Error("two leaves for one session accepted after Reset (BATCH-002)")
	}
}

type shape struct {
	blobs      [][]byte
	recipients [][]Entry
}

func drawShape(t *rapid.T) shape {
	var s shape
	nb := rapid.IntRange(0, 4).Draw(t, "blobs")
	for i := 0; i < nb; i++ {
		s.blobs = append(s.blobs, rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "blob"))
	}
	nr := rapid.IntRange(1, 50).Draw(t, "recipients")
	for i := 0; i < nr; i++ {
		nm := rapid.IntRange(1, 10).Draw(t, "messages")
		id := uint64(0)
		var es []Entry
		for j := 0; j < nm; j++ {
			id += uint64(rapid.IntRange(1, 5).Draw(t, "gap"))
			e := Entry{MessageID: id}
			if nb > 0 && rapid.Bool().Draw(t, "broadcast") {
				e.Broadcast = rapid.IntRange(1, nb).Draw(t, "which")
			} else {
				e.Payload = rapid.SliceOfN(rapid.Byte(), 0, 2000).Draw(t, "payload")
			}
			es = append(es, e)
		}
		s.recipients = append(s.recipients, es)
	}
	return s
}

// BATCH-001, BATCH-003, BATCH-004, MERKLE-004.
func TestBatchOpenReturnsOnlyOwnLeaf(t *testing.T) {
	priv, pk := signer(1)
	rapid.Check(t, func(t *rapid.T) {
		s := drawShape(t)
		b := newBuilder(t, priv, nil)
		for _, p := range s.blobs {
			b.AddBroadcast(p)
		}
		var ps []*party
		var hs []int
		for i, es := range s.recipients {
			aead := suite.AEADChaCha20Poly1305
			if i%3 == 1 {
				aead = suite.AEADAES256GCM
			}
			p := newParty(t, pk, byte(i), aead)
			h, err := b.AddRecipient(p.server, es)
			if err != nil {
				t.Fatal(err)
			}
			ps, hs = append(ps, p), append(hs, h)
		}
		bt, err := b.Build(rapid.Uint64Range(1, 1<<62).Draw(t, "seq"), 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range ps {
			body, err := bt.AppendDelivery(nil, hs[i])
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseDelivery(body)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := p.opener.Open(d, 0)
			if err != nil {
				t.Fatalf("recipient %d: %v", i, err)
			}
			es := s.recipients[i]
			if len(msgs) != len(es) {
				t.Fatalf("recipient %d: %d messages, want %d", i, len(msgs), len(es))
			}
			for j, e := range es {
				want := e.Payload
				if e.Broadcast != 0 {
					want = s.blobs[e.Broadcast-1]
				}
				if msgs[j].ID != e.MessageID || !bytes.Equal(msgs[j].Payload, want) || msgs[j].Broadcast != (e.Broadcast != 0) {
					t.Fatalf("recipient %d message %d differs", i, j)
				}
			}
			// Another recipient's keys never open this delivery.
			other := ps[(i+1)%len(ps)]
			if len(ps) > 1 {
				if _, err := other.opener.Open(d, 0); err == nil {
					t.Fatalf("recipient %d's delivery opened by another", i)
				}
			}
		}
	})
}

// BATCH-014, BATCH-015: no flip or truncation opens.
func TestAnySingleBitFlipInDeliveryIsRejected(t *testing.T) {
	bt, ps, hs, _ := fixture(t)
	body, _ := bt.AppendDelivery(nil, hs[2])
	rapid.Check(t, func(t *rapid.T) {
		bit := rapid.IntRange(0, 8*len(body)-1).Draw(t, "bit")
		b := append([]byte(nil), body...)
		b[bit/8] ^= 1 << (bit % 8)
		d, err := ParseDelivery(b)
		if err == nil {
			_, err = ps[2].opener.Open(d, 0)
		}
		if err == nil {
			t.Fatalf("bit %d flip accepted", bit)
		}
		if _, ok := alert.CodeOf(err); !ok || codeOf(err) == 255 {
			t.Fatalf("bit %d: error without alert: %v", bit, err)
		}
	})
	// Truncation at every length is rejected too.
	for n := 0; n < len(body); n++ {
		if d, err := ParseDelivery(body[:n]); err == nil {
			if _, err := ps[2].opener.Open(d, 0); err == nil {
				t.Fatalf("truncation to %d accepted", n)
			}
		}
	}
}

// §10.4, SIG-003: the batch signature is a plain RFC 8032 Ed25519
// signature over "sealfeed v1 batch signature" || 0x00 || BatchHeader, the
// very bytes crypto/ed25519 produces, and the delivery carries nothing after
// it but the leaf proofs (no witness).
func TestBatchSignatureIsPlainEd25519(t *testing.T) {
	bt, _, hs, pk := fixture(t)
	priv, _ := signer(1)
	hdr := bt.Header.AppendTo(nil)
	msg := append(append([]byte("sealfeed v1 batch signature"), 0), hdr...)
	if !ed25519.Verify(pk.Bytes(), msg, bt.Signature[:]) {
		t.Fatal("crypto/ed25519 rejects the batch signature")
	}
	if want := ed25519.Sign(priv, msg); !bytes.Equal(want, bt.Signature[:]) {
		t.Fatal("the batch signature is not ed25519.Sign's")
	}
	body, err := bt.AppendDelivery(nil, hs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body[:HeaderLen], hdr) || !bytes.Equal(body[HeaderLen:HeaderLen+64], bt.Signature[:]) {
		t.Fatal("delivery does not start with header || signature")
	}
	if idx := binary.BigEndian.Uint32(body[HeaderLen+64:]); idx != bt.Header.LeafCount-3 {
		t.Fatalf("own leaf index %d right after the signature, want %d", idx, bt.Header.LeafCount-3)
	}
}

func TestBuildAllocationsDoNotGrowWithMessages(t *testing.T) {
	priv, pk := signer(1)
	allocs := func(perRecipient int) float64 {
		b := newBuilder(t, priv, nil)
		ps := make([]*party, 20)
		for i := range ps {
			ps[i] = newParty(t, pk, byte(i), suite.AEADChaCha20Poly1305)
		}
		payload := make([]byte, 256)
		entries := make([]Entry, perRecipient)
		for i := range entries {
			entries[i] = Entry{MessageID: uint64(i + 1), Payload: payload}
		}
		seq := uint64(0)
		run := func() {
			b.Reset()
			for _, p := range ps {
				b.AddRecipient(p.server, entries)
			}
			seq++
			if _, err := b.Build(seq, 0); err != nil {
				t.Fatal(err)
			}
		}
		run()
		return testing.AllocsPerRun(20, run)
	}
	one, many := allocs(1), allocs(50)
	if many > one {
		t.Fatalf("allocations per Build grow with messages: %v for 1 message per recipient, %v for 50", one, many)
	}
}

// BATCH-007 at its exact boundaries, with the spec's count per leaf:
// ⌈n/16⌉ + 5 blocks for a LeafContent of n bytes, and 2³² leaves per key.
// A refused leaf charges nothing.
func TestEnvelopeKeyLimit(t *testing.T) {
	priv, pk := signer(1)
	b := newBuilder(t, priv, nil)
	// One message of 100 bytes: LeafContent = 2 + (1 + 8 + 3 + 100) = 114
	// bytes, ⌈114/16⌉ + 5 = 13 blocks.
	entries := []Entry{{MessageID: 1, Payload: make([]byte, 100)}}
	const blocks = 13
	p := newParty(t, pk, 50, suite.AEADAES256GCM)
	p.server.blocks = MaxAESGCMBlocks - blocks + 1
	if _, err := b.AddRecipient(p.server, entries); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("AES-GCM key one block short: %v, want limit_exceeded", err)
	}
	if p.server.blocks != MaxAESGCMBlocks-blocks+1 || p.server.leaves != 0 {
		t.Fatalf("a refused leaf was charged: %d blocks, %d leaves", p.server.blocks, p.server.leaves)
	}
	p.server.blocks = MaxAESGCMBlocks - blocks
	if _, err := b.AddRecipient(p.server, entries); err != nil {
		t.Fatalf("AES-GCM key reaching its limit exactly: %v", err)
	}
	if p.server.blocks != MaxAESGCMBlocks {
		t.Fatalf("charged %d blocks, want the limit", p.server.blocks)
	}
	if _, err := b.Build(1, 0); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 2}}); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("AES-GCM key at its limit: %v", err)
	}
	// The block limit is AES-GCM's; the leaf limit holds for every AEAD.
	q := newParty(t, pk, 51, suite.AEADChaCha20Poly1305)
	q.server.blocks = MaxAESGCMBlocks
	q.server.leaves = MaxChaChaLeaves - 1
	if _, err := b.AddRecipient(q.server, []Entry{{MessageID: 1}}); err != nil {
		t.Fatalf("last allowed leaf: %v", err)
	}
	if _, err := b.Build(2, 0); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if _, err := b.AddRecipient(q.server, []Entry{{MessageID: 2}}); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("ChaCha envelope key past its leaf limit: %v", err)
	}
	g := newParty(t, pk, 52, suite.AEADAES256GCM)
	g.server.leaves = MaxChaChaLeaves
	if _, err := b.AddRecipient(g.server, []Entry{{MessageID: 1}}); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("AES-GCM key past the leaf limit: %v", err)
	}
}

// BATCH-008: a recipient whose envelope key is at its limit is refused on
// its own; the batch, large enough to be split between workers, is built
// for every other recipient, and each of them opens its delivery.
func TestOneRecipientNeverFailsBatch(t *testing.T) {
	priv, pk := signer(1)
	b := newBuilder(t, priv, nil)
	b.SetWorkers(3)
	var parties []*party
	var handles []int
	for i := 0; i < 40; i++ {
		p := newParty(t, pk, byte(60+i), suite.AEADChaCha20Poly1305)
		if i == 21 {
			p.server.leaves = MaxChaChaLeaves
		}
		h, err := b.AddRecipient(p.server, []Entry{{MessageID: 1, Payload: make([]byte, 4000)}})
		if i == 21 {
			if codeOf(err) != alert.LimitExceeded {
				t.Fatalf("recipient at its limit: %v, want limit_exceeded", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		parties = append(parties, p)
		handles = append(handles, h)
	}
	bt, err := b.Build(4, 0)
	if err != nil {
		t.Fatalf("one recipient failed the batch: %v", err)
	}
	if bt.Header.LeafCount != 39 {
		t.Fatalf("%d leaves, want 39", bt.Header.LeafCount)
	}
	for i, p := range parties {
		body, err := bt.AppendDelivery(nil, handles[i])
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseDelivery(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.opener.Open(d, 0); err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
	}
}

// Parallel sealing writes exactly the bytes serial sealing writes.
func TestParallelBuildMatchesSerial(t *testing.T) {
	priv, pk := signer(1)
	build := func(workers int) *Batch {
		b := newBuilder(t, priv, seeded{mrand.NewChaCha8([32]byte{3})})
		b.SetWorkers(workers)
		x := b.AddBroadcast(bytes.Repeat([]byte{7}, 5000))
		for i := 0; i < 40; i++ {
			p := newParty(t, pk, byte(i), []uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM}[i%2])
			es := []Entry{{MessageID: 1, Payload: bytes.Repeat([]byte{byte(i)}, 3000+i)}, {MessageID: 2, Broadcast: x}}
			if _, err := b.AddRecipient(p.server, es); err != nil {
				t.Fatal(err)
			}
		}
		bt, err := b.Build(77, 1)
		if err != nil {
			t.Fatal(err)
		}
		return bt
	}
	one, four := build(1), build(4)
	if one.Header != four.Header || one.Signature != four.Signature || one.Leaves() != four.Leaves() {
		t.Fatal("parallel build differs from serial build")
	}
	for i := 0; i < one.Leaves(); i++ {
		if !bytes.Equal(one.Leaf(i), four.Leaf(i)) {
			t.Fatalf("leaf %d differs", i)
		}
	}
}

// A batch of many small leaves also builds the lower part of its tree on
// the workers (merkle.Tree.HashSubtrees): the root, the signature and every
// recipient's delivery (its audit path) must be those of a serial build.
func TestParallelTreeMatchesSerial(t *testing.T) {
	priv, _ := signer(2)
	const n = 3000 // many blocks of subtrees, not a power of two
	keys := make([][2]*Keys, n)
	for i := range keys {
		ek := keyschedule.Envelope([]byte(fmt.Sprintf("session %d", i)))
		for w := range keys[i] {
			k, err := NewKeys(suite.AEADChaCha20Poly1305, ek)
			if err != nil {
				t.Fatal(err)
			}
			keys[i][w] = k
		}
	}
	build := func(w, workers int) *Batch {
		b := newBuilder(t, priv, nil)
		b.SetWorkers(workers)
		for i := range keys {
			if _, err := b.AddRecipient(keys[i][w], []Entry{{MessageID: 1, Payload: make([]byte, 64)}}); err != nil {
				t.Fatal(err)
			}
		}
		bt, err := b.Build(5, 1)
		if err != nil {
			t.Fatal(err)
		}
		return bt
	}
	one, three := build(0, 1), build(1, 3)
	if one.Header != three.Header || one.Signature != three.Signature {
		t.Fatal("parallel tree: header or signature differs from the serial build")
	}
	for _, r := range []int{0, 1, 1023, 1024, 2047, 2048, n - 2, n - 1} {
		a, err := one.AppendDelivery(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := three.AppendDelivery(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("delivery %d differs", r)
		}
	}
}

// Every number of workers writes the bytes one worker writes: each leaf,
// the header, the signature and each delivery with its audit path, batch
// after batch from the same Builders (their arenas, trees and per-worker
// buffers reused). The leaves differ in size, so the chunks the workers take
// start at every kind of boundary, and many small leaves make the workers
// interleave closely: a buffer that two workers share (additional data, tag
// input, nonce), or one reused before its leaf is sealed, changes a leaf's
// bytes here, and the race detector reports the sharing itself.
func TestBuildSameBytesOnAnyWorkers(t *testing.T) {
	priv, _ := signer(4)
	workerCounts := []int{1, 2, 3, 4, 8}
	const n = 2500
	// Each Builder gets its own copy of every session's keys: Keys carry
	// their MAC's state and usage counts.
	keys := make([][]*Keys, len(workerCounts))
	for w := range keys {
		for i := 0; i < n; i++ {
			aead := []uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM}[i%3/2]
			k, err := NewKeys(aead, keyschedule.Envelope([]byte(fmt.Sprintf("workers %d", i))))
			if err != nil {
				t.Fatal(err)
			}
			keys[w] = append(keys[w], k)
		}
	}
	builders := make([]*Builder, len(workerCounts))
	for w, workers := range workerCounts {
		builders[w] = newBuilder(t, priv, seeded{mrand.NewChaCha8([32]byte{9})})
		builders[w].SetWorkers(workers)
	}
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for round := uint64(1); round <= 4; round++ {
		batches := make([]*Batch, len(workerCounts))
		for w, b := range builders {
			b.Reset()
			x := b.AddBroadcast(payload[:1000+int(round)])
			for i, k := range keys[w] {
				// 0 to 300 bytes, and every 97th recipient 3000 bytes.
				size := (i * int(round) * 31) % 301
				if i%97 == 0 {
					size = 3000
				}
				es := []Entry{{MessageID: round, Payload: payload[:size]}}
				if i%5 == 0 {
					es = append(es, Entry{MessageID: round + 1, Broadcast: x})
				}
				if _, err := b.AddRecipient(k, es); err != nil {
					t.Fatal(err)
				}
			}
			bt, err := b.Build(round, 1000+round)
			if err != nil {
				t.Fatal(err)
			}
			batches[w] = bt
		}
		one := batches[0]
		for w, bt := range batches[1:] {
			workers := workerCounts[w+1]
			if bt.Header != one.Header || bt.Signature != one.Signature || bt.Leaves() != one.Leaves() {
				t.Fatalf("round %d, %d workers: header or signature differs from one worker's", round, workers)
			}
			for i := 0; i < one.Leaves(); i++ {
				if !bytes.Equal(bt.Leaf(i), one.Leaf(i)) {
					t.Fatalf("round %d, %d workers: leaf %d differs from one worker's", round, workers, i)
				}
			}
			for r := 0; r < n; r++ {
				a, err := one.AppendDelivery(nil, r)
				if err != nil {
					t.Fatal(err)
				}
				b, err := bt.AppendDelivery(nil, r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Fatalf("round %d, %d workers: delivery %d differs from one worker's", round, workers, r)
				}
			}
		}
	}
}

// Reset leaves the previous batch's recipients and entries to be
// overwritten (it costs nothing per recipient); a smaller batch's Build
// must still drop the references in the slots it does not reuse, or a
// long-lived Builder would keep old payloads and sessions' keys alive.
func TestBuildDropsReferencesOfLargerBatch(t *testing.T) {
	priv, pk := signer(5)
	b := newBuilder(t, priv, nil)
	ps := make([]*party, 30)
	for i := range ps {
		ps[i] = newParty(t, pk, byte(100+i), suite.AEADChaCha20Poly1305)
	}
	build := func(n int, seq uint64) {
		b.Reset()
		for _, p := range ps[:n] {
			es := []Entry{{MessageID: seq, Payload: []byte("payload")}, {MessageID: seq + 1, Payload: []byte("more")}}
			if _, err := b.AddRecipient(p.server, es); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Build(seq, 0); err != nil {
			t.Fatal(err)
		}
	}
	build(30, 1)
	build(30, 3) // a batch of the same size overwrites every slot
	// A batch abandoned before its Build, then a smaller one.
	b.Reset()
	for _, p := range ps[:2] {
		if _, err := b.AddRecipient(p.server, []Entry{{MessageID: 5}}); err != nil {
			t.Fatal(err)
		}
	}
	build(4, 5)
	for i, r := range b.recips[len(b.recips):cap(b.recips)] {
		if r != (recipient{}) {
			t.Fatalf("recipient slot %d of the larger batch still holds %+v", len(b.recips)+i, r)
		}
	}
	for i, e := range b.entries[len(b.entries):cap(b.entries)] {
		if e.Payload != nil || e.MessageID != 0 || e.Broadcast != 0 {
			t.Fatalf("entry slot %d of the larger batch still holds %+v", len(b.entries)+i, e)
		}
	}
	// The Builder stays usable at any size after that.
	build(30, 7)
	build(1, 9)
}

// A Builder reused from batch to batch allocates a constant per batch, not
// per recipient or message (the zero-allocation target of the benchmarks):
// 2400 recipients cost no more allocations than 1200, on one worker and on
// several.
func TestBuildAllocationsDoNotGrowWithRecipients(t *testing.T) {
	priv, _ := signer(3)
	allocs := func(n, workers int) float64 {
		keys := make([]*Keys, n)
		for i := range keys {
			k, err := NewKeys(suite.AEADChaCha20Poly1305, keyschedule.Envelope([]byte(fmt.Sprintf("alloc %d", i))))
			if err != nil {
				t.Fatal(err)
			}
			keys[i] = k
		}
		b := newBuilder(t, priv, nil)
		b.SetWorkers(workers)
		es := []Entry{{MessageID: 1, Payload: make([]byte, 1024)}, {MessageID: 2, Payload: make([]byte, 1024)}}
		seq := uint64(0)
		build := func() {
			b.Reset()
			for _, k := range keys {
				if _, err := b.AddRecipient(k, es); err != nil {
					t.Fatal(err)
				}
			}
			seq++
			if _, err := b.Build(seq, 0); err != nil {
				t.Fatal(err)
			}
		}
		build() // the first batch sizes the buffers
		return testing.AllocsPerRun(20, build)
	}
	// Both sizes are large enough to be split (parallelMin) when
	// workers > 1, so both start the same goroutines.
	for _, workers := range []int{1, 4} {
		small, large := allocs(1200, workers), allocs(2400, workers)
		if large > small+2 {
			t.Errorf("%d workers: %.0f allocations per batch of 2400 recipients, %.0f for 1200", workers, large, small)
		}
	}
}
