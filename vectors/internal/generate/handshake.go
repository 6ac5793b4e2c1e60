package generate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/internal/detrand"
	"github.com/sealfeed/sealfeed/internal/hstrace"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

// Handshake transcripts are produced by the reference state machines
// (protocol/handshake) with deterministic randomness and their Trace hook;
// frames altered in flight are built here from the spec's messages and the
// traced keys. The generator checks every transcript against the spec
// (checkTranscript) before writing it.

func init() {
	note("MisplacedExtension", "EXTENSION", "A registered extension in a message that registries.md does not list it for (EXT-005, EXT-009).", "")
	note("OrderOfChecks", "STATE", "Two defects on purpose: the order of checks the cited rule states (HS-016, EXT-008, POST-015) decides the alert.", "")
	note("PinnedKey", "BASIC", "The client trusts a pinned server key fingerprint (ID-003).", "")
	note("NextServerKey", "EDGE_CASE", "Server-key rotation: the server announces its next key in next_server_key (HS-070); the client learns it from a completed handshake and then accepts either pin (ID-010, ID-011).", "")
	note("BadNextServerKey", "MALFORMED", "A malformed, weak, misplaced or redundant next_server_key (HS-070, HS-071), checked in HS-071's order.", "")
	note("Authority", "BASIC", "The client trusts an authority; the server presents a credential and a stapled revocation list (CRED-015).", "")
	note("ClientKey", "BASIC", "A key-identified client: ClientIdentity and ClientVerify (HS-030, ID-001).", "")
	note("Anonymous", "BASIC", "An anonymous client: the server assigns the client ID and issues a ticket (ID-002).", "")
	note("Resumption", "BASIC", "Resumption with a ticket: PSK and a fresh (EC)DHE share (HS-040, HS-041).", "")
	note("Hybrid", "BASIC", "The X25519MLKEM768 group (SUITE-003).", "")
	note("AESGCM", "BASIC", "The AES-256-GCM AEAD.", "")
	note("Negotiation", "EDGE_CASE", "Version, group or AEAD negotiation by the server's preference among the client's offers (HS-010, HS-011).", "")
	note("Downgrade", "DOWNGRADE", "The client's offer or the server's answer changed in flight to force a weaker choice (HS-022, HS-024).",
		"An implementation that continues lets a network attacker pick the weakest algorithm both sides support.")
	note("Impersonation", "WRONG_KEY", "An attacker answers with its own key share and cannot sign as the server (HS-022, ID-003).", "")
	note("TamperedFlight", "MODIFIED", "A handshake flight altered and re-protected with the right keys: only signatures and Finished MACs catch it.", "")
	note("BadFlight", "STATE", "A flight with missing, extra or reordered messages (HS-020, HS-031).", "")
	note("BadServerHello", "MODIFIED", "A ServerHello whose choice was not offered, or malformed (HS-014, HS-015).", "")
	note("BadClientHello", "MALFORMED", "A ClientHello the server must refuse (HS-002 … HS-012).", "")
	note("BadWelcome", "MODIFIED", "A Welcome that contradicts the handshake or the spec (POST-001, POST-002, ID-001).", "")
	note("PeerAlert", "STATE", "A plaintext Alert from the peer ends the handshake with the peer's code (ALERT-004).", "")
	note("TicketFallback", "EDGE_CASE", "A ticket the server cannot use: it completes a full handshake with a new client ID (HS-040).", "")
	note("ReplayedFlight", "REPLAY", "A flight from another handshake (REPLAY-001).", "")
	note("EarlyData", "REPLAY", "Application data sent before the handshake completes, as 0-RTT would (HS-042).",
		"Early data can be replayed by a network attacker.")
}

// randRecorder records every read from a ChaCha8 stream.
type randRecorder struct {
	r     *rand.ChaCha8
	reads [][]byte
}

func (r *randRecorder) Read(p []byte) (int, error) {
	r.r.Read(p)
	r.reads = append(r.reads, bytes.Clone(p))
	return len(p), nil
}

// hsCase is one handshake configuration.
type hsCase struct {
	name        string
	client      vectors.HandshakeClient
	server      vectors.HandshakeServer
	clientKey   ed25519.PrivateKey // derived from client.IdentitySeed
	serverKey   ed25519.PrivateKey
	ticketObj   *handshake.Ticket
	now         uint64
	serverGroup uint16 // the group the server picks
}

// configs converts the case to the reference's configurations, recording
// randomness and traces into r.
func (c *hsCase) configs(r *hsRun) (*handshake.ClientConfig, *handshake.ServerConfig) {
	now := func() time.Time { return time.Unix(int64(c.now), 0) }
	cc := &handshake.ClientConfig{Rand: r.cRand, Now: now, Versions: c.client.Versions, Groups: c.client.Groups,
		AEADs: c.client.AEADs, GREASE: c.client.GREASE, Ticket: c.ticketObj}
	hstrace.Set(cc, func(n string, v []byte) { r.ctrace[n] = v })
	if len(c.client.PinnedKeyID) > 0 {
		var id [32]byte
		copy(id[:], c.client.PinnedKeyID)
		cc.PinnedKeyID = &id
		if len(c.client.NextPinnedKeyID) > 0 {
			next := [32]byte(c.client.NextPinnedKeyID)
			cc.NextPinnedKeyID = &next
		}
	} else {
		ak, err := sig.ParsePublicKey(c.client.AuthorityKey)
		if err != nil {
			panic(err)
		}
		cc.Trust = &credential.Trust{Authority: ak, Realm: c.client.Realm, MinRevocationNumber: uint64(c.client.MinRevocationNumber)}
	}
	if len(c.client.IdentitySeed) > 0 {
		cc.Identity = ed25519.NewKeyFromSeed(c.client.IdentitySeed)
	}
	if len(c.client.Token) > 0 {
		cc.Token = c.client.Token
	}
	for _, e := range c.client.ExtraExtensions {
		cc.ExtraExtensions = append(cc.ExtraExtensions, wire.Extension{Type: e.Type, Data: e.Data})
	}
	sc := &handshake.ServerConfig{Rand: detrand.New(r.sRand), Now: now, Versions: c.server.Versions, Groups: c.server.Groups,
		AEADs: c.server.AEADs, Key: ed25519.NewKeyFromSeed(c.server.KeySeed), TicketLifetime: time.Duration(c.server.TicketLifetimeSec) * time.Second,
		RequireClientKey: c.server.RequireClientKey, MaxPayload: c.server.MaxPayload, IdleTimeoutMs: c.server.IdleTimeoutMs}
	hstrace.Set(sc, func(n string, v []byte) { r.strace[n] = v })
	if len(c.server.Credential) > 0 {
		sc.Credential, sc.RevocationList = c.server.Credential, c.server.RevocationList
	}
	if len(c.server.NextKey) > 0 {
		nk, err := sig.ParsePublicKey(c.server.NextKey)
		if err != nil {
			panic(err)
		}
		sc.NextKey = nk
	}
	keys, gens, err := c.server.TicketConfig(now)
	if err != nil {
		panic(err)
	}
	if keys != nil {
		sc.TicketKeys, sc.Generations = keys, gens
	}
	copy(sc.StoreEpoch[:], c.server.StoreEpoch)
	tv, err := c.server.TokenVerifier()
	if err != nil {
		panic(err)
	}
	sc.Tokens, sc.RequireToken = tv, c.server.RequireToken
	return cc, sc
}

type hsFrame struct {
	from      string
	orig      []byte
	delivered [][]byte
}

// hsRun is one execution of a case.
type hsRun struct {
	c              *hsCase
	cRand, sRand   *randRecorder
	ctrace, strace map[string][]byte
	client         *handshake.Client
	server         *handshake.Server
	frames         []hsFrame
	errSide        string
	err            error
}

// tamper replaces the frame of a step (ClientHello, ServerHello,
// ServerFlight, ClientFlight, Welcome) with the frames returned.
type tamper func(r *hsRun, f []byte) [][]byte

func (c *hsCase) run(area, name string, tampers map[string]tamper) *hsRun {
	r := &hsRun{c: c, cRand: &randRecorder{r: rng(area, name+"/client-rand")}, sRand: &randRecorder{r: rng(area, name+"/server-rand")},
		ctrace: map[string][]byte{}, strace: map[string][]byte{}}
	cc, sc := c.configs(r)
	var err error
	if r.client, err = handshake.NewClient(cc); err != nil {
		panic(err)
	}
	if r.server, err = handshake.NewServer(sc); err != nil {
		panic(err)
	}
	// deliver passes frame f of step to the receiving side and returns its
	// output, or records the failure.
	deliver := func(step, from string, f []byte) ([][]byte, bool) {
		fr := hsFrame{from: from, orig: f, delivered: [][]byte{f}}
		if t := tampers[step]; t != nil {
			fr.delivered = t(r, bytes.Clone(f))
		}
		r.frames = append(r.frames, fr)
		var out [][]byte
		for i, d := range fr.delivered {
			var o [][]byte
			var err error
			side := "client"
			if from == "client" {
				side = "server"
				o, _, err = r.server.Handle(bytes.Clone(d))
			} else {
				o, _, err = r.client.Handle(bytes.Clone(d))
			}
			if err != nil {
				r.errSide, r.err = side, err
				r.frames[len(r.frames)-1].delivered = fr.delivered[:i+1]
				return nil, false
			}
			out = append(out, o...)
		}
		return out, true
	}
	ch, err := r.client.Start()
	if err != nil {
		r.errSide, r.err = "client", err
		return r
	}
	out, ok := deliver("ClientHello", "client", ch)
	if !ok {
		return r
	}
	if len(out) != 2 {
		panic(fmt.Sprintf("%s: server answered with %d frames", name, len(out)))
	}
	if _, ok := deliver("ServerHello", "server", out[0]); !ok {
		return r
	}
	cf, ok := deliver("ServerFlight", "server", out[1])
	if !ok || len(cf) == 0 {
		return r
	}
	w, ok := deliver("ClientFlight", "client", cf[0])
	if !ok {
		return r
	}
	deliver("Welcome", "server", w[0])
	return r
}

// hsMessageNames are the traced messages; other traced names are secrets
// or frames.
var hsMessageNames = []string{"ClientHello", "ServerHello", "ServerIdentity", "ServerVerify", "ServerFinished",
	"ClientIdentity", "AccessToken", "ClientVerify", "ClientFinished", "Welcome"}

