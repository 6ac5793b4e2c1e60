// Package core is the delivery engine of a SealFeed server node: it holds
// the connected sessions, and on every tick packs the pending messages of
// every connected client into one signed batch (spec §10), seals each
// client's delivery into its record stream and hands the frame to the
// transport. It keeps messages in the Store until the client acknowledges
// them (DLV-002) and never sends a message 1024 or more IDs above the
// lowest unacknowledged one (DLV-004).
//
// The core imports neither a transport nor a database driver: transports
// attach sessions through Peer, stores implement store.Store.
package core

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/server/store"
)

// Peer is the transport side of one connection.
type Peer interface {
	// Send queues a copy of frame for writing without blocking; it reports
	// false when the connection's queue is full (a slow consumer). The
	// caller may reuse frame once Send returns.
	Send(frame []byte) bool
	// Close writes the queued frames and then final (if not nil) within a
	// short deadline, and closes the connection. It does not block.
	Close(final []byte)
}

// Config configures a Hub.
type Config struct {
	Key   ed25519.PrivateKey // the batch signing key (the server key)
	Store store.Store
	// Tick is the batching interval; 0: 5 ms.
	Tick time.Duration
	// MaxMessagesPerDelivery bounds one client's messages in one batch; 0: 512.
	MaxMessagesPerDelivery int
	// MaxBytesPerDelivery bounds one client's payload bytes in one batch, so
	// that a delivery fits a record (MaxRecordPlaintext); 0: 512 KiB.
	MaxBytesPerDelivery int
	// ExpiryInterval is how often expired messages are swept; 0: 1 s.
	ExpiryInterval time.Duration
	// ResyncInterval, if set, marks every connected client for a store
	// query this often: in a cluster a wake-up from another node can be
	// lost (a NATS reconnect), and this bounds how long a message waits.
	ResyncInterval time.Duration
	// Workers seal leaves in parallel; 0: GOMAXPROCS.
	Workers int
	// AckInterval is how often the acknowledgements received from every
	// connection are stored, together in one Store.Ack; 0: 10 × Tick
	// (50 ms at the default tick). A longer interval means fewer store
	// commits; an acknowledged message stays pending in the store that
	// much longer (DLV-051).
	AckInterval time.Duration
	// AckTimeout bounds one attempt to store acknowledgements; a failed
	// or timed-out attempt is retried with backoff (DLV-021); 0: 5 s.
	AckTimeout time.Duration
	// ShutdownFlushTimeout bounds how long Run, once its context ends,
	// retries storing the acknowledgements it received (DLV-022); 0: 10 s.
	ShutdownFlushTimeout time.Duration
	// ReplaceGrace is how long a connection that a newer connection of
	// the same client replaces may still end by itself, reading what its
	// client sent before it reconnected (an Ack above all), before it is
	// closed; the newer connection's first delivery waits for it
	// (DLV-052). 0: 250 ms; negative: none, the old connection is closed
	// at once.
	ReplaceGrace time.Duration

	// Tokens verifies the access tokens of TokenRefresh (POST-030); nil:
	// every refresh is unknown_signer.
	Tokens *token.Verifier

	// BatchBuild observes the seconds each batch took to build, sign and
	// queue (OPS-044); nil: none.
	BatchBuild Observer
	// PublishToSent observes, for each message sent, the seconds since
	// its store committed it (store.Message.Created; redeliveries
	// included), by the node's clock (OPS-044); nil: none.
	PublishToSent Observer
	// PublishToAcked observes, for each message acknowledged, the seconds
	// from its commit to the Ack's arrival, by the node's clock (OPS-044);
	// nil: none.
	PublishToAcked Observer

	Logger *slog.Logger
	Now    func() time.Time
}

// Observer takes one sample of a histogram: a prometheus.Histogram, a few
// atomic operations per call.
type Observer interface{ Observe(float64) }

// Metrics are the counters a Hub keeps; all are monotonic except
// Connections.
type Metrics struct {
	Connections       atomic.Int64
	Attached          atomic.Uint64
	Batches           atomic.Uint64
	Delivered         atomic.Uint64 // messages sent in a delivery (redeliveries included)
	Acked             atomic.Uint64
	Published         atomic.Uint64
	SlowConsumers     atomic.Uint64
	ProtocolErrors    atomic.Uint64
	BatchBuildNanos   atomic.Uint64
	BatchLeaves       atomic.Uint64
	StoreErrors       atomic.Uint64
	EnvelopeKeyCloses atomic.Uint64
	AckRetries        atomic.Uint64 // failed attempts to store acknowledgements, each retried (DLV-021)
	AcksAbandoned     atomic.Uint64 // acknowledged IDs not stored before their connection ended: redelivered (DLV-021)
}

