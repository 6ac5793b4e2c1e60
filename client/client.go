// Package client is the Go client library of SealFeed: it connects to a
// server over WebSocket, authenticates it by a pinned key or an authority
// credential, receives batch deliveries, verifies and decrypts them
// (BATCH-014), drops replays (REPLAY-010 … REPLAY-013), and hands every
// message to the application once, in order of arrival. It reconnects with
// exponential backoff and jitter, resumes its client ID (by its identity
// key or a resumption ticket), and acknowledges messages (DLV-003) so the
// server stops redelivering them.
package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Subprotocol is the WebSocket subprotocol of SealFeed v1.
const Subprotocol = "sealfeed.v1"

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
	// StatePath is the file holding the replay state, ticket and
	// revocation number across restarts (REPLAY-013). Empty: memory only,
	// which protects one process lifetime.
	StatePath string
	// Groups and AEADs restrict the offer; nil offers everything supported.
	Groups, AEADs []uint16
	// ManualAck makes the application acknowledge with Message.Ack; by
	// default a message is acknowledged once the application has received
	// it from Messages.
	ManualAck bool
	// MinBackoff and MaxBackoff bound the reconnect delay; 0: 100 ms, 30 s.
	MinBackoff, MaxBackoff time.Duration
	// HandshakeTimeout bounds a handshake; 0: 10 s (HS-051).
	HandshakeTimeout time.Duration
	// Buffer is the capacity of the Messages channel; 0: 256.
	Buffer int
	// HeartbeatInterval and HeartbeatTimeout set liveness (POST-021):
	// after HeartbeatInterval without a frame from the server the client
	// sends Heartbeat(1), and it drops the connection if no frame arrives
	// within HeartbeatTimeout after that. 0: 5 s and 10 s; the interval is
	// at least MinHeartbeatInterval.
	HeartbeatInterval, HeartbeatTimeout time.Duration

	Header http.Header // extra headers for the WebSocket upgrade
	Logger *slog.Logger
}

// Message is one verified, decrypted message.
type Message struct {
	ID        uint64 // per-client message ID (DLV-001)
	Payload   []byte
	Broadcast bool
	BatchSeq  uint64
	// PossibleRedelivery: the server's store was restored since this ID's
	// window began, and a message with this ID may have reached the
	// application before (DLV-005: at least once across a restore).
	PossibleRedelivery bool
	conn               *conn
}

// Ack acknowledges the message (ManualAck mode); it is a no-op otherwise
// or when the connection that delivered it is gone (the server then
// redelivers it and the client acknowledges the duplicate itself).
func (m Message) Ack() error {
	if m.conn == nil {
		return nil
	}
	return m.conn.ack([]uint64{m.ID})
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
	if (cfg.PinnedKeyID == nil) == (cfg.Trust == nil) {
		return nil, errors.New("client: set exactly one of PinnedKeyID and Trust")
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
		cfg.HeartbeatInterval = 5 * time.Second
	}
	cfg.HeartbeatInterval = max(cfg.HeartbeatInterval, MinHeartbeatInterval)
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := loadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.Logger, st: st, msgs: make(chan Message, cfg.Buffer),
		events: make(chan Event, 16), done: make(chan struct{})}
	cn, err := c.connect(ctx)
	for i := 1; err != nil && i < len(cfg.URLs) && ctx.Err() == nil; i++ {
		cn, err = c.connect(ctx) // the next node of the cluster
	}
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(rctx, cn)
	return c, nil
}

// Messages returns the channel of verified messages. It is closed by
// Close.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Events returns connection events; events are dropped when nobody reads.
// It is closed by Close.
func (c *Client) Events() <-chan Event { return c.events }

