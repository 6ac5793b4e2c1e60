package run

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/sealed"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	runs["credential"] = runCredential
	runs["token"] = runToken
	runs["sealed"] = runSealed
	runs["merkle"] = runMerkle
	runs["replay"] = runReplay
	runs["record"] = runRecord
	runs["session"] = runSession
	runs["batch"] = runBatch
}

// stepResult is a step's result: "accept" or the alert's name.
func stepResult(err error) string {
	if err == nil {
		return "accept"
	}
	c, _ := alert.CodeOf(err)
	return c.String()
}

// hexList returns a non-nil list of byte strings (JSON [] rather than null).
func hexList(bs [][]byte) []vectors.Hex {
	out := make([]vectors.Hex, 0, len(bs))
	for _, b := range bs {
		out = append(out, bytes.Clone(b))
	}
	return out
}

// runCredential checks the credential and its revocation list as a client
// with authority trust does (CRED-015); on success the output is the server
// key it trusts.
func runCredential(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.CredentialGroup, vectors.CredentialTest](group, test)
	if err != nil {
		return internal(err)
	}
	auth, err := sig.ParsePublicKey(g.AuthorityKey)
	if err != nil {
		return internalf("authority key: %v", err)
	}
	trust := credential.Trust{Authority: auth, Realm: string(g.Realm)}
	if g.AcceptedNumber != nil {
		trust.MinRevocationNumber = uint64(*g.AcceptedNumber)
	}
	k, l, err := credential.Validate(trust, tc.Credential, tc.RevocationList, time.Unix(int64(g.Now), 0))
	a := fromErr(err)
	if err == nil {
		if l == nil {
			return internalf("no revocation list returned")
		}
		a.Outputs["serverKey"] = vectors.Hex(k.Bytes())
	}
	return a
}

// runMerkle verifies the inclusion proof against the group's root
// (RFC 9162 §2.1.3.2).
func runMerkle(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.MerkleGroup, vectors.MerkleTest](group, test)
	if err != nil {
		return internal(err)
	}
	var root [merkle.HashSize]byte
	if len(g.Root) != merkle.HashSize {
		return internalf("root of %d bytes", len(g.Root))
	}
	copy(root[:], g.Root)
	path := make([][merkle.HashSize]byte, len(tc.Path))
	for i, p := range tc.Path {
		if len(p) != merkle.HashSize {
			// A proof hash of another size never verifies.
			return fromErr(alert.New(alert.BadProof, "run: proof hash of the wrong size"))
		}
		copy(path[i][:], p)
	}
	return fromErr(merkle.VerifyInclusion(merkle.LeafHash(tc.Leaf), tc.LeafIndex, tc.LeafCount, path, root))
}

// ReplayStep is the output of one replay step (the "steps" output of
// replay tests).
type ReplayStep struct {
	Result string `json:"result"`
}

// runReplay presents each step to a fresh message window or batch-sequence
// state, a new batch-sequence state for each new session; the test's result
// is its last step's.
func runReplay(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.ReplayGroup, vectors.ReplayTest](group, test)
	if err != nil {
		return internal(err)
	}
	if g.Type == "MessageWindow" && g.WindowSize != replay.WindowSize {
		return Answer{Result: Unimplemented, Err: fmt.Errorf("run: window size %d, the reference's is %d", g.WindowSize, replay.WindowSize)}
	}
	var w replay.Window
	var s replay.BatchSeq
	session := 0
	var last error
	steps := []ReplayStep{}
	for _, st := range tc.Steps {
		var err error
		switch g.Type {
		case "MessageWindow":
			err = w.Accept(uint64(st.ID)).Err()
		case "BatchSequence":
			if st.Session < session {
				return internalf("step session %d after session %d", st.Session, session)
			}
			if st.Session > session {
				s, session = replay.BatchSeq{}, st.Session // a new session (REPLAY-010)
			}
			err = s.Accept(uint64(st.ID))
		default:
			return Answer{Result: Unimplemented, Err: fmt.Errorf("run: replay group type %q", g.Type)}
		}
		steps = append(steps, ReplayStep{stepResult(err)})
		last = err
	}
	a := fromErr(last)
	a.Outputs["steps"] = steps
	return a
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

// RecordStep is the output of one record step (the "steps" output of
// record tests).
type RecordStep struct {
	Result   string        `json:"result"`
	Messages []vectors.Hex `json:"messages"`
}