// Hub is one node's delivery engine. Create it with New, run Run, attach
// sessions with Attach.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	builder *batch.Builder
	signer  [32]byte
	M       Metrics
	tokens  atomic.Pointer[token.Verifier] // Config.Tokens, replaced by SetTokens (OPS-030)

	// mu guards the fields below. Lock order: a Conn's mu, then mu;
	// nothing takes a Conn's mu while holding mu.
	mu       sync.Mutex
	stopping bool // GoAway ran: Attach refuses with going_away
	shutdown bool // Run's context ended: Resume does nothing
	conns    map[[32]byte]*Conn
	dirty    map[*Conn]struct{}
	acks     map[*Conn][]uint64 // accepted by Receive, not yet taken by the ack writer
	// ackHeld: clients whose acknowledgements flushAcks took from acks
	// and has not stored yet (a write in progress, or one to retry); a
	// new connection of theirs gets no delivery until they are stored
	// (DLV-051).
	ackHeld map[[32]byte]struct{}
	wake    chan struct{}

	ackMu sync.Mutex // serialises flushAcks: the ack writer, the final flush and tick (DLV-051)
	aw    ackWriter  // guarded by ackMu

	cache   pendingCache    // the Store, if it holds tracked clients' pending messages; else nil
	pendBuf []store.Message // owned by tick: the messages read from cache in one tick

	seqNext, seqEnd uint64 // reserved batch sequence numbers: one counter for every session (BATCH-020)

	tickFailingSince atomic.Int64 // Unix ns of the first failed delivery tick since the last good one; 0: none

	// Cluster-wide presence (presence.go): the Store, if its nodes share
	// presence, else nil; the clients whose entries to write.
	board     store.PresenceBoard
	presMu    sync.Mutex
	presDirty map[[32]byte]struct{}
	presWake  chan struct{}

	// User addressing (directory.go): the Store, if it records the devices
	// of users, else nil; the records to write.
	dir      store.Directory
	dirMu    sync.Mutex
	dirQueue map[string]deviceRecord
	dirWake  chan struct{}
}

