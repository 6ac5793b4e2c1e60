package run

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sealfeed/sealfeed/internal/detrand"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	runs["expand_label"] = runExpandLabel
	runs["keyschedule"] = runKeySchedule
	runs["x25519"] = runX25519
	runs["x25519mlkem768"] = runHybrid
	runs["ed25519"] = runEd25519
}

// runExpandLabel computes ExpandLabel with the reference and encodes the
// HkdfLabel by hand from spec §7, so that the vector's info checks the
// layout independently of the reference.
func runExpandLabel(group, test json.RawMessage) Answer {
	_, tc, err := decode[vectors.ExpandLabelGroup, vectors.ExpandLabelTest](group, test)
	if err != nil {
		return internal(err)
	}
	label := keyschedule.LabelPrefix + tc.Label
	if tc.Length < 0 || tc.Length > 0xffff || len(label) > 255 || len(tc.Context) > 255 {
		return internalf("length, label or context out of range")
	}
	info := append([]byte{byte(tc.Length >> 8), byte(tc.Length), byte(len(label))}, label...)
	info = append(append(info, byte(len(tc.Context))), tc.Context...)
	a := fromErr(nil)
	a.Outputs["info"] = vectors.Hex(info)
	a.Outputs["output"] = vectors.Hex(keyschedule.ExpandLabel(tc.Secret, tc.Label, tc.Context, tc.Length))
	return a
}

// runKeySchedule runs the schedule of spec §7 and returns every value of
// the vector's secrets: the secrets, the traffic secrets of each key
// generation, and the keys derived from them.
func runKeySchedule(group, test json.RawMessage) Answer {
	_, tc, err := decode[vectors.KeyScheduleGroup, vectors.KeyScheduleTest](group, test)
	if err != nil {
		return internal(err)
	}
	got := map[string]vectors.Hex{}
	var psk []byte
	if len(tc.PSK) > 0 {
		psk = tc.PSK
	}
	early := keyschedule.EarlySecret(psk)
	hs := keyschedule.HandshakeSecret(early, tc.SharedSecret)
	ms := keyschedule.MasterSecret(hs)
	got["early_secret"], got["handshake_secret"], got["master_secret"] = early, hs, ms
	for _, side := range []struct{ p, label, ap string }{
		{"c", keyschedule.LabelClientHandshake, keyschedule.LabelClientApp},
		{"s", keyschedule.LabelServerHandshake, keyschedule.LabelServerApp},
	} {
		hsT := keyschedule.DeriveSecret(hs, side.label, tc.HelloHash)
		got[side.p+"_hs_traffic"] = hsT
		k := keyschedule.Traffic(hsT)
		got[side.p+"_hs_key"], got[side.p+"_hs_iv"] = k.Key, k.IV
		got[side.p+"_finished_key"] = keyschedule.ExpandLabel(hsT, keyschedule.LabelFinished, nil, 32)
		ap := keyschedule.DeriveSecret(ms, side.ap, tc.ServerFinishedHash)
		for n := 0; n <= tc.KeyUpdates; n++ {
			k := keyschedule.Traffic(ap)
			got[fmt.Sprintf("%s_ap_traffic_%d", side.p, n)] = ap
			got[fmt.Sprintf("%s_ap_key_%d", side.p, n)] = k.Key
			got[fmt.Sprintf("%s_ap_iv_%d", side.p, n)] = k.IV
			ap = keyschedule.NextTrafficSecret(ap)
		}
	}
	env := keyschedule.DeriveSecret(ms, keyschedule.LabelEnvelope, tc.ClientFinishedHash)
	e := keyschedule.Envelope(env)
	got["envelope_secret"], got["env_key"], got["env_iv"], got["tag_key"] = env, e.Key, e.IV, e.TagKey
	got["resumption_psk"] = keyschedule.DeriveSecret(ms, keyschedule.LabelResumption, tc.ClientFinishedHash)
	a := fromErr(nil)
	a.Outputs["secrets"] = got
	return a
}