// runRecord starts a receiver at the test's start sequence and opens each
// step's frame; it stops at the first failure. Sequence numbers up to 2^17
// are reached by opening frames, higher ones (the AEAD limits) through the
// record package's forward-only Advance.
func runRecord(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.RecordGroup, vectors.RecordTest](group, test)
	if err != nil {
		return internal(err)
	}
	o, err := record.NewOpener(g.AEAD, g.TrafficSecret)
	if err != nil {
		return internal(err)
	}
	if start := uint64(tc.StartSequence); start <= 1<<17 {
		err = skipTo(o, g.AEAD, g.TrafficSecret, start)
	} else {
		err = o.Advance(start)
	}
	if err != nil {
		return internalf("starting at sequence %d: %v", tc.StartSequence, err)
	}
	held := map[string][]byte{"traffic secret": g.TrafficSecret, "key": keyschedule.Traffic(g.TrafficSecret).Key}
	steps := []RecordStep{}
	var last error
	for i, st := range tc.Steps {
		if o.Seq() != uint64(st.Sequence) {
			return internalf("step %d: receiver at sequence %d, the vector says %d", i, o.Seq(), st.Sequence)
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
		if err != nil {
			steps = append(steps, RecordStep{stepResult(err), hexList(nil)})
			break
		}
		steps = append(steps, RecordStep{"accept", hexList(msgs)})
		if st.UpdateKey {
			if err := o.Update(); err != nil {
				return internalf("step %d: key update: %v", i, err)
			}
		}
	}
	a := fromErr(last)
	a.Outputs["steps"] = steps
	a.Held = held
	return a
}

// SessionStep is the output of one session step (the "steps" output of
// session tests).
type SessionStep struct {
	Result   string        `json:"result"`
	Messages []vectors.Hex `json:"messages"`
	Answers  []vectors.Hex `json:"answers"`
}

// runSession feeds every step's frame to a fresh connected session of the
// group's role. A failed step closes the session; later steps are still
// presented to it.
func runSession(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.SessionGroup, vectors.SessionTest](group, test)
	if err != nil {
		return internal(err)
	}
	role := session.Client
	switch g.Role {
	case "client":
	case "server":
		role = session.Server
	default:
		return internalf("role %q", g.Role)
	}
	sealer, err := record.NewSealer(g.AEAD, g.SendSecret)
	if err != nil {
		return internal(err)
	}
	opener, err := record.NewOpener(g.AEAD, g.ReceiveSecret)
	if err != nil {
		return internal(err)
	}
	s := session.New(session.State{Role: role}, keyschedule.EnvelopeKeys{}, sealer, opener)
	if role == session.Client {
		s.MarkWelcomed() // the handshake consumed Welcome
	}
	steps := []SessionStep{}
	var last error
	for _, st := range tc.Steps {
		msgs, err := s.Open(bytes.Clone(st.Frame))
		last = err
		if err != nil {
			steps = append(steps, SessionStep{stepResult(err), hexList(nil), hexList(nil)})
			continue
		}
		var raw [][]byte
		for _, m := range msgs {
			raw = append(raw, wire.AppendMessage(nil, m.Type, m.Body))
		}
		steps = append(steps, SessionStep{"accept", hexList(raw), hexList(s.Pending())})
	}
	a := fromErr(last)
	a.Outputs["steps"] = steps
	a.Held = map[string][]byte{
		"receive secret": g.ReceiveSecret, "send secret": g.SendSecret,
		"receive key": keyschedule.Traffic(g.ReceiveSecret).Key, "send key": keyschedule.Traffic(g.SendSecret).Key,
	}
	return a
}

// runBatch opens the delivery as the client of the test's recipient: parse,
// Open with the recipient's keys and the signer key, then the message-ID
// window decides each message (REPLAY-011/012). A delivery that parses must
// re-encode to the same bytes.
func runBatch(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.BatchGroup, vectors.BatchTest](group, test)
	if err != nil {
		return internal(err)
	}
	if tc.Recipient < 0 || tc.Recipient >= len(g.Recipients) {
		return internalf("recipient %d of %d", tc.Recipient, len(g.Recipients))
	}
	server, err := sig.ParsePublicKey(g.SignerKey)
	if err != nil {
		return internalf("signer key: %v", err)
	}
	r := g.Recipients[tc.Recipient]
	ek := keyschedule.Envelope(r.EnvelopeSecret)
	keys, err := batch.NewKeys(r.AEAD, ek)
	if err != nil {
		return internal(err)
	}
	held := map[string][]byte{"envelope secret": r.EnvelopeSecret, "env_key": ek.Key, "tag_key": ek.TagKey, "leaf content": r.LeafContent}
	for j, bl := range g.Blobs {
		held[fmt.Sprintf("blob %d data key", j)] = bl.DataKey
		held[fmt.Sprintf("blob %d payload", j)] = bl.Payload
	}
	var lastSeq uint64
	if tc.HighestBatchSeq != nil {
		lastSeq = uint64(*tc.HighestBatchSeq)
	}
	var w replay.Window
	for _, id := range tc.AcceptedIDs {
		if res := w.Accept(uint64(id)); res != replay.New {
			return internalf("accepted ID %d: %v", id, res)
		}
	}
	got := []vectors.BatchMessage{}
	d, err := batch.ParseDelivery(bytes.Clone(tc.Delivery))
	if err == nil {
		if again := d.AppendTo(nil); !bytes.Equal(again, tc.Delivery) {
			return internalf("the delivery does not re-encode to the same bytes")
		}
		var msgs []batch.Message
		msgs, err = batch.NewOpener(server, keys, int(tc.MaxPayload)).Open(d, lastSeq)
		for _, m := range msgs {
			res := w.Accept(m.ID)
			if res == replay.Invalid {
				err = res.Err()
				break
			}
			got = append(got, vectors.BatchMessage{MessageID: vectors.U64(m.ID), Payload: bytes.Clone(m.Payload), Status: stepResultDeliver(res.Err())})
		}
	}
	a := fromErr(err)
	a.Held = held
	if err == nil {
		a.Outputs["messages"] = got
	}
	return a
}

