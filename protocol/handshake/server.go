package handshake

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"io"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// ServerConfig configures the server side of handshakes.
type ServerConfig struct {
	Rand io.Reader        // nil: crypto/rand
	Now  func() time.Time // nil: time.Now

	Versions, Groups, AEADs []uint16 // server preference order; nil: suite.Supported*

	Key ed25519.PrivateKey // the signing key
	// PublicKey optionally holds Key's public key, validated once with
	// sig.ParsePublicKey, so that NewServer does not validate it again for
	// every connection. It must match Key.
	PublicKey                  *sig.PublicKey
	Credential, RevocationList []byte // set both for identity_type credential (CRED-015)
	// NextKey, in raw-key mode only, is the public key the server will use
	// next, announced to pinned clients in ServerIdentity (HS-070, HS-072).
	// It comes from sig.ParsePublicKey and differs from Key.
	NextKey *sig.PublicKey

	// TicketKeys seal and open resumption tickets (HS-045); nil disables
	// tickets. Generations keeps the per-client ticket generations
	// (HS-046) and is required with TicketKeys.
	TicketKeys       *TicketKeys
	Generations      TicketGenerations
	TicketLifetime   time.Duration // at most 7 days; 0: 24 h
	RequireClientKey bool          // HS-032

	// Tokens verifies the access tokens clients present (HS-062, TOK-007);
	// nil: no issuer is registered, and every token is unknown_signer.
	Tokens *token.Verifier
	// RequireToken makes a flight without an access token fail with
	// token_required (HS-062); it implies key-identified clients.
	RequireToken bool

	MaxPayload, IdleTimeoutMs uint32
	// StoreEpoch is the epoch of the server's store, sent in Welcome
	// (POST-010); the zero value is an epoch like any other.
	StoreEpoch     [16]byte
	AssignClientID func() [32]byte // nil: 32 random bytes (ID-002)

	trace tracer // internal/hstrace
	// identityExtensions, set by this package's tests only, replaces the
	// extensions of ServerIdentity, so that a test can send announcements
	// that NewServer would refuse to configure.
	identityExtensions []wire.Extension
}

type serverState uint8

const (
	serverStart serverState = iota
	serverWaitClientFlight
	serverConnected
	serverClosed
)

// Server is the server side of one handshake.
type Server struct {
	cfg     *ServerConfig
	state   serverState
	tr      transcript
	keys    secrets
	version uint16
	group   uint16
	aead    uint16

	resumedID     *[32]byte    // the client ID of an accepted ticket (HS-040)
	resumedGen    uint64       // its generation (HS-046)
	resumedRec    TicketRecord // the client's record that accepted it
	ticketOffered bool         // the ClientHello carried resumption_ticket (HS-005)
	sealer        *record.Sealer
	opener        *record.Opener
	serverKey     *sig.PublicKey
	sess          *session.Session
	token         *token.Token // the verified access token, nil without one
}

// NewServer checks cfg and returns a Server in state START.
func NewServer(cfg *ServerConfig) (*Server, error) {
	if cfg.MaxPayload > session.MaxPayload {
		return nil, alert.New(alert.InternalError, "handshake: MaxPayload above the spec's 65536 (POST-002)")
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, alert.New(alert.InternalError, "handshake: server key missing")
	}
	pub := cfg.Key.Public().(ed25519.PublicKey)
	k := cfg.PublicKey
	if k == nil {
		var err error
		if k, err = sig.ParsePublicKey(pub); err != nil {
			return nil, err
		}
	} else if !bytes.Equal(k.Bytes(), pub) {
		return nil, alert.New(alert.InternalError, "handshake: PublicKey does not match Key")
	}
	if (cfg.Credential == nil) != (cfg.RevocationList == nil) {
		return nil, alert.New(alert.InternalError, "handshake: credential needs its revocation list (CRED-015)")
	}
	if cfg.NextKey != nil && (cfg.Credential != nil || cfg.NextKey.Equal(k)) {
		return nil, alert.New(alert.InternalError, "handshake: NextKey is for raw-key mode and must differ from Key (HS-072)")
	}
	if cfg.TicketKeys != nil && cfg.Generations == nil {
		return nil, alert.New(alert.InternalError, "handshake: ticket keys need ticket generations (HS-046)")
	}
	if cfg.TicketLifetime > MaxTicketLifetime {
		return nil, alert.New(alert.InternalError, "handshake: ticket lifetime above 7 days")
	}
	return &Server{cfg: cfg, serverKey: k}, nil
}

