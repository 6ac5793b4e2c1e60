package handshake

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/internal/hstrace"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

var testNow = time.Unix(1_800_000_000, 0)

type seeded struct{ r *mrand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func rng(seed uint64) seeded {
	var k [32]byte
	k[0], k[1], k[2] = byte(seed), byte(seed>>8), byte(seed>>16)
	return seeded{mrand.NewChaCha8(k)}
}

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

func edKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

var (
	serverKey   = edKey(1)
	authKey     = edKey(2)
	clientKey   = edKey(3)
	serverID    = sig.KeyID(serverKey.Public().(ed25519.PublicKey))
	ticketKeys  = &TicketKeys{Current: TicketKey{ID: 1, Key: [32]byte(bytes.Repeat([]byte{9}, 32))}}
	generations = &MemoryGenerations{Now: fixedNow}
)

func authority(t testing.TB) *credential.Trust {
	k, err := sig.ParsePublicKey(authKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &credential.Trust{Authority: k, Realm: "push.example"}
}

func credentialServer(t testing.TB, serial uint64, revoked ...uint64) *ServerConfig {
	c, err := credential.Issue(authKey, serverKey.Public().(ed25519.PublicKey), "push.example", serial, testNow.Add(-time.Hour), testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	l, err := credential.IssueRevocationList(authKey, 4, testNow.Add(-time.Hour), testNow.Add(time.Hour), revoked)
	if err != nil {
		t.Fatal(err)
	}
	return &ServerConfig{Key: serverKey, Credential: c.Marshal(), RevocationList: l.Marshal(), Now: fixedNow, TicketKeys: ticketKeys, Generations: generations}
}

func fixedNow() time.Time { return testNow }

func pinnedClient() *ClientConfig { return &ClientConfig{PinnedKeyID: &serverID, Now: fixedNow} }

func plainServer() *ServerConfig {
	return &ServerConfig{Key: serverKey, Now: fixedNow, TicketKeys: ticketKeys, Generations: generations}
}

// tamper may change a frame in flight: from is "client" or "server", n counts
// that side's frames from 0.
type tamper func(from string, n int, frame []byte) []byte

type result struct {
	client, server       *session.Session
	clientErr, serverErr error
	c                    *Client
	s                    *Server
	// secrets each side traced, by name
	csecrets, ssecrets map[string][]byte
}

// tracing makes cfg's tracer (if any) also record into m.
func tracing(prev tracer, m map[string][]byte) tracer {
	return func(name string, v []byte) {
		m[name] = v
		if prev != nil {
			prev(name, v)
		}
	}
}

// run drives a handshake in memory, delivering frames in order.
func run(t interface{ Fatal(...any) }, ccfg *ClientConfig, scfg *ServerConfig, tm tamper) result {
	c, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	return runWith(t, c, s, tm)
}

func runWith(t interface{ Fatal(...any) }, c *Client, s *Server, tm tamper) result {
	res := result{c: c, s: s, csecrets: map[string][]byte{}, ssecrets: map[string][]byte{}}
	c.cfg.trace = tracing(c.cfg.trace, res.csecrets)
	s.cfg.trace = tracing(s.cfg.trace, res.ssecrets)
	hello, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	pass := func(from string, f []byte) []byte {
		if tm != nil {
			f = tm(from, counts[from], append([]byte(nil), f...))
		}
		counts[from]++
		return f
	}
	toServer := [][]byte{pass("client", hello)}
	for round := 0; round < 4 && len(toServer) > 0; round++ {
		var toClient [][]byte
		for _, f := range toServer {
			out, _, err := s.Handle(f)
			if err != nil {
				res.serverErr = err
				return res
			}
			for _, o := range out {
				toClient = append(toClient, pass("server", o))
			}
		}
		toServer = nil
		for _, f := range toClient {
			out, _, err := c.Handle(f)
			if err != nil {
				res.clientErr = err
				return res
			}
			for _, o := range out {
				toServer = append(toServer, pass("client", o))
			}
		}
	}
	res.client, res.server = c.Session(), s.Session()
	return res
}

func mustConnect(t testing.TB, ccfg *ClientConfig, scfg *ServerConfig) result {
	t.Helper()
	r := run(t, ccfg, scfg, nil)
	if r.clientErr != nil || r.serverErr != nil || r.client == nil || r.server == nil {
		t.Fatalf("handshake failed: client %v, server %v", r.clientErr, r.serverErr)
	}
	checkAgree(t, r)
	return r
}

type fataler interface {
	Helper()
	Fatalf(string, ...any)
}

func checkAgree(t fataler, r result) {
	t.Helper()
	c, s := r.client, r.server
	cs, ss := c.State(), s.State()
	if cs.ClientID != ss.ClientID || cs.AEAD != ss.AEAD || cs.Group != ss.Group || cs.Version != ss.Version ||
		len(r.csecrets["envelope_secret"]) != 32 || !bytes.Equal(r.csecrets["envelope_secret"], r.ssecrets["envelope_secret"]) ||
		len(r.csecrets["resumption_psk"]) != 32 || !bytes.Equal(r.csecrets["resumption_psk"], r.ssecrets["resumption_psk"]) {
		t.Fatalf("sides disagree")
	}
	// Application records flow both ways with the derived keys.
	f, err := s.Seal(nil, wire.AppendMessage(nil, wire.TypeBatchDelivery, []byte("x")))
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	if m, err := c.Open(f); err != nil || len(m) != 1 || string(m[0].Body) != "x" {
		t.Fatalf("client open: %v", err)
	}
	f, _ = c.Seal(nil, session.AppendAck(nil, []uint64{1}))
	if m, err := s.Open(f); err != nil || len(m) != 1 {
		t.Fatalf("server open: %v", err)
	}
}

// ID-001, ID-002, CRED-015, HS-021, HS-030 in their success paths.
func TestHandshakeModes(t *testing.T) {
	t.Run("pinned anonymous", func(t *testing.T) {
		r := mustConnect(t, pinnedClient(), plainServer())
		if r.client.State().ClientKey != nil || r.c.NewTicket() == nil || r.client.State().Resumed {
			t.Fatal("anonymous session fields")
		}
	})
	t.Run("authority credential", func(t *testing.T) {
		r := mustConnect(t, &ClientConfig{Trust: authority(t), Now: fixedNow}, credentialServer(t, 1))
		if r.c.RevocationList() == nil || r.c.RevocationList().Number != 4 {
			t.Fatal("revocation list not returned")
		}
	})
	t.Run("client key", func(t *testing.T) {
		cfg := pinnedClient()
		cfg.Identity = clientKey
		r := mustConnect(t, cfg, &ServerConfig{Key: serverKey, RequireClientKey: true, TicketKeys: ticketKeys, Generations: generations})
		if r.server.State().ClientKey == nil || r.server.State().ClientID != ClientID(clientKey.Public().(ed25519.PublicKey)) || r.c.NewTicket() != nil {
			t.Fatal("client key identity (ID-001)")
		}
	})
	for _, g := range []uint16{suite.GroupX25519, suite.GroupX25519MLKEM768} {
		for _, a := range []uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM} {
			cfg := pinnedClient()
			cfg.Groups, cfg.AEADs, cfg.GREASE = []uint16{g}, []uint16{a}, true
			r := mustConnect(t, cfg, plainServer())
			if r.client.State().Group != g || r.client.State().AEAD != a {
				t.Fatalf("negotiated %d/%d, want %d/%d", r.client.State().Group, r.client.State().AEAD, g, a)
			}
		}
	}
}

// HS-040, HS-041, HS-043 (the resumed server still signs), HS-044.
func TestResumption(t *testing.T) {
	first := mustConnect(t, pinnedClient(), plainServer())
	ticket := first.c.NewTicket()
	cfg := pinnedClient()
	cfg.Ticket = ticket
	second := mustConnect(t, cfg, plainServer())
	if !second.client.State().Resumed || second.client.State().ClientID != first.client.State().ClientID {
		t.Fatal("resumption did not keep the client ID")
	}
	if bytes.Equal(second.csecrets["envelope_secret"], first.csecrets["envelope_secret"]) {
		t.Fatal("resumed session reused keys (HS-041)")
	}
	// A ticket under another key, a garbled one, and an expired one fall
	// back to a fresh anonymous handshake (HS-040).
	for name, scfg := range map[string]*ServerConfig{
		"other ticket key": {Key: serverKey, TicketKeys: &TicketKeys{Current: TicketKey{ID: 1, Key: [32]byte{8}}}, Generations: generations},
		"expired":          {Key: serverKey, TicketKeys: ticketKeys, Generations: generations, Now: func() time.Time { return testNow.Add(48 * time.Hour) }},
	} {
		r := mustConnect(t, cfg, scfg)
		if r.client.State().Resumed || r.client.State().ClientID == first.client.State().ClientID {
			t.Fatalf("%s: resumed", name)
		}
	}
	bad := *ticket
	bad.Bytes = append([]byte(nil), ticket.Bytes...)
	bad.Bytes[20] ^= 1
	cfg.Ticket = &bad
	if r := mustConnect(t, cfg, plainServer()); r.client.State().Resumed {
		t.Fatal("garbled ticket resumed")
	}
	// A stolen ticket without its PSK: the server accepts the ticket, but
	// the client's Finished cannot match.
	thief := *ticket
	thief.PSK = bytes.Repeat([]byte{7}, 32)
	cfg.Ticket = &thief
	// The PSK enters the handshake secret, so the client cannot even open
	// the server's flight.
	r := run(t, cfg, plainServer(), nil)
	if codeOf(r.clientErr) != alert.BadRecordMAC {
		t.Fatalf("stolen ticket: client %v, server %v", r.clientErr, r.serverErr)
	}
}

// KS-006: no two sessions share envelope keys, whether fresh or resumed
// from one ticket, even with the same ticket twice: every handshake mixes
// in fresh (EC)DHE shares (HS-041). Batch sequences restart in every
// session (REPLAY-010) because of this.
func TestEnvelopeKeysNeverRepeat(t *testing.T) {
	first := mustConnect(t, pinnedClient(), plainServer())
	resumed := func() *ClientConfig { cfg := pinnedClient(); cfg.Ticket = first.c.NewTicket(); return cfg }
	sessions := []result{first, mustConnect(t, pinnedClient(), plainServer()), mustConnect(t, resumed(), plainServer()), mustConnect(t, resumed(), plainServer())}
	seen := map[string]int{}
	for i, r := range sessions {
		if i >= 2 && !r.client.State().Resumed {
			t.Fatalf("session %d did not resume", i)
		}
		env := keyschedule.Envelope(r.csecrets["envelope_secret"])
		for _, k := range [][]byte{env.Key, env.IV, env.TagKey} {
			if j, ok := seen[string(k)]; ok {
				t.Fatalf("sessions %d and %d share envelope key material", j, i)
			}
			seen[string(k)] = i
		}
	}
}

// Downgrade protection (HS-022, HS-024): an attacker who removes offers
// from the ClientHello and relays the rest makes the client derive other
// handshake keys (bad_record_mac); an attacker who also answers in the
// server's place cannot sign the transcript (bad_signature).
func TestDowngradeIsDetected(t *testing.T) {
	strip := func(edit func(ch *ClientHello)) tamper { return editClientHello(t, edit) }
	cases := map[string]func(ch *ClientHello){
		"hybrid group removed": func(ch *ClientHello) {
			var ks []KeyShare
			for _, k := range ch.KeyShares {
				if k.Group != suite.GroupX25519MLKEM768 {
					ks = append(ks, k)
				}
			}
			ch.KeyShares = ks
		},
		"ChaCha20 removed":  func(ch *ClientHello) { ch.AEADs = []uint16{suite.AEADAES256GCM} },
		"extension removed": func(ch *ClientHello) { ch.Extensions = nil },
		"random changed":    func(ch *ClientHello) { ch.Random[0] ^= 1 },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := pinnedClient()
			cfg.GREASE = true
			r := run(t, cfg, plainServer(), strip(edit))
			if r.serverErr != nil {
				t.Fatalf("server failed: %v", r.serverErr)
			}
			if codeOf(r.clientErr) != alert.BadRecordMAC {
				t.Fatalf("relayed: client %v, want bad_record_mac", r.clientErr)
			}
			// The attacker answers the unchanged offer itself, choosing the
			// weakest options, presenting the real server's key but holding
			// another signing key.
			c, _ := NewClient(cfg)
			mitm, _ := NewServer(&ServerConfig{Key: serverKey, Groups: []uint16{suite.GroupX25519}, AEADs: []uint16{suite.AEADAES256GCM}})
			mitm.cfg.Key = edKey(66)
			r = runWith(t, c, mitm, nil)
			if codeOf(r.clientErr) != alert.BadSignature {
				t.Fatalf("terminated: client %v, want bad_signature", r.clientErr)
			}
		})
	}
}

