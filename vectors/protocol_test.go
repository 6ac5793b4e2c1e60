package vectors_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// credential and replay have no checks beyond their outputs (the server
// key; each step's decision).

func init() {
	checks["merkle"] = checkMerkleRoots
	checks["record"] = checkRecordGroups
	checks["batch"] = checkBatches
}

// checkMerkleRoots rebuilds each listed tree with the reference builder:
// its head must be the group's root, against which run.Case verifies the
// proofs.
func checkMerkleRoots(t *testing.T, file string, _ []vcase, _ []run.Answer) {
	f := load[vectors.MerkleGroup](t, file)
	for _, g := range f.TestGroups {
		if len(g.Leaves) == 0 {
			continue
		}
		var root [merkle.HashSize]byte
		copy(root[:], g.Root)
		var hs [][merkle.HashSize]byte
		for _, l := range g.Leaves {
			hs = append(hs, merkle.LeafHash(l))
		}
		var tr merkle.Tree
		if got := tr.Build(hs); got != root {
			t.Errorf("tree of %d: root %x, want %x", g.LeafCount, got, root)
		}
	}
}

// checkRecordGroups checks the groups' informative key and IV against the
// key schedule, and that no rejection names the traffic secret or key
// (ALERT-003).
func checkRecordGroups(t *testing.T, file string, _ []vcase, answers []run.Answer) {
	f := load[vectors.RecordGroup](t, file)
	k := 0
	for _, g := range f.TestGroups {
		tk := keyschedule.Traffic(g.TrafficSecret)
		if !bytes.Equal(tk.Key, g.Key) || !bytes.Equal(tk.IV, g.IV) {
			t.Errorf("traffic keys of group differ")
		}
		for _, tc := range g.Tests {
			noSecrets(t, &tc.Test, answers[k].Err, map[string][]byte{"traffic secret": g.TrafficSecret, "key": g.Key})
			k++
		}
	}
}

// checkBatches checks each group's header and each recipient's keys and tag
// against the reference, that no rejection names a key or plaintext of the
// batch (ALERT-003), and rebuilds each batch whose blobs are all
// ChaCha20-Poly1305 with the reference Builder, comparing every leaf, the
// header, the signature and the witness.
func checkBatches(t *testing.T, file string, _ []vcase, answers []run.Answer) {
	f := load[vectors.BatchGroup](t, file)
	rebuilt := 0
	k := 0
	for _, g := range f.TestGroups {
		if rebuildBatch(t, &g) {
			rebuilt++
		}
		h, err := batch.ParseHeader(g.Header)
		if err != nil {
			t.Fatalf("header: %v", err)
		}
		if !bytes.Equal(h.Root[:], g.Root) {
			t.Errorf("batch seq %d: header root %x, group root %x", g.BatchSeq, h.Root, g.Root)
		}
		for _, tc := range g.Tests {
			a := answers[k]
			k++
			r := g.Recipients[tc.Recipient]
			ek := keyschedule.Envelope(r.EnvelopeSecret)
			if !bytes.Equal(ek.Key, r.EnvKey) || !bytes.Equal(ek.IV, r.EnvIV) || !bytes.Equal(ek.TagKey, r.TagKey) {
				t.Errorf("tcId %d: envelope keys differ from the schedule", tc.TcID)
			}
			keys, err := batch.NewKeys(r.AEAD, ek)
			if err != nil {
				t.Fatal(err)
			}
			if tag := keys.Tag(&h.SignerID, h.Seq); !bytes.Equal(tag[:], r.Tag) {
				t.Errorf("tcId %d: tag %x, want %x (BATCH-006)", tc.TcID, tag, r.Tag)
			}
			if d, err := batch.ParseDelivery(bytes.Clone(tc.Delivery)); err == nil {
				if again := d.AppendTo(nil); !bytes.Equal(again, tc.Delivery) {
					t.Errorf("tcId %d: delivery does not re-encode to the same bytes", tc.TcID)
				}
			}
			secrets := map[string][]byte{"env_key": r.EnvKey, "tag_key": r.TagKey, "leaf content": r.LeafContent}
			for j, bl := range g.Blobs {
				secrets[fmt.Sprintf("blob %d data key", j)] = bl.DataKey
				secrets[fmt.Sprintf("blob %d payload", j)] = bl.Payload
			}
			noSecrets(t, &tc.Test, a.Err, secrets)
		}
	}
	t.Logf("the reference builder reproduced %d of %d batches byte for byte", rebuilt, len(f.TestGroups))
	if rebuilt < 3 {
		t.Errorf("the reference builder reproduced %d batches, want the unicast, broadcast and mixed ones at least", rebuilt)
	}
}

