// Package client is the Go client library of SealFeed: it connects to a
// server over WebSocket, authenticates it by a pinned key or an authority
// credential, receives batch deliveries, verifies and decrypts them
// (BATCH-014), drops replays (REPLAY-010 … REPLAY-013), and hands every
// message to the application in order of arrival. It reconnects with
// exponential backoff and jitter, resumes its client ID (by its identity
// key or a resumption ticket), and acknowledges a message (DLV-003) only
// after the application took it: when Config.Handler returns nil, or when
// the application calls Message.Ack.
//
// The guarantee (DLV-010): every message the server accepted reaches the
// application at least once unless it expires or the client's state file
// is lost; without a crash of the process (reconnects included) never
// twice; a message handed over and not acknowledged before a crash is
// handed over again after the restart with PossibleRedelivery set.
package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/receiver"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/sealed"
)

// Subprotocol is the WebSocket subprotocol of SealFeed v1.
const Subprotocol = wsframe.Subprotocol

// Config configures a Client. Set exactly one of PinnedKeyID and Trust.
type Config struct {
	// URL of the server's WebSocket endpoint, e.g. ws://127.0.0.1:8080/v1/ws.
	URL string
	// URLs, if set, are the endpoints of several nodes of one cluster: the
	// client connects to them in turn, moving on when one fails.
	URLs []string
	// PinnedKeyID is the KeyID (fingerprint) of the server key (ID-003).
	PinnedKeyID *[32]byte
	// Trust is an authority and realm (CRED-*).
	Trust *credential.Trust
	// Identity makes the client key-identified (HS-030): its client ID is
	// derived from this key and stays the same on every connection.
	// Without it the client is anonymous and keeps its client ID with
	// resumption tickets (HS-040).
	Identity ed25519.PrivateKey
	// TokenSource, if set, returns an access token (§6.8) bound to
	// Identity, which it requires: from the application's back end, which
	// issues it with a publisher key. The client calls it before every
	// handshake and presents the token there (HS-060), and again two
	// thirds into each token's life to refresh it on the open connection
	// (POST-030, TOK-012). A server that requires tokens refuses a
	// connection without one (token_required).
	TokenSource func(ctx context.Context) ([]byte, error)
	// StatePath is the file holding the replay state, the messages handed
	// over and not yet acknowledged, the ticket and the revocation number
	// across restarts (REPLAY-013, DLV-011). Empty: memory only, which
	// protects one process lifetime; a restart then loses what was handed
	// over and not acknowledged.
	StatePath string
	// Groups and AEADs restrict the offer; nil offers everything supported.
	Groups, AEADs []uint16
	// Handler, if set, is called with each message, one at a time, in
	// order of arrival, on a goroutine of the client; ctx is cancelled by
	// Close. A message is acknowledged when Handler returns nil (DLV-016);
	// with ManualAck only when the application calls Message.Ack. A
	// message for which Handler returns an error is logged and not
	// acknowledged: the application may still call Ack, otherwise it is
	// handed over again after the next restart. Handler must not call
	// Close (Close waits for it). Without Handler the application reads
	// Messages.
	Handler func(ctx context.Context, m Message) error
	// Sealing, if set, opens end-to-end sealed payloads (spec/sealed.md):
	// a payload that starts with the envelope magic is opened with its
	// keys and trusted publisher keys before it is handed over, and the
	// Message says whether it was sealed and by whom (SEAL-030, SEAL-032).
	// One that fails to open is handed over with SealError set and the
	// envelope as Payload, and acknowledged like any other (SEAL-031).
	Sealing *sealed.Opener
	// ManualAck: with Handler, acknowledge only on Message.Ack, not when
	// Handler returns. Without Handler it is implied.
	ManualAck bool
	// MinBackoff and MaxBackoff bound the reconnect delay; 0: 100 ms, 30 s.
	MinBackoff, MaxBackoff time.Duration
	// HandshakeTimeout bounds a handshake; 0: 10 s (HS-051).
	HandshakeTimeout time.Duration
	// Buffer is the capacity of the Messages channel (of the queue before
	// Handler); 0: 256. A full buffer stops reading from the connection.
	Buffer int
	// HeartbeatInterval and HeartbeatTimeout set liveness (POST-021):
	// after HeartbeatInterval without a frame from the server the client
	// sends Heartbeat(1), and it drops the connection if no frame arrives
	// within HeartbeatTimeout after that. 0: 9 s and 6 s; the interval is
	// at least MinHeartbeatInterval.
	HeartbeatInterval, HeartbeatTimeout time.Duration

	Header http.Header // extra headers for the WebSocket upgrade
	// TLSConfig is used for wss:// URLs; nil: the system's roots. The
	// server is authenticated inside the protocol whatever TLS says
	// (ID-003, CRED-*); TLS hides metadata and satisfies proxies.
	TLSConfig *tls.Config
	// NetDial, if set, opens the TCP connection (e.g. a net.Dialer's
	// DialContext with a LocalAddr); nil: net.Dialer's default.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger  *slog.Logger
}