// New returns a Hub.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil || len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("core: Config needs a Store and an Ed25519 Key")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Millisecond
	}
	if cfg.MaxMessagesPerDelivery <= 0 {
		cfg.MaxMessagesPerDelivery = 512
	}
	if cfg.MaxBytesPerDelivery <= 0 {
		cfg.MaxBytesPerDelivery = 512 << 10
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AckInterval <= 0 {
		cfg.AckInterval = 10 * cfg.Tick
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.ShutdownFlushTimeout <= 0 {
		cfg.ShutdownFlushTimeout = 10 * time.Second
	}
	if cfg.ReplaceGrace == 0 {
		cfg.ReplaceGrace = 250 * time.Millisecond
	}
	// SIG-006: the key's public half must be its seed's; NewBuilder
	// refuses it otherwise, before anything is signed.
	b, err := batch.NewBuilder(cfg.Key, nil)
	if err != nil {
		return nil, fmt.Errorf("core: Config.Key: %w", err)
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, builder: b,
		conns: map[[32]byte]*Conn{}, dirty: map[*Conn]struct{}{}, acks: map[*Conn][]uint64{},
		wake: make(chan struct{}, 1)}
	if cfg.Workers > 0 {
		h.builder.SetWorkers(cfg.Workers)
	}
	h.cache, _ = cfg.Store.(pendingCache)
	h.board, _ = cfg.Store.(store.PresenceBoard)
	h.presDirty, h.presWake = map[[32]byte]struct{}{}, make(chan struct{}, 1)
	h.dir, _ = cfg.Store.(store.Directory)
	h.dirQueue, h.dirWake = map[string]deviceRecord{}, make(chan struct{}, 1)
	h.signer = h.builder.SignerID()
	h.tokens.Store(cfg.Tokens)
	return h, nil
}

// SetTokens replaces the verifier of TokenRefresh (a reload, OPS-030):
// a refresh that starts afterwards is verified by v; sessions stay.
func (h *Hub) SetTokens(v *token.Verifier) { h.tokens.Store(v) }

// pendingCache is a Store that holds the pending messages of the clients
// the hub tracks in memory (pendingcache.Store, DLV-050): a client is
// tracked from Attach until its connection ends, and a tick reads a
// tracked client's messages with AppendPending, without a store round trip.
type pendingCache interface {
	Track(clientID [32]byte)
	Untrack(clientID [32]byte)
	// AppendPending appends what Pending would return, sharing payloads,
	// and reports false (appending nothing) when the client's list is not
	// in memory: then Pending reads it.
	AppendPending(dst []store.Message, clientID [32]byte, after uint64, limit int) ([]store.Message, bool)
}

// Conn is one attached, connected session.
type Conn struct {
	hub   *Hub
	peer  Peer
	id    [32]byte
	since time.Time

	mu       sync.Mutex // serialises the session and the fields below
	sess     *session.Session
	keys     *batch.Keys
	sentUpTo uint64   // highest message ID sent on this connection
	inflight []uint64 // sent, not acknowledged, ascending
	// inflightAt[i] is when inflight[i] was committed (Unix ns of
	// store.Message.Created; 0: unknown), for PublishToAcked (OPS-044).
	inflightAt []int64
	closed     bool
	gone       chan struct{} // closed when the connection has ended (shutdown)
	// held: the connection replaced one of the same client that may still
	// deliver its last Acks (DLV-052); nothing is sent on it until
	// release.
	held bool
	// token is the connection's current access token (§6.8), nil
	// without one; tokenTimer closes the connection when it expires
	// (TOK-011). See token.go.
	token      *token.Token
	tokenTimer *time.Timer
}

// ClientID returns the connection's client ID.
func (c *Conn) ClientID() [32]byte { return c.id }

// Attach registers a connected session. A connection of the same client ID
// that is still attached is closed with close_notify: the newer one wins.
// Every unacknowledged message of the client is delivered again (DLV-002).
func (h *Hub) Attach(sess *session.Session, p Peer) (*Conn, error) {
	keys, err := sess.BatchKeys()
	if err != nil {
		return nil, err
	}
	c := &Conn{hub: h, peer: p, id: sess.State().ClientID, since: h.cfg.Now(), sess: sess, keys: keys, gone: make(chan struct{})}
	if h.cache != nil {
		h.cache.Track(c.id) // before the first tick reads the client; shutdown untracks
	}
	h.mu.Lock()
	if h.stopping {
		// A handshake that finished after closeAll would otherwise stay
		// attached to a stopped hub, kept alive by its heartbeats.
		h.mu.Unlock()
		if h.cache != nil {
			h.cache.Untrack(c.id)
		}
		return nil, alert.New(alert.GoingAway, "server shutting down")
	}
	old := h.conns[c.id]
	h.conns[c.id] = c
	h.dirty[c] = struct{}{}
	if old != nil && h.cfg.ReplaceGrace > 0 {
		c.held = true // nobody else knows c yet
	}
	h.mu.Unlock()
	if old != nil {
		if c.held {
			go h.replace(old, c)
		} else {
			old.close(alert.CloseNotify, "replaced by a newer connection of the same client")
		}
	}
	c.startToken(sess.State().Token) // once attached: its expiry closes it (TOK-011)
	c.recordDevice()                 // TOK-020
	h.presenceChanged(c.id)
	h.M.Connections.Add(1)
	h.M.Attached.Add(1)
	h.poke()
	return c, nil
}

// replace lets old, which c replaced, end by itself within ReplaceGrace:
// a client that reconnects usually closed old after its last Ack, and the
// bytes of that Ack may still be unread. Only then is c released, so that
// its first delivery does not send again what old's last Ack
// acknowledged (DLV-051, DLV-052). old gets no new deliveries meanwhile:
// it is no longer the client's connection.
func (h *Hub) replace(old, c *Conn) {
	t := time.NewTimer(h.cfg.ReplaceGrace)
	select {
	case <-old.gone:
	case <-t.C:
		old.close(alert.CloseNotify, "replaced by a newer connection of the same client")
	}
	t.Stop()
	c.mu.Lock()
	c.held = false
	c.mu.Unlock()
	h.markDirty(c)
	h.poke()
}

// Online reports whether a client is connected to this node and since when.
func (h *Hub) Online(id [32]byte) (bool, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.conns[id]; c != nil {
		return true, c.since
	}
	return false, time.Time{}
}

// InFlight reports whether message seq of client id was sent on the
// client's current connection and awaits its acknowledgement.
func (h *Hub) InFlight(id [32]byte, seq uint64) bool {
	h.mu.Lock()
	c := h.conns[id]
	h.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, found := slices.BinarySearch(c.inflight, seq)
	return found
}

// Notify tells the hub that messages were committed; connected clients
// among their recipients get them in the next tick. Store.Publish's
// onCommit calls it.
func (h *Hub) Notify(as []store.Assigned) {
	h.M.Published.Add(uint64(len(as)))
	h.mu.Lock()
	for _, a := range as {
		if c := h.conns[a.ClientID]; c != nil {
			h.dirty[c] = struct{}{}
		}
	}
	h.mu.Unlock()
	h.poke()
}

// Wake tells the hub that a client may have new messages, stored by
// another node of a cluster; it is delivered in the next tick if it is
// connected here.
func (h *Hub) Wake(id [32]byte) {
	h.mu.Lock()
	c := h.conns[id]
	if c != nil {
		h.dirty[c] = struct{}{}
	}
	h.mu.Unlock()
	if c != nil {
		h.poke()
	}
}

func (h *Hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Receive processes one frame from the client: Acks and KeyUpdates
// (POST-003 … POST-005). An error is an *alert.Error; the connection is
// then closed by Receive with the matching Alert (unless the peer sent
// one), and the transport stops reading.
func (c *Conn) Receive(frame []byte) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return alert.New(alert.CloseNotify, "connection closed")
	}
	msgs, err := c.sess.Open(frame)
	if err != nil {
		c.mu.Unlock()
		if !session.FromPeer(err) {
			c.hub.M.ProtocolErrors.Add(1)
		}
		code, _ := alert.CodeOf(err)
		c.closeFromPeer(code, err)
		return err
	}
	for _, f := range c.sess.Pending() {
		if !c.peer.Send(f) {
			c.mu.Unlock()
			c.shutdown(nil, "send queue full") // no Alert: see send
			return alert.New(alert.Overloaded, "send queue full")
		}
	}
	var acked []uint64
	for _, m := range msgs {
		if m.Type == wire.TypeTokenRefresh {
			if err := c.refreshToken(m.Body); err != nil {
				c.mu.Unlock()
				c.hub.M.ProtocolErrors.Add(1)
				if err == errQueueFull {
					c.shutdown(nil, "send queue full") // no Alert: see send
					return err
				}
				code, _ := alert.CodeOf(err)
				c.close(code, err.Error())
				return err
			}
			continue
		}
		if m.Type != wire.TypeAck {
			continue // Session.Open admits only Ack and TokenRefresh for a server
		}
		ids, err := session.ParseAck(m.Body)
		if err != nil {
			c.mu.Unlock()
			c.hub.M.ProtocolErrors.Add(1)
			code, _ := alert.CodeOf(err)
			c.close(code, err.Error())
			return err
		}
		// DLV-020: only a message in flight on this connection (sent on
		// it, not yet acknowledged) can be acknowledged on it; any other ID
		// (never sent, sent on another connection, already acknowledged,
		// repeated in a later Ack) changes nothing. A client cannot
		// acknowledge what it has not received (DLV-003).
		var now int64 // read once per Ack, when a latency is observed
		for _, id := range ids {
			if i, found := slices.BinarySearch(c.inflight, id); found {
				if at := c.inflightAt[i]; at != 0 && c.hub.cfg.PublishToAcked != nil {
					if now == 0 {
						now = c.hub.cfg.Now().UnixNano()
					}
					c.hub.cfg.PublishToAcked.Observe(max(0, time.Duration(now-at).Seconds()))
				}
				c.inflight = slices.Delete(c.inflight, i, i+1)
				c.inflightAt = slices.Delete(c.inflightAt, i, i+1)
				acked = append(acked, id)
			}
		}
	}
	if len(acked) > 0 {
		// Queued while c.mu is held: once GoAway has closed c, every Ack
		// accepted on it is queued, so the final flush stores it (DLV-022).
		h := c.hub
		h.mu.Lock()
		h.acks[c] = append(h.acks[c], acked...)
		if h.conns[c.id] == c {
			h.dirty[c] = struct{}{}
		}
		h.mu.Unlock()
		h.M.Acked.Add(uint64(len(acked)))
		h.poke()
	}
	c.mu.Unlock()
	return nil
}

