package generate

import (
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("Normal", "BASIC", "An ordinary input of the operation.", "")
	note("EmptyContext", "EDGE_CASE", "ExpandLabel with an empty context, as every key and IV derivation uses.", "")
	note("LongContext", "EDGE_CASE", "ExpandLabel with a 255-byte context, the largest the uint8 prefix allows.",
		"A wrong prefix width changes every derived key.")
	note("ShortOutput", "EDGE_CASE", "An output shorter than one SHA-256 block (an IV).", "")
	note("LongOutput", "EDGE_CASE", "An output spanning several HKDF-Expand blocks.",
		"An implementation that truncates to one block derives a different key.")
	note("NoPSK", "BASIC", "Full handshake: the early secret uses 32 zero bytes as IKM.", "")
	note("PSK", "BASIC", "Resumption: the early secret uses the ticket's PSK.", "")
	note("HybridSecret", "BASIC", "A 64-byte shared secret, as X25519MLKEM768 produces.", "")
	note("KeyUpdate", "BASIC", "Application traffic secrets after KeyUpdate messages (POST-003).", "")
}

var expandLabelArea = areaDef{
	name: "expand_label",
	build: func(a *area) (any, error) {
		g := vectors.ExpandLabelGroup{Type: "ExpandLabel", Hash: "SHA-256"}
		add := func(name, comment, label string, ctx []byte, length int, flags ...string) {
			secret := randBytes(a.name, name, 32)
			info := wire.AppendUint16(nil, uint16(length))
			info = wire.AppendOpaque(info, []byte(keyschedule.LabelPrefix+label), 255)
			info = wire.AppendOpaque(info, ctx, 255)
			g.Tests = append(g.Tests, vectors.ExpandLabelTest{
				Test:   a.valid(name, comment, "KS-001", flags...),
				Secret: secret, Label: label, Context: vectors.Hex(ctx), Length: length,
				Info: info, Output: keyschedule.ExpandLabel(secret, label, ctx, length),
			})
		}
		for _, l := range []struct {
			label  string
			length int
			flag   string
		}{
			{keyschedule.LabelKey, 32, "EmptyContext"},
			{keyschedule.LabelIV, 12, "ShortOutput"},
			{keyschedule.LabelFinished, 32, "EmptyContext"},
			{keyschedule.LabelTrafficUpdate, 32, "EmptyContext"},
			{keyschedule.LabelEnvKey, 32, "EmptyContext"},
			{keyschedule.LabelEnvIV, 12, "ShortOutput"},
			{keyschedule.LabelEnvTag, 32, "EmptyContext"},
		} {
			add("label-"+slug(l.label), fmt.Sprintf("%q with an empty context", l.label), l.label, nil, l.length, l.flag)
		}
		for _, l := range []string{keyschedule.LabelDerived, keyschedule.LabelClientHandshake,
			keyschedule.LabelServerHandshake, keyschedule.LabelClientApp, keyschedule.LabelServerApp,
			keyschedule.LabelEnvelope, keyschedule.LabelResumption} {
			name := "derive-" + slug(l)
			ctx := randBytes(a.name, name+"/context", 32)
			add(name, fmt.Sprintf("DeriveSecret %q with a 32-byte transcript hash as context", l), l, ctx, 32, "Normal")
		}
		add("context-255", "a 255-byte context", "test", randBytes(a.name, "context-255/context", 255), 32, "LongContext")
		add("output-1", "a 1-byte output", "test", nil, 1, "ShortOutput")
		add("output-100", "a 100-byte output, four HMAC blocks", "test", []byte("context"), 100, "LongOutput")
		add("output-255", "a 255-byte output", "test", []byte("context"), 255, "LongOutput")
		return file(a, []string{
			"ExpandLabel(Secret, Label, Context, Length) = HKDF-Expand(Secret, HkdfLabel, Length), spec §7.",
			"info is the encoded HkdfLabel: uint16 length, opaque label<1..255> with the \"sealfeed v1 \" prefix, opaque context<0..255>.",
		}, []vectors.ExpandLabelGroup{g}), nil
	},
	schema: func() map[string]any {
		return fileSchema("expand_label", "SealFeed v1 ExpandLabel vectors",
			obj{"type": constant("ExpandLabel"), "hash": constant("SHA-256")}, nil,
			obj{"secret": hexAny(), "label": str(), "context": hexAny(), "length": integer(1, 255*32),
				"info": hexAny(), "output": hexAny()}, nil)
	},
}