// Message is one verified, decrypted message.
type Message struct {
	ID        uint64 // per-client message ID (DLV-001)
	Payload   []byte
	Broadcast bool
	BatchSeq  uint64
	// PossibleRedelivery: a message with this ID may have reached the
	// application before: it was handed over before a restart of the
	// client and not acknowledged (DLV-012), the server's store was
	// restored since this ID's window began (DLV-005), or the client's
	// state was lost (DLV-015).
	PossibleRedelivery bool
	// Sealed: Payload was opened from an envelope sealed to this client
	// and signed by the trusted publisher key whose KeyID is SealedBy, at
	// the time SealedAt it states (SEAL-032). A payload without Sealed set
	// is authenticated to the server only.
	Sealed   bool
	SealedBy [32]byte
	SealedAt time.Time
	// SealError, with Config.Sealing, says why a sealed envelope did not
	// open (a *sealed.Error); Payload is then the envelope as received
	// (SEAL-031).
	SealError error

	c      *Client
	window uint64 // the receiver's window the ID belongs to
}

// Ack tells the client that the application has taken the message
// (DLV-016): it leaves the client's unacknowledged set and the Ack goes
// to the server on the client's current connection, whichever delivered
// it. Without a connection nothing is sent: the server redelivers the
// message on the next one and the client acknowledges that duplicate
// itself (REPLAY-012). Ack of a message acknowledged before, or of a
// window the client has left since (a new store epoch or client ID,
// DLV-005), does nothing. The removal is saved within about a second,
// and by Close.
func (m Message) Ack() error {
	if m.c == nil {
		return nil
	}
	return m.c.ack(m)
}

// Event reports a change of the connection for logs and UIs.
type Event struct {
	Connected bool
	ClientID  [32]byte
	Resumed   bool
	Err       error // why the connection ended or failed
	Retry     time.Duration
	// GoingAway: the server closed the connection with going_away
	// (POST-022); Err says so, and it is not a failure.
	GoingAway bool
	// TokenRefreshed: the server accepted a refreshed access token
	// (POST-032).
	TokenRefreshed bool
}

// Client is a connected (or reconnecting) SealFeed client.
type Client struct {
	cfg    Config
	log    *slog.Logger
	st     *state
	msgs   chan Message
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}

	// Guarded by st.mu: the receive path (one per client, across its
	// connections) and whether an Ack's removal awaits its save.
	recv      *receiver.Receiver
	dirty     bool
	saveTimer *time.Timer

	handlerCancel context.CancelFunc
	handlerDone   chan struct{}
	single        bool // made by New: ServeOnce, Handler on the connection's goroutine

	mu       sync.Mutex
	clientID [32]byte
	cur      *conn
	closing  bool
	next     int // index into URLs of the next endpoint to try
}