// Fail closes the connection with an Alert of code after a transport-level
// failure the transport detected (an oversize or malformed frame, a
// timeout).
func (c *Conn) Fail(code alert.Code, err error) {
	c.hub.M.ProtocolErrors.Add(1)
	c.close(code, err.Error())
}

// Detach removes a connection whose transport ended (read error, close).
func (c *Conn) Detach() { c.close(alert.CloseNotify, "transport closed") }

func (c *Conn) closeFromPeer(code alert.Code, err error) {
	if session.FromPeer(err) {
		c.shutdown(nil, "peer alert "+code.String())
		return
	}
	c.close(code, err.Error())
}

// close ends the connection with an Alert of code.
func (c *Conn) close(code alert.Code, why string) {
	c.mu.Lock()
	var final []byte
	if !c.closed {
		// After a local failure the session is closed for receiving, but
		// its sending key still protects the Alert (ALERT-001).
		final = c.sess.AlertFrame(code)
	}
	c.mu.Unlock()
	c.shutdown(final, why)
}

func (c *Conn) shutdown(final []byte, why string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.gone)
	c.stopToken()
	c.mu.Unlock()
	h := c.hub
	h.mu.Lock()
	if h.conns[c.id] == c {
		delete(h.conns, c.id)
	}
	delete(h.dirty, c)
	h.mu.Unlock()
	if h.cache != nil {
		h.cache.Untrack(c.id)
	}
	h.presenceChanged(c.id)
	c.recordDevice() // last seen now (TOK-020)
	h.M.Connections.Add(-1)
	h.log.Debug("connection closed", "client", fmt.Sprintf("%x", c.id[:8]), "reason", why)
	c.peer.Close(final)
}