// editClientHello changes the client's first frame in flight.
func editClientHello(t *testing.T, edit func(ch *ClientHello)) tamper {
	return editFirst("client", func(body []byte) []byte {
		ch, err := ParseClientHello(body)
		if err != nil {
			t.Fatal(err)
		}
		edit(ch)
		return ch.AppendTo(nil)
	})
}

// editServerHello changes the server's first frame in flight.
func editServerHello(t *testing.T, edit func(sh *ServerHello)) tamper {
	return editFirst("server", func(body []byte) []byte {
		sh, err := ParseServerHello(body)
		if err != nil {
			t.Fatal(err)
		}
		edit(sh)
		return sh.AppendTo(nil)
	})
}

func editFirst(side string, edit func(body []byte) []byte) tamper {
	return func(from string, n int, f []byte) []byte {
		if from != side || n != 0 {
			return f
		}
		_, body, _, _ := wire.ParsePlaintextFrame(f)
		return wire.AppendPlaintextFrame(nil, edit(body))
	}
}

func TestHandshakeRejects(t *testing.T) {
	editCH := func(edit func(ch *ClientHello)) tamper { return editClientHello(t, edit) }
	editSH := func(edit func(sh *ServerHello)) tamper { return editServerHello(t, edit) }
	flip := func(from string, n, off int) tamper {
		return func(fr string, i int, f []byte) []byte {
			if fr == from && i == n {
				f[len(f)-off] ^= 1
			}
			return f
		}
	}
	lowOrder := make([]byte, 32)
	otherPinned := sig.KeyID(edKey(50).Public().(ed25519.PublicKey))
	trust := authority(t)
	wrongRealm := *trust
	wrongRealm.Realm = "other.example"
	cases := []struct {
		name, rule string
		ccfg       *ClientConfig
		scfg       *ServerConfig
		tm         tamper
		side       string
		want       alert.Code
	}{
		{"no common version", "HS-010", &ClientConfig{PinnedKeyID: &serverID, Versions: []uint16{2}}, nil, nil, "server", alert.ProtocolVersion},
		{"only GREASE version", "HS-010", &ClientConfig{PinnedKeyID: &serverID, Versions: []uint16{0x1a1a}}, nil, nil, "server", alert.ProtocolVersion},
		{"no common AEAD", "HS-011", &ClientConfig{PinnedKeyID: &serverID, AEADs: []uint16{suite.AEADAES256GCM}}, &ServerConfig{Key: serverKey, AEADs: []uint16{suite.AEADChaCha20Poly1305}}, nil, "server", alert.HandshakeFailure},
		{"no common group", "HS-011", &ClientConfig{PinnedKeyID: &serverID, Groups: []uint16{suite.GroupX25519}}, &ServerConfig{Key: serverKey, Groups: []uint16{suite.GroupX25519MLKEM768}}, nil, "server", alert.HandshakeFailure},
		{"unknown critical extension", "HS-012", &ClientConfig{PinnedKeyID: &serverID, ExtraExtensions: []wire.Extension{{Type: 0x8a8a}}}, nil, nil, "server", alert.UnknownCriticalExtension},
		{"duplicate version", "HS-002", nil, nil, editCH(func(ch *ClientHello) { ch.Versions = []uint16{1, 1} }), "server", alert.IllegalParameter},
		{"duplicate group", "HS-002", nil, nil, editCH(func(ch *ClientHello) { ch.KeyShares = append(ch.KeyShares, ch.KeyShares[0]) }), "server", alert.IllegalParameter},
		{"wrong share length", "HS-003", nil, nil, editCH(func(ch *ClientHello) { ch.KeyShares[len(ch.KeyShares)-1].KeyExchange = make([]byte, 31) }), "server", alert.IllegalParameter},
		{"low-order client share", "SUITE-002", &ClientConfig{PinnedKeyID: &serverID, Groups: []uint16{suite.GroupX25519}}, nil, editCH(func(ch *ClientHello) { ch.KeyShares[0].KeyExchange = lowOrder }), "server", alert.IllegalParameter},
		{"unsorted extensions", "HS-004", nil, nil, editCH(func(ch *ClientHello) {
			ch.Extensions = []wire.Extension{{Type: 5}, {Type: 4}}
		}), "server", alert.IllegalParameter},
		{"server picks unoffered AEAD", "HS-014", &ClientConfig{PinnedKeyID: &serverID, AEADs: []uint16{suite.AEADChaCha20Poly1305}}, nil, editSH(func(sh *ServerHello) { sh.AEAD = suite.AEADAES256GCM }), "client", alert.IllegalParameter},
		{"server picks GREASE version", "HS-014", &ClientConfig{PinnedKeyID: &serverID, GREASE: true}, nil, editSH(func(sh *ServerHello) { sh.Version = 0x0a0a }), "client", alert.IllegalParameter},
		{"server share low order", "SUITE-002", &ClientConfig{PinnedKeyID: &serverID, Groups: []uint16{suite.GroupX25519}}, nil, editSH(func(sh *ServerHello) { sh.KeyShare.KeyExchange = lowOrder }), "client", alert.IllegalParameter},
		{"server share wrong length", "HS-014", &ClientConfig{PinnedKeyID: &serverID, Groups: []uint16{suite.GroupX25519}}, nil, editSH(func(sh *ServerHello) { sh.KeyShare.KeyExchange = lowOrder[:31] }), "client", alert.IllegalParameter},
		{"server critical extension", "HS-015", nil, nil, editSH(func(sh *ServerHello) { sh.Extensions = []wire.Extension{{Type: 0x9a9a}} }), "client", alert.UnknownCriticalExtension},
		{"psk_accepted without ticket", "HS-015", nil, nil, editSH(func(sh *ServerHello) { sh.Extensions = []wire.Extension{{Type: wire.ExtPSKAccepted}} }), "client", alert.IllegalParameter},
		{"pinned key mismatch", "ID-003", &ClientConfig{PinnedKeyID: &otherPinned}, nil, nil, "client", alert.UnknownServerKey},
		{"trust mode mismatch", "HS-021", &ClientConfig{Trust: trust, Now: fixedNow}, nil, nil, "client", alert.UnknownServerKey},
		{"credential expired", "CRED-005", &ClientConfig{Trust: trust, Now: func() time.Time { return testNow.Add(3 * time.Hour) }}, credentialServer(t, 1), nil, "client", alert.CredentialExpired},
		{"credential revoked", "CRED-014", &ClientConfig{Trust: trust, Now: fixedNow}, credentialServer(t, 5, 5), nil, "client", alert.CredentialRevoked},
		{"wrong realm", "CRED-006", &ClientConfig{Trust: &wrongRealm, Now: fixedNow}, credentialServer(t, 1), nil, "client", alert.RealmMismatch},
		{"server flight tampered", "REC-001", nil, nil, flip("server", 1, 3), "client", alert.BadRecordMAC},
		{"client flight tampered", "REC-001", nil, nil, flip("client", 1, 3), "server", alert.BadRecordMAC},
		{"client auth required", "HS-032", nil, &ServerConfig{Key: serverKey, RequireClientKey: true}, nil, "server", alert.ClientAuthRequired},
		{"welcome tampered", "REC-001", nil, nil, flip("server", 2, 1), "client", alert.BadRecordMAC},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			ccfg, scfg := c.ccfg, c.scfg
			if ccfg == nil {
				ccfg = pinnedClient()
			}
			if scfg == nil {
				scfg = plainServer()
			}
			r := run(t, ccfg, scfg, c.tm)
			err := r.clientErr
			if c.side == "server" {
				err = r.serverErr
			}
			if got := codeOf(err); got != c.want {
				t.Fatalf("%s error %v, want %v (client %v, server %v)", c.side, got, c.want, r.clientErr, r.serverErr)
			}
		})
	}
}