// endpoint returns the URL to dial next.
func (c *Client) endpoint() string {
	if len(c.cfg.URLs) == 0 {
		return c.cfg.URL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.cfg.URLs[c.next%len(c.cfg.URLs)]
	c.next++
	return u
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("client: closed")

// ErrServerSilent ends a connection on which the server answered no
// Heartbeat within HeartbeatTimeout (POST-021).
var ErrServerSilent = errors.New("client: server silent: no frame after a heartbeat (POST-021)")

// Liveness limits of spec §15.
const (
	MinHeartbeatInterval = time.Second
	GoingAwaySpread      = time.Second
)

// GoingAway reports whether err ends a connection that the server closed
// with going_away (POST-022): an orderly close after which the client
// reconnects elsewhere, not a failure.
func GoingAway(err error) bool {
	code, ok := alert.Find(err)
	return ok && code == alert.GoingAway && session.FromPeer(err)
}

// Dial connects once (so that configuration errors surface at once) and
// then keeps the connection up in the background until Close.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	cn, err := c.connect(ctx)
	for i := 1; err != nil && i < len(cfg.URLs) && ctx.Err() == nil; i++ {
		cn, err = c.connect(ctx) // the next node of the cluster
	}
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if cfg.Handler != nil {
		hctx, hcancel := context.WithCancel(context.Background())
		c.handlerCancel = hcancel
		go c.dispatch(hctx)
	} else {
		close(c.handlerDone)
	}
	go c.run(rctx, cn)
	return c, nil
}

// New returns a client that makes no connection by itself: each
// ServeOnce makes one connection with the client's state (identity,
// ticket, window, unacknowledged set) and serves it until it ends. It
// calls Config.Handler, which it requires, on the connection's goroutine,
// record by record, so that a record's Acks are sent before the next frame
// is read. Applications use Dial, which reconnects with backoff and runs
// Handler on a goroutine of its own; New is for the conformance shim and
// tools that decide about every connection.
func New(cfg Config) (*Client, error) {
	if cfg.Handler == nil {
		return nil, errors.New("client: New needs a Handler")
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	c.single = true
	c.cancel = func() {}
	close(c.done)
	close(c.handlerDone)
	return c, nil
}

// ServeOnce makes one connection and serves it until it ends (New); it
// returns why it ended: the handshake's error, or the error that ended
// the session (an *alert.Error: from the peer when session.FromPeer says
// so, close_notify and going_away included; otherwise sent to the peer),
// or a transport error. connected, if not nil, is called after the
// handshake, before any delivery.
func (c *Client) ServeOnce(ctx context.Context, connected func(Event)) error {
	if !c.single {
		return errors.New("client: ServeOnce needs a client made by New")
	}
	cn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	if connected != nil {
		info := cn.sess.State()
		connected(Event{Connected: true, ClientID: info.ClientID, Resumed: info.Resumed})
	}
	err = cn.serve(ctx)
	c.endSession()
	return err
}

// endSession records that a connection ended in this process.
func (c *Client) endSession() {
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
	c.st.mu.Lock()
	c.recv.EndSession()
	c.dirty = true
	c.st.mu.Unlock()
}

// newClient applies the defaults of Config and loads the state file.
func newClient(cfg Config) (*Client, error) {
	if (cfg.PinnedKeyID == nil) == (cfg.Trust == nil) {
		return nil, errors.New("client: set exactly one of PinnedKeyID and Trust")
	}
	if cfg.TokenSource != nil && cfg.Identity == nil {
		return nil, errors.New("client: a TokenSource needs an Identity key, the key its tokens bind (HS-063)")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 256
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 9 * time.Second
	}
	cfg.HeartbeatInterval = max(cfg.HeartbeatInterval, MinHeartbeatInterval)
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 6 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := loadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, log: cfg.Logger, st: st, msgs: make(chan Message, cfg.Buffer),
		events: make(chan Event, 16), done: make(chan struct{}), recv: receiver.New(&st.Recv),
		handlerDone: make(chan struct{})}, nil
}

// Messages returns the channel of verified messages when Config.Handler
// is nil. Receiving a message from it is not a hand-off: a message is
// acknowledged only by its Ack (DLV-016), so a message received and not
// acknowledged before a crash is handed over again after the restart. It
// is closed by Close. With Handler set, nothing is sent on it.
func (c *Client) Messages() <-chan Message {
	if c.cfg.Handler != nil {
		return nil
	}
	return c.msgs
}

// dispatch calls Handler for each message in turn until Close (DLV-016).
func (c *Client) dispatch(ctx context.Context) {
	defer close(c.handlerDone)
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			if ctx.Err() != nil {
				return // not handed over: it stays unacknowledged
			}
			c.handOver(ctx, m)
		}
	}
}

