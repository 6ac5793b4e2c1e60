package vectors_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	runners["ed25519"] = runEd25519
	runners["credential"] = runCredential
	runners["merkle"] = runMerkle
	runners["replay"] = runReplay
	runners["record"] = runRecord
	runners["batch"] = runBatch
}

// runEd25519 checks every test with single verification and, in witnessed
// groups, with the batch verifier: once alone, once with a valid signature
// beside it, and once with the whole group; the results must be identical
// (SIG-011).
func runEd25519(t *testing.T, file string) {
	f := load[vectors.Ed25519Group](t, file)
	for _, g := range f.TestGroups {
		type queued struct {
			tc  *vectors.Ed25519Test
			key *sig.PublicKey
			err error
		}
		var all []queued
		var good *queued
		for i := range g.Tests {
			tc := &g.Tests[i]
			k, err := sig.ParsePublicKey(tc.PublicKey)
			if err == nil {
				if g.Witnessed {
					err = sig.VerifyWitnessed(k, g.Label, tc.Msg, tc.Sig, tc.Witness)
				} else {
					err = sig.Verify(k, g.Label, tc.Msg, tc.Sig)
				}
			}
			outcome(t, &tc.Test, err)
			if k != nil && g.Witnessed {
				all = append(all, queued{tc, k, err})
				if err == nil && good == nil {
					good = &all[len(all)-1]
				}
			}
		}
		if !g.Witnessed {
			continue
		}
		if good == nil {
			t.Fatal("witnessed group without a valid test")
		}
		same := func(what string, q queued, err error) {
			t.Helper()
			c1, _ := alert.CodeOf(q.err)
			c2, _ := alert.CodeOf(err)
			if (q.err == nil) != (err == nil) || c1 != c2 {
				t.Errorf("tcId %d (%s): %s gives %v, single verification %v", q.tc.TcID, q.tc.Comment, what, err, q.err)
			}
		}
		for _, q := range all {
			v := sig.NewBatchVerifier(nil)
			v.Add(q.key, g.Label, q.tc.Msg, q.tc.Sig, q.tc.Witness)
			ok, errs := v.Verify()
			same("batch of one", q, errs[0])
			if ok != (q.err == nil) {
				t.Errorf("tcId %d: batch of one reports all valid = %v", q.tc.TcID, ok)
			}
			v = sig.NewBatchVerifier(nil)
			v.Add(good.key, g.Label, good.tc.Msg, good.tc.Sig, good.tc.Witness)
			v.Add(q.key, g.Label, q.tc.Msg, q.tc.Sig, q.tc.Witness)
			ok, errs = v.Verify()
			same("batch with a valid signature", q, errs[1])
			if errs[0] != nil || ok != (q.err == nil) {
				t.Errorf("tcId %d: batch of two: %v, all valid = %v", q.tc.TcID, errs[0], ok)
			}
		}
		// The whole group, in a shuffled order, several times: the random
		// coefficients differ each time.
		for round := 0; round < 4; round++ {
			v := sig.NewBatchVerifier(nil)
			order := rand.New(rand.NewPCG(uint64(round), 7)).Perm(len(all))
			for _, i := range order {
				q := all[i]
				v.Add(q.key, g.Label, q.tc.Msg, q.tc.Sig, q.tc.Witness)
			}
			_, errs := v.Verify()
			for j, i := range order {
				same(fmt.Sprintf("batch of %d (round %d)", len(all), round), all[i], errs[j])
			}
		}
	}
}

func runCredential(t *testing.T, file string) {
	f := load[vectors.CredentialGroup](t, file)
	for _, g := range f.TestGroups {
		auth, err := sig.ParsePublicKey(g.AuthorityKey)
		if err != nil {
			t.Fatal(err)
		}
		trust := credential.Trust{Authority: auth, Realm: string(g.Realm)}
		if g.AcceptedNumber != nil {
			trust.MinRevocationNumber = uint64(*g.AcceptedNumber)
		}
		now := time.Unix(int64(g.Now), 0)
		for _, tc := range g.Tests {
			k, l, err := credential.Validate(trust, tc.Credential, tc.RevocationList, now)
			if outcome(t, &tc.Test, err) {
				equal(t, &tc.Test, "server key", k.Bytes(), tc.ServerKey)
				if l == nil {
					t.Errorf("tcId %d: no revocation list returned", tc.TcID)
				}
			}
		}
	}
}

