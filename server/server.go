// Package server assembles one SealFeed server node: the Store, the
// delivery core, the WebSocket transport and the REST API behind one HTTP
// handler, with the node's keys kept in a data directory.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/nats-io/nats.go"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/server/certfile"
	"github.com/sealfeed/sealfeed/server/clientaddr"
	"github.com/sealfeed/sealfeed/server/core"
	"github.com/sealfeed/sealfeed/server/metrics"
	"github.com/sealfeed/sealfeed/server/restapi"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/jsstore"
	"github.com/sealfeed/sealfeed/server/store/pendingcache"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
	"github.com/sealfeed/sealfeed/server/webhook"
	"github.com/sealfeed/sealfeed/server/wsapi"
)

// WebSocketPath is where clients connect.
const WebSocketPath = "/v1/ws"

// Config configures a node. Zero values take the documented defaults.
type Config struct {
	// DataDir holds server.key, storage.key and sealfeed.db; missing keys
	// are created on first start. Ticket keys live in the store (HS-045).
	DataDir string
	// KeyFile is the server's identity key; "": DataDir/server.key,
	// created on first start. A KeyFile that does not exist is an error.
	KeyFile string
	// NextKey is the public key the node announces to pinned clients as
	// its next key (HS-070); nil: none. Clients that trust an authority
	// (with Credential) are not sent it.
	NextKey ed25519.PublicKey
	// Credential and RevocationList, if set, are offered to clients that
	// send the realm extension (trust by authority, CRED-*).
	Credential, RevocationList []byte
	Realm                      string
	// Publishers maps key IDs to registered publisher keys (API-012).
	Publishers map[string]ed25519.PublicKey
	// Authorities are the node's public authorities, host[:port] as
	// publishers address it (API-039); empty: any, which lets a request
	// captured on another deployment that trusts the same publisher key be
	// replayed here.
	Authorities []string
	// RequireToken refuses sessions without an access token (HS-062).
	// Every publisher key issues tokens (TOK-002); their audience is
	// Realm or this node's key (TOK-005).
	RequireToken bool
	// PresencePublishers are publisher key IDs granted the presence of
	// every client (API-040).
	PresencePublishers []string

	Tick                time.Duration // batching interval; 0: 5 ms
	HandshakeTimeout    time.Duration // 0: 10 s
	IdleTimeout         time.Duration // 0: 90 s
	TicketLifetime      time.Duration // 0: 24 h
	TicketKeyRotation   time.Duration // period of the ticket key (HS-045), at least TicketLifetime; 0: TicketLifetime
	MaxConnsPerIP       int           // 0: 256
	MaxHandshakesPerIP  int           // 0: 16
	SendQueue           int           // frames per connection; 0: 64
	MaxPayload          int           // 0: 65536
	MaxPendingPerClient int           // 0: 10000
	Synchronous         string        // SQLite synchronous pragma; "": FULL
	Workers             int           // batch sealing goroutines; 0: GOMAXPROCS
	AEADs               []uint16      // AEAD preference (HS-011); nil: suite.SupportedAEADs
	// StoreTimeout bounds the store calls of a publisher request: past it
	// the request is answered 503 with Retry-After (API-041); 0: 5 s.
	StoreTimeout time.Duration
	// SickAfter is how long the store may fail its readiness probe, or
	// the delivery ticks keep failing, before the node is sick: it closes
	// its sessions with going_away and refuses new ones and publishes
	// until the store answers again (OPS-003, OPS-004); 0: 5 s.
	SickAfter time.Duration
	// TrustedProxies are the reverse proxies whose forwarded client
	// addresses the per-address limits use (OPS-011); nil: none, every
	// connection counts under its peer's address.
	TrustedProxies *clientaddr.Resolver
	// StorageKey, if set, is the embedded store's 32-byte payload key,
	// kept wherever the operator chooses; nil: DataDir/storage.key,
	// created on first start (OPS-015).
	StorageKey []byte
	// Store replaces the embedded SQLite store (other engines).
	Store store.Store
	// Cluster, if set, makes the node one of several sharing a NATS
	// JetStream cluster (docs/scale-out.md); Store must be unset.
	Cluster *ClusterConfig
	// Extra handlers mounted on the node's mux (e.g. the /demo page).
	Extra  map[string]http.Handler
	Logger *slog.Logger
	// Now is the node's clock; nil: time.Now. Everything the node decides
	// by the time of day reads it: the publisher clock-skew window and
	// nonce retention (API-013, API-017), ticket issue and expiry (HS-040,
	// HS-046), ticket key rotation (HS-045), batch time stamps, the expiry
	// stamps a publish answers with and, with the embedded store, message
	// expiry; a cluster's store decides expiry on its own clock (DLV-040).
	// Socket timeouts and deadlines run on the wall clock. A Store given in
	// Config keeps its own clock. Tests set Now to run the nodes of one
	// deployment on clocks that disagree; sealfeed serve sets it only in a
	// sealfeed_testhooks build (internal/testclock, DLV-041).
	Now func() time.Time
	// TLSCert, if set, is the certificate the node's listener serves: a
	// reload re-reads it (OPS-030) and its expiry is watched (OPS-031).
	TLSCert *certfile.Cert
	// WarnExpiryFraction: the credential and the TLS certificate are
	// warned about once less than this fraction of their lifetime is left
	// (OPS-031); 0: 0.25.
	WarnExpiryFraction float64
	// MaxClockSkew is the skew tolerance (DLV-041): a cluster node warns
	// when its clock is further than this from the store's; 0: 30 s.
	MaxClockSkew time.Duration
	// WebhookKey is the deployment's webhook signing key, the same on
	// every node and not the identity key (API-107); nil: no webhooks.
	// GET /v1/server publishes its public half.
	WebhookKey ed25519.PrivateKey
	// Webhooks maps publisher key IDs to their webhook URL (API-108);
	// a reload replaces it (Reloadable.Webhooks). It needs WebhookKey.
	Webhooks map[string]string
	// Webhook tunes the dispatcher: its Interval, MaxBatch, backoff,
	// MaxAge and Timeout (zero: webhook's defaults); the other fields are
	// the node's.
	Webhook webhook.Config
}