// A server that signs with a key other than the one it claims, and a
// ServerVerify or Finished that is wrong under intact records.
func TestForgedServerFlight(t *testing.T) {
	for name, f := range map[string]func(s *Server){
		"bad signature": func(s *Server) { s.cfg.Key = edKey(60) },
	} {
		t.Run(name, func(t *testing.T) {
			scfg := plainServer()
			s, _ := NewServer(scfg)
			f(s)
			c, _ := NewClient(pinnedClient())
			hello, _ := c.Start()
			out, _, err := s.Handle(hello)
			if err != nil {
				t.Fatal(err)
			}
			c.Handle(out[0])
			_, _, err = c.Handle(out[1])
			if codeOf(err) != alert.BadSignature {
				t.Fatalf("got %v, want bad_signature (HS-022)", err)
			}
		})
	}
}

// HS-050, ALERT-004, WIRE-001.
func TestServerPublicKeyMustMatch(t *testing.T) {
	other, _ := sig.ParsePublicKey(edKey(70).Public().(ed25519.PublicKey))
	if _, err := NewServer(&ServerConfig{Key: serverKey, PublicKey: other}); err == nil {
		t.Fatal("a PublicKey that does not match Key was accepted")
	}
	own, _ := sig.ParsePublicKey(serverKey.Public().(ed25519.PublicKey))
	mustConnect(t, pinnedClient(), &ServerConfig{Key: serverKey, PublicKey: own})
}