func runMerkle(t *testing.T, file string) {
	f := load[vectors.MerkleGroup](t, file)
	for _, g := range f.TestGroups {
		var root [merkle.HashSize]byte
		copy(root[:], g.Root)
		if len(g.Leaves) > 0 {
			// The tree head from the leaves, with the reference builder.
			var hs [][merkle.HashSize]byte
			for _, l := range g.Leaves {
				hs = append(hs, merkle.LeafHash(l))
			}
			var tr merkle.Tree
			if got := tr.Build(hs); got != root {
				t.Errorf("tree of %d: root %x, want %x", g.LeafCount, got, root)
			}
		}
		for _, tc := range g.Tests {
			path := make([][merkle.HashSize]byte, len(tc.Path))
			for i, p := range tc.Path {
				copy(path[i][:], p)
			}
			err := merkle.VerifyInclusion(merkle.LeafHash(tc.Leaf), tc.LeafIndex, tc.LeafCount, path, root)
			outcome(t, &tc.Test, err)
		}
	}
}

func runReplay(t *testing.T, file string) {
	f := load[vectors.ReplayGroup](t, file)
	for _, g := range f.TestGroups {
		if g.Type == "MessageWindow" && g.WindowSize != replay.WindowSize {
			t.Fatalf("window size %d, reference %d", g.WindowSize, replay.WindowSize)
		}
		for _, tc := range g.Tests {
			var w replay.Window
			var s replay.Sequences
			var last error
			for i, st := range tc.Steps {
				var err error
				switch g.Type {
				case "MessageWindow":
					err = w.Accept(uint64(st.ID)).Err()
				case "BatchSequence":
					signer := [32]byte{byte(st.Signer)}
					err = s.Accept(signer, uint64(st.ID))
				default:
					t.Fatalf("group type %q", g.Type)
				}
				got := "accept"
				if err != nil {
					c, _ := alert.CodeOf(err)
					got = c.String()
				}
				if got != st.Result {
					t.Errorf("tcId %d (%s): step %d (id %d): %s, want %s", tc.TcID, tc.Comment, i, st.ID, got, st.Result)
				}
				last = err
			}
			outcome(t, &tc.Test, last)
		}
	}
}

// skipTo moves a fresh opener to sequence n by opening frames sealed under
// the same secret, the honest way to reach a sequence number.
func skipTo(o *record.Opener, aead uint16, secret []byte, n uint64) error {
	if n == 0 {
		return nil
	}
	s, err := record.NewSealer(aead, secret)
	if err != nil {
		return err
	}
	msg := wire.AppendMessage(nil, wire.TypeAck, nil)
	var buf []byte
	for o.Seq() < n {
		f, err := s.Seal(buf[:0], msg, 0)
		if err != nil {
			return err
		}
		if _, err := o.Open(f); err != nil {
			return err
		}
		buf = f
	}
	return nil
}

// setOpenerSeq starts an Opener at sequence number seq, through the record
// package's forward-only Advance: the vectors at the AEAD usage limits (2^20
// and 2^32 frames) cannot be reached by opening frames one by one.
func setOpenerSeq(t *testing.T, o *record.Opener, seq uint64) {
	t.Helper()
	if err := o.Advance(seq); err != nil {
		t.Fatal(err)
	}
}

func runRecord(t *testing.T, file string) {
	f := load[vectors.RecordGroup](t, file)
	for _, g := range f.TestGroups {
		k := keyschedule.Traffic(g.TrafficSecret)
		if !bytes.Equal(k.Key, g.Key) || !bytes.Equal(k.IV, g.IV) {
			t.Errorf("traffic keys of group differ")
		}
		for _, tc := range g.Tests {
			o, err := record.NewOpener(g.AEAD, g.TrafficSecret)
			if err != nil {
				t.Fatal(err)
			}
			if start := uint64(tc.StartSequence); start <= 1<<17 {
				if err := skipTo(o, g.AEAD, g.TrafficSecret, start); err != nil {
					t.Fatal(err)
				}
			} else {
				setOpenerSeq(t, o, start)
			}
			var last error
			for i, st := range tc.Steps {
				if o.Seq() != uint64(st.Sequence) {
					t.Errorf("tcId %d: step %d: receiver at sequence %d, vector says %d", tc.TcID, i, o.Seq(), st.Sequence)
				}
				inner, err := o.Open(bytes.Clone(st.Frame))
				var msgs [][]byte
				if err == nil {
					err = record.ForEachMessage(inner, func(_ wire.MsgType, _, raw []byte) error {
						msgs = append(msgs, raw)
						return nil
					})
				}
				last = err
				if i < len(tc.Steps)-1 && err != nil {
					t.Errorf("tcId %d (%s): step %d failed: %v", tc.TcID, tc.Comment, i, err)
					break
				}
				if err != nil {
					break
				}
				if len(msgs) != len(st.Messages) {
					t.Errorf("tcId %d: step %d: %d messages, want %d", tc.TcID, i, len(msgs), len(st.Messages))
				} else {
					for j := range msgs {
						equal(t, &tc.Test, fmt.Sprintf("step %d message %d", i, j), msgs[j], st.Messages[j])
					}
				}
				if st.UpdateKey {
					if err := o.Update(); err != nil {
						t.Fatal(err)
					}
				}
			}
			outcome(t, &tc.Test, last)
			noSecrets(t, &tc.Test, last, map[string][]byte{"traffic secret": g.TrafficSecret, "key": g.Key})
		}
	}
}