// Run runs the delivery loop until ctx ends. Then it closes every
// connection with going_away (GoAway) and stores the acknowledgements it
// accepted, with a context that is not cancelled (DLV-022), before it
// returns.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Tick)
	defer t.Stop()
	exp := time.NewTicker(h.cfg.ExpiryInterval)
	defer exp.Stop()
	var resync <-chan time.Time
	if h.cfg.ResyncInterval > 0 {
		rt := time.NewTicker(h.cfg.ResyncInterval)
		defer rt.Stop()
		resync = rt.C
	}
	// Acknowledgements are stored off the delivery path, by one writer
	// that is stopped only after every connection is closed, and whose
	// store calls are not cancelled by ctx (DLV-021, DLV-022).
	stopAcks, ackDone := make(chan struct{}), make(chan struct{})
	go h.ackLoop(context.WithoutCancel(ctx), stopAcks, ackDone)
	stopPresence, presenceDone := make(chan struct{}), make(chan struct{})
	if h.board != nil {
		go h.presenceLoop(stopPresence, presenceDone)
	} else {
		close(presenceDone)
	}
	stopDirectory, directoryDone := make(chan struct{}), make(chan struct{})
	if h.dir != nil {
		go h.directoryLoop(stopDirectory, directoryDone)
	} else {
		close(directoryDone)
	}
	for {
		select {
		case <-resync:
			h.mu.Lock()
			for _, c := range h.conns {
				h.dirty[c] = struct{}{}
			}
			h.mu.Unlock()
			h.poke()
			continue
		case <-ctx.Done():
			// The writer stops first (a write in progress completes), so
			// that it cannot give up the acknowledgements of connections
			// GoAway closes; the final flush then stores every Ack
			// accepted before GoAway returned (DLV-022).
			close(stopAcks)
			<-ackDone
			h.mu.Lock()
			h.shutdown = true
			h.mu.Unlock()
			n := h.GoAway("server shutting down")
			h.log.Info("shutdown: sessions closed with going_away", "sessions", n)
			close(stopPresence) // its last pass removes the entries of the connections GoAway closed
			h.finalFlush(context.WithoutCancel(ctx))
			close(stopDirectory) // its last pass records when GoAway's connections ended
			<-presenceDone
			<-directoryDone
			return nil
		case <-exp.C:
			if _, err := h.cfg.Store.Expire(ctx, h.cfg.Now()); err != nil && ctx.Err() == nil {
				h.M.StoreErrors.Add(1)
				h.log.Error("expiry sweep failed", "err", err)
			}
			continue
		case <-t.C:
		}
		// Wait for work so that an idle server does not spin; a tick
		// bounds how often batches are built, not how late.
		select {
		case <-h.wake:
		default:
			continue
		}
		if err := h.tick(ctx); err != nil && ctx.Err() == nil {
			h.M.StoreErrors.Add(1)
			h.log.Error("delivery tick failed", "err", err)
			h.tickFailingSince.CompareAndSwap(0, time.Now().UnixNano()) // the wall clock: the node's watchdog reads it
		} else if err == nil {
			h.tickFailingSince.Store(0)
		}
	}
}

// GoAway closes every connection with going_away (POST-022: an orderly
// close; the client keeps its state and reconnects elsewhere) and refuses
// later attachments with it. It is the one signal for "this node stops
// serving you": shutdown uses it, and so does a node that gives up its
// clients for another reason (drain, a lost store). It returns how many
// connections it closed. Acknowledgements accepted on them before it
// returns are queued for the ack writer (DLV-022).
func (h *Hub) GoAway(reason string) int {
	h.mu.Lock()
	h.stopping = true
	cs := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.close(alert.GoingAway, reason)
	}
	return len(cs)
}

// Resume undoes GoAway: Attach accepts sessions again, and the record of
// failed delivery ticks starts afresh. A node that gave its clients up
// while it could not reach its store calls it once the store answers
// again (OPS-004). Once Run's context has ended it does nothing: a
// shutdown is final.
func (h *Hub) Resume() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.shutdown {
		h.stopping = false
		h.tickFailingSince.Store(0)
	}
}

// DeliveryFailingSince reports when the delivery ticks started failing:
// the time of the first failed tick since the last one that succeeded;
// ok is false when the last tick succeeded (OPS-003).
func (h *Hub) DeliveryFailingSince() (since time.Time, ok bool) {
	ns := h.tickFailingSince.Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// ackWriter is the state of the goroutine that stores acknowledgements.
type ackWriter struct {
	retry    map[*Conn][]uint64 // a batch whose store call failed
	failures int                // consecutive failed attempts
	next     time.Time          // no attempt before this (backoff)
}

// ackBackoff is the delay after the n-th consecutive failure: the tick,
// doubled per failure, at most maxAckBackoff.
func (h *Hub) ackBackoff(n int) time.Duration {
	d := h.cfg.Tick
	for i := 1; i < n && d < maxAckBackoff; i++ {
		d *= 2
	}
	return min(d, maxAckBackoff)
}

const maxAckBackoff = time.Second

// ackLoop stores acknowledgements every tick until stop is closed, then
// closes done.
func (h *Hub) ackLoop(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(h.cfg.AckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			h.flushAcks(ctx, false)
		}
	}
}