func TestWrongStateAndClosed(t *testing.T) {
	c, _ := NewClient(pinnedClient())
	hello, _ := c.Start()
	if _, err := c.Start(); codeOf(err) != alert.UnexpectedMessage {
		t.Fatal("second Start")
	}
	// A ClientHello sent to the client is out of place (HS-050).
	if _, _, err := c.Handle(hello); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("ClientHello to client: %v", err)
	}
	// After a failure every input is rejected.
	if _, _, err := c.Handle(hello); err == nil {
		t.Fatal("closed client accepted input")
	}
	s, _ := NewServer(plainServer())
	sh := wire.AppendPlaintextFrame(nil, (&ServerHello{Version: 1}).AppendTo(nil))
	if _, _, err := s.Handle(sh); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("ServerHello to server: %v", err)
	}
	// A peer's plaintext alert is reported with its code.
	s2, _ := NewServer(plainServer())
	if _, _, err := s2.Handle(wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.Timeout))); codeOf(err) != alert.Timeout {
		t.Fatalf("alert: %v", err)
	}
	// Trailing bytes after the ClientHello.
	s3, _ := NewServer(plainServer())
	_, body, _, _ := wire.ParsePlaintextFrame(hello)
	long := wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.TypeClientHello, append(append([]byte(nil), body...), 0)))
	if _, _, err := s3.Handle(long); codeOf(err) != alert.DecodeError {
		t.Fatalf("trailing byte: %v", err)
	}
}