// runBatch opens each delivery as the recipient's client: parse, Open with
// the recipient's keys, then the message-ID window decides each message
// (REPLAY-011/012). It also rebuilds each batch whose blobs are all
// ChaCha20-Poly1305 with the reference Builder and compares every leaf, the
// header, the signature and the witness.
func runBatch(t *testing.T, file string) {
	f := load[vectors.BatchGroup](t, file)
	rebuilt := 0
	defer func() {
		t.Logf("the reference builder reproduced %d of %d batches byte for byte", rebuilt, len(f.TestGroups))
		if rebuilt < 3 {
			t.Errorf("the reference builder reproduced %d batches, want the unicast, broadcast and mixed ones at least", rebuilt)
		}
	}()
	for _, g := range f.TestGroups {
		server, err := sig.ParsePublicKey(g.SignerKey)
		if err != nil {
			t.Fatal(err)
		}
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
			var lastSeq uint64
			if tc.HighestBatchSeq != nil {
				lastSeq = uint64(*tc.HighestBatchSeq)
			}
			var w replay.Window
			for _, id := range tc.AcceptedIDs {
				if res := w.Accept(uint64(id)); res != replay.New {
					t.Fatalf("tcId %d: accepted ID %d: %v", tc.TcID, id, res)
				}
			}
			var got []vectors.BatchMessage
			d, err := batch.ParseDelivery(bytes.Clone(tc.Delivery))
			if err == nil {
				again := d.AppendTo(nil)
				if !bytes.Equal(again, tc.Delivery) {
					t.Errorf("tcId %d: delivery does not re-encode to the same bytes", tc.TcID)
				}
				var msgs []batch.Message
				msgs, err = batch.NewOpener(server, keys, int(tc.MaxPayload)).Open(d, lastSeq)
				for _, m := range msgs {
					res := w.Accept(m.ID)
					if res == replay.Invalid {
						err = res.Err()
						break
					}
					status := "deliver"
					if e := res.Err(); e != nil {
						c, _ := alert.CodeOf(e)
						status = c.String()
					}
					got = append(got, vectors.BatchMessage{MessageID: vectors.U64(m.ID), Payload: m.Payload, Status: status})
				}
			}
			secrets := map[string][]byte{"env_key": r.EnvKey, "tag_key": r.TagKey, "leaf content": r.LeafContent}
			for j, bl := range g.Blobs {
				secrets[fmt.Sprintf("blob %d data key", j)] = bl.DataKey
				secrets[fmt.Sprintf("blob %d payload", j)] = bl.Payload
			}
			noSecrets(t, &tc.Test, err, secrets)
			if outcome(t, &tc.Test, err) {
				if len(got) != len(tc.Messages) {
					t.Errorf("tcId %d: %d messages, want %d", tc.TcID, len(got), len(tc.Messages))
					continue
				}
				for i := range got {
					if got[i].MessageID != tc.Messages[i].MessageID || got[i].Status != tc.Messages[i].Status {
						t.Errorf("tcId %d: message %d: id %d %s, want id %d %s", tc.TcID, i, got[i].MessageID, got[i].Status,
							tc.Messages[i].MessageID, tc.Messages[i].Status)
					}
					equal(t, &tc.Test, fmt.Sprintf("message %d payload", i), got[i].Payload, tc.Messages[i].Payload)
				}
			}
		}
	}
}

// rebuildBatch builds group g's batch with batch.Builder from the
// group's signing seed, data keys (as the builder's randomness) and each
// recipient's entries, and compares every leaf, the header, the signature
// and the witness (BATCH-022: the builder's witness is the right one) with
// the vector. Groups the reference builder cannot
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
	b := batch.NewBuilder(signer, bytes.NewReader(rnd))
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
	if !bytes.Equal(bt.Signature[:], g.Signature) || !bytes.Equal(bt.Witness[:], g.Witness) {
		t.Errorf("batch seq %d: signature or witness differs from the reference builder's", g.BatchSeq)
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