// Handle consumes one frame from the client. out holds frames to send in
// order: ServerHello and the server flight after the ClientHello, Welcome
// after the client flight; done is true once Welcome is produced and Session
// is ready. Any error is an *alert.Error, moves the Server to CLOSED and
// makes it reject every later frame (HS-050); the caller sends
// AlertFrame(code) unless session.FromPeer(err). A plaintext Alert from the
// client ends the handshake in any state with the client's code
// (ALERT-004). The caller enforces HandshakeTimeout (HS-051).
func (s *Server) Handle(frame []byte) (out [][]byte, done bool, err error) {
	if s.state == serverClosed {
		return nil, false, alert.New(alert.UnexpectedMessage, "handshake closed")
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := peerAlert(frame); err != nil {
		return nil, false, err
	}
	switch s.state {
	case serverStart:
		out, err := s.readClientHello(frame)
		return out, false, err
	case serverWaitClientFlight:
		f, err := s.readClientFlight(frame)
		if err != nil {
			return nil, false, err
		}
		return [][]byte{f}, true, nil
	}
	return nil, false, alert.New(alert.UnexpectedMessage, "frame in a state that expects none")
}

// close moves to CLOSED and erases what the handshake still holds (KS-003).
// The sending record state is kept so that AlertFrame can still protect an
// alert (ALERT-001).
func (s *Server) close() {
	s.state = serverClosed
	s.keys.erase()
	if s.sess == nil {
		clear(s.keys.resumption)
		if s.opener != nil {
			s.opener.Erase()
		}
	}
}

// readClientHello processes START → WAIT_CLIENT_FLIGHT: it negotiates
// (HS-010, HS-011), checks the offer (HS-002 … HS-004, HS-012), opens a
// ticket (HS-040), and returns ServerHello and the server flight (HS-020).
// It does no asymmetric work before the ClientHello has decoded and passed
// these checks (LIM-002).
func (s *Server) readClientHello(frame []byte) ([][]byte, error) {
	cfg := s.cfg
	t, body, raw, err := wire.ParsePlaintextFrame(frame)
	if err != nil {
		return nil, err
	}
	if t != wire.TypeClientHello {
		return nil, alert.New(alert.UnexpectedMessage, "expected ClientHello")
	}
	ch, err := ParseClientHello(body)
	if err != nil {
		return nil, err
	}
	for _, k := range ch.KeyShares {
		if err := knownShareLen(k.Group, k.KeyExchange, true); err != nil {
			return nil, err // HS-003
		}
	}
	// HS-012, EXT-005
	if err := session.CheckExtensions(ch.Extensions, wire.ExtRealm, wire.ExtResumptionTicket); err != nil {
		return nil, err
	}
	if e, ok := wire.FindExtension(ch.Extensions, wire.ExtRealm); ok && (len(e.Data) < 1 || len(e.Data) > 255) {
		return nil, alert.New(alert.DecodeError, "realm extension length")
	}
	// HS-010: highest supported version offered.
	s.version = 0
	for _, v := range orDefault(cfg.Versions, suite.SupportedVersions) {
		if contains(ch.Versions, v) && !wire.IsGREASE(v) && supportedVersion(v) && v > s.version {
			s.version = v
		}
	}
	if s.version == 0 {
		return nil, alert.New(alert.ProtocolVersion, "no common version")
	}
	// HS-011: server preference.
	var share []byte
	for _, g := range orDefault(cfg.Groups, suite.SupportedGroups) {
		for _, k := range ch.KeyShares {
			if share == nil && k.Group == g && suite.KnownGroup(g) {
				s.group, share = g, k.KeyExchange
			}
		}
	}
	for _, a := range orDefault(cfg.AEADs, suite.SupportedAEADs) {
		if s.aead == 0 && contains(ch.AEADs, a) && suite.KnownAEAD(a) {
			s.aead = a
		}
	}
	if share == nil || s.aead == 0 {
		return nil, alert.New(alert.HandshakeFailure, "no common group or AEAD")
	}
	// HS-040: a ticket that opens under the key set (HS-045) and whose
	// generation the client's record accepts (HS-046) gives its PSK and
	// client ID; the record advances once the client's Finished verifies.
	var psk []byte
	if e, ok := wire.FindExtension(ch.Extensions, wire.ExtResumptionTicket); ok {
		if len(e.Data) == 0 {
			return nil, alert.New(alert.DecodeError, "empty resumption ticket")
		}
		s.ticketOffered = true
		if cfg.TicketKeys != nil {
			if t, ok := openTicket(cfg.TicketKeys, e.Data, now(cfg.Now)); ok {
				rec, found, err := cfg.Generations.Record(t.clientID)
				if err != nil {
					return nil, alert.New(alert.Overloaded, "ticket generations unavailable")
				}
				if found && rec.Accepts(t.gen) {
					psk, s.resumedID, s.resumedGen, s.resumedRec = t.psk, &t.clientID, t.gen, rec
				} else {
					clear(t.psk)
				}
			}
		}
	}
	pub, shared, err := suite.ServerRespond(s.group, share, cfg.Rand)
	if err != nil {
		return nil, err
	}
	sh := &ServerHello{Version: s.version, AEAD: s.aead, KeyShare: KeyShare{Group: s.group, KeyExchange: pub}}
	if err := readRandom(cfg.Rand, sh.Random[:]); err != nil {
		return nil, err
	}
	if psk != nil {
		sh.Extensions = []wire.Extension{{Type: wire.ExtPSKAccepted}}
	}
	shRaw := sh.AppendTo(nil)
	s.tr.add(raw)
	s.tr.add(shRaw)
	cfg.trace.trace("ClientHello", raw)
	cfg.trace.trace("ServerHello", shRaw)
	s.keys.deriveHandshake(psk, shared, s.tr.hash(), cfg.trace)
	clear(shared)
	clear(psk)
	if s.sealer, err = record.NewSealer(s.aead, s.keys.serverHS); err != nil {
		return nil, err
	}
	if s.opener, err = record.NewOpener(s.aead, s.keys.clientHS); err != nil {
		return nil, err
	}

	// The server flight (HS-020, HS-022, HS-023).
	si := &ServerIdentity{Type: IdentityRawKey, PublicKey: s.serverKey.Bytes()}
	if cfg.NextKey != nil {
		si.Extensions = []wire.Extension{{Type: wire.ExtNextServerKey, Data: cfg.NextKey.Bytes()}} // HS-070
	}
	if cfg.Credential != nil {
		si = &ServerIdentity{Type: IdentityCredential, Credential: cfg.Credential, RevocationList: cfg.RevocationList}
	}
	if cfg.identityExtensions != nil {
		si.Extensions = cfg.identityExtensions
	}
	siRaw := si.AppendTo(nil)
	s.tr.add(siRaw)
	svRaw := wire.AppendMessage(nil, wire.TypeServerVerify, sig.Sign(cfg.Key, keyschedule.SigServer, s.tr.hash()))
	s.tr.add(svRaw)
	finRaw := wire.AppendMessage(nil, wire.TypeFinished, keyschedule.FinishedMAC(s.keys.serverHS, s.tr.hash()))
	s.tr.add(finRaw)
	cfg.trace.trace("ServerIdentity", siRaw)
	cfg.trace.trace("ServerVerify", svRaw)
	cfg.trace.trace("ServerFinished", finRaw)
	flight, err := s.sealer.Seal(nil, append(append(siRaw, svRaw...), finRaw...), 0)
	if err != nil {
		return nil, err
	}
	cfg.trace.trace("server_flight_frame", flight)
	s.keys.deriveApp(s.tr.hash(), cfg.trace)
	// From here the server sends under s_ap_traffic_0: Welcome, or an Alert
	// that rejects the client flight, which the client in WAIT_WELCOME
	// opens with that key (ALERT-001).
	app, err := record.NewSealer(s.aead, s.keys.serverApp)
	if err != nil {
		return nil, err
	}
	s.sealer.Erase()
	s.sealer = app
	s.state = serverWaitClientFlight
	return [][]byte{wire.AppendPlaintextFrame(nil, shRaw), flight}, nil
}

// readClientFlight processes WAIT_CLIENT_FLIGHT → CONNECTED: it checks the
// client flight (HS-030, HS-031, HS-023, HS-032) and returns Welcome, the
// first application record (POST-001).
func (s *Server) readClientFlight(frame []byte) ([]byte, error) {
	cfg := s.cfg
	inner, err := s.opener.Open(frame)
	if err != nil {
		return nil, err
	}
	// HS-031, HS-060: [ClientIdentity, AccessToken?, ClientVerify,
	// Finished] or [Finished].
	var types []wire.MsgType
	switch {
	case len(inner) > 0 && wire.MsgType(inner[0]) == wire.TypeClientIdentity &&
		secondType(inner) == wire.TypeAccessToken:
		types = []wire.MsgType{wire.TypeClientIdentity, wire.TypeAccessToken, wire.TypeClientVerify, wire.TypeFinished}
	case len(inner) > 0 && wire.MsgType(inner[0]) == wire.TypeClientIdentity:
		types = []wire.MsgType{wire.TypeClientIdentity, wire.TypeClientVerify, wire.TypeFinished}
	default:
		types = []wire.MsgType{wire.TypeFinished}
	}
	msgs, err := expectMessages(inner, types...)
	if err != nil {
		return nil, err
	}
	var clientKey *sig.PublicKey
	var rawToken []byte
	if len(msgs) > 1 {
		if s.ticketOffered {
			return nil, alert.New(alert.IllegalParameter, "ticket and ClientIdentity in one handshake (HS-005)")
		}
		pub, err := parseFixed(msgs[0][0], keyLen, "client identity")
		if err != nil {
			return nil, err
		}
		if clientKey, err = sig.ParsePublicKey(pub); err != nil {
			return nil, err
		}
		s.tr.add(msgs[0][1])
		cvMsg := msgs[1]
		if len(msgs) == 4 {
			// HS-061: ClientVerify covers the token, so the client proves
			// that the key the token binds is its own in this handshake.
			rawToken = msgs[1][0]
			s.tr.add(msgs[1][1])
			cvMsg = msgs[2]
		}
		cv, err := parseFixed(cvMsg[0], signatureLen, "client verify")
		if err != nil {
			return nil, err
		}
		if err := sig.Verify(clientKey, keyschedule.SigClient, s.tr.hash(), cv); err != nil {
			return nil, err
		}
		s.tr.add(cvMsg[1])
	}
	fin := msgs[len(msgs)-1]
	v, err := parseFixed(fin[0], finishedLen, "finished")
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(v, keyschedule.FinishedMAC(s.keys.clientHS, s.tr.hash())) {
		return nil, alert.New(alert.DecryptError, "client Finished does not verify")
	}
	// HS-062: the token after the flight authenticated, then the
	// server's requirements.
	if rawToken != nil {
		ver := cfg.Tokens
		if ver == nil {
			ver = &token.Verifier{}
		}
		if s.token, err = ver.Verify(rawToken, clientKey, now(cfg.Now)); err != nil {
			return nil, err
		}
	}
	if s.token == nil && cfg.RequireToken {
		return nil, alert.New(alert.TokenRequired, "this server requires an access token (HS-062)")
	}
	if clientKey == nil && cfg.RequireClientKey {
		return nil, alert.New(alert.ClientAuthRequired, "this server requires key-identified clients")
	}
	s.tr.add(fin[1])
	s.keys.deriveFinal(s.tr.hash(), cfg.trace)

	w := &session.Welcome{MaxPayload: cfg.MaxPayload, MaxRecord: wire.MaxRecordPlaintext, IdleTimeoutMs: cfg.IdleTimeoutMs,
		StoreEpoch: cfg.StoreEpoch}
	if w.MaxPayload == 0 {
		w.MaxPayload = DefaultMaxPayload
	}
	if w.IdleTimeoutMs == 0 {
		w.IdleTimeoutMs = DefaultIdleTimeoutMs
	}
	switch {
	case clientKey != nil:
		w.ClientID = clientIDOf(clientKey.Bytes())
	case s.resumedID != nil:
		w.ClientID, w.Resumed = *s.resumedID, true
	case cfg.AssignClientID != nil:
		w.ClientID = cfg.AssignClientID()
	default:
		if err := readRandom(cfg.Rand, w.ClientID[:]); err != nil {
			return nil, err
		}
	}
	if clientKey == nil && cfg.TicketKeys != nil {
		life := cfg.TicketLifetime
		if life == 0 {
			life = 24 * time.Hour
		}
		expires := now(cfg.Now).Add(life)
		gen, err := s.nextGeneration(w.ClientID, expires)
		if err != nil {
			return nil, err
		}
		t, err := sealTicket(cfg.TicketKeys, w.ClientID, s.keys.resumption, gen, expires, cfg.Rand)
		if err != nil {
			return nil, err
		}
		w.Ticket, w.TicketLifetime = t, uint32(life/time.Second)
	}
	sealer := s.sealer // s_ap_traffic_0, at sequence 0
	opener, err := record.NewOpener(s.aead, s.keys.clientApp)
	if err != nil {
		return nil, err
	}
	wRaw := w.AppendTo(nil)
	cfg.trace.trace("Welcome", wRaw)
	out, err := sealer.Seal(nil, wRaw, 0)
	if err != nil {
		return nil, err
	}
	sess := session.New(session.State{Role: session.Server, Version: s.version, Group: s.group, AEAD: s.aead,
		ClientID: w.ClientID, Resumed: w.Resumed, ServerKey: s.serverKey, ClientKey: clientKey, Welcome: *w,
		Token: s.token},
		keyschedule.Envelope(s.keys.envelope), sealer, opener)
	s.opener.Erase()
	s.opener = opener
	s.sess = sess
	s.keys.erase()
	clear(s.keys.resumption) // sealed into the ticket; the server keeps no copy
	s.state = serverConnected
	return out, nil
}

// nextGeneration returns the generation of the ticket Welcome carries
// (HS-046): 1 for a client ID a full handshake assigned; after a
// resumption, the record advances atomically from the one that accepted
// the ticket at ClientHello; if it changed since (a handshake with a ticket
// of the same client ID completed in between), this one fails with
// handshake_failure (HS-047).
func (s *Server) nextGeneration(clientID [32]byte, expires time.Time) (uint64, error) {
	g := s.cfg.Generations
	if s.resumedID == nil {
		gen, err := g.Start(clientID, expires)
		if err != nil {
			return 0, alert.New(alert.Overloaded, "ticket generations unavailable")
		}
		return gen, nil
	}
	gen, ok, err := g.Advance(clientID, s.resumedGen, s.resumedRec, expires)
	if err != nil {
		return 0, alert.New(alert.Overloaded, "ticket generations unavailable")
	}
	if !ok {
		return 0, alert.New(alert.HandshakeFailure, "the ticket was used by a concurrent handshake (HS-047)")
	}
	return gen, nil
}

// secondType returns the type of the second message of an inner
// plaintext, 0 when there is none or it cannot be found.
func secondType(inner []byte) wire.MsgType {
	if len(inner) < wire.MessageHeaderLen {
		return 0
	}
	n := wire.MessageHeaderLen + (int(inner[1])<<16 | int(inner[2])<<8 | int(inner[3]))
	if n >= len(inner) {
		return 0
	}
	return wire.MsgType(inner[n])
}

// Session returns the connected session, nil before the handshake is done.
func (s *Server) Session() *session.Session { return s.sess }

// AlertFrame returns the frame that reports code to the client: protected
// once handshake keys exist, plaintext before (ALERT-001).
func (s *Server) AlertFrame(code alert.Code) []byte {
	if code.LocalOnly() {
		return nil
	}
	if s.sess != nil {
		return s.sess.AlertFrame(code)
	}
	if s.sealer != nil {
		if f, err := s.sealer.Seal(nil, wire.AppendAlert(nil, code), 0); err == nil {
			return f
		}
	}
	return wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, code))
}
