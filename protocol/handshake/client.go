package handshake

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/subtle"
	"github.com/sealfeed/sealfeed/internal/bugs"
	"io"
	"sort"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// ClientConfig configures a client handshake. Exactly one of PinnedKeyID
// and Trust is set.
type ClientConfig struct {
	Rand io.Reader        // nil: crypto/rand
	Now  func() time.Time // nil: time.Now

	Versions, Groups, AEADs []uint16 // offer, in preference order; nil: suite.Supported*
	GREASE                  bool     // add one GREASE value to each list and a GREASE extension

	PinnedKeyID *[32]byte // trust mode 1: KeyID of the server key (ID-003)
	// NextPinnedKeyID, with PinnedKeyID only, is a second pin: the KeyID
	// of a next key a server announced (ID-010). The client accepts a
	// server key that matches either.
	NextPinnedKeyID *[32]byte
	Trust           *credential.Trust // trust mode 2: authority and realm (CRED-*)

	Identity ed25519.PrivateKey // optional: key-identified client (HS-030)
	Ticket   *Ticket            // optional: resumption for anonymous clients (HS-040)
	// Token is an encoded access token (§6.8) sent in the client flight
	// after the server authenticated itself (HS-060, HS-063); it needs
	// Identity, the key it binds. The client does not parse it.
	Token []byte

	ExtraExtensions []wire.Extension // added to ClientHello, for tests

	trace tracer // internal/hstrace
}

type clientState uint8

const (
	clientStart clientState = iota
	clientWaitServerHello
	clientWaitServerFlight
	clientWaitWelcome
	clientConnected
	clientClosed
)

// Client is the client side of one handshake.
type Client struct {
	cfg    *ClientConfig
	state  clientState
	hello  *ClientHello
	shares []*suite.ClientShare
	tr     transcript
	keys   secrets
	group  uint16
	aead   uint16
	psk    []byte

	sealer     *record.Sealer
	opener     *record.Opener
	serverKey  *sig.PublicKey
	clientKey  *sig.PublicKey
	sess       *session.Session
	newTicket  *Ticket
	revocation *credential.RevocationList
	nextKey    *sig.PublicKey // announced in ServerIdentity (HS-070); trusted only once CONNECTED (ID-011)

	// testingOnlyToken, set only by this package's tests, builds a client
	// flight that breaks HS-060 or HS-061 on purpose.
	testingOnlyToken tokenTest
}

type tokenTest uint8

const (
	tokenTestNone          tokenTest = iota
	tokenTestSignBefore              // ClientVerify over the transcript without the AccessToken
	tokenTestAnonymousWith           // [AccessToken, Finished]: a token without ClientIdentity
)