// handOver calls Handler and acknowledges when it returns nil, unless
// ManualAck (DLV-016).
func (c *Client) handOver(ctx context.Context, m Message) {
	if err := c.cfg.Handler(ctx, m); err != nil {
		c.log.Warn("handler failed: message not acknowledged", "id", m.ID, "err", err)
		return
	}
	if !c.cfg.ManualAck {
		if err := c.ack(m); err != nil {
			c.log.Info("ack not sent", "id", m.ID, "err", err)
		}
	}
}

// ack is Message.Ack.
func (c *Client) ack(m Message) error {
	c.st.mu.Lock()
	send := c.recv.Ack(receiver.Message{ID: m.ID, Window: m.window})
	if send {
		c.dirty = true
		if c.saveTimer == nil {
			c.saveTimer = time.AfterFunc(time.Second, c.flush)
		}
	}
	c.st.mu.Unlock()
	if !send {
		return nil
	}
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return nil
	}
	return cur.ack([]uint64{m.ID})
}

// flush saves the state if an Ack changed it since the last save.
func (c *Client) flush() {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.saveTimer != nil {
		c.saveTimer.Stop()
		c.saveTimer = nil
	}
	if !c.dirty {
		return
	}
	if err := c.st.save(); err != nil {
		c.log.Warn("saving state failed", "err", err)
		return
	}
	c.dirty = false
}

// saveLocked saves the state for the receiver (REPLAY-013); the caller
// holds st.mu.
func (c *Client) saveLocked(*receiver.State) error {
	if err := c.st.save(); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

// Events returns connection events; events are dropped when nobody reads.
// It is closed by Close.
func (c *Client) Events() <-chan Event { return c.events }

// ClientID returns the client ID of the current (or last) connection.
func (c *Client) ClientID() [32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Close waits for a running Handler to return (its Ack is sent first),
// closes the connection with close_notify, stops reconnecting, and saves
// the state. Messages
// handed over and not acknowledged stay unacknowledged: a later client on
// the same state file gets them again (DLV-012).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	// A Handler that is running finishes first, and its Ack goes out on
	// the connection before close_notify: a message the application took
	// is not handed over again after the next start (DLV-016).
	if c.handlerCancel != nil {
		c.handlerCancel()
	}
	<-c.handlerDone
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	c.cancel()
	if cur != nil {
		cur.close(alert.CloseNotify)
	}
	<-c.done
	c.flush()
	return nil
}

func (c *Client) event(e Event) {
	select {
	case c.events <- e:
	default:
	}
}

func (c *Client) run(ctx context.Context, cn *conn) {
	defer close(c.done)
	defer close(c.msgs)
	defer close(c.events)
	attempt := 0
	var reason any // why the client reconnects: an error or a going_away
	for {
		away := false
		if cn != nil {
			start := time.Now()
			err := cn.serve(ctx)
			c.endSession()
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > 10*time.Second {
				attempt = 0
			}
			away = GoingAway(err)
			reason = err
			if away {
				// POST-022: not a failure; the next endpoint after a random
				// delay within GoingAwaySpread, then the usual backoff.
				reason = "server going away: reconnecting elsewhere"
				attempt = 0
			}
			c.event(Event{Err: err, GoingAway: away})
		}
		// Full jitter: a uniformly random delay up to the exponential cap,
		// so that clients of a restarted server do not reconnect in step.
		capd := min(c.cfg.MaxBackoff, c.cfg.MinBackoff<<min(attempt, 20))
		if away {
			capd = GoingAwaySpread
		}
		d := time.Duration(rand.Int64N(int64(capd)) + 1)
		attempt++
		// OPS-055: every reconnect is logged with its reason and backoff.
		c.log.Info("reconnecting", "reason", reason, "backoff", d, "attempt", attempt)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		var err error
		cn, err = c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			reason = err
			c.event(Event{Err: err, Retry: d})
			cn = nil
		}
	}
}