// Node is a running server node.
type Node struct {
	Key     ed25519.PrivateKey
	Created bool // the identity key was created by this start
	Hub     *core.Hub
	WS      *wsapi.Handler
	API     *restapi.API
	Store   store.Store
	// Metrics is the node's own Prometheus registry, served on /metrics
	// (OPS-040).
	Metrics *metrics.Node

	cfg    Config
	nc     *nats.Conn
	sub    *nats.Subscription
	mux    *http.ServeMux
	own    bool // the node opened Store and closes it
	dog    *watchdog
	reload reloader

	js          *jsstore.Store // the cluster's store, or nil
	clockOffset atomic.Int64   // ns the node's clock is ahead of the store's, last measured (DLV-041)
	clockBeyond bool           // the last measurement exceeded MaxClockSkew; owned by checkClock's caller

	hooks        *webhook.Dispatcher // nil without a WebhookKey
	outboxFilter func(publisher string) bool
}

// tokenVerifier is the node's access-token verifier (TOK-007): every
// registered publisher key is an issuer (TOK-002), and the audience is the
// node's realm or its key (TOK-005).
// A publisher key that fails SIG-001 issues no token.
func tokenVerifier(cfg Config, key ed25519.PrivateKey) (*token.Verifier, error) {
	v := &token.Verifier{Issuers: map[[32]byte]*sig.PublicKey{}, Realm: cfg.Realm,
		ServerKeyID: sig.KeyID(key.Public().(ed25519.PublicKey))}
	for id, pub := range cfg.Publishers {
		pk, err := sig.ParsePublicKey(pub)
		if err != nil {
			if cfg.Logger != nil {
				cfg.Logger.Warn("publisher key fails SIG-001: it issues no access token", "keyid", id)
			}
			continue
		}
		v.Issuers[pk.ID()] = pk
	}
	return v, nil
}