// NewClient checks cfg and returns a Client in state START. The Client
// keeps cfg; the caller does not change it during the handshake.
//
// The offered lists may hold values this implementation does not support
// (tests of version negotiation use them) but no duplicates (HS-002).
func NewClient(cfg *ClientConfig) (*Client, error) {
	if (cfg.PinnedKeyID == nil) == (cfg.Trust == nil) {
		return nil, alert.New(alert.InternalError, "handshake: set exactly one of PinnedKeyID and Trust")
	}
	if cfg.NextPinnedKeyID != nil && cfg.PinnedKeyID == nil {
		return nil, alert.New(alert.InternalError, "handshake: NextPinnedKeyID without PinnedKeyID")
	}
	if cfg.Trust != nil && cfg.Trust.Authority == nil {
		return nil, alert.New(alert.InternalError, "handshake: Trust without an authority key")
	}
	if cfg.Identity != nil && cfg.Ticket != nil {
		return nil, alert.New(alert.InternalError, "handshake: a key-identified client does not resume (HS-005)")
	}
	// The token's length is the server's to judge (TOK-001): a test sends
	// oversize ones; the flight's record limit bounds it (LIM-003).
	if cfg.Token != nil && (cfg.Identity == nil || len(cfg.Token) == 0) {
		return nil, alert.New(alert.InternalError, "handshake: an access token needs a client identity key (HS-063)")
	}
	if cfg.Identity != nil && len(cfg.Identity) != ed25519.PrivateKeySize {
		return nil, alert.New(alert.InternalError, "handshake: client identity key must be an Ed25519 private key")
	}
	if cfg.Ticket != nil && (len(cfg.Ticket.Bytes) == 0 || len(cfg.Ticket.Bytes) > wire.MaxExtensionLen || len(cfg.Ticket.PSK) != 32) {
		return nil, alert.New(alert.InternalError, "handshake: malformed ticket")
	}
	if cfg.Trust != nil && (len(cfg.Trust.Realm) < 1 || len(cfg.Trust.Realm) > 255) {
		return nil, alert.New(alert.InternalError, "handshake: realm must be 1 to 255 bytes")
	}
	g := 0
	if cfg.GREASE {
		g = 1
	}
	for _, l := range []struct {
		v   []uint16
		max int
	}{{cfg.Versions, MaxVersions}, {cfg.Groups, MaxKeyShares}, {cfg.AEADs, MaxAEADs}} {
		if len(l.v)+g > l.max {
			return nil, alert.New(alert.InternalError, "handshake: too many offers in ClientConfig")
		}
		for i, v := range l.v {
			if contains(l.v[:i], v) {
				return nil, alert.New(alert.InternalError, "handshake: duplicate offer in ClientConfig (HS-002)")
			}
		}
	}
	if len(cfg.ExtraExtensions)+3 > wire.MaxExtensions {
		return nil, alert.New(alert.InternalError, "handshake: too many extensions")
	}
	for _, e := range cfg.ExtraExtensions {
		if len(e.Data) > wire.MaxExtensionLen {
			return nil, alert.New(alert.InternalError, "handshake: extension data above 65535 bytes")
		}
	}
	c := &Client{cfg: cfg}
	if cfg.Identity != nil {
		k, err := sig.ParsePublicKey(cfg.Identity.Public().(ed25519.PublicKey))
		if err != nil {
			return nil, err
		}
		c.clientKey = k
	}
	return c, nil
}

// Start returns the ClientHello frame and moves START → WAIT_SERVER_HELLO.
// Randomness for the random, the key shares and GREASE comes from
// cfg.Rand, in that order (HS-001).
func (c *Client) Start() ([]byte, error) {
	if c.state != clientStart {
		return nil, alert.New(alert.UnexpectedMessage, "handshake already started")
	}
	frame, err := c.sendClientHello()
	if err != nil {
		c.state = clientClosed
		return nil, err
	}
	c.state = clientWaitServerHello
	return frame, nil
}

func (c *Client) sendClientHello() ([]byte, error) {
	cfg := c.cfg
	m := &ClientHello{
		Versions: append([]uint16(nil), orDefault(cfg.Versions, suite.SupportedVersions)...),
		AEADs:    append([]uint16(nil), orDefault(cfg.AEADs, suite.SupportedAEADs)...),
	}
	if err := readRandom(cfg.Rand, m.Random[:]); err != nil {
		return nil, err
	}
	for _, g := range orDefault(cfg.Groups, suite.SupportedGroups) {
		s, err := suite.NewClientShare(g, cfg.Rand)
		if err != nil {
			return nil, err
		}
		c.shares = append(c.shares, s)
		m.KeyShares = append(m.KeyShares, KeyShare{Group: g, KeyExchange: s.Public()})
	}
	exts := append([]wire.Extension(nil), cfg.ExtraExtensions...)
	if cfg.Trust != nil {
		exts = append(exts, wire.Extension{Type: wire.ExtRealm, Data: []byte(cfg.Trust.Realm)})
	}
	if t := cfg.Ticket; t != nil && now(cfg.Now).Before(t.Expires) {
		exts = append(exts, wire.Extension{Type: wire.ExtResumptionTicket, Data: t.Bytes})
		c.psk = t.PSK
	}
	if cfg.GREASE {
		gv, err := grease(cfg.Rand, false)
		if err != nil {
			return nil, err
		}
		ge, err := grease(cfg.Rand, true)
		if err != nil {
			return nil, err
		}
		// One GREASE value, first in each list, unless a configured list
		// holds it already (HS-002 forbids duplicates).
		if !contains(m.Versions, gv) {
			m.Versions = append([]uint16{gv}, m.Versions...)
		}
		if !contains(m.AEADs, gv) {
			m.AEADs = append([]uint16{gv}, m.AEADs...)
		}
		if !contains(orDefault(cfg.Groups, suite.SupportedGroups), gv) {
			m.KeyShares = append([]KeyShare{{Group: gv, KeyExchange: []byte{0}}}, m.KeyShares...)
		}
		if _, dup := wire.FindExtension(exts, ge); !dup {
			exts = append(exts, wire.Extension{Type: ge})
		}
	}
	sort.SliceStable(exts, func(i, j int) bool { return exts[i].Type < exts[j].Type })
	m.Extensions = exts
	c.hello = m
	raw := m.AppendTo(nil)
	c.tr.add(raw)
	c.cfg.trace.trace("ClientHello", raw)
	return wire.AppendPlaintextFrame(nil, raw), nil
}