// rebuildBatch builds group g's batch with batch.Builder from the
// group's signing seed, data keys (as the builder's randomness) and each
// recipient's entries, and compares every leaf, the header and the
// signature (§10.4: plain Ed25519, deterministic) with the vector. Groups the reference builder cannot
// produce (deliberately malformed headers or contents) are skipped.
func rebuildBatch(t *testing.T, g *vectors.BatchGroup) bool {
	t.Helper()
	h, err := batch.ParseHeader(g.Header)
	if err != nil || h.Version != batch.Version || int(h.LeafCount) != len(g.Leaves) {
		return false
	}
	var rnd []byte
	for _, bl := range g.Blobs {
		if bl.AEAD != 1 {
			return false
		}
		rnd = append(rnd, bl.DataKey...)
	}
	signer := ed25519.NewKeyFromSeed(g.SigningSeed)
	if sig.KeyID(signer.Public().(ed25519.PublicKey)) != h.SignerID {
		return false // signed by a key other than the one signer_id names
	}
	b, err := batch.NewBuilder(signer, bytes.NewReader(rnd))
	if err != nil {
		t.Fatal(err)
	}
	for _, bl := range g.Blobs {
		b.AddBroadcast(bl.Payload)
	}
	for _, r := range g.Recipients {
		entries, ok := parseLeafContent(r.LeafContent)
		if !ok {
			return false
		}
		keys, err := batch.NewKeys(r.AEAD, keyschedule.Envelope(r.EnvelopeSecret))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.AddRecipient(keys, entries); err != nil {
			return false // content the builder refuses to produce (BATCH-005)
		}
	}
	bt, err := b.Build(uint64(g.BatchSeq), uint64(g.TimestampMs))
	if err != nil {
		t.Fatalf("batch seq %d: Build: %v", g.BatchSeq, err)
	}
	if bt.Leaves() != len(g.Leaves) {
		t.Fatalf("batch seq %d: %d leaves, want %d", g.BatchSeq, bt.Leaves(), len(g.Leaves))
	}
	for i := range g.Leaves {
		if !bytes.Equal(bt.Leaf(i), g.Leaves[i]) {
			t.Errorf("batch seq %d: leaf %d differs from the reference builder's", g.BatchSeq, i)
		}
	}
	if got := bt.Header.AppendTo(nil); !bytes.Equal(got, g.Header) {
		t.Errorf("batch seq %d: header %x, reference builder %x", g.BatchSeq, g.Header, got)
	}
	if !bytes.Equal(bt.Signature[:], g.Signature) {
		t.Errorf("batch seq %d: signature differs from the reference builder's", g.BatchSeq)
	}
	return true
}

// parseLeafContent decodes a LeafContent into builder entries: a
// broadcast_ref's blob_index is the blob's leaf index, and blobs come first
// (MERKLE-004), so the builder's handle is blob_index + 1.
func parseLeafContent(b []byte) ([]batch.Entry, bool) {
	r := wire.NewReader(b)
	n := r.Count(1, 65535, 9, "entries")
	var out []batch.Entry
	for i := 0; i < n && r.Err() == nil; i++ {
		typ := r.Uint8("type")
		id := r.Uint64("id")
		switch typ {
		case 1:
			out = append(out, batch.Entry{MessageID: id, Payload: r.Opaque(0, 1<<24-1, "payload")})
		case 2:
			idx := r.Uint32("blob index")
			r.Bytes(32, "data key")
			out = append(out, batch.Entry{MessageID: id, Broadcast: int(idx) + 1})
		default:
			return nil, false
		}
	}
	return out, r.Finish("content") == nil
}