var keyscheduleArea = areaDef{
	name: "keyschedule",
	build: func(a *area) (any, error) {
		g := vectors.KeyScheduleGroup{Type: "KeySchedule", Hash: "SHA-256"}
		add := func(name, comment string, psk bool, sharedLen, updates int, flags ...string) {
			t := vectors.KeyScheduleTest{
				Test:               a.valid(name, comment, "KS-001", flags...),
				PSK:                vectors.Hex{},
				SharedSecret:       randBytes(a.name, name+"/shared", sharedLen),
				HelloHash:          randBytes(a.name, name+"/th1", 32),
				ServerFinishedHash: randBytes(a.name, name+"/th2", 32),
				ClientFinishedHash: randBytes(a.name, name+"/th3", 32),
				KeyUpdates:         updates,
			}
			if psk {
				t.PSK = randBytes(a.name, name+"/psk", 32)
			}
			t.Secrets = schedule(t.PSK, t.SharedSecret, t.HelloHash, t.ServerFinishedHash, t.ClientFinishedHash, updates)
			g.Tests = append(g.Tests, t)
		}
		add("full-x25519", "full handshake, X25519 shared secret", false, 32, 0, "NoPSK")
		add("full-x25519-2", "full handshake, another X25519 shared secret", false, 32, 0, "NoPSK")
		add("full-hybrid", "full handshake, X25519MLKEM768 shared secret", false, 64, 0, "NoPSK", "HybridSecret")
		add("resumption-x25519", "resumption with a PSK, X25519", true, 32, 0, "PSK")
		add("resumption-hybrid", "resumption with a PSK, X25519MLKEM768", true, 64, 0, "PSK", "HybridSecret")
		add("key-update-1", "one KeyUpdate in each direction", false, 32, 1, "NoPSK", "KeyUpdate")
		add("key-update-3", "three KeyUpdates in each direction", false, 32, 3, "NoPSK", "KeyUpdate")
		return file(a, []string{
			"The SealFeed v1 key schedule (spec §7) from its inputs: PSK (empty for none), the key-exchange shared secret and the three transcript hashes.",
			"secrets maps each value's name in the spec to its bytes; _N suffixes count KeyUpdates (POST-003).",
		}, []vectors.KeyScheduleGroup{g}), nil
	},
	schema: func() map[string]any {
		return fileSchema("keyschedule", "SealFeed v1 key schedule vectors",
			obj{"type": constant("KeySchedule"), "hash": constant("SHA-256")}, nil,
			obj{"psk": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "sharedSecret": hexAny(),
				"helloHash": hexLen(32), "serverFinishedHash": hexLen(32), "clientFinishedHash": hexLen(32),
				"keyUpdates": integer(0, 16),
				"secrets": obj{"type": "object", "additionalProperties": hexAny(),
					"required": []string{"early_secret", "handshake_secret", "c_hs_traffic", "s_hs_traffic",
						"master_secret", "c_ap_traffic_0", "s_ap_traffic_0", "envelope_secret", "resumption_psk",
						"c_finished_key", "s_finished_key", "env_key", "env_iv", "tag_key"}},
			}, nil)
	},
}

// schedule computes every named value of the key schedule (spec §7) with
// the reference package.
func schedule(psk, shared, th1, th2, th3 []byte, updates int) map[string]vectors.Hex {
	m := map[string]vectors.Hex{}
	var p []byte
	if len(psk) > 0 {
		p = psk
	}
	early := keyschedule.EarlySecret(p)
	hs := keyschedule.HandshakeSecret(early, shared)
	c := keyschedule.DeriveSecret(hs, keyschedule.LabelClientHandshake, th1)
	s := keyschedule.DeriveSecret(hs, keyschedule.LabelServerHandshake, th1)
	ms := keyschedule.MasterSecret(hs)
	m["early_secret"], m["handshake_secret"], m["master_secret"] = early, hs, ms
	m["c_hs_traffic"], m["s_hs_traffic"] = c, s
	ck, sk := keyschedule.Traffic(c), keyschedule.Traffic(s)
	m["c_hs_key"], m["c_hs_iv"], m["s_hs_key"], m["s_hs_iv"] = ck.Key, ck.IV, sk.Key, sk.IV
	m["c_finished_key"] = keyschedule.ExpandLabel(c, keyschedule.LabelFinished, nil, 32)
	m["s_finished_key"] = keyschedule.ExpandLabel(s, keyschedule.LabelFinished, nil, 32)
	capp := keyschedule.DeriveSecret(ms, keyschedule.LabelClientApp, th2)
	sap := keyschedule.DeriveSecret(ms, keyschedule.LabelServerApp, th2)
	for n := 0; n <= updates; n++ {
		ck, sk := keyschedule.Traffic(capp), keyschedule.Traffic(sap)
		m[fmt.Sprintf("c_ap_traffic_%d", n)], m[fmt.Sprintf("s_ap_traffic_%d", n)] = capp, sap
		m[fmt.Sprintf("c_ap_key_%d", n)], m[fmt.Sprintf("c_ap_iv_%d", n)] = ck.Key, ck.IV
		m[fmt.Sprintf("s_ap_key_%d", n)], m[fmt.Sprintf("s_ap_iv_%d", n)] = sk.Key, sk.IV
		capp, sap = keyschedule.NextTrafficSecret(capp), keyschedule.NextTrafficSecret(sap)
	}
	env := keyschedule.DeriveSecret(ms, keyschedule.LabelEnvelope, th3)
	m["envelope_secret"] = env
	m["resumption_psk"] = keyschedule.DeriveSecret(ms, keyschedule.LabelResumption, th3)
	e := keyschedule.Envelope(env)
	m["env_key"], m["env_iv"], m["tag_key"] = e.Key, e.IV, e.TagKey
	return m
}