func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := keyfile.WriteNew(path, b, 0o600); err != nil {
		if errors.Is(err, keyfile.ErrExists) {
			return loadOrCreateSecret(path)
		}
		return nil, err
	}
	return b, nil
}

// New opens the data directory and assembles a node; Serve runs it.
func New(cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	var key ed25519.PrivateKey
	var created bool
	var err error
	if cfg.KeyFile != "" {
		key, err = keyfile.LoadPrivate(cfg.KeyFile)
	} else {
		key, created, err = keyfile.LoadOrCreatePrivate(filepath.Join(cfg.DataDir, "server.key"))
	}
	if err != nil {
		return nil, fmt.Errorf("server: identity key: %w", err)
	}
	var nextKey *sig.PublicKey
	if cfg.NextKey != nil {
		// HS-072: a valid key (SIG-001), not the node's own.
		if nextKey, err = sig.ParsePublicKey(cfg.NextKey); err != nil {
			return nil, fmt.Errorf("server: next key: %w", err)
		}
		if nextKey.Equal(mustPublic(key)) {
			return nil, errors.New("server: the next key is the node's own key (HS-072)")
		}
	}
	ticketLifetime := orDefault(cfg.TicketLifetime, 24*time.Hour)
	rotation := orDefault(cfg.TicketKeyRotation, ticketLifetime)
	if rotation < ticketLifetime {
		return nil, fmt.Errorf("server: ticket key rotation %v is shorter than the ticket lifetime %v (HS-045)", rotation, ticketLifetime)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.MaxClockSkew = orDefault(cfg.MaxClockSkew, 30*time.Second)
	n := &Node{Key: key, Created: created, cfg: cfg, Store: cfg.Store}
	var js *jsstore.Store
	if cfg.Cluster != nil {
		if cfg.Store != nil {
			return nil, errors.New("server: set Store or Cluster, not both")
		}
		if js, err = n.openCluster(cfg.Cluster); err != nil {
			return nil, err
		}
		n.Store, n.js = js, js
		n.checkClock(context.Background())
	}
	if n.Store == nil {
		storageKey := cfg.StorageKey
		if storageKey == nil {
			if storageKey, err = loadOrCreateSecret(filepath.Join(cfg.DataDir, "storage.key")); err != nil {
				return nil, fmt.Errorf("server: storage key: %w", err)
			}
		} else if _, err := os.Stat(filepath.Join(cfg.DataDir, "storage.key")); err == nil {
			cfg.Logger.Warn("the storage key is given apart from the data directory, but storage.key is still in it: whoever copies the directory has both (OPS-015)",
				"file", filepath.Join(cfg.DataDir, "storage.key"))
		}
		s, err := sqlitestore.Open(filepath.Join(cfg.DataDir, "sealfeed.db"), sqlitestore.Options{StorageKey: storageKey, Synchronous: cfg.Synchronous, Now: cfg.Now})
		if err != nil {
			return nil, err
		}
		// Pending messages of the clients connected here are held in
		// memory, written through (DLV-050): every write to this engine
		// goes through this node. Not for a Store given in Config (which
		// tests make fail) nor a cluster's, whose other nodes write too.
		// A client with a longer backlog is read from the engine.
		maxHeld := 10000
		if cfg.MaxPendingPerClient > 0 {
			maxHeld = min(maxHeld, cfg.MaxPendingPerClient)
		}
		n.Store, n.own = pendingcache.New(s, pendingcache.Options{Now: cfg.Now, MaxPerClient: maxHeld}), true
	}
	live, err := n.prepare(Reloadable{Publishers: cfg.Publishers, Authorities: cfg.Authorities, PresencePublishers: cfg.PresencePublishers,
		Credential: cfg.Credential, RevocationList: cfg.RevocationList, Webhooks: cfg.Webhooks}, false)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	n.reload.cur.Store(live)
	if err := n.startWebhooks(); err != nil {
		n.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	n.Metrics = metrics.New()
	hc := core.Config{Key: key, Store: n.Store, Tick: cfg.Tick, Workers: cfg.Workers, Logger: cfg.Logger, Now: cfg.Now,
		Tokens: live.tokens, BatchBuild: n.Metrics.BatchBuildSeconds, PublishToSent: n.Metrics.PublishToSentSeconds,
		PublishToAcked: n.Metrics.PublishToAckedSeconds}
	if js != nil {
		hc.ResyncInterval = 2 * time.Second
	}
	n.Hub, err = core.New(hc)
	if err != nil {
		n.Close()
		return nil, err
	}
	if js != nil {
		// Messages stored by any node are published on their client's
		// subject too: a node wakes the delivery of its own clients.
		n.sub, err = n.nc.Subscribe(js.Subject(), func(m *nats.Msg) {
			if id, ok := js.ClientOf(m.Subject); ok {
				n.Hub.Wake(id)
			}
		})
		if err != nil {
			n.Close()
			return nil, err
		}
	}
	pub := key.Public().(ed25519.PublicKey)
	pk, err := sig.ParsePublicKey(pub)
	if err != nil {
		n.Close()
		return nil, err
	}
	maxPayload := cfg.MaxPayload
	if maxPayload <= 0 {
		maxPayload = session.MaxPayload
	}
	if maxPayload > session.MaxPayload {
		n.Close()
		return nil, fmt.Errorf("server: MaxPayload %d above the protocol's %d (POST-002)", maxPayload, session.MaxPayload)
	}
	aeads := cfg.AEADs // nil: the handshake's default, suite.SupportedAEADs
	generations := store.Generations(n.Store, 8*time.Second)
	state := &storeState{st: n.Store, rotation: rotation, log: cfg.Logger, now: cfg.Now}
	hsConfig := func(realm string) *handshake.ServerConfig {
		// POST-010, HS-045: the epoch of the store this node serves and
		// the deployment's ticket keys, shared by every node and rotated
		// when due.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var epoch [16]byte
		var tickets *handshake.TicketKeys
		var err error
		if n.dog.sick.Load() {
			// OPS-003: the store does not answer; Attach refuses the
			// session with going_away, so the handshake does not wait.
			epoch, tickets, err = state.cached()
		} else {
			epoch, tickets, err = state.read(ctx)
		}
		if err != nil {
			cfg.Logger.Error("store epoch or ticket keys", "err", err)
			return &handshake.ServerConfig{} // NewServer refuses it: the client gets internal_error
		}
		t := n.reload.cur.Load() // OPS-030: one state for the whole handshake
		c := &handshake.ServerConfig{Key: key, PublicKey: pk, NextKey: nextKey, TicketKeys: tickets, Generations: generations,
			TicketLifetime: ticketLifetime, AEADs: aeads, Now: cfg.Now,
			MaxPayload: uint32(maxPayload), IdleTimeoutMs: uint32(orDefault(cfg.IdleTimeout, 90*time.Second) / time.Millisecond),
			StoreEpoch: epoch, Tokens: t.tokens, RequireToken: cfg.RequireToken}
		// EXT-007: a client that names a realm trusts an authority.
		if realm != "" && t.Credential != nil {
			c.Credential, c.RevocationList, c.NextKey = t.Credential, t.RevocationList, nil
		}
		return c
	}
	n.WS = wsapi.New(wsapi.Config{Hub: n.Hub, Handshake: hsConfig, HandshakeTimeout: cfg.HandshakeTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxConnsPerIP: cfg.MaxConnsPerIP, MaxHandshakesPerIP: cfg.MaxHandshakesPerIP,
		SendQueue: cfg.SendQueue, Logger: cfg.Logger, ClientIP: cfg.TrustedProxies.ClientIP,
		HandshakeFailed: func(a string) { n.Metrics.HandshakeFailures.WithLabelValues(a).Inc() },
		HandshakeTime:   n.Metrics.HandshakeSeconds})
	n.API = restapi.New(restapi.Config{Store: n.Store, Hub: n.Hub, Publishers: live.Publishers, Authorities: live.Authorities,
		PresencePublishers: live.PresencePublishers, MaxPayload: maxPayload,
		MaxPendingPerClient: cfg.MaxPendingPerClient, StoreTimeout: cfg.StoreTimeout, ServerKey: pub, NextServerKey: cfg.NextKey,
		Credential:     func() []byte { return n.reload.cur.Load().Credential },
		RevocationList: func() []byte { return n.reload.cur.Load().RevocationList },
		Warnings:       n.healthWarnings, Unready: n.unready,
		Realm: cfg.Realm, Logger: cfg.Logger, Now: cfg.Now,
		Metrics: n.Metrics.Handler(), Rejected: func(p string) { n.Metrics.Rejected.WithLabelValues(p).Inc() },
		ClientIP: cfg.TrustedProxies.ClientIP, WebhookKey: n.webhookPublic()})
	storeTimeout := orDefault(cfg.StoreTimeout, restapi.DefaultStoreTimeout)
	sickAfter := orDefault(cfg.SickAfter, 5*time.Second)
	n.dog = &watchdog{n: n, sickAfter: sickAfter, probeEvery: min(time.Second, sickAfter/5),
		timeout: min(storeTimeout, sickAfter)}
	n.registerMetrics()
	n.mux = http.NewServeMux()
	n.mux.Handle(WebSocketPath, n.WS)
	for p, h := range cfg.Extra {
		n.mux.Handle(p, h)
	}
	n.mux.Handle("/", n.API)
	return n, nil
}

// mustPublic returns the validated public key of a key loaded from a key
// file, which checked it (SIG-006).
func mustPublic(k ed25519.PrivateKey) *sig.PublicKey {
	pk, err := sig.ParsePublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	return pk
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Fingerprint is the node's key fingerprint, which clients pin.
func (n *Node) Fingerprint() string { return sig.Fingerprint(n.Key.Public().(ed25519.PublicKey)) }

// Logger is the node's logger (Config.Logger): lifecycle events the node's
// owner handles, a signal or a reload, are logged through it, so that under
// a JSON handler every line of the process is JSON (OPS-050, OPS-051).
func (n *Node) Logger() *slog.Logger { return n.cfg.Logger }

// Handler is the node's HTTP handler (WebSocket endpoint and REST API).
func (n *Node) Handler() http.Handler { return n.mux }

// Serve runs the node on l until ctx ends, then shuts down gracefully
// (DLV-022), logging each step: publishes are refused with 503 and
// Retry-After and the listener is closed; requests in progress complete;
// every session is closed with going_away (POST-022, Hub.GoAway) and the
// acknowledgements received are stored; the store is closed. A message
// accepted with a 2xx stays stored, and is delivered by the next node or
// after a restart.
func (n *Node) Serve(ctx context.Context, l net.Listener) error {
	log := n.cfg.Logger
	hs := &http.Server{Handler: n.mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	hubCtx, stopHub := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.Hub.Run(hubCtx) }()
	dogCtx, stopDog := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); n.dog.run(dogCtx) }()
	if n.js != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.watchClock(hubCtx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.watchExpiry(dogCtx.Done()) }() // OPS-031
	if n.hooks != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.hooks.Run(dogCtx) }() // API-100; stopped before the store closes
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
		log.Info("shutdown: started", "cause", context.Cause(ctx))
	case err = <-errc:
		log.Error("shutdown: listener failed", "err", err)
	}
	stopDog() // a shutdown is final: no recovery reopens the hub
	n.API.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx) // hijacked WebSocket connections are closed by the hub
	log.Info("shutdown: listener closed, publishes refused with 503; requests in progress done")
	stopHub() // GoAway, then the final flush of acknowledgements (the hub logs both)
	wg.Wait()
	n.WS.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	err = errors.Join(err, n.Close())
	log.Info("shutdown: complete", "err", err)
	return err
}