// finalFlush stores every acknowledgement received, retrying with backoff
// for up to ShutdownFlushTimeout (DLV-022), and logs what it did. It runs
// after GoAway, when the ack writer has stopped, and keeps the
// acknowledgements of every connection although all have ended.
func (h *Hub) finalFlush(ctx context.Context) {
	deadline := time.Now().Add(h.cfg.ShutdownFlushTimeout)
	stored := 0
	for {
		n, left, err := h.flushAcks(ctx, true)
		stored += n
		if err == nil && left == 0 {
			h.log.Info("shutdown: acknowledgements stored", "ids", stored)
			return
		}
		wait := h.ackBackoff(h.aw.failures)
		if time.Now().Add(wait).After(deadline) {
			h.M.AcksAbandoned.Add(uint64(left))
			h.aw.retry = nil
			h.log.Error("shutdown: acknowledgements not stored; their messages stay pending and are redelivered",
				"stored", stored, "not_stored", left, "err", err)
			return
		}
		time.Sleep(wait)
	}
}

// flushAcks makes one attempt to store the acknowledgements received since
// the last attempt, together with those of a failed attempt whose
// connection is still up (all of them when final is set); during a
// backoff it does nothing. It returns how many IDs it stored and how many
// wait for a retry. An ID whose connection ended before it was stored is
// dropped: its message stays pending and is delivered again on the next
// connection, where the client drops and acknowledges it (DLV-021,
// REPLAY-012).
func (h *Hub) flushAcks(ctx context.Context, final bool) (stored, left int, err error) {
	h.ackMu.Lock()
	defer h.ackMu.Unlock()
	w := &h.aw
	now := h.cfg.Now()
	if !final && w.failures > 0 && now.Before(w.next) {
		return 0, countIDs(w.retry), nil
	}
	var batch map[*Conn][]uint64
	h.mu.Lock()
	if len(h.acks) > 0 {
		batch, h.acks = h.acks, map[*Conn][]uint64{}
		// Held from the moment they leave the queue: a tick between
		// here and the store write must see them (DLV-051).
		if h.ackHeld == nil {
			h.ackHeld = map[[32]byte]struct{}{}
		}
		for c := range batch {
			h.ackHeld[c.id] = struct{}{}
		}
	}
	h.mu.Unlock()
	for c, ids := range w.retry {
		if !final && c.ended() {
			h.M.AcksAbandoned.Add(uint64(len(ids)))
			continue
		}
		if batch == nil {
			batch = map[*Conn][]uint64{}
		}
		batch[c] = append(batch[c], ids...)
	}
	w.retry = nil
	if len(batch) == 0 {
		w.failures = 0
		h.mu.Lock()
		h.ackHeld = nil // what was held was abandoned with its connections
		h.mu.Unlock()
		return 0, 0, nil
	}
	// The store's map is per client: the IDs of every connection of a
	// client, each once (DLV-020).
	byClient := map[[32]byte][]uint64{}
	for c, ids := range batch {
		byClient[c.id] = append(byClient[c.id], ids...)
	}
	held := make(map[[32]byte]struct{}, len(byClient))
	for id := range byClient {
		held[id] = struct{}{}
	}
	h.mu.Lock()
	h.ackHeld = held
	h.mu.Unlock()
	n := 0
	for id, ids := range byClient {
		slices.Sort(ids)
		byClient[id] = slices.Compact(ids)
		n += len(byClient[id])
	}
	actx, cancel := context.WithTimeout(ctx, h.cfg.AckTimeout)
	_, err = h.cfg.Store.Ack(actx, byClient)
	cancel()
	if err != nil {
		w.retry = batch
		w.failures++
		w.next = now.Add(h.ackBackoff(w.failures))
		h.M.StoreErrors.Add(1)
		h.M.AckRetries.Add(1)
		h.log.Error("storing acknowledgements failed; retrying", "ids", n, "attempt", w.failures, "err", err)
		return 0, countIDs(batch), err
	}
	w.failures = 0
	h.mu.Lock()
	h.ackHeld = nil
	h.mu.Unlock()
	return n, 0, nil
}

func countIDs(m map[*Conn][]uint64) int {
	n := 0
	for _, ids := range m {
		n += len(ids)
	}
	return n
}

// ended reports whether the connection is closed.
func (c *Conn) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

type plan struct {
	c      *Conn
	msgs   []store.Message
	handle int
}