// runX25519 runs the test as the server (ServerRespond with the private key
// as its ephemeral) and as the client (NewClientShare from the private key,
// then Finish): both must agree (SUITE-002).
func runX25519(group, test json.RawMessage) Answer {
	_, tc, err := decode[vectors.X25519Group, vectors.X25519Test](group, test)
	if err != nil {
		return internal(err)
	}
	pub, sShared, sErr := suite.ServerRespond(suite.GroupX25519, tc.Public, bytes.NewReader(tc.Private))
	if sErr == nil && len(pub) != 32 {
		return internalf("server share of %d bytes", len(pub))
	}
	cs, err := suite.NewClientShare(suite.GroupX25519, bytes.NewReader(tc.Private))
	if err != nil {
		return internal(err)
	}
	cShared, cErr := cs.Finish(tc.Public)
	if !sameOutcome(sErr, cErr) || !bytes.Equal(sShared, cShared) {
		return internalf("server (%v, %x) and client (%v, %x) disagree", sErr, sShared, cErr, cShared)
	}
	a := fromErr(sErr)
	if sErr == nil {
		a.Outputs["shared"] = vectors.Hex(sShared)
	}
	return a
}

// sameOutcome reports whether two errors are both nil or carry the same
// alert.
func sameOutcome(a, b error) bool {
	ca, _ := alert.CodeOf(a)
	cb, _ := alert.CodeOf(b)
	return (a == nil) == (b == nil) && ca == cb
}

func runHybrid(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.HybridGroup, vectors.HybridTest](group, test)
	if err != nil {
		return internal(err)
	}
	if g.Group != suite.GroupX25519MLKEM768 {
		return Answer{Result: Unimplemented, Err: fmt.Errorf("run: group 0x%04x", g.Group)}
	}
	switch tc.Operation {
	case "exchange":
		cs, err := suite.NewClientShare(g.Group, bytes.NewReader(tc.ClientSeed))
		if err != nil {
			return internal(err)
		}
		pub, sShared, err := suite.ServerRespond(g.Group, cs.Public(), detrand.New(bytes.NewReader(tc.ServerRandom)))
		if err != nil {
			a := fromErr(err)
			a.Outputs["clientShare"] = vectors.Hex(cs.Public())
			return a
		}
		cShared, err := cs.Finish(pub)
		a := fromErr(err)
		a.Outputs["clientShare"] = vectors.Hex(cs.Public())
		if err == nil {
			if !bytes.Equal(sShared, cShared) {
				return internalf("server and client shared secrets differ")
			}
			a.Outputs["serverShare"], a.Outputs["shared"] = vectors.Hex(pub), vectors.Hex(cShared)
		}
		return a
	case "respond":
		pub, shared, err := suite.ServerRespond(g.Group, tc.ClientShare, detrand.New(bytes.NewReader(tc.ServerRandom)))
		a := fromErr(err)
		if err == nil {
			a.Outputs["serverShare"], a.Outputs["shared"] = vectors.Hex(pub), vectors.Hex(shared)
		}
		return a
	case "finish":
		cs, err := suite.NewClientShare(g.Group, bytes.NewReader(tc.ClientSeed))
		if err != nil {
			return internal(err)
		}
		shared, err := cs.Finish(tc.ServerShare)
		a := fromErr(err)
		a.Outputs["clientShare"] = vectors.Hex(cs.Public())
		if err == nil {
			a.Outputs["shared"] = vectors.Hex(shared)
		}
		return a
	}
	return Answer{Result: Unimplemented, Err: fmt.Errorf("run: operation %q", tc.Operation)}
}

// runEd25519 verifies the signature with the pinned rule (SIG-001 …
// SIG-005).
func runEd25519(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.Ed25519Group, vectors.Ed25519Test](group, test)
	if err != nil {
		return internal(err)
	}
	k, err := sig.ParsePublicKey(tc.PublicKey)
	if err != nil {
		return fromErr(err)
	}
	return fromErr(sig.Verify(k, g.Label, tc.Msg, tc.Sig))
}