// clockCheckInterval is how often a cluster node compares its clock with
// the store's (DLV-041).
const clockCheckInterval = 30 * time.Second

// watchClock checks the node's clock against the store's until ctx ends.
func (n *Node) watchClock(ctx context.Context) {
	t := time.NewTicker(clockCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.checkClock(ctx)
		}
	}
}

// checkClock measures how far the node's clock is from the store's, keeps
// it for sealfeed_clock_offset_seconds and warns when it goes beyond the
// skew tolerance (DLV-041); delivery does not depend on it (DLV-040).
func (n *Node) checkClock(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	off, err := n.js.ClockOffset(ctx)
	if err != nil {
		return // the store is unreachable; its clock is read again next time
	}
	n.clockOffset.Store(int64(off))
	beyond := off > n.cfg.MaxClockSkew || off < -n.cfg.MaxClockSkew
	switch {
	case beyond && !n.clockBeyond:
		n.cfg.Logger.Warn("clock: this node's clock is off the store's by more than the skew tolerance; message expiry still follows the store's clock, but stamped expiries, ticket lifetimes and the publisher window follow this node's",
			"offset", off.Round(time.Millisecond), "tolerance", n.cfg.MaxClockSkew, "rule", "DLV-041")
	case !beyond && n.clockBeyond:
		n.cfg.Logger.Info("clock: this node's clock is back within the skew tolerance of the store's", "offset", off.Round(time.Millisecond), "rule", "DLV-041")
	}
	n.clockBeyond = beyond
}