// KS-001, KS-004, KS-005: both sides derive the same secrets; HS-001 and
// HS-013 randomness comes from the injected reader.
func TestHandshakeCompletesForRandomOptions(t *testing.T) {
	trust := authority(t)
	cred := credentialServer(t, 3)
	rapid.Check(t, func(t *rapid.T) {
		groups := rapid.SliceOfNDistinct(rapid.SampledFrom([]uint16{suite.GroupX25519, suite.GroupX25519MLKEM768}), 1, 2, func(v uint16) uint16 { return v }).Draw(t, "groups")
		aeads := rapid.SliceOfNDistinct(rapid.SampledFrom([]uint16{suite.AEADChaCha20Poly1305, suite.AEADAES256GCM}), 1, 2, func(v uint16) uint16 { return v }).Draw(t, "aeads")
		ccfg := &ClientConfig{Groups: groups, AEADs: aeads, GREASE: rapid.Bool().Draw(t, "grease"), Now: fixedNow,
			Rand: rng(rapid.Uint64().Draw(t, "seed"))}
		scfg := &ServerConfig{Key: serverKey, TicketKeys: ticketKeys, Generations: generations, Now: fixedNow, Rand: rng(rapid.Uint64().Draw(t, "sseed"))}
		if rapid.Bool().Draw(t, "authority") {
			ccfg.Trust = trust
			scfg.Credential, scfg.RevocationList = cred.Credential, cred.RevocationList
		} else {
			ccfg.PinnedKeyID = &serverID
		}
		keyed := rapid.Bool().Draw(t, "client key")
		if keyed {
			ccfg.Identity = clientKey
		}
		r := run(t, ccfg, scfg, nil)
		if r.clientErr != nil || r.serverErr != nil {
			t.Fatalf("client %v server %v", r.clientErr, r.serverErr)
		}
		checkAgree(t, r)
		if !keyed && rapid.Bool().Draw(t, "resume") {
			ccfg2 := *ccfg
			ccfg2.Ticket = r.c.NewTicket()
			r2 := run(t, &ccfg2, scfg, nil)
			if r2.clientErr != nil || r2.serverErr != nil || !r2.client.State().Resumed || r2.client.State().ClientID != r.client.State().ClientID {
				t.Fatalf("resumption: %v %v", r2.clientErr, r2.serverErr)
			}
			checkAgree(t, r2)
		}
	})
}

func TestAnyBitFlipOrTruncationOfHandshakeFrameIsRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		from := rapid.SampledFrom([]string{"client", "server"}).Draw(t, "from")
		n := rapid.IntRange(0, 2).Draw(t, "frame")
		if from == "client" && n == 2 {
			n = 1
		}
		var bit int
		flipped := false
		tm := func(fr string, i int, f []byte) []byte {
			if fr == from && i == n {
				flipped = true
				if rapid.Bool().Draw(t, "truncate") {
					bit = -rapid.IntRange(0, len(f)-1).Draw(t, "length")
					return f[:-bit]
				}
				bit = rapid.IntRange(0, 8*len(f)-1).Draw(t, "bit")
				f[bit/8] ^= 1 << (bit % 8)
			}
			return f
		}
		cfg := pinnedClient()
		cfg.Identity = []ed25519.PrivateKey{nil, clientKey}[rapid.IntRange(0, 1).Draw(t, "keyed")]
		r := run(t, cfg, plainServer(), tm)
		if !flipped {
			t.Fatal("frame not reached")
		}
		err := r.clientErr
		if err == nil {
			err = r.serverErr
		}
		if err == nil {
			t.Fatalf("%s frame %d mutated (bit %d, or truncated to %d if negative) and the handshake completed", from, n, bit, bit)
		}
		if codeOf(err) == 255 {
			t.Fatalf("error without alert code: %v", err)
		}
	})
}

func TestMessagesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u16s := func(label string) []uint16 {
			return rapid.SliceOfNDistinct(rapid.Uint16(), 1, 16, func(v uint16) uint16 { return v }).Draw(t, label)
		}
		ch := &ClientHello{Versions: u16s("versions"), AEADs: u16s("aeads")}
		copy(ch.Random[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "random"))
		for i, g := range rapid.SliceOfNDistinct(rapid.Uint16(), 1, 4, func(v uint16) uint16 { return v }).Draw(t, "groups") {
			_ = i
			ch.KeyShares = append(ch.KeyShares, KeyShare{Group: g, KeyExchange: rapid.SliceOfN(rapid.Byte(), 1, 100).Draw(t, "share")})
		}
		enc := ch.AppendTo(nil)
		got, err := ParseClientHello(enc[4:])
		if err != nil || !bytes.Equal(got.AppendTo(nil), enc) {
			t.Fatalf("ClientHello round trip: %v", err)
		}
		sh := &ServerHello{Version: rapid.Uint16().Draw(t, "v"), AEAD: rapid.Uint16().Draw(t, "a"), KeyShare: ch.KeyShares[0]}
		enc = sh.AppendTo(nil)
		gotSH, err := ParseServerHello(enc[4:])
		if err != nil || !bytes.Equal(gotSH.AppendTo(nil), enc) {
			t.Fatalf("ServerHello round trip: %v", err)
		}
		si := &ServerIdentity{Type: IdentityCredential, Credential: rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "cred"), RevocationList: rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "crl")}
		if rapid.Bool().Draw(t, "raw") {
			si = &ServerIdentity{Type: IdentityRawKey, PublicKey: rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "pk")}
		}
		enc = si.AppendTo(nil)
		gotSI, err := ParseServerIdentity(enc[4:])
		if err != nil || !bytes.Equal(gotSI.AppendTo(nil), enc) {
			t.Fatalf("ServerIdentity round trip: %v", err)
		}
		w := &session.Welcome{ClientID: [32]byte{1}, Resumed: rapid.Bool().Draw(t, "resumed"), MaxPayload: rapid.Uint32Range(0, session.MaxPayload).Draw(t, "mp"),
			MaxRecord: rapid.Uint32Range(0, wire.MaxRecordPlaintext).Draw(t, "mr"), IdleTimeoutMs: rapid.Uint32().Draw(t, "idle")}
		if rapid.Bool().Draw(t, "ticket") {
			w.Ticket, w.TicketLifetime = rapid.SliceOfN(rapid.Byte(), 1, 200).Draw(t, "t"), rapid.Uint32Range(1, session.MaxTicketLifetime).Draw(t, "tl")
		}
		enc = w.AppendTo(nil)
		gotW, err := session.ParseWelcome(enc[4:])
		if err != nil || !bytes.Equal(gotW.AppendTo(nil), enc) {
			t.Fatalf("Welcome round trip: %v", err)
		}
	})
}