// conn is one connection.
type conn struct {
	c      *Client
	ws     *websocket.Conn
	mu     sync.Mutex // serialises the session and writes
	sess   *session.Session
	closed bool

	lastRecv atomic.Int64 // Unix nanoseconds of the last frame received
	silent   atomic.Bool  // the watchdog dropped the connection (POST-021)

	token      *token.Token  // the token of the handshake, nil without one (token.go)
	refreshNow chan struct{} // RefreshToken's request; nil without a token
	refreshing *token.Token  // guarded by mu: the refresh awaiting TokenAccepted
}

func (c *Client) connect(ctx context.Context) (_ *conn, err error) {
	hcfg := &handshake.ClientConfig{Identity: c.cfg.Identity,
		Groups: c.cfg.Groups, AEADs: c.cfg.AEADs, GREASE: true}
	c.st.mu.Lock()
	if c.cfg.PinnedKeyID != nil {
		// ID-010: the configured fingerprint, or the keys learned from it.
		p := c.st.pinsFor(*c.cfg.PinnedKeyID)
		hcfg.PinnedKeyID = &p[0]
		if len(p) > 1 {
			hcfg.NextPinnedKeyID = &p[1]
		}
	}
	if c.cfg.Trust != nil {
		t := *c.cfg.Trust
		t.MinRevocationNumber = max(t.MinRevocationNumber, c.st.Revocation)
		hcfg.Trust = &t
	}
	if c.cfg.Identity == nil && c.st.Ticket != nil && time.Now().Before(c.st.Ticket.Expires) {
		hcfg.Ticket = c.st.Ticket
	}
	c.st.mu.Unlock()
	var tok *token.Token
	if c.cfg.TokenSource != nil {
		if hcfg.Token, tok, err = c.fetchToken(ctx); err != nil {
			return nil, err
		}
	}
	hs, err := handshake.NewClient(hcfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	url := c.endpoint()
	ws, err := wsframe.Dial(ctx, url, c.cfg.Header, c.cfg.HandshakeTimeout, c.cfg.TLSConfig, c.cfg.NetDial)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	deadline, _ := ctx.Deadline()
	ws.SetReadDeadline(deadline)
	ws.SetWriteDeadline(deadline)
	sess, err := hs.Drive(wsframe.Conn{WS: ws})
	if err != nil {
		ws.Close()
		if _, ok := alert.Find(err); !ok {
			return nil, fmt.Errorf("client: handshake: %w", err)
		}
		return nil, err
	}
	fail := func(err error) (*conn, error) {
		if code, ok := alert.Find(err); ok {
			if f := sess.AlertFrame(code); f != nil {
				ws.WriteMessage(websocket.BinaryMessage, f)
			}
		}
		ws.Close()
		return nil, err
	}
	info := sess.State()
	keys, err := sess.BatchKeys()
	if err != nil {
		return fail(err)
	}
	// Record what the handshake established before any delivery: one
	// window per (client ID, store epoch); an epoch left before is
	// refused (REPLAY-011, REPLAY-020, REPLAY-021, DLV-014, DLV-015).
	c.st.mu.Lock()
	persistent := c.cfg.Identity != nil || info.Resumed
	if err := c.recv.Begin(info.ClientID, info.Welcome.StoreEpoch, persistent,
		batch.NewOpener(info.ServerKey, keys, int(info.Welcome.MaxPayload))); err != nil {
		c.st.mu.Unlock()
		return fail(err)
	}
	if t := hs.NewTicket(); t != nil {
		c.st.Ticket = t
	}
	if rl := hs.RevocationList(); rl != nil {
		c.st.Revocation = max(c.st.Revocation, rl.Number)
	}
	var learned *[32]byte
	if k := hs.NextServerKey(); k != nil {
		id := k.ID()
		learned = &id
	}
	// ID-010, ID-012: the pins become the key the server authenticated
	// with and the next key it announced, saved with the rest before any
	// delivery.
	pinsChanged := c.cfg.PinnedKeyID != nil && c.st.learnPins(*c.cfg.PinnedKeyID, info.ServerKey.ID(), learned)
	err = c.saveLocked(nil)
	c.st.mu.Unlock()
	if err != nil {
		return fail(alert.New(alert.InternalError, "client: saving state failed"))
	}
	ws.SetWriteDeadline(time.Time{})
	cn := &conn{c: c, ws: ws, sess: sess, token: tok}
	if tok != nil {
		cn.refreshNow = make(chan struct{}, 1)
	}
	idle := time.Duration(info.Welcome.IdleTimeoutMs)*time.Millisecond + 15*time.Second
	ws.SetReadDeadline(time.Now().Add(idle))
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(idle))
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		cn.close(alert.CloseNotify)
		return nil, ErrClosed
	}
	c.clientID, c.cur = info.ClientID, cn
	c.mu.Unlock()
	c.log.Info("connected", "client_id", fmt.Sprintf("%x", info.ClientID[:8]), "resumed", info.Resumed)
	if pinsChanged {
		id := info.ServerKey.ID()
		attrs := []any{"server_key", fmt.Sprintf("%x", id[:])}
		if learned != nil {
			attrs = append(attrs, "next_server_key", fmt.Sprintf("%x", learned[:]))
		}
		c.log.Info("pinned server keys changed (ID-010)", attrs...)
	}
	c.event(Event{Connected: true, ClientID: info.ClientID, Resumed: info.Resumed})
	return cn, nil
}