// Handle consumes one frame from the server. out holds frames to send, in
// order; done is true once Welcome is received and Session is ready. Any
// error is an *alert.Error, moves the Client to CLOSED and makes it reject
// every later frame (HS-050); the caller sends AlertFrame(code) unless
// session.FromPeer(err). A plaintext Alert from the server ends the
// handshake in any state with the server's code (ALERT-004).
func (c *Client) Handle(frame []byte) (out [][]byte, done bool, err error) {
	if c.state == clientClosed {
		return nil, false, alert.New(alert.UnexpectedMessage, "handshake closed")
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if err := peerAlert(frame); err != nil {
		return nil, false, err
	}
	switch c.state {
	case clientWaitServerHello:
		return nil, false, c.readServerHello(frame)
	case clientWaitServerFlight:
		f, err := c.readServerFlight(frame)
		if err != nil {
			return nil, false, err
		}
		return [][]byte{f}, false, nil
	case clientWaitWelcome:
		if err := c.readWelcome(frame); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, alert.New(alert.UnexpectedMessage, "frame in a state that expects none")
}

// close moves to CLOSED and erases what the handshake still holds (KS-003).
// The sending record state is kept so that AlertFrame can still protect an
// alert (ALERT-001).
func (c *Client) close() {
	c.state = clientClosed
	c.keys.erase()
	c.shares = nil
	if c.sess == nil {
		clear(c.keys.resumption)
		if c.opener != nil {
			c.opener.Erase()
		}
	}
}

// readServerHello processes WAIT_SERVER_HELLO → WAIT_SERVER_FLIGHT: it
// checks the server's choices against the offer (HS-014, HS-015), computes
// the shared secret (SUITE-002, SUITE-003) and the handshake secrets.
func (c *Client) readServerHello(frame []byte) error {
	t, body, raw, err := wire.ParsePlaintextFrame(frame)
	if err != nil {
		return err
	}
	if t != wire.TypeServerHello {
		return alert.New(alert.UnexpectedMessage, "expected ServerHello")
	}
	sh, err := ParseServerHello(body)
	if err != nil {
		return err
	}
	// HS-014: every choice must come from our offer and not be GREASE.
	if !bugs.AcceptUnimplementedVersion && (wire.IsGREASE(sh.Version) || !contains(c.hello.Versions, sh.Version) || !supportedVersion(sh.Version)) {
		return alert.New(alert.IllegalParameter, "server chose a version not offered")
	}
	if wire.IsGREASE(sh.AEAD) || !contains(c.hello.AEADs, sh.AEAD) || !suite.KnownAEAD(sh.AEAD) {
		return alert.New(alert.IllegalParameter, "server chose an AEAD not offered")
	}
	var share *suite.ClientShare
	for _, s := range c.shares {
		if s.Group == sh.KeyShare.Group {
			share = s
		}
	}
	if share == nil || wire.IsGREASE(sh.KeyShare.Group) {
		return alert.New(alert.IllegalParameter, "server chose a group not offered")
	}
	if err := knownShareLen(sh.KeyShare.Group, sh.KeyShare.KeyExchange, false); err != nil {
		return err
	}
	// HS-015, EXT-005
	if err := session.CheckExtensions(sh.Extensions, wire.ExtPSKAccepted); err != nil {
		return err
	}
	var psk []byte
	if e, ok := wire.FindExtension(sh.Extensions, wire.ExtPSKAccepted); ok {
		if c.psk == nil {
			return alert.New(alert.IllegalParameter, "psk_accepted without a ticket")
		}
		if len(e.Data) != 0 {
			return alert.New(alert.DecodeError, "psk_accepted carries data")
		}
		psk = c.psk
	}
	shared, err := share.Finish(sh.KeyShare.KeyExchange)
	if err != nil {
		return err
	}
	c.tr.add(raw)
	c.cfg.trace.trace("ServerHello", raw)
	c.group, c.aead, c.psk = sh.KeyShare.Group, sh.AEAD, psk
	c.keys.deriveHandshake(psk, shared, c.tr.hash(), c.cfg.trace)
	clear(shared)
	if c.opener, err = record.NewOpener(c.aead, c.keys.serverHS); err != nil {
		return err
	}
	if c.sealer, err = record.NewSealer(c.aead, c.keys.clientHS); err != nil {
		return err
	}
	c.shares = nil
	c.state = clientWaitServerFlight
	return nil
}

// expectMessages splits an inner plaintext and checks the message types.
func expectMessages(inner []byte, want ...wire.MsgType) ([][2][]byte, error) {
	var got [][2][]byte
	err := record.ForEachMessage(inner, func(t wire.MsgType, body, raw []byte) error {
		if t == wire.TypeAlert {
			code, err := wire.ParseAlert(body)
			if err != nil {
				return err
			}
			return session.PeerAlert(code)
		}
		if len(got) >= len(want) || t != want[len(got)] {
			return alert.Errorf(alert.UnexpectedMessage, "message type 0x%02x out of place", uint8(t))
		}
		got = append(got, [2][]byte{body, raw})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(got) != len(want) {
		return nil, alert.New(alert.UnexpectedMessage, "flight is missing messages")
	}
	return got, nil
}

// readServerFlight processes WAIT_SERVER_FLIGHT → WAIT_WELCOME: it opens the
// one record of the server flight (HS-020), authenticates the server
// (HS-021, HS-022, HS-023) and returns the client flight in one record
// (HS-030, HS-031).
func (c *Client) readServerFlight(frame []byte) ([]byte, error) {
	inner, err := c.opener.Open(frame)
	if err != nil {
		return nil, err
	}
	msgs, err := expectMessages(inner, wire.TypeServerIdentity, wire.TypeServerVerify, wire.TypeFinished)
	if err != nil {
		return nil, err
	}
	if err := c.checkServerIdentity(msgs[0][0]); err != nil {
		return nil, err
	}
	c.tr.add(msgs[0][1])
	c.cfg.trace.trace("ServerIdentity", msgs[0][1])

	sv, err := parseFixed(msgs[1][0], signatureLen, "server verify")
	if err != nil {
		return nil, err
	}
	if err := sig.Verify(c.serverKey, keyschedule.SigServer, c.tr.hash(), sv); err != nil {
		return nil, err // HS-022: a changed offer lands here
	}
	c.tr.add(msgs[1][1])
	c.cfg.trace.trace("ServerVerify", msgs[1][1])

	fin, err := parseFixed(msgs[2][0], finishedLen, "finished")
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(fin, keyschedule.FinishedMAC(c.keys.serverHS, c.tr.hash())) {
		return nil, alert.New(alert.DecryptError, "server Finished does not verify")
	}
	c.tr.add(msgs[2][1])
	c.cfg.trace.trace("ServerFinished", msgs[2][1])
	c.keys.deriveApp(c.tr.hash(), c.cfg.trace)

	// The client flight (HS-030, HS-031).
	var flight []byte
	if c.testingOnlyToken == tokenTestAnonymousWith {
		at := wire.AppendMessage(nil, wire.TypeAccessToken, c.cfg.Token)
		c.tr.add(at)
		flight = append(flight, at...)
	} else if c.cfg.Identity != nil {
		ci := wire.AppendMessage(nil, wire.TypeClientIdentity, c.clientKey.Bytes())
		c.tr.add(ci)
		c.cfg.trace.trace("ClientIdentity", ci)
		flight = append(flight, ci...)
		var at []byte
		if c.cfg.Token != nil {
			// HS-060, HS-063: only now that the server is authenticated,
			// and under the client handshake key, never in ClientHello.
			at = wire.AppendMessage(nil, wire.TypeAccessToken, c.cfg.Token)
			c.cfg.trace.trace("AccessToken", at)
			flight = append(flight, at...)
			if c.testingOnlyToken != tokenTestSignBefore {
				c.tr.add(at)
			}
		}
		cv := wire.AppendMessage(nil, wire.TypeClientVerify, sig.Sign(c.cfg.Identity, keyschedule.SigClient, c.tr.hash()))
		if c.testingOnlyToken == tokenTestSignBefore {
			c.tr.add(at)
		}
		c.tr.add(cv)
		c.cfg.trace.trace("ClientVerify", cv)
		flight = append(flight, cv...)
	}
	cf := wire.AppendMessage(nil, wire.TypeFinished, keyschedule.FinishedMAC(c.keys.clientHS, c.tr.hash()))
	c.tr.add(cf)
	c.cfg.trace.trace("ClientFinished", cf)
	flight = append(flight, cf...)
	out, err := c.sealer.Seal(nil, flight, 0)
	if err != nil {
		return nil, err
	}
	c.cfg.trace.trace("client_flight_frame", out)
	c.keys.deriveFinal(c.tr.hash(), c.cfg.trace) // KS-004: after ServerVerify and Finished
	sealer, err := record.NewSealer(c.aead, c.keys.clientApp)
	if err != nil {
		return nil, err
	}
	opener, err := record.NewOpener(c.aead, c.keys.serverApp)
	if err != nil {
		return nil, err
	}
	c.sealer.Erase()
	c.opener.Erase()
	c.sealer, c.opener = sealer, opener
	c.state = clientWaitWelcome
	return out, nil
}

// checkServerIdentity applies HS-021, and HS-070 and HS-071 to an
// announced next key, in HS-071's order. The announced key is only kept
// here: Client.NextServerKey returns it once the handshake has completed
// (ID-011).
func (c *Client) checkServerIdentity(body []byte) error {
	si, err := ParseServerIdentity(body)
	if err != nil {
		return err
	}
	var allowed []uint16
	if si.Type == IdentityRawKey {
		allowed = []uint16{wire.ExtNextServerKey} // HS-070: not with a credential
	}
	if err := session.CheckExtensions(si.Extensions, allowed...); err != nil {
		return err // HS-015, EXT-005, HS-070
	}
	next, announced := wire.FindExtension(si.Extensions, wire.ExtNextServerKey)
	if announced && len(next.Data) != keyLen {
		return alert.New(alert.DecodeError, "next_server_key is not 32 bytes (HS-070)")
	}
	switch {
	case c.cfg.PinnedKeyID != nil && si.Type == IdentityRawKey:
		k, err := sig.ParsePublicKey(si.PublicKey)
		if err != nil {
			return err
		}
		// ID-003, ID-010: the key matches one of the pins; both are
		// compared, in constant time.
		id := k.ID()
		match := subtle.ConstantTimeCompare(id[:], c.cfg.PinnedKeyID[:])
		if p := c.cfg.NextPinnedKeyID; p != nil {
			match |= subtle.ConstantTimeCompare(id[:], p[:])
		}
		if match != 1 {
			return alert.New(alert.UnknownServerKey, "server key does not match the pinned fingerprint")
		}
		c.serverKey = k
		if announced {
			nk, err := sig.ParsePublicKey(next.Data)
			if err != nil {
				return err // SIG-001: bad_key
			}
			if nk.Equal(k) {
				return alert.New(alert.IllegalParameter, "next_server_key is the server's current key (HS-071)")
			}
			c.nextKey = nk
		}
	case c.cfg.Trust != nil && si.Type == IdentityCredential:
		k, l, err := credential.Validate(*c.cfg.Trust, si.Credential, si.RevocationList, now(c.cfg.Now))
		if err != nil {
			return err
		}
		c.serverKey, c.revocation = k, l
	default:
		return alert.New(alert.UnknownServerKey, "server identity type does not match the configured trust")
	}
	return nil
}

// readWelcome accepts the server's first application record, which holds
// Welcome alone (POST-001).
func (c *Client) readWelcome(frame []byte) error {
	inner, err := c.opener.Open(frame)
	if err != nil {
		return err
	}
	msgs, err := expectMessages(inner, wire.TypeWelcome)
	if err != nil {
		return err
	}
	w, err := session.ParseWelcome(msgs[0][0])
	if err != nil {
		return err
	}
	// w aliases the caller's frame buffer; the session and the ticket
	// outlive it.
	w.Ticket = bytes.Clone(w.Ticket)
	for i := range w.Extensions {
		w.Extensions[i].Data = bytes.Clone(w.Extensions[i].Data)
	}
	c.cfg.trace.trace("Welcome", msgs[0][1])
	if w.Resumed != (c.psk != nil) {
		return alert.New(alert.IllegalParameter, "welcome resumed flag disagrees with psk_accepted")
	}
	if w.Resumed && subtle.ConstantTimeCompare(w.ClientID[:], c.cfg.Ticket.ClientID[:]) != 1 {
		return alert.New(alert.IllegalParameter, "resumed session changed the client ID")
	}
	if c.clientKey != nil {
		if want := clientIDOf(c.clientKey.Bytes()); subtle.ConstantTimeCompare(w.ClientID[:], want[:]) != 1 {
			return alert.New(alert.IllegalParameter, "client ID is not derived from the client key (ID-001)")
		}
		if len(w.Ticket) != 0 {
			return alert.New(alert.IllegalParameter, "ticket for a key-identified client")
		}
	}
	s := session.New(session.State{Role: session.Client, Version: suite.Version1, Group: c.group, AEAD: c.aead,
		ClientID: w.ClientID, Resumed: w.Resumed, ServerKey: c.serverKey, ClientKey: c.clientKey, Welcome: *w},
		keyschedule.Envelope(c.keys.envelope), c.sealer, c.opener)
	clear(c.keys.envelope)
	s.MarkWelcomed()
	if len(w.Ticket) > 0 {
		c.newTicket = &Ticket{Bytes: w.Ticket, PSK: c.keys.resumption, ClientID: w.ClientID,
			Expires: now(c.cfg.Now).Add(time.Duration(w.TicketLifetime) * time.Second)}
	}
	c.sess = s
	c.keys.erase()
	c.state = clientConnected
	return nil
}

// Session returns the connected session, nil before Welcome.
func (c *Client) Session() *session.Session { return c.sess }

// NewTicket returns the ticket from Welcome, nil if none.
func (c *Client) NewTicket() *Ticket { return c.newTicket }

// NextServerKey returns the next key the server announced in this
// handshake (HS-070), nil if none, and nil before the handshake has
// completed: the announcement counts only once ServerVerify, Finished and
// Welcome have verified (ID-011). The caller replaces its second pin with
// it and keeps it durably (ID-010, ID-012).
func (c *Client) NextServerKey() *sig.PublicKey {
	if c.state != clientConnected {
		return nil
	}
	return c.nextKey
}

// RevocationList returns the revocation list accepted with the server's
// credential, nil in pinned-key mode; the caller persists its number
// (CRED-013).
func (c *Client) RevocationList() *credential.RevocationList { return c.revocation }

// AlertFrame returns the frame that reports code to the server: protected
// once handshake keys exist, plaintext before (ALERT-001).
func (c *Client) AlertFrame(code alert.Code) []byte {
	if code.LocalOnly() {
		return nil
	}
	if c.sealer != nil {
		if f, err := c.sealer.Seal(nil, wire.AppendAlert(nil, code), 0); err == nil {
			return f
		}
	}
	return wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, code))
}

// clientIDOf is ID-001.
func clientIDOf(pub []byte) [32]byte { return keyschedule.LabelledHash(keyschedule.HashClientID, pub) }

// ClientID returns the client ID of a key-identified client (ID-001).
func ClientID(pub ed25519.PublicKey) [32]byte { return clientIDOf(pub) }