// ClientID returns the client ID of the current (or last) connection.
func (c *Client) ClientID() [32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Close closes the connection with close_notify and stops reconnecting.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	cur := c.cur
	c.mu.Unlock()
	c.cancel()
	if cur != nil {
		cur.close(alert.CloseNotify)
	}
	<-c.done
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
	for {
		away := false
		if cn != nil {
			start := time.Now()
			err := cn.serve(ctx)
			c.mu.Lock()
			c.cur = nil
			c.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > 10*time.Second {
				attempt = 0
			}
			away = GoingAway(err)
			if away {
				// POST-022: not a failure; the next endpoint after a random
				// delay within GoingAwaySpread, then the usual backoff.
				c.log.Info("server going away: reconnecting elsewhere")
				attempt = 0
			} else {
				c.log.Info("connection ended", "err", err)
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
			c.log.Info("reconnect failed", "err", err, "attempt", attempt)
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
	opener *batch.Opener
	seq    replay.BatchSeq // this session's batch sequence (REPLAY-010), never persisted
	closed bool

	lastRecv atomic.Int64 // Unix nanoseconds of the last frame received
	silent   atomic.Bool  // the watchdog dropped the connection (POST-021)
}

func (c *Client) connect(ctx context.Context) (*conn, error) {
	hcfg := &handshake.ClientConfig{PinnedKeyID: c.cfg.PinnedKeyID, Identity: c.cfg.Identity,
		Groups: c.cfg.Groups, AEADs: c.cfg.AEADs, GREASE: true}
	c.st.mu.Lock()
	if c.cfg.Trust != nil {
		t := *c.cfg.Trust
		t.MinRevocationNumber = max(t.MinRevocationNumber, c.st.Revocation)
		hcfg.Trust = &t
	}
	if c.cfg.Identity == nil && c.st.Ticket != nil && time.Now().Before(c.st.Ticket.Expires) {
		hcfg.Ticket = c.st.Ticket
	}
	c.st.mu.Unlock()
	hs, err := handshake.NewClient(hcfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}, HandshakeTimeout: c.cfg.HandshakeTimeout}
	url := c.endpoint()
	ws, resp, err := d.DialContext(ctx, url, c.cfg.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("client: dial %s: %s", url, resp.Status)
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	if ws.Subprotocol() != Subprotocol {
		ws.Close()
		return nil, errors.New("client: server did not accept subprotocol sealfeed.v1")
	}
	deadline, _ := ctx.Deadline()
	ws.SetReadDeadline(deadline)
	ws.SetWriteDeadline(deadline)
	ws.SetReadLimit(wire.FrameHeaderLen + wire.MaxProtectedFrame + 1)
	fail := func(err error) (*conn, error) {
		if code, ok := alert.Find(err); ok && !session.FromPeer(err) {
			if f := hs.AlertFrame(code); f != nil {
				ws.WriteMessage(websocket.BinaryMessage, f)
			}
		}
		ws.Close()
		return nil, err
	}
	hello, err := hs.Start()
	if err != nil {
		return fail(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, hello); err != nil {
		return fail(err)
	}
	for {
		mt, frame, err := ws.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return fail(alert.New(alert.Timeout, "handshake timeout (HS-051)"))
			}
			return fail(fmt.Errorf("client: handshake: %w", err))
		}
		if mt != websocket.BinaryMessage {
			return fail(alert.New(alert.DecodeError, "text WebSocket message"))
		}
		out, done, err := hs.Handle(frame)
		if err != nil {
			return fail(err)
		}
		for _, f := range out {
			if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
				return fail(err)
			}
		}
		if done {
			break
		}
	}
	sess := hs.Session()
	info := sess.State()
	keys, err := sess.BatchKeys()
	if err != nil {
		return fail(err)
	}
	// Record what the handshake established before any delivery.
	c.st.mu.Lock()
	// One window per (client ID, store epoch); an epoch left before is
	// refused (REPLAY-011, REPLAY-020, REPLAY-021).
	if err := c.st.enterSession(info.ClientID, info.Welcome.StoreEpoch); err != nil {
		c.st.mu.Unlock()
		if f := sess.AlertFrame(alert.ReplayedEpoch); f != nil {
			ws.WriteMessage(websocket.BinaryMessage, f)
		}
		ws.Close()
		return nil, err
	}
	if t := hs.NewTicket(); t != nil {
		c.st.Ticket = t
	}
	if rl := hs.RevocationList(); rl != nil {
		c.st.Revocation = max(c.st.Revocation, rl.Number)
	}
	err = c.st.save()
	c.st.mu.Unlock()
	if err != nil {
		return fail(fmt.Errorf("client: saving state: %w", err))
	}
	ws.SetWriteDeadline(time.Time{})
	cn := &conn{c: c, ws: ws, sess: sess, opener: batch.NewOpener(info.ServerKey, keys, int(info.Welcome.MaxPayload))}
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
	t := time.NewTicker(min(interval, timeout) / 8)
	defer t.Stop()
	var sent time.Time // zero: no Heartbeat(1) outstanding
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now, last := time.Now(), time.Unix(0, cn.lastRecv.Load())
		if !sent.IsZero() && last.After(sent) {
			sent = time.Time{} // any frame answers it
		}
		switch {
		case sent.IsZero() && now.Sub(last) >= interval:
			if err := cn.heartbeat(); err != nil {
				cn.ws.Close()
				return
			}
			sent = now
		case !sent.IsZero() && now.Sub(sent) >= timeout:
			cn.silent.Store(true)
			cn.mu.Lock()
			cn.closed = true
			cn.mu.Unlock()
			cn.ws.Close()
			return
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

// handle opens one frame, verifies every delivery in it, records the
// replay state durably, hands new messages to the application and
// acknowledges (DLV-003).
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
	st := cn.c.st
	// POST-009: every delivery of the record is verified and opened before
	// any takes effect; then the replay state records them all and is
	// saved once (REPLAY-013) before the application sees a message.
	type openedDelivery struct {
		seq  uint64
		msgs []batch.Message
	}
	var all []openedDelivery
	st.mu.Lock()
	last := cn.seq.Last()
	for _, m := range msgs {
		if m.Type != wire.TypeBatchDelivery {
			continue // Session.Open admits only BatchDelivery for a client
		}
		d, err := batch.ParseDelivery(m.Body)
		if err != nil {
			st.mu.Unlock()
			return err
		}
		out, err := cn.opener.Open(d, last)
		if err != nil {
			st.mu.Unlock()
			return err
		}
		for _, om := range out {
			if st.Window.Check(om.ID) == replay.Invalid {
				st.mu.Unlock()
				return replay.Invalid.Err()
			}
		}
		last = d.Header.Seq
		all = append(all, openedDelivery{seq: d.Header.Seq, msgs: out})
	}
	var fresh []Message
	var acks []uint64
	for _, o := range all {
		if err := cn.seq.Accept(o.seq); err != nil {
			st.mu.Unlock()
			return err
		}
		for _, om := range o.msgs {
			if st.Window.Accept(om.ID) == replay.New {
				fresh = append(fresh, Message{ID: om.ID, Payload: om.Payload, Broadcast: om.Broadcast, BatchSeq: o.seq,
					PossibleRedelivery: st.Epochs.PossibleRedelivery(om.ID)})
			} else {
				acks = append(acks, om.ID) // REPLAY-012: acknowledged, not delivered
			}
		}
	}
	err = nil
	if len(all) > 0 {
		err = st.save()
	}
	st.mu.Unlock()
	if err != nil {
		return alert.New(alert.InternalError, "client: saving replay state failed")
	}
	for _, fm := range fresh {
		if cn.c.cfg.ManualAck {
			fm.conn = cn
		}
		select {
		case cn.c.msgs <- fm:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !cn.c.cfg.ManualAck {
			acks = append(acks, fm.ID)
		}
	}
	if len(acks) > 0 {
		return cn.ack(acks)
	}
	return nil
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