// randomNames names the reads of each side.
func (r *hsRun) randomNames() (client, server []vectors.NamedBytes, err error) {
	var cn []string
	cn = append(cn, "client_random")
	groups := r.c.client.Groups
	if len(groups) == 0 {
		groups = suite.SupportedGroups
	}
	for _, g := range groups {
		switch g {
		case suite.GroupX25519MLKEM768:
			cn = append(cn, "x25519mlkem768_mlkem_seed", "x25519mlkem768_x25519_private")
		case suite.GroupX25519:
			cn = append(cn, "x25519_private")
		}
	}
	if r.c.client.GREASE {
		cn = append(cn, "grease_value", "grease_extension")
	}
	var sn []string
	if r.c.serverGroup == suite.GroupX25519MLKEM768 {
		sn = append(sn, "mlkem_encapsulation_m")
	}
	sn = append(sn, "x25519_private", "server_random", "client_id", "ticket_nonce")
	name := func(reads [][]byte, names []string, who string) ([]vectors.NamedBytes, error) {
		out := []vectors.NamedBytes{}
		j := 0
		for _, rd := range reads {
			for j < len(names) && !nameFits(names[j], len(rd)) {
				j++ // an optional read that did not happen (client_id when resumed)
			}
			if j == len(names) {
				return nil, fmt.Errorf("%s: unexpected %d-byte read", who, len(rd))
			}
			out = append(out, vectors.NamedBytes{Name: names[j], Value: rd})
			j++
		}
		return out, nil
	}
	if client, err = name(r.cRand.reads, cn, "client"); err != nil {
		return nil, nil, err
	}
	server, err = name(r.sRand.reads, sn, "server")
	return client, server, err
}

func nameFits(name string, n int) bool {
	switch name {
	case "x25519mlkem768_mlkem_seed":
		return n == 64
	case "grease_value", "grease_extension":
		return n == 1
	case "ticket_nonce":
		return n == 12
	case "client_id":
		return n == 32
	}
	return n == 32
}

// vector turns a run into a test. role "both" requires a complete run.
func (r *hsRun) vector(t vectors.Test, role string) (vectors.HandshakeTest, error) {
	cr, sr, err := r.randomNames()
	if err != nil {
		return vectors.HandshakeTest{}, err
	}
	v := vectors.HandshakeTest{Test: t, Role: role, Now: vectors.U64(r.c.now), Client: r.c.client, Server: r.c.server,
		Messages: map[string]vectors.Hex{}, Secrets: map[string]vectors.Hex{}, ClientID: vectors.Hex{}, Ticket: vectors.Hex{}, NextServerKey: vectors.Hex{}}
	v.Client.Random, v.Server.Random = cr, sr
	for _, f := range r.frames {
		if role == "both" || f.from == role {
			v.Frames = append(v.Frames, vectors.HandshakeFrame{From: f.from, Frame: f.orig})
			continue
		}
		for _, d := range f.delivered {
			v.Frames = append(v.Frames, vectors.HandshakeFrame{From: f.from, Frame: d})
		}
	}
	if role != "both" {
		return v, nil
	}
	if r.err != nil {
		return v, fmt.Errorf("valid handshake failed on the %s: %v", r.errSide, r.err)
	}
	for n, val := range r.strace {
		if c, ok := r.ctrace[n]; ok && !bytes.Equal(c, val) {
			return v, fmt.Errorf("client and server disagree on %s", n)
		}
	}
	all := map[string][]byte{}
	for n, val := range r.ctrace {
		all[n] = val
	}
	for n, val := range r.strace {
		all[n] = val
	}
	for n, val := range all {
		switch {
		case slices.Contains(hsMessageNames, n):
			v.Messages[n] = val
		case strings.HasSuffix(n, "_frame"):
		default:
			v.Secrets[n] = val
		}
	}
	cs, ss := r.client.Session().State(), r.server.Session().State()
	if cs.ClientID != ss.ClientID || !bytes.Equal(r.ctrace["envelope_secret"], r.strace["envelope_secret"]) {
		return v, fmt.Errorf("sessions disagree")
	}
	env := keyschedule.Envelope(r.ctrace["envelope_secret"])
	v.Secrets["env_key"], v.Secrets["env_iv"], v.Secrets["tag_key"] = env.Key, env.IV, env.TagKey
	for n, th := range transcriptHashes(v.Messages) {
		v.Secrets[n] = th
	}
	v.ClientID = cs.ClientID[:]
	if k := r.client.NextServerKey(); k != nil {
		v.NextServerKey = k.Bytes()
	}
	if t := r.client.NewTicket(); t != nil {
		v.Ticket = t.Bytes
	}
	if err := checkTranscript(&v); err != nil {
		return v, err
	}
	return v, nil
}

// transcriptHashes returns TH(…) at each point the spec uses one.
func transcriptHashes(m map[string]vectors.Hex) map[string][]byte {
	out := map[string][]byte{}
	var tr []byte
	for _, step := range []struct{ msg, name string }{
		{"ClientHello", ""}, {"ServerHello", "th_server_hello"}, {"ServerIdentity", "th_server_identity"},
		{"ServerVerify", "th_server_verify"}, {"ServerFinished", "th_server_finished"},
		{"ClientIdentity", "th_client_identity"}, {"AccessToken", "th_access_token"}, {"ClientVerify", "th_client_verify"},
		{"ClientFinished", "th_client_finished"},
	} {
		b, ok := m[step.msg]
		if !ok {
			continue
		}
		tr = append(tr, b...)
		if step.name != "" {
			h := sha256.Sum256(tr)
			out[step.name] = h[:]
		}
	}
	return out
}

// checkTranscript checks a complete handshake against spec §6 and §7 with
// the lower-level packages: the key schedule from the shared secret and
// transcript hashes, ServerVerify, both Finished MACs, ClientVerify, and
// that each protected frame opens to its messages.
func checkTranscript(v *vectors.HandshakeTest) error {
	m, s := v.Messages, v.Secrets
	body := func(n string) []byte { return m[n][4:] }
	var psk []byte
	if sh, err := handshake.ParseServerHello(body("ServerHello")); err != nil {
		return err
	} else if _, ok := wire.FindExtension(sh.Extensions, wire.ExtPSKAccepted); ok {
		psk = v.Client.Ticket.PSK
	}
	early := keyschedule.EarlySecret(psk)
	hs := keyschedule.HandshakeSecret(early, s["shared_secret"])
	ms := keyschedule.MasterSecret(hs)
	want := map[string][]byte{
		"early_secret": early, "handshake_secret": hs, "master_secret": ms,
		"c_hs_traffic":    keyschedule.DeriveSecret(hs, keyschedule.LabelClientHandshake, s["th_server_hello"]),
		"s_hs_traffic":    keyschedule.DeriveSecret(hs, keyschedule.LabelServerHandshake, s["th_server_hello"]),
		"c_ap_traffic_0":  keyschedule.DeriveSecret(ms, keyschedule.LabelClientApp, s["th_server_finished"]),
		"s_ap_traffic_0":  keyschedule.DeriveSecret(ms, keyschedule.LabelServerApp, s["th_server_finished"]),
		"envelope_secret": keyschedule.DeriveSecret(ms, keyschedule.LabelEnvelope, s["th_client_finished"]),
		"resumption_psk":  keyschedule.DeriveSecret(ms, keyschedule.LabelResumption, s["th_client_finished"]),
	}
	for n, w := range want {
		if !bytes.Equal(s[n], w) {
			return fmt.Errorf("%s differs from the key schedule", n)
		}
	}
	si, err := handshake.ParseServerIdentity(body("ServerIdentity"))
	if err != nil {
		return err
	}
	spub := si.PublicKey
	if si.Type == handshake.IdentityCredential {
		c, err := credential.ParseCredential(si.Credential)
		if err != nil {
			return err
		}
		spub = c.ServerKey[:]
	}
	if !ed25519.Verify(spub, labelled(keyschedule.SigServer, s["th_server_identity"]), body("ServerVerify")) {
		return fmt.Errorf("ServerVerify does not verify")
	}
	if !bytes.Equal(body("ServerFinished"), keyschedule.FinishedMAC(s["s_hs_traffic"], s["th_server_verify"])) {
		return fmt.Errorf("server Finished is wrong")
	}
	before := s["th_server_finished"]
	if ci, ok := m["ClientIdentity"]; ok {
		signed := s["th_client_identity"]
		if _, ok := m["AccessToken"]; ok {
			signed = s["th_access_token"] // HS-061
		}
		if !ed25519.Verify(ed25519.PublicKey(ci[4:]), labelled(keyschedule.SigClient, signed), body("ClientVerify")) {
			return fmt.Errorf("ClientVerify does not verify")
		}
		id := handshake.ClientID(ed25519.PublicKey(ci[4:]))
		if !bytes.Equal(id[:], v.ClientID) {
			return fmt.Errorf("client ID is not ID-001's")
		}
		before = s["th_client_verify"]
	}
	if !bytes.Equal(body("ClientFinished"), keyschedule.FinishedMAC(s["c_hs_traffic"], before)) {
		return fmt.Errorf("client Finished is wrong")
	}
	// Frames: ClientHello, ServerHello (plaintext), then three protected.
	aead := uint16(0)
	if sh, _ := handshake.ParseServerHello(body("ServerHello")); sh != nil {
		aead = sh.AEAD
	}
	open := func(secret, frame []byte, want ...string) error {
		o, err := record.NewOpener(aead, secret)
		if err != nil {
			return err
		}
		inner, err := o.Open(bytes.Clone(frame))
		if err != nil {
			return err
		}
		var exp []byte
		for _, n := range want {
			exp = append(exp, m[n]...)
		}
		if !bytes.Equal(inner, exp) {
			return fmt.Errorf("frame does not hold %v", want)
		}
		return nil
	}
	f := v.Frames
	if len(f) != 5 || !bytes.Equal(f[0].Frame, wire.AppendPlaintextFrame(nil, m["ClientHello"])) ||
		!bytes.Equal(f[1].Frame, wire.AppendPlaintextFrame(nil, m["ServerHello"])) {
		return fmt.Errorf("plaintext frames")
	}
	if err := open(s["s_hs_traffic"], f[2].Frame, "ServerIdentity", "ServerVerify", "ServerFinished"); err != nil {
		return err
	}
	cflight := []string{"ClientFinished"}
	if _, ok := m["ClientIdentity"]; ok {
		cflight = []string{"ClientIdentity", "ClientVerify", "ClientFinished"}
		if _, ok := m["AccessToken"]; ok {
			cflight = []string{"ClientIdentity", "AccessToken", "ClientVerify", "ClientFinished"}
		}
	}
	if err := open(s["c_hs_traffic"], f[3].Frame, cflight...); err != nil {
		return err
	}
	return open(s["s_ap_traffic_0"], f[4].Frame, "Welcome")
}