// tick builds and sends one batch for every connection with work.
func (h *Hub) tick(ctx context.Context) error {
	h.mu.Lock()
	ready := make([]*Conn, 0, len(h.dirty))
	for c := range h.dirty {
		ready = append(ready, c)
	}
	clear(h.dirty)
	h.mu.Unlock()
	if len(ready) == 0 {
		return nil
	}
	if h.acksQueuedForNewConns(ready) {
		// DLV-051: a client that acknowledged messages on a connection
		// and reconnected before the next AckInterval would be sent them
		// again, read as pending from the store; its queued
		// acknowledgements are stored before its first delivery.
		h.flushAcks(ctx, false)
	}
	// A new connection whose client's acknowledgements are being stored
	// by the ack writer right now, or wait for a retry, waits for them
	// too: it is tried again next tick (DLV-051).
	ready = h.deferHeldNewConns(ready)
	// A client whose messages the cache holds is read in this loop; the
	// store is queried for the others, several at once: a store round trip
	// (a networked engine especially) must not serialise the tick.
	type query struct {
		lowest uint64 // lowest ID in flight, 0: none
		msgs   []store.Message
		err    error
		skip   bool
	}
	qs := make([]query, len(ready))
	var wg sync.WaitGroup
	var sem chan struct{}
	buf := h.pendBuf[:0]
	defer func() {
		clear(buf) // the tick's plans are done: drop the payload references
		h.pendBuf = buf[:0]
	}()
	for i, c := range ready {
		c.mu.Lock()
		after, closed := c.sentUpTo, c.closed || c.held // a held one is marked again on release
		if len(c.inflight) > 0 {
			qs[i].lowest = c.inflight[0]
		}
		c.mu.Unlock()
		if closed {
			qs[i].skip = true
			continue
		}
		if h.cache != nil {
			start := len(buf)
			var ok bool
			if buf, ok = h.cache.AppendPending(buf, c.id, after, h.cfg.MaxMessagesPerDelivery); ok {
				qs[i].msgs = buf[start:len(buf):len(buf)]
				continue
			}
		}
		if sem == nil {
			sem = make(chan struct{}, 16)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			qs[i].msgs, qs[i].err = h.cfg.Store.Pending(ctx, c.id, after, h.cfg.MaxMessagesPerDelivery)
		}()
	}
	wg.Wait()
	var plans []plan
	var again []*Conn
	lim := h.limits()
	for i, c := range ready {
		if qs[i].skip {
			continue
		}
		if err := qs[i].err; err != nil {
			h.markDirty(ready...)
			return err
		}
		n, more := planDelivery(qs[i].msgs, qs[i].lowest, lim)
		if more {
			again = append(again, c) // more is waiting that fits the window
		}
		if n > 0 {
			plans = append(plans, plan{c: c, msgs: qs[i].msgs[:n]})
		}
	}
	if len(plans) > 0 {
		if err := h.send(ctx, plans); err != nil {
			h.markDirty(ready...)
			return err
		}
	}
	if len(again) > 0 {
		h.markDirty(again...)
	}
	return nil
}

// deferHeldNewConns returns ready without the connections that have sent
// nothing yet while acknowledgements of their client are taken by the ack
// writer and not stored (ackHeld); those are marked dirty again, for the
// next tick (the loop runs a tick only when poked; ticks stay Tick apart).
func (h *Hub) deferHeldNewConns(ready []*Conn) []*Conn {
	h.mu.Lock()
	if len(h.ackHeld) == 0 {
		h.mu.Unlock()
		return ready
	}
	held := maps.Clone(h.ackHeld)
	h.mu.Unlock()
	// c.mu is taken without h.mu: Receive takes them in the other order.
	var deferred []*Conn
	out := ready[:0]
	for _, c := range ready {
		if _, ok := held[c.id]; ok && c.fresh() {
			deferred = append(deferred, c)
			continue
		}
		out = append(out, c)
	}
	if len(deferred) > 0 {
		h.mu.Lock()
		for _, c := range deferred {
			if h.conns[c.id] == c {
				h.dirty[c] = struct{}{}
			}
		}
		h.mu.Unlock()
		h.poke()
	}
	return out
}

// fresh reports whether nothing was sent on c yet.
func (c *Conn) fresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentUpTo == 0
}