// Close closes the store if the node opened it, and the NATS connection.
func (n *Node) Close() error {
	var err error
	if n.own && n.Store != nil {
		err = n.Store.Close()
		n.Store = nil
	}
	if n.sub != nil {
		n.sub.Unsubscribe()
	}
	if n.nc != nil {
		n.nc.Close()
	}
	return err
}

// registerMetrics exports the counters the node's parts keep as atomics;
// they are read at scrape time, so the message path pays one atomic add
// per counter, as before (OPS-040).
func (n *Node) registerMetrics() {
	m := &n.Hub.M
	s := &n.WS.Stats
	u := func(v *atomic.Uint64) func() float64 { return func() float64 { return float64(v.Load()) } }
	r := n.Metrics
	r.Gauge("sealfeed_connections", "Connected sessions (OPS-045).", func() float64 { return float64(m.Connections.Load()) })
	r.Counter("sealfeed_handshakes_total", "Completed handshakes.", u(&s.Handshakes))
	r.Counter("sealfeed_connections_rejected_total", "Connections refused by limits before the handshake.", u(&s.Rejected))
	r.Counter("sealfeed_messages_published_total", "Messages accepted from publishers.", u(&m.Published))
	r.Counter("sealfeed_messages_delivered_total", "Messages sent in deliveries, redeliveries included.", u(&m.Delivered))
	r.Counter("sealfeed_messages_acked_total", "Messages acknowledged by clients.", u(&m.Acked))
	r.Counter("sealfeed_batches_total", "Batches built and signed.", u(&m.Batches))
	r.Counter("sealfeed_batch_leaves_total", "Leaves in built batches.", u(&m.BatchLeaves))
	r.Counter("sealfeed_batch_build_seconds_total", "Time spent building and sealing batches.",
		func() float64 { return float64(m.BatchBuildNanos.Load()) / 1e9 })
	r.Counter("sealfeed_slow_consumers_total", "Connections closed because their send queue was full.", u(&m.SlowConsumers))
	r.Counter("sealfeed_protocol_errors_total", "Connections closed with an alert for a protocol error.", u(&m.ProtocolErrors))
	r.Counter("sealfeed_store_errors_total", "Failed store operations.", u(&m.StoreErrors))
	r.Counter("sealfeed_ack_write_retries_total", "Failed attempts to store acknowledgements, each retried (DLV-021).", u(&m.AckRetries))
	r.Counter("sealfeed_acks_abandoned_total", "Acknowledged IDs not stored before their connection ended; their messages are redelivered (DLV-021).", u(&m.AcksAbandoned))
	r.Gauge("sealfeed_node_sick", "1 while the node is sick: its store has not answered for -sick-after (OPS-003).", func() float64 {
		if n.dog.sick.Load() {
			return 1
		}
		return 0
	})
	r.Counter("sealfeed_node_sick_transitions_total", "Times the node became sick or recovered (OPS-003, OPS-004).",
		func() float64 { return float64(n.dog.transitions.Load()) })
	r.Counter("sealfeed_store_probe_failures_total", "Failed store readiness probes (OPS-003).",
		func() float64 { return float64(n.dog.probeFails.Load()) })
	n.registerWebhookMetrics()
	if b, ok := n.Store.(store.Backlogger); ok {
		r.Backlog(b.Backlog, n.cfg.Now, orDefault(n.cfg.StoreTimeout, restapi.DefaultStoreTimeout))
	}
	// OPS-031: the expiry times, 0 when the node has none (a pinned node,
	// no TLS certificate); a reload moves them.
	unix := func(f func() time.Time) func() float64 {
		return func() float64 {
			if t := f(); !t.IsZero() {
				return float64(t.Unix())
			}
			return 0
		}
	}
	r.Gauge("sealfeed_credential_expiry_timestamp_seconds", "When the node's credential expires (Unix seconds); 0: no credential (OPS-031).", unix(n.CredentialExpiry))
	r.Gauge("sealfeed_tls_certificate_expiry_timestamp_seconds", "When the node's TLS certificate expires (Unix seconds); 0: no certificate (OPS-031).", unix(n.TLSExpiry))
	r.Gauge("sealfeed_clock_offset_seconds", "How far the node's clock was ahead of the store's when last measured (DLV-041); 0 with the embedded store.",
		func() float64 { return time.Duration(n.clockOffset.Load()).Seconds() })
}