// stepResultDeliver is a batch message's status: "deliver" or the local
// result that withholds it.
func stepResultDeliver(err error) string {
	if err == nil {
		return "deliver"
	}
	return stepResult(err)
}

// runToken checks the token as a server does in the client flight
// (TOK-007); on success the outputs are what the server records (TOK-009)
// and the token's not_after (TOK-011).
func runToken(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.TokenGroup, vectors.TokenTest](group, test)
	if err != nil {
		return internal(err)
	}
	v := &token.Verifier{Issuers: map[[32]byte]*sig.PublicKey{}, Realm: string(g.Realm)}
	for _, b := range g.IssuerKeys {
		k, err := sig.ParsePublicKey(b)
		if err != nil {
			return internalf("issuer key: %v", err)
		}
		v.Issuers[k.ID()] = k
	}
	if len(g.ServerKeyID) != 32 {
		return internalf("server key ID of %d bytes", len(g.ServerKeyID))
	}
	copy(v.ServerKeyID[:], g.ServerKeyID)
	ck, err := sig.ParsePublicKey(g.ClientKey)
	if err != nil {
		return internalf("client key: %v", err)
	}
	t, err := v.Verify(tc.Token, ck, time.Unix(int64(g.Now), 0))
	a := fromErr(err)
	if err == nil {
		a.Outputs["subject"] = vectors.Hex(t.Subject)
		a.Outputs["device"] = vectors.Hex(t.Device)
		a.Outputs["tokenId"] = vectors.Hex(t.ID[:])
		a.Outputs["notAfter"] = vectors.U64(t.NotAfter)
	}
	return a
}

// runSealed checks a seal key record as a publisher does (SEAL-006) or
// opens an envelope as a client does (SEAL-020). Codes are those of the
// sealed-payload registry (spec/sealed.md §7), not protocol alerts.
func runSealed(group, test json.RawMessage) Answer {
	var kind struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(group, &kind); err != nil {
		return internal(err)
	}
	if kind.Type == "SealKeyRecordVerify" {
		g, tc, err := decode[vectors.SealRecordGroup, vectors.SealRecordTest](group, test)
		if err != nil {
			return internal(err)
		}
		k, err := sealed.VerifyRecord(tc.Record, ed25519.PublicKey(g.IdentityKey), time.Unix(int64(g.Now), 0))
		a := sealedAnswer(err)
		if err == nil {
			id := k.ID()
			a.Outputs["recordId"] = vectors.Hex(id[:])
			a.Outputs["publicKey"] = vectors.Hex(k.PublicKey)
			a.Outputs["notAfter"] = vectors.U64(k.NotAfter)
		}
		return a
	}
	g, tc, err := decode[vectors.SealOpenGroup, vectors.SealOpenTest](group, test)
	if err != nil {
		return internal(err)
	}
	rec, err := sealed.ParseRecord(g.RecipientRecord)
	if err != nil {
		return internalf("recipient record: %v", err)
	}
	kem, _ := hpke.NewKEM(rec.Suite.KEM)
	priv, err := kem.NewPrivateKey(g.RecipientPrivateKey)
	if err != nil {
		return internalf("recipient private key: %v", err)
	}
	key, err := sealed.NewOpenerKey(priv, g.RecipientRecord)
	if err != nil {
		return internalf("recipient key: %v", err)
	}
	o := &sealed.Opener{Keys: []*sealed.Key{key}}
	for _, b := range g.PublisherKeys {
		k, err := sig.ParsePublicKey(b)
		if err != nil {
			return internalf("publisher key: %v", err)
		}
		o.Publishers = append(o.Publishers, k)
	}
	r, err := o.Open(tc.Envelope)
	a := sealedAnswer(err)
	a.Held = map[string][]byte{"recipientPrivateKey": g.RecipientPrivateKey}
	if err == nil {
		a.Outputs["payload"] = vectors.Hex(nonNilBytes(r.Payload))
		a.Outputs["publisherKeyId"] = vectors.Hex(r.PublisherID[:])
		a.Outputs["sealedAt"] = vectors.U64(r.SealedAt.Unix())
	}
	return a
}

func sealedAnswer(err error) Answer {
	if err == nil {
		return Answer{Result: Valid, Outputs: map[string]any{}}
	}
	c := sealed.CodeOf(err)
	if c == "" {
		return internal(err)
	}
	return Answer{Result: Invalid, Alert: string(c), Err: err, Outputs: map[string]any{}}
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