// sealWith protects inner under secret at sequence 0.
func sealWith(aead uint16, secret, inner []byte) []byte {
	s, err := record.NewSealer(aead, secret)
	if err != nil {
		panic(err)
	}
	f, err := s.Seal(nil, inner, 0)
	if err != nil {
		panic(err)
	}
	return f
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func th(parts ...[]byte) []byte { h := sha256.Sum256(cat(parts...)); return h[:] }

// serverAEAD returns the AEAD of the run's ServerHello.
func (r *hsRun) serverAEAD() uint16 {
	sh, err := handshake.ParseServerHello(r.strace["ServerHello"][4:])
	if err != nil {
		panic(err)
	}
	return sh.AEAD
}

// flight builds a server flight from messages, fixing up ServerVerify
// (signed by key unless sv is given) and Finished over the transcript of the
// messages as sent.
func (r *hsRun) serverFlight(si []byte, key ed25519.PrivateKey, mutateSV, mutateFin func([]byte) []byte) []byte {
	ch, sh := r.strace["ClientHello"], r.strace["ServerHello"]
	svBody := sig.Sign(key, keyschedule.SigServer, th(ch, sh, si))
	if mutateSV != nil {
		svBody = mutateSV(svBody)
	}
	sv := wire.AppendMessage(nil, wire.TypeServerVerify, svBody)
	fin := keyschedule.FinishedMAC(r.strace["s_hs_traffic"], th(ch, sh, si, sv))
	if mutateFin != nil {
		fin = mutateFin(fin)
	}
	return cat(si, sv, wire.AppendMessage(nil, wire.TypeFinished, fin))
}

func flipByte(b []byte) []byte { b = bytes.Clone(b); b[0] ^= 1; return b }

func rawIdentity(pub []byte, exts ...wire.Extension) []byte {
	return (&handshake.ServerIdentity{Type: handshake.IdentityRawKey, PublicKey: pub, Extensions: exts}).AppendTo(nil)
}

// rehello re-encodes the ClientHello of a frame after f changes it.
func rehello(frame []byte, f func(*handshake.ClientHello)) []byte {
	_, body, _, err := wire.ParsePlaintextFrame(frame)
	if err != nil {
		panic(err)
	}
	ch, err := handshake.ParseClientHello(body)
	if err != nil {
		panic(err)
	}
	f(ch)
	return wire.AppendPlaintextFrame(nil, ch.AppendTo(nil))
}

// reserverhello re-encodes the ServerHello of a frame after f changes it.
func reserverhello(frame []byte, f func(*handshake.ServerHello)) []byte {
	_, body, _, err := wire.ParsePlaintextFrame(frame)
	if err != nil {
		panic(err)
	}
	sh, err := handshake.ParseServerHello(body)
	if err != nil {
		panic(err)
	}
	f(sh)
	return wire.AppendPlaintextFrame(nil, sh.AppendTo(nil))
}

func one(f []byte) [][]byte { return [][]byte{f} }

var handshakeArea = areaDef{
	name: "handshake",
	build: func(a *area) (any, error) {
		g := vectors.HandshakeGroup{Type: "Handshake"}
		serverKey := ed25519.NewKeyFromSeed(randBytes(a.name, "server-key", 32))
		attacker := ed25519.NewKeyFromSeed(randBytes(a.name, "attacker-key", 32))
		authority := ed25519.NewKeyFromSeed(randBytes(a.name, "authority-key", 32))
		clientKeySeed := randBytes(a.name, "client-key", 32)
		ticketKey := randBytes(a.name, "ticket-key", 32)
		storeEpoch := randBytes(a.name, "store-epoch", 16)
		serverPub := serverKey.Public().(ed25519.PublicKey)
		pinned := keyID(serverPub)
		realm := "push.example"
		now := uint64(credNow)
		cc, x, hy := suite.AEADChaCha20Poly1305, suite.GroupX25519, suite.GroupX25519MLKEM768

		credFor := func(nb, na uint64, revoked []uint64, r string) ([]byte, []byte) {
			c := cred{version: 1, authID: keyID(authority.Public().(ed25519.PublicKey)), serverKey: serverPub,
				realm: []byte(r), serial: 77, nb: nb, na: na}
			l := rl{version: 1, authID: c.authID, number: 3, this: now - day, next: now + day, revoked: revoked}
			return c.sign(authority, keyschedule.SigCredential), l.sign(authority, keyschedule.SigRevocationList)
		}
		goodCred, goodRL := credFor(now-day, now+6*day, []uint64{5, 99}, realm)

		type opt func(*hsCase)
		newCase := func(name string, opts ...opt) *hsCase {
			c := &hsCase{name: name, now: now, serverKey: serverKey,
				client: vectors.HandshakeClient{Versions: []uint16{}, Groups: []uint16{}, AEADs: []uint16{},
					PinnedKeyID: pinned, NextPinnedKeyID: vectors.Hex{}, AuthorityKey: vectors.Hex{}, IdentitySeed: vectors.Hex{}, ExtraExtensions: []vectors.HandshakeExtension{}},
				server: vectors.HandshakeServer{Versions: []uint16{}, Groups: []uint16{}, AEADs: []uint16{}, KeySeed: serverKey.Seed(),
					Credential: vectors.Hex{}, RevocationList: vectors.Hex{}, TicketKeys: []vectors.HandshakeTicketKey{{ID: 1, Key: ticketKey}},
					TicketRecords: []vectors.HandshakeTicketRecord{}, TicketLifetimeSec: 86400,
					MaxPayload: 65536, IdleTimeoutMs: 30000, StoreEpoch: storeEpoch, NextKey: vectors.Hex{}}}
			for _, o := range opts {
				o(c)
			}
			// The server's group: its preference among the client's offer.
			cg, sg := c.client.Groups, c.server.Groups
			if len(cg) == 0 {
				cg = suite.SupportedGroups
			}
			if len(sg) == 0 {
				sg = suite.SupportedGroups
			}
			for _, g := range sg {
				if c.serverGroup == 0 && slices.Contains(cg, g) {
					c.serverGroup = g
				}
			}
			return c
		}
		groups := func(gs ...uint16) opt { return func(c *hsCase) { c.client.Groups = gs } }
		aeads := func(as ...uint16) opt { return func(c *hsCase) { c.client.AEADs = as } }
		serverAEADs := func(as ...uint16) opt { return func(c *hsCase) { c.server.AEADs = as } }
		versions := func(vs ...uint16) opt { return func(c *hsCase) { c.client.Versions = vs } }
		grease := func(c *hsCase) { c.client.GREASE = true }
		withClientKey := func(c *hsCase) { c.client.IdentitySeed = clientKeySeed }
		requireKey := func(c *hsCase) { c.server.RequireClientKey = true }
		authorityTrust := func(c *hsCase) {
			c.client.PinnedKeyID = vectors.Hex{}
			c.client.AuthorityKey = vectors.Hex(authority.Public().(ed25519.PublicKey))
			c.client.Realm = realm
			c.client.MinRevocationNumber = 2
			c.server.Credential, c.server.RevocationList = goodCred, goodRL
		}
		withCred := func(cr, l []byte) opt {
			return func(c *hsCase) { authorityTrust(c); c.server.Credential, c.server.RevocationList = cr, l }
		}
		extra := func(t uint16, d []byte) opt {
			return func(c *hsCase) {
				c.client.ExtraExtensions = append(c.client.ExtraExtensions, vectors.HandshakeExtension{Type: t, Data: nonNil(d)})
			}
		}
		withTicket := func(t *handshake.Ticket) opt {
			return func(c *hsCase) {
				c.ticketObj = t
				c.client.Ticket = &vectors.HandshakeTicket{Ticket: t.Bytes, PSK: t.PSK, ClientID: t.ClientID[:], Expires: vectors.U64(t.Expires.Unix())}
				// The server's record of the ticket's client ID: generation 1 issued (HS-046).
				c.server.TicketRecords = []vectors.HandshakeTicketRecord{{ClientID: t.ClientID[:], Latest: 1}}
			}
		}

		var firstErr error
		fail := func(err error) {
			if firstErr == nil && err != nil {
				firstErr = err
			}
		}
		valid := func(name, comment, req string, c *hsCase, flags ...string) *hsRun {
			r := c.run(a.name, name, nil)
			v, err := r.vector(a.valid(name, comment, req, flags...), "both")
			fail(wrap(name, err))
			g.Tests = append(g.Tests, v)
			return r
		}
		// invalid runs c with tampers and expects role to fail with code.
		invalid := func(name, comment, req string, role string, code alert.Code, c *hsCase, tampers map[string]tamper, flags ...string) {
			r := c.run(a.name, name, tampers)
			got, _ := alert.CodeOf(r.err)
			if r.err == nil || r.errSide != role || got != code {
				fail(fmt.Errorf("%s: the %s failed with %v (%v), want the %s with %s", name, r.errSide, got, r.err, role, code))
			}
			v, err := r.vector(a.invalid(name, comment, req, code.String(), flags...), role)
			fail(wrap(name, err))
			g.Tests = append(g.Tests, v)
		}

		// Complete handshakes for each suite and option.
		base := valid("pinned-x25519-chacha", "pinned key, anonymous client, X25519, ChaCha20-Poly1305", "KS-001",
			newCase("pinned-x25519-chacha", groups(x), aeads(cc)), "PinnedKey", "Anonymous")
		valid("pinned-x25519-aesgcm", "pinned key, anonymous client, X25519, AES-256-GCM", "KS-001",
			newCase("pinned-x25519-aesgcm", groups(x), aeads(suite.AEADAES256GCM)), "PinnedKey", "Anonymous", "AESGCM")
		hybridRun := valid("pinned-hybrid", "pinned key, anonymous client, the default offer: X25519MLKEM768 chosen", "SUITE-003",
			newCase("pinned-hybrid"), "PinnedKey", "Anonymous", "Hybrid")
		valid("server-prefers-aesgcm", "the server prefers AES-256-GCM; the client offers both (HS-011)", "HS-011",
			newCase("server-prefers-aesgcm", groups(x), serverAEADs(suite.AEADAES256GCM, cc)), "Negotiation", "AESGCM")
		valid("future-version-offered", "the client offers versions 0x0002 and 0x0001 in one ClientHello layout; the server picks 1 (HS-010)", "EXT-006",
			newCase("future-version-offered", groups(x), versions(2, 1)), "Negotiation")
		valid("grease", "the client adds GREASE to every list and a GREASE extension; the server ignores them (EXT-003)", "EXT-003",
			newCase("grease", grease), "GREASE", "Hybrid")
		valid("unknown-extension", "the client sends an unknown non-critical extension (EXT-002)", "HS-012",
			newCase("unknown-extension", groups(x), extra(0x7f00, []byte("x"))), "UnknownExtension")
		valid("authority-x25519", "authority trust with a credential and a stapled list, anonymous client", "CRED-015",
			newCase("authority-x25519", groups(x), authorityTrust), "Authority", "Anonymous")
		valid("pinned-client-key", "pinned key, key-identified client (no ticket)", "HS-030",
			newCase("pinned-client-key", groups(x), withClientKey), "PinnedKey", "ClientKey")
		valid("authority-hybrid-client-key-aesgcm", "authority trust, key-identified client, X25519MLKEM768, AES-256-GCM", "ID-001",
			newCase("authority-hybrid-client-key-aesgcm", authorityTrust, withClientKey, aeads(suite.AEADAES256GCM)), "Authority", "ClientKey", "Hybrid", "AESGCM")
		valid("client-key-required", "a server that requires key-identified clients", "HS-032",
			newCase("client-key-required", groups(x), withClientKey, requireKey), "ClientKey")
		ticket := base.client.NewTicket()
		hybridTicket := hybridRun.client.NewTicket()
		if ticket == nil || hybridTicket == nil {
			return nil, fmt.Errorf("no ticket issued")
		}
		valid("resumption-x25519", "resumption with the ticket of pinned-x25519-chacha and a fresh X25519 share", "HS-041",
			newCase("resumption-x25519", groups(x), aeads(cc), withTicket(ticket)), "Resumption")
		valid("resumption-hybrid", "resumption with the ticket of pinned-hybrid and a fresh hybrid share", "HS-040",
			newCase("resumption-hybrid", withTicket(hybridTicket)), "Resumption", "Hybrid")
		expired := *ticket
		expired.Expires = expired.Expires.Add(48 * time.Hour)
		valid("resumption-ticket-expired-at-server", "the client still trusts its ticket, the server's copy expired 1 h ago: full handshake, new client ID", "HS-040",
			newCase("resumption-ticket-expired-at-server", groups(x), withTicket(&expired), func(c *hsCase) { c.now += 25 * 3600 }), "TicketFallback")
		valid("resumption-unknown-ticket-key", "the server changed its ticket key: full handshake, new client ID", "HS-040",
			newCase("resumption-unknown-ticket-key", groups(x), withTicket(ticket), func(c *hsCase) {
				c.server.TicketKeys = []vectors.HandshakeTicketKey{{ID: 1, Key: randBytes(a.name, "other-ticket-key", 32)}}
			}), "TicketFallback")
		// HS-045: the key set; HS-046: the client's ticket record.
		key2 := vectors.HandshakeTicketKey{ID: 2, Key: randBytes(a.name, "ticket-key-2", 32)}
		key3 := vectors.HandshakeTicketKey{ID: 3, Key: randBytes(a.name, "ticket-key-3", 32)}
		keys := func(k ...vectors.HandshakeTicketKey) opt { return func(c *hsCase) { c.server.TicketKeys = k } }
		trecord := func(latest uint64, retry bool) opt {
			return func(c *hsCase) {
				c.server.TicketRecords = []vectors.HandshakeTicketRecord{{ClientID: ticket.ClientID[:], Latest: vectors.U64(latest), Retry: retry}}
			}
		}
		valid("resumption-previous-ticket-key", "the ticket key rotated once: the ticket opens under the previous key, the new ticket is sealed under the current key 2", "HS-045",
			newCase("resumption-previous-ticket-key", groups(x), withTicket(ticket), keys(key2, vectors.HandshakeTicketKey{ID: 1, Key: ticketKey})), "Resumption")
		valid("resumption-ticket-key-rotated-twice", "the ticket key rotated twice: key 1 is no longer in the set, full handshake, new client ID", "HS-045",
			newCase("resumption-ticket-key-rotated-twice", groups(x), withTicket(ticket), keys(key3, key2)), "TicketFallback")
		valid("resumption-retry-generation", "generation 2 was issued for this ticket (generation 1) and never presented: the ticket is accepted once more, the new ticket has generation 3", "HS-046",
			newCase("resumption-retry-generation", groups(x), withTicket(ticket), trecord(2, true)), "Resumption")
		valid("resumption-superseded-generation", "generation 3 is the newest and was not issued for this ticket: full handshake, new client ID", "HS-046",
			newCase("resumption-superseded-generation", groups(x), withTicket(ticket), trecord(3, false)), "TicketFallback")
		valid("resumption-superseded-once-presented", "generation 2 was issued for this ticket but from a retry: full handshake, new client ID", "HS-046",
			newCase("resumption-superseded-once-presented", groups(x), withTicket(ticket), trecord(2, false)), "TicketFallback")
		valid("resumption-no-ticket-record", "the server keeps no record of the ticket's client ID: full handshake, new client ID", "HS-046",
			newCase("resumption-no-ticket-record", groups(x), withTicket(ticket), func(c *hsCase) { c.server.TicketRecords = []vectors.HandshakeTicketRecord{} }), "TicketFallback")
		valid("no-tickets", "a server without a ticket key: no ticket in Welcome", "HS-044",
			newCase("no-tickets", groups(x), func(c *hsCase) { c.server.TicketKeys = []vectors.HandshakeTicketKey{} }), "Anonymous")

		// Downgrade (HS-022, HS-024): the offer changed in flight.
		dropHybrid := func(r *hsRun, f []byte) [][]byte {
			return one(rehello(f, func(ch *handshake.ClientHello) {
				ch.KeyShares = slices.DeleteFunc(ch.KeyShares, func(k handshake.KeyShare) bool { return k.Group == hy })
			}))
		}
		invalid("downgrade-drop-hybrid", "the hybrid share removed from the ClientHello in flight: the server picks X25519 and the transcripts differ",
			"HS-024", "client", alert.BadRecordMAC, newCase("downgrade-drop-hybrid"), map[string]tamper{"ClientHello": dropHybrid}, "Downgrade")
		invalid("downgrade-drop-chacha", "ChaCha20-Poly1305 removed from the offer in flight: the server picks AES-256-GCM",
			"HS-024", "client", alert.BadRecordMAC, newCase("downgrade-drop-chacha", groups(x)), map[string]tamper{"ClientHello": func(r *hsRun, f []byte) [][]byte {
				return one(rehello(f, func(ch *handshake.ClientHello) { ch.AEADs = []uint16{suite.AEADAES256GCM} }))
			}}, "Downgrade")
		invalid("downgrade-strip-grease", "the GREASE values stripped from the offer in flight",
			"HS-024", "client", alert.BadRecordMAC, newCase("downgrade-strip-grease", grease), map[string]tamper{"ClientHello": func(r *hsRun, f []byte) [][]byte {
				return one(rehello(f, func(ch *handshake.ClientHello) {
					ch.Versions = slices.DeleteFunc(ch.Versions, wire.IsGREASE)
					ch.AEADs = slices.DeleteFunc(ch.AEADs, wire.IsGREASE)
					ch.KeyShares = slices.DeleteFunc(ch.KeyShares, func(k handshake.KeyShare) bool { return wire.IsGREASE(k.Group) })
					ch.Extensions = slices.DeleteFunc(ch.Extensions, func(e wire.Extension) bool { return wire.IsGREASEExtension(e.Type) })
				}))
			}}, "Downgrade", "GREASE")
		invalid("downgrade-strip-realm", "the realm extension removed in flight (authority trust)",
			"HS-024", "client", alert.BadRecordMAC, newCase("downgrade-strip-realm", groups(x), authorityTrust), map[string]tamper{"ClientHello": func(r *hsRun, f []byte) [][]byte {
				return one(rehello(f, func(ch *handshake.ClientHello) { ch.Extensions = nil }))
			}}, "Downgrade")
		// The attacker answers the client's real offer itself, choosing
		// X25519, with its own share: it holds the handshake keys but cannot
		// sign as the pinned server.
		impersonate := func(useRealIdentity bool) tamper {
			return func(r *hsRun, f []byte) [][]byte {
				c2 := newCase("attacker", func(c *hsCase) { c.server.Groups = []uint16{x}; c.server.KeySeed = attacker.Seed() })
				ar := &hsRun{c: c2, cRand: &randRecorder{r: rng(a.name, "attacker/c")}, sRand: &randRecorder{r: rng(a.name, "attacker/s")},
					ctrace: map[string][]byte{}, strace: map[string][]byte{}}
				_, sc := c2.configs(ar)
				srv, err := handshake.NewServer(sc)
				if err != nil {
					panic(err)
				}
				out, _, err := srv.Handle(r.frames[0].orig)
				if err != nil {
					panic(err)
				}
				if !useRealIdentity {
					return out
				}
				flight := ar.serverFlight(rawIdentity(serverPub), attacker, nil, nil)
				return [][]byte{out[0], sealWith(ar.serverAEAD(), ar.strace["s_hs_traffic"], flight)}
			}
		}
		invalid("impersonation-real-identity", "an attacker answers the real offer with X25519 and its own share, presents the pinned server key and signs with its own key",
			"HS-022", "client", alert.BadSignature, newCase("impersonation-real-identity"), map[string]tamper{"ServerHello": impersonate(true), "ServerFlight": func(*hsRun, []byte) [][]byte { return nil }}, "Downgrade", "Impersonation")
		invalid("impersonation-own-key", "an attacker answers the real offer with X25519 and presents its own key",
			"ID-003", "client", alert.UnknownServerKey, newCase("impersonation-own-key"), map[string]tamper{"ServerHello": impersonate(false), "ServerFlight": func(*hsRun, []byte) [][]byte { return nil }}, "Impersonation")

		// Server flights altered and re-protected under the right keys.
		flightTamper := func(build func(r *hsRun) []byte) map[string]tamper {
			return map[string]tamper{"ServerFlight": func(r *hsRun, f []byte) [][]byte {
				return one(sealWith(r.serverAEAD(), r.strace["s_hs_traffic"], build(r)))
			}}
		}
		si := func(r *hsRun) []byte { return r.strace["ServerIdentity"] }
		sv := func(r *hsRun) []byte { return r.strace["ServerVerify"] }
		fin := func(r *hsRun) []byte { return r.strace["ServerFinished"] }
		x25519Case := func(name string, opts ...opt) *hsCase { return newCase(name, append([]opt{groups(x)}, opts...)...) }
		invalid("server-verify-bit-flip", "ServerVerify's first byte flipped; Finished recomputed over it", "HS-022", "client", alert.BadSignature,
			x25519Case("server-verify-bit-flip"), flightTamper(func(r *hsRun) []byte { return r.serverFlight(si(r), serverKey, flipByte, nil) }), "TamperedFlight")
		invalid("server-verify-wrong-label", "ServerVerify signed with the client-signature label", "HS-022", "client", alert.BadSignature,
			x25519Case("server-verify-wrong-label"), flightTamper(func(r *hsRun) []byte {
				return r.serverFlight(si(r), serverKey, func([]byte) []byte {
					return sig.Sign(serverKey, keyschedule.SigClient, th(r.strace["ClientHello"], r.strace["ServerHello"], si(r)))
				}, nil)
			}), "TamperedFlight", "WrongLabel")
		invalid("server-finished-bit-flip", "the server Finished's first byte flipped", "HS-023", "client", alert.DecryptError,
			x25519Case("server-finished-bit-flip"), flightTamper(func(r *hsRun) []byte { return r.serverFlight(si(r), serverKey, nil, flipByte) }), "TamperedFlight")
		invalid("server-flight-no-finished", "the server flight without Finished", "HS-020", "client", alert.UnexpectedMessage,
			x25519Case("server-flight-no-finished"), flightTamper(func(r *hsRun) []byte { return cat(si(r), sv(r)) }), "BadFlight")
		invalid("server-flight-extra-message", "a second Finished after the server flight", "HS-020", "client", alert.UnexpectedMessage,
			x25519Case("server-flight-extra-message"), flightTamper(func(r *hsRun) []byte { return cat(si(r), sv(r), fin(r), fin(r)) }), "BadFlight")
		invalid("server-flight-reordered", "ServerVerify before ServerIdentity", "HS-020", "client", alert.UnexpectedMessage,
			x25519Case("server-flight-reordered"), flightTamper(func(r *hsRun) []byte { return cat(sv(r), si(r), fin(r)) }), "BadFlight")
		invalid("server-flight-padding", "the server flight followed by zero padding and a non-zero byte", "REC-003", "client", alert.DecodeError,
			x25519Case("server-flight-padding"), flightTamper(func(r *hsRun) []byte { return cat(si(r), sv(r), fin(r), []byte{0, 0, 7}) }), "NonZeroPadding")
		invalid("server-flight-split", "the server flight in two records: ServerIdentity and ServerVerify, then Finished", "HS-020", "client", alert.UnexpectedMessage,
			x25519Case("server-flight-split"), map[string]tamper{"ServerFlight": func(r *hsRun, f []byte) [][]byte {
				s, _ := record.NewSealer(r.serverAEAD(), r.strace["s_hs_traffic"])
				f1, _ := s.Seal(nil, cat(si(r), sv(r)), 0)
				f2, _ := s.Seal(nil, fin(r), 0)
				return [][]byte{f1, f2}
			}}, "BadFlight")
		invalid("server-flight-record-bit-flip", "a bit of the protected server flight flipped", "REC-001", "client", alert.BadRecordMAC,
			x25519Case("server-flight-record-bit-flip"), map[string]tamper{"ServerFlight": func(r *hsRun, f []byte) [][]byte { f[10] ^= 1; return one(f) }}, "ModifiedRecord")
		invalid("server-identity-small-order-key", "ServerIdentity carries the identity point as raw key", "HS-021", "client", alert.BadKey,
			x25519Case("server-identity-small-order-key"), flightTamper(func(r *hsRun) []byte { return r.serverFlight(rawIdentity(identityEnc), serverKey, nil, nil) }), "WeakServerKey")
		invalid("server-identity-critical-extension", "ServerIdentity with the unknown critical extension 0x8001", "HS-015", "client", alert.UnknownCriticalExtension,
			x25519Case("server-identity-critical-extension"), flightTamper(func(r *hsRun) []byte {
				return r.serverFlight(rawIdentity(serverPub, wire.Extension{Type: 0x8001}), serverKey, nil, nil)
			}), "UnknownCriticalExtension")
		invalid("server-identity-known-extension", "ServerIdentity with psk_accepted, an extension registered for ServerHello only", "EXT-009", "client", alert.IllegalParameter,
			x25519Case("server-identity-known-extension"), flightTamper(func(r *hsRun) []byte {
				return r.serverFlight(rawIdentity(serverPub, wire.Extension{Type: wire.ExtPSKAccepted}), serverKey, nil, nil)
			}), "MisplacedExtension")
		invalid("server-identity-realm-extension", "ServerIdentity with realm, an extension registered for ClientHello only", "EXT-009", "client", alert.IllegalParameter,
			x25519Case("server-identity-realm-extension"), flightTamper(func(r *hsRun) []byte {
				return r.serverFlight(rawIdentity(serverPub, wire.Extension{Type: wire.ExtRealm, Data: []byte("r")}), serverKey, nil, nil)
			}), "MisplacedExtension")
		invalid("server-identity-credential-when-pinned", "a credential presented to a client that pins a key", "HS-021", "client", alert.UnknownServerKey,
			x25519Case("server-identity-credential-when-pinned", func(c *hsCase) { c.server.Credential, c.server.RevocationList = goodCred, goodRL }), nil, "WrongKey")
		invalid("server-identity-raw-key-when-authority", "a raw key presented to a client that trusts an authority", "HS-021", "client", alert.UnknownServerKey,
			x25519Case("server-identity-raw-key-when-authority", authorityTrust, func(c *hsCase) { c.server.Credential, c.server.RevocationList = vectors.Hex{}, vectors.Hex{} }), nil, "WrongKey")
		invalid("pinned-key-mismatch", "the client pins another key's fingerprint", "ID-003", "client", alert.UnknownServerKey,
			x25519Case("pinned-key-mismatch", func(c *hsCase) { c.client.PinnedKeyID = keyID(attacker.Public().(ed25519.PublicKey)) }), nil, "WrongKey")

		// Server-key rotation (§5.3): next_server_key in ServerIdentity.
		nextKey := ed25519.NewKeyFromSeed(randBytes(a.name, "next-server-key", 32))
		nextPub := nextKey.Public().(ed25519.PublicKey)
		announce := func(c *hsCase) { c.server.NextKey = vectors.Hex(nextPub) }
		otherPin := func(c *hsCase) { c.client.PinnedKeyID = keyID(attacker.Public().(ed25519.PublicKey)) }
		nextExt := func(d []byte) wire.Extension { return wire.Extension{Type: wire.ExtNextServerKey, Data: d} }
		announceTamper := func(exts ...wire.Extension) map[string]tamper {
			return flightTamper(func(r *hsRun) []byte { return r.serverFlight(rawIdentity(serverPub, exts...), serverKey, nil, nil) })
		}
		smallOrderKey := make([]byte, 32)
		smallOrderKey[0] = 1 // the identity point
		valid("next-key-announced", "the server announces its next key; the pinned client completes the handshake and learns it (nextServerKey)", "HS-070",
			x25519Case("next-key-announced", announce), "PinnedKey", "NextServerKey")
		valid("next-key-second-pin", "the client pins another key and, as its second pin, the server's key: it accepts the server (ID-010)", "ID-010",
			x25519Case("next-key-second-pin", otherPin, func(c *hsCase) { c.client.NextPinnedKeyID = pinned }), "PinnedKey", "NextServerKey")
		invalid("next-key-neither-pin", "the client's two pins both name other keys", "ID-010", "client", alert.UnknownServerKey,
			x25519Case("next-key-neither-pin", otherPin, func(c *hsCase) { c.client.NextPinnedKeyID = keyID(nextPub) }), nil, "WrongKey", "NextServerKey")
		invalid("next-key-31-bytes", "next_server_key holds 31 bytes", "HS-070", "client", alert.DecodeError,
			x25519Case("next-key-31-bytes"), announceTamper(nextExt(nextPub[:31])), "BadNextServerKey", "WrongLength")
		invalid("next-key-33-bytes", "next_server_key holds 33 bytes", "HS-070", "client", alert.DecodeError,
			x25519Case("next-key-33-bytes"), announceTamper(nextExt(append(bytes.Clone(nextPub), 0))), "BadNextServerKey", "WrongLength")
		invalid("next-key-empty", "next_server_key is empty", "HS-070", "client", alert.DecodeError,
			x25519Case("next-key-empty"), announceTamper(nextExt([]byte{})), "BadNextServerKey", "WrongLength")
		invalid("next-key-small-order", "next_server_key is the identity point, a small-order key", "HS-071", "client", alert.BadKey,
			x25519Case("next-key-small-order"), announceTamper(nextExt(smallOrderKey)), "BadNextServerKey", "WeakServerKey")
		invalid("next-key-is-current", "next_server_key announces the server's current key", "HS-071", "client", alert.IllegalParameter,
			x25519Case("next-key-is-current"), announceTamper(nextExt(serverPub)), "BadNextServerKey")
		invalid("next-key-twice", "next_server_key twice in ServerIdentity", "HS-004", "client", alert.IllegalParameter,
			x25519Case("next-key-twice"), announceTamper(nextExt(nextPub), nextExt(nextPub)), "BadNextServerKey")
		invalid("next-key-with-credential", "next_server_key in a ServerIdentity of type credential", "HS-070", "client", alert.IllegalParameter,
			x25519Case("next-key-with-credential", authorityTrust), flightTamper(func(r *hsRun) []byte {
				si := (&handshake.ServerIdentity{Type: handshake.IdentityCredential, Credential: goodCred, RevocationList: goodRL,
					Extensions: []wire.Extension{nextExt(nextPub)}}).AppendTo(nil)
				return r.serverFlight(si, serverKey, nil, nil)
			}), "BadNextServerKey", "MisplacedExtension")
		invalid("next-key-length-before-pin", "a 31-byte next_server_key from a server the client does not pin: the length is checked first", "HS-071", "client", alert.DecodeError,
			x25519Case("next-key-length-before-pin", otherPin), announceTamper(nextExt(nextPub[:31])), "BadNextServerKey", "OrderOfChecks")
		invalid("next-key-pin-before-key", "a small-order next_server_key from a server the client does not pin: the identity is checked first", "HS-071", "client", alert.UnknownServerKey,
			x25519Case("next-key-pin-before-key", otherPin), announceTamper(nextExt(smallOrderKey)), "BadNextServerKey", "OrderOfChecks")
		invalid("next-key-unsigned", "next_server_key added to ServerIdentity in flight, ServerVerify over the identity the server sent: the client learns nothing (ID-011)", "ID-011", "client", alert.BadSignature,
			x25519Case("next-key-unsigned"), flightTamper(func(r *hsRun) []byte {
				withNext := rawIdentity(serverPub, nextExt(nextPub))
				svSigned := sig.Sign(serverKey, keyschedule.SigServer, th(r.strace["ClientHello"], r.strace["ServerHello"], si(r)))
				return r.serverFlight(withNext, serverKey, func([]byte) []byte { return svSigned }, nil)
			}), "BadNextServerKey", "TamperedFlight")
		expCred, expRL := credFor(now-8*day, now-day, nil, realm)
		invalid("credential-expired", "the server presents a credential that expired a day ago", "HS-021", "client", alert.CredentialExpired,
			x25519Case("credential-expired", withCred(expCred, expRL)), nil, "Expired")
		revCred, revRL := credFor(now-day, now+day, []uint64{5, 77}, realm)
		invalid("credential-revoked", "the stapled list revokes the server's credential", "HS-021", "client", alert.CredentialRevoked,
			x25519Case("credential-revoked", withCred(revCred, revRL)), nil, "Revoked")
		othCred, othRL := credFor(now-day, now+day, nil, "other.example")
		invalid("credential-other-realm", "a credential for another realm of the same authority", "HS-021", "client", alert.RealmMismatch,
			x25519Case("credential-other-realm", withCred(othCred, othRL)), nil, "RealmMismatch")
		invalid("revocation-list-rollback", "the stapled list (number 3) is older than one the client accepted (number 4)", "CRED-013", "client", alert.RevocationStale,
			x25519Case("revocation-list-rollback", authorityTrust, func(c *hsCase) { c.client.MinRevocationNumber = 4 }), nil, "Rollback")

		// ServerHello altered in flight (plaintext).
		shTamper := func(f func(*handshake.ServerHello)) map[string]tamper {
			return map[string]tamper{"ServerHello": func(r *hsRun, fr []byte) [][]byte { return one(reserverhello(fr, f)) }}
		}
		invalid("server-hello-version-not-offered", "ServerHello names version 0x0002, which the client did not offer", "HS-014", "client", alert.IllegalParameter,
			x25519Case("server-hello-version-not-offered"), shTamper(func(sh *handshake.ServerHello) { sh.Version = 2 }), "BadServerHello")
		invalid("server-hello-aead-grease", "ServerHello selects the GREASE AEAD the client offered", "HS-014", "client", alert.IllegalParameter,
			newCase("server-hello-aead-grease", grease), map[string]tamper{"ServerHello": func(r *hsRun, fr []byte) [][]byte {
				ch, err := handshake.ParseClientHello(r.ctrace["ClientHello"][4:])
				if err != nil || !wire.IsGREASE(ch.AEADs[0]) {
					panic("no GREASE AEAD offered")
				}
				return one(reserverhello(fr, func(sh *handshake.ServerHello) { sh.AEAD = ch.AEADs[0] }))
			}}, "BadServerHello", "GREASE")
		invalid("server-hello-aead-not-offered", "ServerHello selects AES-256-GCM; the client offered ChaCha20-Poly1305 only", "HS-014", "client", alert.IllegalParameter,
			x25519Case("server-hello-aead-not-offered", aeads(cc)), shTamper(func(sh *handshake.ServerHello) { sh.AEAD = suite.AEADAES256GCM }), "BadServerHello")
		invalid("server-hello-group-not-offered", "ServerHello selects X25519MLKEM768; the client offered X25519 only", "HS-014", "client", alert.IllegalParameter,
			x25519Case("server-hello-group-not-offered"), shTamper(func(sh *handshake.ServerHello) { sh.KeyShare.Group = hy }), "BadServerHello")
		invalid("server-hello-share-31", "a 31-byte X25519 share in ServerHello", "HS-014", "client", alert.IllegalParameter,
			x25519Case("server-hello-share-31"), shTamper(func(sh *handshake.ServerHello) { sh.KeyShare.KeyExchange = sh.KeyShare.KeyExchange[:31] }), "BadServerHello", "WrongLength")
		invalid("server-hello-low-order-share", "ServerHello's X25519 share is u = 0", "SUITE-002", "client", alert.IllegalParameter,
			x25519Case("server-hello-low-order-share"), shTamper(func(sh *handshake.ServerHello) { sh.KeyShare.KeyExchange = make([]byte, 32) }), "LowOrderPublic")
		invalid("server-hello-hybrid-ciphertext-short", "ServerHello's hybrid share one byte short", "SUITE-003", "client", alert.IllegalParameter,
			newCase("server-hello-hybrid-ciphertext-short"), shTamper(func(sh *handshake.ServerHello) { sh.KeyShare.KeyExchange = sh.KeyShare.KeyExchange[1:] }), "BadServerHello", "WrongLength")
		invalid("server-hello-psk-without-ticket", "psk_accepted in ServerHello, but the client sent no ticket", "HS-015", "client", alert.IllegalParameter,
			x25519Case("server-hello-psk-without-ticket"), shTamper(func(sh *handshake.ServerHello) { sh.Extensions = []wire.Extension{{Type: wire.ExtPSKAccepted}} }), "BadServerHello")
		invalid("server-hello-critical-extension", "ServerHello with the unknown critical extension 0xfafa", "HS-015", "client", alert.UnknownCriticalExtension,
			x25519Case("server-hello-critical-extension"), shTamper(func(sh *handshake.ServerHello) { sh.Extensions = []wire.Extension{{Type: 0xfafa}} }), "UnknownCriticalExtension")
		invalid("server-hello-random-flip", "ServerHello's random changed in flight: the client derives other keys", "REPLAY-001", "client", alert.BadRecordMAC,
			x25519Case("server-hello-random-flip"), shTamper(func(sh *handshake.ServerHello) { sh.Random[0] ^= 1 }), "Downgrade")
		invalid("server-hello-truncated", "ServerHello without its last byte", "WIRE-001", "client", alert.DecodeError,
			x25519Case("server-hello-truncated"), map[string]tamper{"ServerHello": func(r *hsRun, f []byte) [][]byte {
				return one(wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.TypeServerHello, f[8:len(f)-1])))
			}}, "Truncated")
		invalid("server-flight-before-server-hello", "the protected server flight arrives first", "HS-050", "client", alert.UnexpectedMessage,
			x25519Case("server-flight-before-server-hello"), map[string]tamper{"ServerHello": func(r *hsRun, f []byte) [][]byte {
				return one(sealWith(r.serverAEAD(), r.strace["s_hs_traffic"], cat(si(r), sv(r), fin(r))))
			}}, "UnexpectedMessage")
		invalid("server-peer-alert", "the server answers with a plaintext Alert handshake_failure", "ALERT-004", "client", alert.HandshakeFailure,
			x25519Case("server-peer-alert"), map[string]tamper{"ServerHello": func(*hsRun, []byte) [][]byte {
				return one(wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.HandshakeFailure)))
			}}, "PeerAlert")
		invalid("server-hello-from-other-handshake", "ServerHello and flight of another handshake with the same server", "REPLAY-001", "client", alert.BadRecordMAC,
			x25519Case("server-hello-from-other-handshake"), map[string]tamper{
				"ServerHello":  func(r *hsRun, f []byte) [][]byte { return one(base.frames[1].orig) },
				"ServerFlight": func(r *hsRun, f []byte) [][]byte { return one(base.frames[2].orig) },
			}, "ReplayedFlight")

		// Welcome (POST-001, POST-002, ID-001).
		welcomeTamper := func(f func(w *session.Welcome) []byte) map[string]tamper {
			return map[string]tamper{"Welcome": func(r *hsRun, fr []byte) [][]byte {
				w, err := session.ParseWelcome(r.strace["Welcome"][4:])
				if err != nil {
					panic(err)
				}
				return one(sealWith(r.serverAEAD(), r.strace["s_ap_traffic_0"], f(w)))
			}}
		}
		invalid("welcome-resumed-without-psk", "Welcome says resumed after a full handshake", "HS-040", "client", alert.IllegalParameter,
			x25519Case("welcome-resumed-without-psk"), welcomeTamper(func(w *session.Welcome) []byte { w.Resumed = true; return w.AppendTo(nil) }), "BadWelcome")
		invalid("welcome-undefined-flag", "Welcome with flag bit 1 set", "POST-002", "client", alert.IllegalParameter,
			x25519Case("welcome-undefined-flag"), welcomeTamper(func(w *session.Welcome) []byte { b := w.AppendTo(nil); b[4+32] |= 2; return b }), "BadWelcome")
		invalid("welcome-known-extension", "Welcome with psk_accepted, an extension registered for ServerHello only", "EXT-009", "client", alert.IllegalParameter,
			x25519Case("welcome-known-extension"), welcomeTamper(func(w *session.Welcome) []byte {
				w.Extensions = []wire.Extension{{Type: wire.ExtPSKAccepted}}
				return w.AppendTo(nil)
			}), "MisplacedExtension")
		invalid("welcome-ticket-extension", "Welcome with resumption_ticket, an extension registered for ClientHello only", "EXT-009", "client", alert.IllegalParameter,
			x25519Case("welcome-ticket-extension"), welcomeTamper(func(w *session.Welcome) []byte {
				w.Extensions = []wire.Extension{{Type: wire.ExtResumptionTicket, Data: []byte{1}}}
				return w.AppendTo(nil)
			}), "MisplacedExtension")
		invalid("welcome-max-record-too-large", "Welcome with max_record above MaxRecordPlaintext", "POST-002", "client", alert.IllegalParameter,
			x25519Case("welcome-max-record-too-large"), welcomeTamper(func(w *session.Welcome) []byte { w.MaxRecord = 1<<20 + 1; return w.AppendTo(nil) }), "BadWelcome")
		invalid("welcome-ticket-lifetime-zero", "a ticket with ticket_lifetime 0", "POST-002", "client", alert.IllegalParameter,
			x25519Case("welcome-ticket-lifetime-zero"), welcomeTamper(func(w *session.Welcome) []byte { w.TicketLifetime = 0; return w.AppendTo(nil) }), "BadWelcome")
		invalid("welcome-ticket-lifetime-too-long", "ticket_lifetime of 7 days + 1 s", "POST-002", "client", alert.IllegalParameter,
			x25519Case("welcome-ticket-lifetime-too-long"), welcomeTamper(func(w *session.Welcome) []byte { w.TicketLifetime = 7*86400 + 1; return w.AppendTo(nil) }), "BadWelcome")
		invalid("welcome-wrong-client-id", "a key-identified client is given a client ID not derived from its key", "ID-001", "client", alert.IllegalParameter,
			x25519Case("welcome-wrong-client-id", withClientKey), welcomeTamper(func(w *session.Welcome) []byte { w.ClientID[0] ^= 1; return w.AppendTo(nil) }), "BadWelcome")
		invalid("welcome-replaced-by-ack", "an Ack where Welcome is expected", "POST-001", "client", alert.UnexpectedMessage,
			x25519Case("welcome-replaced-by-ack"), welcomeTamper(func(*session.Welcome) []byte { return ackMsg(1) }), "BadWelcome", "UnexpectedMessage")
		invalid("welcome-twice", "two Welcome messages in the first application record", "POST-001", "client", alert.UnexpectedMessage,
			x25519Case("welcome-twice"), welcomeTamper(func(w *session.Welcome) []byte { return cat(w.AppendTo(nil), w.AppendTo(nil)) }), "BadWelcome", "UnexpectedMessage")
		invalid("batch-before-welcome", "a BatchDelivery where Welcome is expected: no application data before CONNECTED", "HS-052", "client", alert.UnexpectedMessage,
			x25519Case("batch-before-welcome"), welcomeTamper(func(*session.Welcome) []byte {
				return wire.AppendMessage(nil, wire.TypeBatchDelivery, []byte{1})
			}), "BadWelcome", "UnexpectedMessage")
		invalid("welcome-under-handshake-key", "Welcome protected with the server handshake key", "REC-002", "client", alert.BadRecordMAC,
			x25519Case("welcome-under-handshake-key"), map[string]tamper{"Welcome": func(r *hsRun, f []byte) [][]byte {
				return one(sealWith(r.serverAEAD(), r.strace["s_hs_traffic"], r.strace["Welcome"]))
			}}, "StaleKey")

		// ClientHello the server must refuse.
		chTamper := func(f func(*handshake.ClientHello)) map[string]tamper {
			return map[string]tamper{"ClientHello": func(r *hsRun, fr []byte) [][]byte { return one(rehello(fr, f)) }}
		}
		invalid("client-hello-critical-extension", "an unknown critical extension 0x8001 in ClientHello", "HS-012", "server", alert.UnknownCriticalExtension,
			x25519Case("client-hello-critical-extension", extra(0x8001, nil)), nil, "UnknownCriticalExtension")
		invalid("client-hello-reserved-critical-extension", "the reserved critical GREASE value 0x8a8a in ClientHello", "EXT-004", "server", alert.UnknownCriticalExtension,
			x25519Case("client-hello-reserved-critical-extension", extra(0x8a8a, []byte{1})), nil, "UnknownCriticalExtension", "GREASE")
		invalid("client-hello-no-common-version", "the client offers version 0x0002 only", "HS-010", "server", alert.ProtocolVersion,
			x25519Case("client-hello-no-common-version", versions(2)), nil, "Negotiation")
		invalid("client-hello-grease-version-only", "the only version offered is GREASE", "HS-010", "server", alert.ProtocolVersion,
			x25519Case("client-hello-grease-version-only", versions(0x3a3a)), nil, "Negotiation", "GREASE")
		invalid("client-hello-no-common-aead", "the client offers AEAD 0x0003 only", "HS-011", "server", alert.HandshakeFailure,
			x25519Case("client-hello-no-common-aead", aeads(3)), nil, "Negotiation")
		invalid("client-hello-no-common-group", "the only key share is of the unknown group 0x0003", "HS-011", "server", alert.HandshakeFailure,
			x25519Case("client-hello-no-common-group"), chTamper(func(ch *handshake.ClientHello) { ch.KeyShares[0].Group = 3 }), "Negotiation")
		invalid("client-hello-duplicate-aead", "ChaCha20-Poly1305 offered twice", "HS-002", "server", alert.IllegalParameter,
			x25519Case("client-hello-duplicate-aead"), chTamper(func(ch *handshake.ClientHello) { ch.AEADs = append(ch.AEADs, ch.AEADs[0]) }), "BadClientHello", "Duplicate")
		invalid("client-hello-duplicate-version", "version 1 offered twice", "HS-002", "server", alert.IllegalParameter,
			x25519Case("client-hello-duplicate-version"), chTamper(func(ch *handshake.ClientHello) { ch.Versions = []uint16{1, 1} }), "BadClientHello", "Duplicate")
		invalid("client-hello-duplicate-group", "two X25519 key shares", "HS-002", "server", alert.IllegalParameter,
			x25519Case("client-hello-duplicate-group"), chTamper(func(ch *handshake.ClientHello) { ch.KeyShares = append(ch.KeyShares, ch.KeyShares[0]) }), "BadClientHello", "Duplicate")
		invalid("client-hello-extensions-out-of-order", "extensions 0x0002 before 0x0001", "HS-004", "server", alert.IllegalParameter,
			x25519Case("client-hello-extensions-out-of-order"), chTamper(func(ch *handshake.ClientHello) {
				ch.Extensions = []wire.Extension{{Type: 2, Data: []byte{1}}, {Type: 1, Data: []byte("r")}}
			}), "BadClientHello", "OutOfOrder")
		invalid("client-hello-share-31", "a 31-byte X25519 share", "HS-003", "server", alert.IllegalParameter,
			x25519Case("client-hello-share-31"), chTamper(func(ch *handshake.ClientHello) { ch.KeyShares[0].KeyExchange = ch.KeyShares[0].KeyExchange[:31] }), "BadClientHello", "WrongLength")
		invalid("client-hello-hybrid-share-short", "the hybrid share one byte short", "HS-003", "server", alert.IllegalParameter,
			newCase("client-hello-hybrid-share-short"), chTamper(func(ch *handshake.ClientHello) { ch.KeyShares[0].KeyExchange = ch.KeyShares[0].KeyExchange[1:] }), "BadClientHello", "WrongLength")
		invalid("client-hello-low-order-share", "the X25519 share is u = 1", "SUITE-002", "server", alert.IllegalParameter,
			x25519Case("client-hello-low-order-share"), chTamper(func(ch *handshake.ClientHello) {
				ch.KeyShares[0].KeyExchange = append([]byte{1}, make([]byte, 31)...)
			}), "LowOrderPublic")
		invalid("client-hello-bad-mlkem-key", "the hybrid share's encapsulation key fails the FIPS 203 modulus check", "SUITE-003", "server", alert.IllegalParameter,
			newCase("client-hello-bad-mlkem-key"), chTamper(func(ch *handshake.ClientHello) {
				k := bytes.Clone(ch.KeyShares[0].KeyExchange)
				k[0], k[1] = 0xff, k[1]|0x0f
				ch.KeyShares[0].KeyExchange = k
			}), "InvalidEncapsulationKey")
		invalid("client-hello-share-31-no-common-version", "a 31-byte X25519 share and no common version: share lengths are checked before selection", "HS-016", "server", alert.IllegalParameter,
			x25519Case("client-hello-share-31-no-common-version", versions(2)), chTamper(func(ch *handshake.ClientHello) { ch.KeyShares[0].KeyExchange = ch.KeyShares[0].KeyExchange[:31] }),
			"WrongLength", "OrderOfChecks")
		invalid("client-hello-critical-extension-no-common-version", "an unknown critical extension and no common version: extensions are checked before selection", "HS-016", "server", alert.UnknownCriticalExtension,
			x25519Case("client-hello-critical-extension-no-common-version", versions(2), extra(0x8001, nil)), nil, "UnknownCriticalExtension", "OrderOfChecks")
		invalid("client-hello-bad-mlkem-key-no-common-version", "a hybrid share failing the modulus check and no common version: selection comes before the modulus check", "HS-016", "server", alert.ProtocolVersion,
			newCase("client-hello-bad-mlkem-key-no-common-version", versions(2)), chTamper(func(ch *handshake.ClientHello) {
				k := bytes.Clone(ch.KeyShares[0].KeyExchange)
				k[0], k[1] = 0xff, k[1]|0x0f
				ch.KeyShares[0].KeyExchange = k
			}), "Negotiation", "OrderOfChecks")
		invalid("client-hello-critical-extension-and-empty-realm", "an empty realm extension and an unknown critical extension: criticality is checked before extension data", "EXT-008", "server", alert.UnknownCriticalExtension,
			x25519Case("client-hello-critical-extension-and-empty-realm", extra(wire.ExtRealm, nil), extra(0x8001, nil)), nil, "UnknownCriticalExtension", "OrderOfChecks")
		invalid("client-hello-empty-realm", "an empty realm extension", "EXT-005", "server", alert.DecodeError,
			x25519Case("client-hello-empty-realm", extra(wire.ExtRealm, nil)), nil, "BadClientHello")
		invalid("client-hello-empty-ticket", "an empty resumption_ticket extension", "EXT-005", "server", alert.DecodeError,
			x25519Case("client-hello-empty-ticket", extra(wire.ExtResumptionTicket, nil)), nil, "BadClientHello")
		invalid("client-hello-truncated", "ClientHello without its last byte", "WIRE-001", "server", alert.DecodeError,
			x25519Case("client-hello-truncated"), map[string]tamper{"ClientHello": func(r *hsRun, f []byte) [][]byte {
				return one(wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.TypeClientHello, f[8:len(f)-1])))
			}}, "Truncated")
		invalid("client-hello-trailing-byte", "ClientHello with one byte appended to its body", "WIRE-001", "server", alert.DecodeError,
			x25519Case("client-hello-trailing-byte"), map[string]tamper{"ClientHello": func(r *hsRun, f []byte) [][]byte {
				return one(wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.TypeClientHello, append(bytes.Clone(f[8:]), 0))))
			}}, "TrailingData")
		invalid("client-hello-as-server-hello", "a ServerHello sent to the server", "HS-050", "server", alert.UnexpectedMessage,
			x25519Case("client-hello-as-server-hello"), map[string]tamper{"ClientHello": func(r *hsRun, f []byte) [][]byte {
				return one(wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.TypeServerHello, f[8:])))
			}}, "UnexpectedMessage")

		// Client flights the server must refuse.
		clientFlight := func(build func(r *hsRun) []byte) map[string]tamper {
			return map[string]tamper{"ClientFlight": func(r *hsRun, f []byte) [][]byte {
				return one(sealWith(r.serverAEAD(), r.ctrace["c_hs_traffic"], build(r)))
			}}
		}
		ckey := ed25519.NewKeyFromSeed(clientKeySeed)
		// keyedFlight builds ClientIdentity, ClientVerify and Finished for key
		// pub signed by k over the transcript so far.
		keyedFlight := func(r *hsRun, pub []byte, k ed25519.PrivateKey, mutCV, mutFin func([]byte) []byte) []byte {
			tr := cat(r.ctrace["ClientHello"], r.ctrace["ServerHello"], r.ctrace["ServerIdentity"], r.ctrace["ServerVerify"], r.ctrace["ServerFinished"])
			ci := wire.AppendMessage(nil, wire.TypeClientIdentity, pub)
			cvb := sig.Sign(k, keyschedule.SigClient, th(tr, ci))
			if mutCV != nil {
				cvb = mutCV(cvb)
			}
			cv := wire.AppendMessage(nil, wire.TypeClientVerify, cvb)
			f := keyschedule.FinishedMAC(r.ctrace["c_hs_traffic"], th(tr, ci, cv))
			if mutFin != nil {
				f = mutFin(f)
			}
			return cat(ci, cv, wire.AppendMessage(nil, wire.TypeFinished, f))
		}
		ckeyPub := []byte(ckey.Public().(ed25519.PublicKey))
		invalid("client-finished-bit-flip", "the client Finished's first byte flipped", "HS-023", "server", alert.DecryptError,
			x25519Case("client-finished-bit-flip"), clientFlight(func(r *hsRun) []byte {
				m := bytes.Clone(r.ctrace["ClientFinished"])
				m[4] ^= 1
				return m
			}), "TamperedFlight")
		invalid("client-verify-bit-flip", "ClientVerify's first byte flipped; Finished recomputed", "HS-030", "server", alert.BadSignature,
			x25519Case("client-verify-bit-flip", withClientKey), clientFlight(func(r *hsRun) []byte { return keyedFlight(r, ckeyPub, ckey, flipByte, nil) }), "TamperedFlight")
		invalid("client-verify-other-key", "ClientIdentity names one key, another key signs", "HS-030", "server", alert.BadSignature,
			x25519Case("client-verify-other-key", withClientKey), clientFlight(func(r *hsRun) []byte { return keyedFlight(r, ckeyPub, attacker, nil, nil) }), "WrongKey")
		invalid("client-identity-small-order", "ClientIdentity carries a point of small order", "HS-030", "server", alert.BadKey,
			x25519Case("client-identity-small-order", withClientKey), clientFlight(func(r *hsRun) []byte { return keyedFlight(r, identityEnc, ckey, nil, nil) }), "SmallOrderKey")
		invalid("client-flight-reordered", "ClientVerify before ClientIdentity", "HS-031", "server", alert.UnexpectedMessage,
			x25519Case("client-flight-reordered", withClientKey), clientFlight(func(r *hsRun) []byte {
				return cat(r.ctrace["ClientVerify"], r.ctrace["ClientIdentity"], r.ctrace["ClientFinished"])
			}), "BadFlight")
		invalid("client-flight-no-finished", "ClientIdentity and ClientVerify without Finished", "HS-031", "server", alert.UnexpectedMessage,
			x25519Case("client-flight-no-finished", withClientKey), clientFlight(func(r *hsRun) []byte {
				return cat(r.ctrace["ClientIdentity"], r.ctrace["ClientVerify"])
			}), "BadFlight")
		invalid("client-flight-extra-finished", "two Finished messages", "HS-031", "server", alert.UnexpectedMessage,
			x25519Case("client-flight-extra-finished"), clientFlight(func(r *hsRun) []byte {
				return cat(r.ctrace["ClientFinished"], r.ctrace["ClientFinished"])
			}), "BadFlight")
		invalid("client-anonymous-when-key-required", "an anonymous client flight to a server that requires client keys", "HS-032", "server", alert.ClientAuthRequired,
			x25519Case("client-anonymous-when-key-required", requireKey), nil, "ClientKey")
		// Access tokens in the client flight (§6.8).
		tokenIssuer := ed25519.NewKeyFromSeed(randBytes(a.name, "token-issuer", 32))
		hsToken := func(client []byte, nb, na uint64) []byte {
			t := tok{version: 1, issuerID: keyID(tokenIssuer.Public().(ed25519.PublicKey)), audType: 2, audience: pinned,
				subject: []byte("alice"), device: []byte("phone"), clientKey: client, id: randBytes(a.name, fmt.Sprintf("token-id-%d", na), 16), nb: nb, na: na}
			return t.sign(tokenIssuer, tokenLabel)
		}
		clientPub := []byte(ed25519.NewKeyFromSeed(clientKeySeed).Public().(ed25519.PublicKey))
		withToken := func(raw []byte) opt {
			return func(c *hsCase) {
				c.client.Token = raw
				c.server.TokenIssuers = []vectors.Hex{vectors.Hex(tokenIssuer.Public().(ed25519.PublicKey))}
			}
		}
		requireToken := func(c *hsCase) {
			c.server.RequireToken = true
			c.server.TokenIssuers = []vectors.Hex{vectors.Hex(tokenIssuer.Public().(ed25519.PublicKey))}
		}
		goodToken := hsToken(clientPub, now-60, now+840)
		valid("client-key-token", "a key-identified client presents an access token between ClientIdentity and ClientVerify, which signs the transcript through it (HS-060, HS-061); the server requires one", "HS-060",
			newCase("client-key-token", groups(x), withClientKey, withToken(goodToken), requireToken), "ClientKey", "Token")
		invalid("token-required-missing", "a key-identified client without a token to a server that requires one", "HS-062", "server", alert.TokenRequired,
			x25519Case("token-required-missing", withClientKey, requireToken), nil, "Token")
		invalid("token-required-anonymous", "an anonymous client to a server that requires tokens", "HS-062", "server", alert.TokenRequired,
			x25519Case("token-required-anonymous", requireToken), nil, "Token")
		invalid("token-bound-to-other-key", "a valid token for another client key, with a correct ClientVerify by this one", "TOK-006", "server", alert.TokenKeyMismatch,
			x25519Case("token-bound-to-other-key", withClientKey, withToken(hsToken(ed25519.NewKeyFromSeed(randBytes(a.name, "token-other-client", 32)).Public().(ed25519.PublicKey), now-60, now+840))), nil, "Token", "BoundToOtherKey")
		invalid("token-expired", "a token that expired 61 s ago", "TOK-004", "server", alert.TokenExpired,
			x25519Case("token-expired", withClientKey, withToken(hsToken(clientPub, now-900, now-61))), nil, "Token", "TokenExpired")
		invalid("token-without-client-identity", "an AccessToken in an anonymous flight: [AccessToken, Finished]", "HS-060", "server", alert.UnexpectedMessage,
			x25519Case("token-without-client-identity", func(c *hsCase) {
				c.server.TokenIssuers = []vectors.Hex{vectors.Hex(tokenIssuer.Public().(ed25519.PublicKey))}
			}), clientFlight(func(r *hsRun) []byte {
				return cat(wire.AppendMessage(nil, wire.TypeAccessToken, goodToken), r.ctrace["ClientFinished"])
			}), "Token", "BadFlight")
		invalid("ticket-and-client-identity", "a resuming client sends ClientIdentity too", "HS-005", "server", alert.IllegalParameter,
			x25519Case("ticket-and-client-identity", withTicket(ticket)), clientFlight(func(r *hsRun) []byte { return keyedFlight(r, ckeyPub, ckey, nil, nil) }), "Resumption", "BadFlight")
		invalid("ack-in-client-flight", "an Ack before the client Finished: no application data before CONNECTED", "HS-052", "server", alert.UnexpectedMessage,
			x25519Case("ack-in-client-flight"), clientFlight(func(r *hsRun) []byte { return cat(ackMsg(1), r.ctrace["ClientFinished"]) }), "BadFlight")
		invalid("early-data", "a resuming client sends an Ack under a key derived from its ticket's PSK before its flight: there is no 0-RTT", "HS-042", "server", alert.BadRecordMAC,
			x25519Case("early-data", withTicket(ticket)), map[string]tamper{"ClientFlight": func(r *hsRun, f []byte) [][]byte {
				early := keyschedule.DeriveSecret(keyschedule.EarlySecret(ticket.PSK), "c e traffic", th(r.ctrace["ClientHello"]))
				return [][]byte{sealWith(r.serverAEAD(), early, ackMsg(1)), f}
			}}, "Resumption", "EarlyData")
		invalid("client-flight-record-bit-flip", "a bit of the protected client flight flipped", "REC-001", "server", alert.BadRecordMAC,
			x25519Case("client-flight-record-bit-flip"), map[string]tamper{"ClientFlight": func(r *hsRun, f []byte) [][]byte { f[len(f)-1] ^= 1; return one(f) }}, "ModifiedRecord")
		invalid("client-flight-from-other-handshake", "the client flight of another handshake", "REPLAY-001", "server", alert.BadRecordMAC,
			x25519Case("client-flight-from-other-handshake"), map[string]tamper{"ClientFlight": func(r *hsRun, f []byte) [][]byte { return one(base.frames[3].orig) }}, "ReplayedFlight")
		invalid("client-hello-again", "a second ClientHello where the client flight is expected", "HS-050", "server", alert.UnexpectedMessage,
			x25519Case("client-hello-again"), map[string]tamper{"ClientFlight": func(r *hsRun, f []byte) [][]byte { return one(r.frames[0].orig) }}, "UnexpectedMessage")
		invalid("client-peer-alert", "the client sends a plaintext Alert bad_signature instead of its flight", "ALERT-004", "server", alert.BadSignature,
			x25519Case("client-peer-alert"), map[string]tamper{"ClientFlight": func(*hsRun, []byte) [][]byte {
				return one(wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.BadSignature)))
			}}, "PeerAlert")

		if firstErr != nil {
			return nil, firstErr
		}
		return file(a, []string{
			"Complete handshakes (spec §6, §7) for each suite and option, with every frame, every message and every derived secret; and handshakes with one frame altered in flight.",
			"Each side's randomness is given in order of use (client.random, server.random): an implementation under test draws exactly these values.",
			"Role both: run client and server against each other; the frames, messages (with their 4-byte headers), secrets (with th_* the transcript hashes), client ID and ticket must match.",
			"Role client or server: run that side alone, feed it the other side's frames and compare its own; it must reject the last frame with the alert given.",
		}, []vectors.HandshakeGroup{g}), nil
	},
	schema: func() map[string]any {
		named := strict(obj{"name": str(), "value": hexAny()})
		ext := strict(obj{"type": integer(0, 0xffff), "data": hexAny()})
		ticket := strict(obj{"ticket": hexAny(), "psk": hexLen(32), "clientId": hexLen(32), "expires": u64()})
		client := strict(obj{"versions": uint16s(), "groups": uint16s(), "aeads": uint16s(), "grease": obj{"type": "boolean"},
			"pinnedKeyId": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "nextPinnedKeyId": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "authorityKey": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"},
			"realm": str(), "minRevocationNumber": u64(), "identitySeed": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"},
			"ticket": ticket, "token": hexAny(), "extraExtensions": arrayOf(ext), "random": arrayOf(named)}, "ticket", "token")
		server := strict(obj{"versions": uint16s(), "groups": uint16s(), "aeads": uint16s(), "keySeed": hexLen(32),
			"credential": hexAny(), "revocationList": hexAny(),
			"ticketKeys":        obj{"type": "array", "maxItems": 2, "items": strict(obj{"id": integer(0, 1<<32-1), "key": hexLen(32)})},
			"ticketRecords":     arrayOf(strict(obj{"clientId": hexLen(32), "latest": u64(), "retry": obj{"type": "boolean"}})),
			"ticketLifetimeSec": integer(0, 7*86400), "requireClientKey": obj{"type": "boolean"}, "maxPayload": integer(0, 1<<32-1),
			"idleTimeoutMs": integer(0, 1<<32-1), "storeEpoch": hexLen(16), "nextKey": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "random": arrayOf(named),
			"tokenIssuers": arrayOf(hexLen(32)), "requireToken": obj{"type": "boolean"}}, "tokenIssuers", "requireToken")
		frame := strict(obj{"from": enum("client", "server"), "frame": hexAny()})
		return fileSchema("handshake", "SealFeed v1 handshake vectors",
			obj{"type": constant("Handshake")}, nil,
			obj{"role": enum("both", "client", "server"), "now": u64(), "client": client, "server": server,
				"frames":   obj{"type": "array", "minItems": 1, "items": frame},
				"messages": obj{"type": "object", "additionalProperties": hexAny()}, "secrets": obj{"type": "object", "additionalProperties": hexAny()},
				"clientId": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "ticket": hexAny(),
				"nextServerKey": obj{"type": "string", "pattern": "^([0-9a-f]{64})?$"}}, nil)
	},
}

func wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}
