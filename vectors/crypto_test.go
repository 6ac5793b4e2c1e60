package vectors_test

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	runners["expand_label"] = runExpandLabel
	runners["keyschedule"] = runKeySchedule
	runners["x25519"] = runX25519
	runners["x25519mlkem768"] = runHybrid
}

func runExpandLabel(t *testing.T, file string) {
	f := load[vectors.ExpandLabelGroup](t, file)
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			outcome(t, &tc.Test, nil)
			equal(t, &tc.Test, "ExpandLabel", keyschedule.ExpandLabel(tc.Secret, tc.Label, tc.Context, tc.Length), tc.Output)
			// The HkdfLabel layout, built here by hand (spec §7).
			label := keyschedule.LabelPrefix + tc.Label
			info := append([]byte{byte(tc.Length >> 8), byte(tc.Length), byte(len(label))}, label...)
			info = append(append(info, byte(len(tc.Context))), tc.Context...)
			equal(t, &tc.Test, "info", info, tc.Info)
		}
	}
}

func runKeySchedule(t *testing.T, file string) {
	f := load[vectors.KeyScheduleGroup](t, file)
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			outcome(t, &tc.Test, nil)
			got := map[string][]byte{}
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
			var names []string
			for n := range got {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				equal(t, &tc.Test, n, got[n], tc.Secrets[n])
			}
			if len(got) != len(tc.Secrets) {
				t.Errorf("tcId %d: %d secrets in the vector, %d computed", tc.TcID, len(tc.Secrets), len(got))
			}
		}
	}
}

// runX25519 runs each test as the server (ServerRespond with the private key
// as its ephemeral) and as the client (NewClientShare from the private key,
// then Finish): both must agree with the vector (SUITE-002).
func runX25519(t *testing.T, file string) {
	f := load[vectors.X25519Group](t, file)
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			pub, shared, err := suite.ServerRespond(suite.GroupX25519, tc.Public, bytes.NewReader(tc.Private))
			if outcome(t, &tc.Test, err) {
				equal(t, &tc.Test, "server shared secret", shared, tc.Shared)
				if len(pub) != 32 {
					t.Errorf("tcId %d: server share of %d bytes", tc.TcID, len(pub))
				}
			}
			cs, err := suite.NewClientShare(suite.GroupX25519, bytes.NewReader(tc.Private))
			if err != nil {
				t.Fatal(err)
			}
			shared, err = cs.Finish(tc.Public)
			if outcome(t, &tc.Test, err) {
				equal(t, &tc.Test, "client shared secret", shared, tc.Shared)
			}
		}
	}
}

func runHybrid(t *testing.T, file string) {
	f := load[vectors.HybridGroup](t, file)
	for _, g := range f.TestGroups {
		if g.Group != suite.GroupX25519MLKEM768 {
			t.Fatalf("group 0x%04x", g.Group)
		}
		for _, tc := range g.Tests {
			switch tc.Operation {
			case "exchange":
				cs, err := suite.NewClientShare(g.Group, bytes.NewReader(tc.ClientSeed))
				if err != nil {
					t.Fatal(err)
				}
				equal(t, &tc.Test, "client share", cs.Public(), tc.ClientShare)
				pub, shared, err := suite.ServerRespond(g.Group, tc.ClientShare, bytes.NewReader(tc.ServerRandom))
				if outcome(t, &tc.Test, err) {
					equal(t, &tc.Test, "server share", pub, tc.ServerShare)
					equal(t, &tc.Test, "server shared secret", shared, tc.Shared)
				}
				shared, err = cs.Finish(tc.ServerShare)
				if outcome(t, &tc.Test, err) {
					equal(t, &tc.Test, "client shared secret", shared, tc.Shared)
				}
			case "respond":
				pub, shared, err := suite.ServerRespond(g.Group, tc.ClientShare, bytes.NewReader(tc.ServerRandom))
				if outcome(t, &tc.Test, err) {
					equal(t, &tc.Test, "server share", pub, tc.ServerShare)
					equal(t, &tc.Test, "server shared secret", shared, tc.Shared)
				}
			case "finish":
				cs, err := suite.NewClientShare(g.Group, bytes.NewReader(tc.ClientSeed))
				if err != nil {
					t.Fatal(err)
				}
				equal(t, &tc.Test, "client share", cs.Public(), tc.ClientShare)
				shared, err := cs.Finish(tc.ServerShare)
				if outcome(t, &tc.Test, err) {
					equal(t, &tc.Test, "client shared secret", shared, tc.Shared)
				}
			default:
				t.Errorf("tcId %d: unknown operation %q", tc.TcID, tc.Operation)
			}
		}
	}
}