// ClusterConfig joins a node to a NATS JetStream cluster.
type ClusterConfig struct {
	// NATS is the comma-separated list of NATS server URLs.
	NATS string
	// StorageKey is the payload key shared by every node (32 bytes).
	StorageKey []byte
	// Replicas of the stream and buckets; 0: 3.
	Replicas int
	// Prefix names the stream and buckets; "": "sealfeed".
	Prefix string
	// PresenceTTL is how long a node's presence entries outlive its last
	// renewal (API-071); 0: jsstore.DefaultPresenceTTL.
	PresenceTTL time.Duration
	// WebhookClaimTTL is how long a webhook event a node was handed stays
	// its own without a renewal, so how soon another node sends the events
	// of one that died (STORE-034, OPS-062); 0: jsstore.DefaultClaimTTL.
	WebhookClaimTTL time.Duration
}

func (n *Node) openCluster(c *ClusterConfig) (*jsstore.Store, error) {
	nc, err := nats.Connect(c.NATS, nats.Name("sealfeed "+n.Fingerprint()[:16]), nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("server: NATS %s: %w", c.NATS, err)
	}
	n.nc = nc
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // the stream and buckets wait for their leaders (more buckets since the ticket keys and presence pairs)
	defer cancel()
	js, err := jsstore.Open(ctx, nc, jsstore.Options{StorageKey: c.StorageKey, Replicas: c.Replicas, Prefix: c.Prefix, Now: n.cfg.Now, PresenceTTL: c.PresenceTTL, ClaimTTL: c.WebhookClaimTTL})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return js, nil
}