// reseal opens a protected handshake frame with the traffic secret traced
// under name, lets edit change the inner messages, and seals the result
// again, so that the record layer accepts it and the check under test is
// the one that fails.
func reseal(t *testing.T, secrets map[string][]byte, name string, aead uint16, edit func(msgs [][]byte) [][]byte) func([]byte) []byte {
	return func(f []byte) []byte {
		o, err := record.NewOpener(aead, secrets[name])
		if err != nil {
			t.Fatal(err)
		}
		inner, err := o.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var msgs [][]byte
		record.ForEachMessage(inner, func(_ wire.MsgType, _, raw []byte) error {
			msgs = append(msgs, append([]byte(nil), raw...))
			return nil
		})
		var out []byte
		for _, m := range edit(msgs) {
			out = append(out, m...)
		}
		s, _ := record.NewSealer(aead, secrets[name])
		g, err := s.Seal(nil, out, 0)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
}

// runResealed runs a pinned ChaCha20-Poly1305 handshake (key-identified if
// keyed) in which frame n sent by from is opened with the traced secret,
// edited, and sealed again.
func runResealed(t *testing.T, keyed bool, from string, n int, secret string, edit func(m [][]byte) [][]byte) result {
	t.Helper()
	secrets := map[string][]byte{}
	tr := func(name string, v []byte) { secrets[name] = v }
	ccfg := pinnedClient()
	ccfg.AEADs = []uint16{suite.AEADChaCha20Poly1305}
	ccfg.trace = tr
	if keyed {
		ccfg.Identity = clientKey
	}
	scfg := plainServer()
	scfg.trace = tr
	re := reseal(t, secrets, secret, suite.AEADChaCha20Poly1305, edit)
	return run(t, ccfg, scfg, func(f string, i int, fr []byte) []byte {
		if f == from && i == n {
			return re(fr)
		}
		return fr
	})
}

func TestTamperedFlightUnderValidRecord(t *testing.T) {
	flipLast := func(i int) func(m [][]byte) [][]byte {
		return func(m [][]byte) [][]byte { m[i][len(m[i])-1] ^= 1; return m }
	}
	cases := []struct {
		name, rule string
		from       string // whose flight is changed
		keyed      bool
		edit       func(m [][]byte) [][]byte
		want       alert.Code
	}{
		{"server Finished wrong", "HS-023", "server", false, flipLast(2), alert.DecryptError},
		{"ServerVerify wrong", "HS-022", "server", false, flipLast(1), alert.BadSignature},
		{"ServerVerify and Finished swapped", "HS-020", "server", false, func(m [][]byte) [][]byte { return [][]byte{m[0], m[2], m[1]} }, alert.UnexpectedMessage},
		{"Finished missing", "HS-020", "server", false, func(m [][]byte) [][]byte { return m[:2] }, alert.UnexpectedMessage},
		{"extra message", "HS-020", "server", false, func(m [][]byte) [][]byte { return append(m, m[2]) }, alert.UnexpectedMessage},
		{"server identity with critical extension", "HS-015", "server", false, func(m [][]byte) [][]byte {
			si, _ := ParseServerIdentity(m[0][4:])
			si.Extensions = []wire.Extension{{Type: 0xfafa}}
			m[0] = si.AppendTo(nil)
			return m
		}, alert.UnknownCriticalExtension},
		{"client Finished wrong", "HS-023", "client", false, flipLast(0), alert.DecryptError},
		{"ClientVerify wrong", "HS-030", "client", true, flipLast(1), alert.BadSignature},
		{"ClientVerify missing", "HS-031", "client", true, func(m [][]byte) [][]byte { return [][]byte{m[0], m[2]} }, alert.UnexpectedMessage},
		{"small-order client key", "SIG-001", "client", true, func(m [][]byte) [][]byte {
			m[0] = wire.AppendMessage(nil, wire.TypeClientIdentity, append([]byte{1}, make([]byte, 31)...))
			return m
		}, alert.BadKey},
	}
	for _, c := range cases {
		t.Run(c.rule+" "+c.name, func(t *testing.T) {
			secret := "s_hs_traffic"
			if c.from == "client" {
				secret = "c_hs_traffic"
			}
			r := runResealed(t, c.keyed, c.from, 1, secret, c.edit)
			err := r.clientErr
			if c.from == "client" {
				err = r.serverErr
			}
			if codeOf(err) != c.want {
				t.Fatalf("got %v, want %v (client %v, server %v)", err, c.want, r.clientErr, r.serverErr)
			}
		})
	}
}

// HS-005: a ticket and a ClientIdentity in one handshake.
func TestTicketWithClientIdentityRejected(t *testing.T) {
	first := mustConnect(t, pinnedClient(), plainServer())
	cfg := pinnedClient()
	cfg.Ticket = first.c.NewTicket()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// NewClient refuses this configuration; force it to test the server.
	c.cfg.Identity = clientKey
	c.clientKey, _ = sig.ParsePublicKey(clientKey.Public().(ed25519.PublicKey))
	s, _ := NewServer(plainServer())
	r := runWith(t, c, s, nil)
	if codeOf(r.serverErr) != alert.IllegalParameter {
		t.Fatalf("server: %v, want illegal_parameter", r.serverErr)
	}
	if _, err := NewClient(&ClientConfig{PinnedKeyID: &serverID, Identity: clientKey, Ticket: first.c.NewTicket()}); err == nil {
		t.Fatal("NewClient accepted a ticket with an identity")
	}
}

// A server that rejects the client flight protects its Alert under
// s_ap_traffic_0, the key the client in WAIT_WELCOME opens with, so the
// client reports the server's code and not bad_record_mac (ALERT-001).
func TestServerAlertAfterItsFlightReachesTheClient(t *testing.T) {
	scfg := plainServer()
	scfg.RequireClientKey = true
	c, err := NewClient(pinnedClient())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := c.Start()
	flight, _, err := s.Handle(hello)
	if err != nil {
		t.Fatal(err)
	}
	var clientFlight [][]byte
	for _, f := range flight {
		out, _, err := c.Handle(f)
		if err != nil {
			t.Fatal(err)
		}
		clientFlight = append(clientFlight, out...)
	}
	if _, _, err := s.Handle(clientFlight[0]); codeOf(err) != alert.ClientAuthRequired {
		t.Fatalf("server: %v, want client_auth_required (HS-032)", err)
	}
	_, _, err = c.Handle(s.AlertFrame(alert.ClientAuthRequired))
	if !session.FromPeer(err) || codeOf(err) != alert.ClientAuthRequired {
		t.Fatalf("client got %v, want the server's client_auth_required", err)
	}
}

// POST-007: the client checks Welcome against its handshake. Each case
// reseals an altered Welcome under s_ap_traffic_0, so that only the check
// under test can fail.
func TestWelcomeCheckedAgainstHandshake(t *testing.T) {
	editWelcome := func(f func(w *session.Welcome)) func(m [][]byte) [][]byte {
		return func(m [][]byte) [][]byte {
			w, err := session.ParseWelcome(m[0][4:])
			if err != nil {
				t.Fatal(err)
			}
			w.Ticket = bytes.Clone(w.Ticket)
			f(w)
			m[0] = w.AppendTo(nil)
			return m
		}
	}
	cases := []struct {
		name  string
		keyed bool
		edit  func(m [][]byte) [][]byte
	}{
		{"resumed without psk_accepted", false, editWelcome(func(w *session.Welcome) { w.Resumed = true })},
		{"key-identified client, another client ID", true, editWelcome(func(w *session.Welcome) { w.ClientID[0] ^= 1 })},
		{"key-identified client given a ticket", true, editWelcome(func(w *session.Welcome) { w.Ticket, w.TicketLifetime = []byte{1}, 60 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runResealed(t, c.keyed, "server", 2, "s_ap_traffic_0", c.edit)
			if codeOf(r.clientErr) != alert.IllegalParameter {
				t.Fatalf("client: %v, want illegal_parameter", r.clientErr)
			}
		})
	}
}

// KS-003: once the handshake is over, successfully or not, neither side
// keeps handshake secrets, ephemeral keys or the shared secret.
func TestHandshakeSecretsAreErased(t *testing.T) {
	zero := func(t *testing.T, who string, k *secrets) {
		t.Helper()
		for name, b := range map[string][]byte{"handshake": k.handshake, "master": k.master, "c_hs": k.clientHS,
			"s_hs": k.serverHS, "c_ap": k.clientApp, "s_ap": k.serverApp, "envelope": k.envelope} {
			if !bytes.Equal(b, make([]byte, len(b))) {
				t.Errorf("%s keeps %s secret", who, name)
			}
		}
	}
	r := mustConnect(t, pinnedClient(), plainServer())
	zero(t, "client", &r.c.keys)
	zero(t, "server", &r.s.keys)
	if r.c.shares != nil {
		t.Error("client keeps its ephemeral key shares")
	}
	// A failed handshake erases too.
	f := run(t, pinnedClient(), plainServer(), editFirst("server", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }))
	if f.clientErr == nil {
		t.Fatal("tampered handshake succeeded")
	}
	zero(t, "failed client", &f.c.keys)
}

// WIRE-004: an undefined selector value leaves no layout: decode_error.
func TestUndefinedSelectorIsDecodeError(t *testing.T) {
	si := (&ServerIdentity{Type: IdentityRawKey, PublicKey: make([]byte, 32)}).AppendTo(nil)[4:]
	si[0] = 3
	if _, err := ParseServerIdentity(si); codeOf(err) != alert.DecodeError {
		t.Fatalf("identity_type 3: %v, want decode_error", err)
	}
}

// The tracer sees every secret, so no exported field of the configurations
// takes one: only internal/hstrace sets it.
func TestConfigsExportNoTracer(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[ClientConfig](), reflect.TypeFor[ServerConfig]()} {
		for i := range typ.NumField() {
			if f := typ.Field(i); f.IsExported() && f.Type.Kind() == reflect.Func && f.Type.NumIn() == 2 {
				t.Errorf("%s exports %s %s", typ.Name(), f.Name, f.Type)
			}
		}
	}
	secrets := map[string][]byte{}
	ccfg := pinnedClient()
	hstrace.Set(ccfg, func(n string, v []byte) { secrets[n] = v })
	mustConnect(t, ccfg, plainServer())
	if len(secrets["s_hs_traffic"]) != 32 || len(secrets["resumption_psk"]) != 32 {
		t.Errorf("hstrace.Set did not install the tracer: %d secrets", len(secrets))
	}
}