// serve reads deliveries until the connection fails.
func (cn *conn) serve(ctx context.Context) error {
	defer cn.ws.Close()
	idle := time.Duration(cn.sess.State().Welcome.IdleTimeoutMs)*time.Millisecond + 15*time.Second
	cn.lastRecv.Store(time.Now().UnixNano())
	stop := make(chan struct{})
	defer close(stop)
	go cn.watch(stop)
	if cn.token != nil {
		go cn.refresher(ctx, stop, cn.token)
	}
	for {
		mt, frame, err := cn.ws.ReadMessage()
		if err != nil {
			cn.mu.Lock()
			cn.closed = true
			cn.mu.Unlock()
			if cn.silent.Load() {
				return ErrServerSilent
			}
			return err
		}
		cn.lastRecv.Store(time.Now().UnixNano())
		cn.ws.SetReadDeadline(time.Now().Add(idle))
		if mt != websocket.BinaryMessage {
			return cn.fail(alert.New(alert.DecodeError, "text WebSocket message"))
		}
		if err := cn.handle(ctx, frame); err != nil {
			return cn.fail(err)
		}
	}
}

// watch is the liveness watchdog of POST-021: after HeartbeatInterval
// without a frame it sends Heartbeat(1), at most one unanswered; when no
// frame follows within HeartbeatTimeout it closes the transport without an
// Alert, which ends serve with ErrServerSilent.
func (cn *conn) watch(stop <-chan struct{}) {
	interval, timeout := cn.c.cfg.HeartbeatInterval, cn.c.cfg.HeartbeatTimeout
	t := time.NewTimer(interval)
	defer t.Stop()
	var sent time.Time // zero: no Heartbeat(1) outstanding
	for {
		// Exact deadlines, not a polling tick, so that a silent server is
		// detected within HeartbeatInterval + HeartbeatTimeout (POST-021).
		now, last := time.Now(), time.Unix(0, cn.lastRecv.Load())
		if !sent.IsZero() && last.After(sent) {
			sent = time.Time{} // any frame answers it
		}
		var due time.Time
		if sent.IsZero() {
			if due = last.Add(interval); !due.After(now) {
				if err := cn.heartbeat(); err != nil {
					cn.ws.Close()
					return
				}
				sent = now
				continue
			}
		} else if due = sent.Add(timeout); !due.After(now) {
			cn.silent.Store(true)
			cn.mu.Lock()
			cn.closed = true
			cn.mu.Unlock()
			cn.ws.Close()
			return
		}
		t.Reset(due.Sub(now))
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// heartbeat sends Heartbeat(1) (POST-021).
func (cn *conn) heartbeat() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return nil
	}
	f, err := cn.sess.Heartbeat(true)
	if err != nil {
		return err
	}
	cn.ws.SetWriteDeadline(time.Now().Add(cn.c.cfg.HeartbeatTimeout))
	return cn.ws.WriteMessage(websocket.BinaryMessage, f)
}