// acksQueuedForNewConns reports whether a connection in ready has sent
// nothing yet while acknowledgements of another connection of its client
// wait for the ack writer.
func (h *Hub) acksQueuedForNewConns(ready []*Conn) bool {
	var fresh []*Conn
	for _, c := range ready {
		if c.fresh() {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range fresh {
		for q := range h.acks {
			if q != c && q.id == c.id {
				return true
			}
		}
	}
	return false
}

func (h *Hub) markDirty(cs ...*Conn) {
	h.mu.Lock()
	for _, c := range cs {
		if h.conns[c.id] == c {
			h.dirty[c] = struct{}{}
		}
	}
	h.mu.Unlock()
	h.poke()
}

func (h *Hub) nextSeq(ctx context.Context) (uint64, error) {
	if h.seqNext == 0 || h.seqNext > h.seqEnd {
		const block = 1 << 16
		first, err := h.cfg.Store.ReserveBatchSeqs(ctx, h.signer, block)
		if err != nil {
			return 0, fmt.Errorf("core: reserving batch sequence numbers: %w", err)
		}
		h.seqNext, h.seqEnd = first, first+block-1
	}
	s := h.seqNext
	h.seqNext++
	return s, nil
}

func (h *Hub) send(ctx context.Context, plans []plan) error {
	start := time.Now()
	b := h.builder
	b.Reset()
	blobHandles := map[int64]int{}
	var entries []batch.Entry
	kept := plans[:0]
	for i := range plans {
		p := &plans[i]
		entries = entries[:0]
		for _, m := range p.msgs {
			e := batch.Entry{MessageID: m.Seq}
			if m.BlobID != 0 {
				hd, ok := blobHandles[m.BlobID]
				if !ok {
					hd = b.AddBroadcast(m.Payload)
					blobHandles[m.BlobID] = hd
				}
				e.Broadcast = hd
			} else {
				e.Payload = m.Payload
			}
			entries = append(entries, e)
		}
		hd, err := b.AddRecipient(p.c.keys, entries)
		if err != nil {
			// BATCH-008: the builder refused this session's leaf (its
			// envelope key is at a BATCH-007 limit: limit_exceeded), so
			// this session is closed and the batch goes to the others.
			// Its messages stay stored for its next connection.
			code, _ := alert.CodeOf(err)
			if code == alert.LimitExceeded {
				h.M.EnvelopeKeyCloses.Add(1)
			}
			p.c.close(code, err.Error())
			continue
		}
		p.handle = hd
		kept = append(kept, *p)
	}
	plans = kept
	if len(plans) == 0 {
		return nil
	}
	seq, err := h.nextSeq(ctx)
	if err != nil {
		return err
	}
	bt, err := b.Build(seq, uint64(h.cfg.Now().UnixMilli()))
	if err != nil {
		return fmt.Errorf("core: building batch %d: %w", seq, err)
	}
	h.M.Batches.Add(1)
	h.M.BatchLeaves.Add(uint64(bt.Leaves()))
	var body, msg, frame []byte
	sent := h.cfg.Now()
	for i := range plans {
		p := &plans[i]
		body, err = bt.AppendDelivery(body[:0], p.handle)
		if err != nil {
			return err
		}
		msg = wire.AppendMessage(msg[:0], wire.TypeBatchDelivery, body)
		c := p.c
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			continue
		}
		frame, err = c.sess.Seal(frame[:0], msg) // Send copies it
		if err != nil {
			c.mu.Unlock()
			code, _ := alert.CodeOf(err)
			c.close(code, err.Error())
			continue
		}
		if !c.peer.Send(frame) {
			c.mu.Unlock()
			// Slow consumer: its messages stay stored for the next
			// connection.
			h.M.SlowConsumers.Add(1)
			h.log.Info("slow consumer disconnected", "client", fmt.Sprintf("%x", c.id[:8]))
			// The dropped frame used a record sequence number, so an
			// Alert sealed after it would not open at the client
			// (bad_record_mac): the transport is closed without one,
			// and the client reconnects as after any dropped connection.
			c.shutdown(nil, "send queue full")
			continue
		}
		for _, m := range p.msgs {
			c.inflight = append(c.inflight, m.Seq)
			var at int64
			if !m.Created.IsZero() {
				at = m.Created.UnixNano()
			}
			c.inflightAt = append(c.inflightAt, at)
		}
		c.sentUpTo = p.msgs[len(p.msgs)-1].Seq
		c.mu.Unlock()
		h.M.Delivered.Add(uint64(len(p.msgs)))
		if h.cfg.PublishToSent != nil {
			for _, m := range p.msgs {
				if !m.Created.IsZero() {
					h.cfg.PublishToSent.Observe(max(0, sent.Sub(m.Created).Seconds()))
				}
			}
		}
	}
	built := time.Since(start)
	h.M.BatchBuildNanos.Add(uint64(built))
	if h.cfg.BatchBuild != nil {
		h.cfg.BatchBuild.Observe(built.Seconds())
	}
	if h.log.Enabled(ctx, slog.LevelDebug) {
		n := 0
		for _, p := range plans {
			n += len(p.msgs)
		}
		h.log.Debug("batch sent", "seq", seq, "recipients", len(plans), "leaves", bt.Leaves(), "messages", n,
			"build", time.Since(start).Round(time.Microsecond))
	}
	return nil
}