// drawCounter counts the bytes a server draws from its randomness source.
type drawCounter struct{ n int }

func (d *drawCounter) Read(p []byte) (int, error) { d.n += len(p); return rand.Read(p) }

// HS-016: the server decodes the ClientHello, checks share lengths and
// extensions, selects version, group and AEAD, checks the selected share's
// format (the ML-KEM modulus check), and only then draws randomness; the
// zero check of SUITE-002 comes after the X25519 draw and before
// ServerHello.random.
func TestServerCheckAndDrawOrder(t *testing.T) {
	badMLKEM := func(ch *ClientHello) {
		k := bytes.Clone(ch.KeyShares[0].KeyExchange)
		k[0], k[1] = 0xff, k[1]|0x0f
		ch.KeyShares[0].KeyExchange = k
	}
	lowOrder := func(ch *ClientHello) { ch.KeyShares[0].KeyExchange = append([]byte{1}, make([]byte, 31)...) }
	for _, tc := range []struct {
		name         string
		groups       []uint16 // client offer, in order
		serverGroups []uint16
		edit         func(ch *ClientHello)
		want         alert.Code // 0: the server accepts the ClientHello
		drawn        int
	}{
		{"share length before selection", []uint16{suite.GroupX25519}, nil,
			func(ch *ClientHello) {
				ch.Versions = []uint16{2}
				ch.KeyShares[0].KeyExchange = ch.KeyShares[0].KeyExchange[:31]
			}, alert.IllegalParameter, 0},
		{"extensions before selection", []uint16{suite.GroupX25519}, nil,
			func(ch *ClientHello) { ch.Versions = []uint16{2}; ch.Extensions = []wire.Extension{{Type: 0x8001}} }, alert.UnknownCriticalExtension, 0},
		{"selection before the modulus check", []uint16{suite.GroupX25519MLKEM768}, nil,
			func(ch *ClientHello) { ch.Versions = []uint16{2}; badMLKEM(ch) }, alert.ProtocolVersion, 0},
		{"modulus check before the draws", []uint16{suite.GroupX25519MLKEM768}, nil, badMLKEM, alert.IllegalParameter, 0},
		{"modulus check of the selected share only", []uint16{suite.GroupX25519MLKEM768, suite.GroupX25519}, []uint16{suite.GroupX25519}, badMLKEM, 0, 64},
		{"zero check after the X25519 draw", []uint16{suite.GroupX25519}, nil, lowOrder, alert.IllegalParameter, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ccfg := pinnedClient()
			ccfg.Groups = tc.groups
			scfg := plainServer()
			scfg.Groups = tc.serverGroups
			d := &drawCounter{}
			scfg.Rand = d
			r := run(t, ccfg, scfg, editClientHello(t, tc.edit))
			if tc.want == 0 {
				if r.serverErr != nil {
					t.Fatalf("server refused the ClientHello: %v", r.serverErr)
				}
				if d.n < tc.drawn {
					t.Fatalf("server drew %d bytes, want at least %d", d.n, tc.drawn)
				}
				return
			}
			if got := codeOf(r.serverErr); got != tc.want {
				t.Fatalf("server failed with %v (%v), want %v", got, r.serverErr, tc.want)
			}
			if d.n != tc.drawn {
				t.Fatalf("server drew %d bytes before failing, want %d", d.n, tc.drawn)
			}
		})
	}
}