func (cn *conn) fail(err error) error {
	if code, ok := alert.Find(err); ok && !session.FromPeer(err) {
		cn.close(code)
	} else {
		cn.mu.Lock()
		cn.closed = true
		cn.mu.Unlock()
		cn.ws.Close()
	}
	return err
}

func (cn *conn) close(code alert.Code) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return
	}
	cn.closed = true
	if f := cn.sess.AlertFrame(code); f != nil {
		cn.ws.SetWriteDeadline(time.Now().Add(time.Second))
		cn.ws.WriteMessage(websocket.BinaryMessage, f)
	}
	cn.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	cn.ws.Close()
}

// handle opens one frame and passes its deliveries to the receiver,
// which verifies all of them, applies the receive rules and saves the
// state before anything reaches the application (POST-009, REPLAY-013,
// DLV-012); then it hands the messages over and sends the Acks the
// receiver asks for (REPLAY-012).
func (cn *conn) handle(ctx context.Context, frame []byte) error {
	cn.mu.Lock()
	msgs, err := cn.sess.Open(frame)
	pending := cn.sess.Pending()
	var werr error
	for _, f := range pending {
		if werr = cn.ws.WriteMessage(websocket.BinaryMessage, f); werr != nil {
			break
		}
	}
	cn.mu.Unlock()
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	c := cn.c
	if n := slices.IndexFunc(msgs, func(m session.Message) bool { return m.Type == wire.TypeTokenAccepted }); n >= 0 {
		// POST-032: handled here, in record order with the deliveries
		// around it, which the receiver checks as one (POST-009).
		var deliveries []session.Message
		for _, m := range msgs {
			if m.Type != wire.TypeTokenAccepted {
				deliveries = append(deliveries, m)
			} else if err := cn.tokenAccepted(m.Body); err != nil {
				return err
			}
		}
		msgs = deliveries
	}
	c.st.mu.Lock()
	res, err := c.recv.Receive(msgs, c.saveLocked)
	c.st.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range res.Deliver {
		fm := Message{ID: m.ID, Payload: m.Payload, Broadcast: m.Broadcast, BatchSeq: m.BatchSeq,
			PossibleRedelivery: m.PossibleRedelivery, c: c, window: m.Window}
		c.open(&fm)
		if c.single {
			c.handOver(ctx, fm)
			continue
		}
		select {
		case c.msgs <- fm:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(res.Ack) > 0 {
		return cn.ack(res.Ack)
	}
	return nil
}

// open opens a sealed payload in place when Config.Sealing is set
// (SEAL-030, SEAL-031).
func (c *Client) open(m *Message) {
	if c.cfg.Sealing == nil || !sealed.IsEnvelope(m.Payload) {
		return
	}
	o, err := c.cfg.Sealing.Open(m.Payload)
	if err != nil {
		m.SealError = err
		c.log.Warn("sealed payload did not open", "id", m.ID, "err", err)
		return
	}
	m.Payload, m.Sealed, m.SealedBy, m.SealedAt = o.Payload, true, o.PublisherID, o.SealedAt
}

// ack sends one Ack message per 4096 IDs (POST-005).
func (cn *conn) ack(ids []uint64) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return nil
	}
	for len(ids) > 0 {
		n := min(len(ids), session.MaxAckIDs)
		f, err := cn.sess.Seal(nil, session.AppendAck(nil, ids[:n]))
		if err != nil {
			return err
		}
		cn.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := cn.ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}
