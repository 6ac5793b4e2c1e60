package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sealfeed/sealfeed/internal/buildinfo"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/testclock"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/certfile"
	"github.com/sealfeed/sealfeed/server/clientaddr"
	"github.com/sealfeed/sealfeed/server/demopage"
	"github.com/sealfeed/sealfeed/server/webhook"
)

type serveFlags struct {
	listen, data, config, credential, revocation, realm, sync, logLevel, logFormat, pprof                      string
	nats, storageKey, aeads, tlsCert, tlsKey, trustedProxies, keyFile, nextKey                                 string
	webhooks, webhookKey                                                                                       string
	replicas                                                                                                   int
	publishers, authorities, presencePublishers                                                                listFlag
	tick, handshakeTimeout, idleTimeout, ticketLifetime, ticketRotation, storeTimeout, sickAfter, maxClockSkew time.Duration
	presenceTTL                                                                                                time.Duration
	webhookClaimTTL                                                                                            time.Duration
	maxConnsPerIP, maxHandshakesPerIP, sendQueue, maxPayload, maxPending, workers                              int
	requireToken                                                                                               bool
	warnExpiryFraction                                                                                         float64
}

func serveCommand(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("serve", "[flags]", "Runs a SealFeed server node on the embedded SQLite store: WebSocket endpoint\n"+
		server.WebSocketPath+" for clients, signed REST API for publishers. Creates its identity key in the\n"+
		"data directory on first start and prints its fingerprint, which clients pin.", stderr)
	var f serveFlags
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.data, "data", "sealfeed-data", "data directory (keys and database)")
	fs.StringVar(&f.config, "config", "", "JSON config file keyed by flag name")
	fs.StringVar(&f.keyFile, "key", "", "the server's identity key file (default: server.key in -data, created on first start)")
	fs.StringVar(&f.nextKey, "next-key", "", "public key (file, hex or base64) announced to pinned clients as this server's next key (HS-070);\nsee docs/operations.md, server-key rotation")
	fs.Var(&f.publishers, "publisher", "publisher public key (file, hex or base64) or a directory of *.pub key files; repeatable;\nkey ID = fingerprint; files re-read on SIGHUP (OPS-030)")
	fs.Var(&f.authorities, "authority", "public authorities of this server, host[:port] as publishers address it, comma-separated;\na publish signed for another is refused (API-039); unset: any (with a warning)")
	fs.Var(&f.presencePublishers, "presence-publishers", "publisher key IDs that may query the presence of every client (API-040);\nothers only of clients they published to; comma-separated")
	fs.StringVar(&f.webhooks, "webhooks", "", "delivery webhooks: JSON file {\"publishers\": {\"KEYID\": {\"url\": \"https://…\"}}} naming the URL each\npublisher key's events are POSTed to (API-108; https, or http to loopback); re-read on SIGHUP; needs -webhook-key")
	fs.StringVar(&f.webhookKey, "webhook-key", "", "the deployment's webhook signing key ('sealfeed keygen'; the same file on every node, not -key):\nGET /v1/server publishes its public half (API-107)")
	fs.BoolVar(&f.requireToken, "require-token", false, "refuse clients without an access token signed by a -publisher key (HS-062, 'sealfeed token')")
	fs.StringVar(&f.credential, "credential", "", "server credential file from 'sealfeed credential issue'")
	fs.Float64Var(&f.warnExpiryFraction, "warn-expiry-fraction", 0.25, "warn in the log and on /healthz once less than this fraction of the credential's or\nthe TLS certificate's lifetime is left (OPS-031)")
	fs.StringVar(&f.revocation, "revocation-list", "", "revocation list file from 'sealfeed credential revoke' (with -credential)")
	fs.DurationVar(&f.tick, "tick", 5*time.Millisecond, "batching interval")
	fs.DurationVar(&f.handshakeTimeout, "handshake-timeout", 10*time.Second, "handshake time limit (HS-051)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 90*time.Second, "close connections silent for this long")
	fs.DurationVar(&f.ticketLifetime, "ticket-lifetime", 24*time.Hour, "resumption ticket lifetime (at most 168h)")
	fs.DurationVar(&f.ticketRotation, "ticket-key-rotation", 0, "how long a ticket key seals new tickets (HS-045; 0: the ticket lifetime, never less)")
	fs.DurationVar(&f.storeTimeout, "store-timeout", 5*time.Second, "publisher requests whose store calls take longer are answered 503 with Retry-After (API-041)")
	fs.DurationVar(&f.sickAfter, "sick-after", 5*time.Second, "a node whose store has not answered for this long, or whose deliveries keep failing, sends its clients\nto other nodes with going_away and refuses sessions and publishes until the store answers (OPS-003)")
	fs.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", 256, "open connections per source address")
	fs.IntVar(&f.maxHandshakesPerIP, "max-handshakes-per-ip", 16, "concurrent handshakes per source address (LIM-002)")
	fs.IntVar(&f.sendQueue, "send-queue", 64, "frames queued per connection before it is a slow consumer")
	fs.IntVar(&f.maxPayload, "max-payload", 65536, "largest message payload in bytes")
	fs.IntVar(&f.maxPending, "max-pending", 10000, "unacknowledged messages per client before publishes get 429")
	fs.IntVar(&f.workers, "workers", 0, "goroutines sealing batch leaves (0: one per CPU)")
	fs.StringVar(&f.aeads, "aeads", "", "AEADs the server accepts, preferred first (default chacha20-poly1305,aes-256-gcm);\naes-256-gcm first builds batches faster on CPUs with AES-GCM instructions, at ~2.3 KiB more per connection")
	fs.StringVar(&f.sync, "sync", "FULL", "SQLite synchronous mode: FULL (survives power loss) or NORMAL (survives a crash)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	demoPage := fs.Bool("demo-page", false, "serve the browser demo at /demo/ (interop/ts/README.md)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS and WSS with this certificate chain (PEM, leaf first); re-read when it changes (OPS-010)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "private key of -tls-cert (PEM)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For or Forwarded\nclient address the per-address limits use; from any other peer those headers are ignored (OPS-011, docs/proxies.md)")
	fs.StringVar(&f.nats, "nats", "", "cluster mode: NATS JetStream server URLs, comma-separated (docs/scale-out.md)")
	fs.StringVar(&f.storageKey, "storage-key", "", "file with the 32-byte payload key (hex or raw): in cluster mode the key every node shares;\non a single node it replaces -data's storage.key, so the key can live apart from the database\n(OPS-015; or $"+storageKeyEnv+", 64 hex digits)")
	fs.IntVar(&f.replicas, "replicas", 3, "cluster mode: replicas of the JetStream stream and buckets")
	fs.DurationVar(&f.presenceTTL, "presence-ttl", 30*time.Second, "cluster mode: a client of a node that died turns offline on every node within this (API-071);\nnodes renew their clients' presence every third of it; the same on every node")
	fs.DurationVar(&f.webhookClaimTTL, "webhook-claim-ttl", 0, "cluster mode: webhook events held by a node that died go to another node after this (STORE-034, OPS-062);\n0: 30s; the same on every node")
	fs.DurationVar(&f.maxClockSkew, "max-clock-skew", 30*time.Second, "cluster mode: warn when this node's clock is further than this from the store's (DLV-041);\nmessage expiry follows the store's clock whatever this says (DLV-040)")
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's pprof profiles on this separate address (e.g. 127.0.0.1:6060); off by default")
	if err := parseFlags(fs, args, &f.config); err != nil {
		return err
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	jsonLogs := f.logFormat == "json"
	if jsonLogs {
		// OPS-050: the error that ends serve is a record too, not main's
		// plain "sealfeed serve: ..." line.
		defer func() {
			if err != nil {
				log.Error("serve failed", "err", err)
				err = loggedError{err}
			}
		}()
	}
	cfg := server.Config{DataDir: f.data, KeyFile: f.keyFile, Tick: f.tick, HandshakeTimeout: f.handshakeTimeout, IdleTimeout: f.idleTimeout,
		TicketLifetime: f.ticketLifetime, TicketKeyRotation: f.ticketRotation, MaxClockSkew: f.maxClockSkew, MaxConnsPerIP: f.maxConnsPerIP, MaxHandshakesPerIP: f.maxHandshakesPerIP,
		SendQueue: f.sendQueue, MaxPayload: f.maxPayload, MaxPendingPerClient: f.maxPending, Synchronous: f.sync,
		Workers: f.workers, StoreTimeout: f.storeTimeout, SickAfter: f.sickAfter, Logger: log,
		Authorities: f.authorities, PresencePublishers: f.presencePublishers, RequireToken: f.requireToken, WarnExpiryFraction: f.warnExpiryFraction}
	// Only a sealfeed_testhooks build reads the test clock's variables.
	now, desc, err := testclock.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if now != nil {
		cfg.Now = now
		log.Warn("TEST BUILD: the node's clock is offset from the wall clock", "clock", desc)
	}
	if f.aeads != "" {
		if cfg.AEADs, err = suite.ParseAEADs(f.aeads); err != nil {
			return fmt.Errorf("-aeads: %w", err)
		}
	}
	if f.nextKey != "" {
		if cfg.NextKey, err = loadPublicKeyArg(f.nextKey); err != nil {
			return fmt.Errorf("-next-key %s: %w", f.nextKey, err)
		}
	}
	if f.warnExpiryFraction <= 0 || f.warnExpiryFraction >= 1 {
		return fmt.Errorf("-warn-expiry-fraction %v: want a fraction between 0 and 1", f.warnExpiryFraction)
	}
	live, err := loadReloadable(f)
	if err != nil {
		return err
	}
	cfg.Publishers, cfg.Credential, cfg.RevocationList = live.Publishers, live.Credential, live.RevocationList
	cfg.Webhooks = live.Webhooks
	if f.webhookKey != "" {
		if cfg.WebhookKey, err = keyfile.LoadPrivate(f.webhookKey); err != nil {
			return fmt.Errorf("-webhook-key: %w", err)
		}
	}
	if cfg.Credential != nil {
		c, _ := credential.ParseCredential(cfg.Credential)
		cfg.Realm = c.Realm
	}
	if cfg.TrustedProxies, err = clientaddr.ParseTrusted(f.trustedProxies); err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	var cert *certfile.Cert
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("-tls-cert and -tls-key go together")
	}
	if f.tlsCert != "" {
		if cert, err = certfile.Load(f.tlsCert, f.tlsKey, log); err != nil {
			return err
		}
		cfg.TLSCert = cert
	}
	if *demoPage {
		cfg.Extra = map[string]http.Handler{"/demo/": http.StripPrefix("/demo/", demopage.Handler())}
	}
	key, err := storageKey(f.storageKey, os.Getenv)
	if err != nil {
		return err
	}
	if f.nats != "" {
		if key == nil {
			return fmt.Errorf("cluster mode needs -storage-key (the same file on every node) or $%s", storageKeyEnv)
		}
		cfg.Cluster = &server.ClusterConfig{NATS: f.nats, StorageKey: key, Replicas: f.replicas, PresenceTTL: f.presenceTTL, WebhookClaimTTL: f.webhookClaimTTL}
	} else {
		cfg.StorageKey = key
	}
	n, err := server.New(cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		n.Close()
		return err
	}
	scheme, wsScheme := "http", "ws"
	if cert != nil {
		l = tls.NewListener(l, cert.TLSConfig())
		scheme, wsScheme = "https", "wss"
	}
	mode, storeKind := "single", "sqlite"
	if cfg.Cluster != nil {
		mode, storeKind = "cluster", "jetstream" // not the URLs: they may hold NATS credentials
	}
	bi := buildinfo.Read()
	log.Info("starting", "version", bi.Version, "revision", bi.Revision, "listen", l.Addr().String(), "mode", mode,
		"store", storeKind, "data", f.data)
	// Under -log-format text these lines stay plain text on stdout, where
	// scripts read the fingerprint; under json they are records (OPS-050).
	if jsonLogs {
		if n.Created {
			log.Info("created identity key", "path", keyPath(f))
		}
		if cfg.NextKey != nil {
			log.Info("next key announced to pinned clients", "next_key", sig.Fingerprint(cfg.NextKey))
		}
		log.Info("listening on", "url", scheme+"://"+l.Addr().String(), "clients", wsScheme+"://"+l.Addr().String()+server.WebSocketPath,
			"fingerprint", n.Fingerprint(), "publisher_keys", len(cfg.Publishers))
	} else {
		if n.Created {
			fmt.Fprintf(stdout, "created identity key %s\n", filepath.Join(f.data, "server.key"))
		}
		fmt.Fprintf(stdout, "fingerprint %s\n", n.Fingerprint())
		if cfg.NextKey != nil {
			fmt.Fprintf(stdout, "next key %s (announced to pinned clients)\n", sig.Fingerprint(cfg.NextKey))
		}
		fmt.Fprintf(stdout, "listening on %s://%s (clients: %s://%s%s, %d publisher keys)\n", scheme, l.Addr(), wsScheme, l.Addr(), server.WebSocketPath, len(cfg.Publishers))
	}
	if len(cfg.Publishers) == 0 {
		log.Warn("no publisher keys registered: every publish will be refused (use -publisher)")
	}
	if len(cfg.Authorities) == 0 {
		log.Warn("no -authority configured: publisher requests signed for any host are accepted, so a request captured on another deployment that trusts the same key can be replayed here (API-039)")
	}
	if f.pprof != "" {
		pl, err := net.Listen("tcp", f.pprof)
		if err != nil {
			n.Close()
			return fmt.Errorf("-pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go http.Serve(pl, mux)
		log.Info("pprof enabled", "addr", pl.Addr().String())
	}
	// SIGTERM or SIGINT: graceful shutdown (DLV-022), logged with the
	// signal's name (OPS-051); a second signal during it ends the process
	// at once.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			log.Info("signal received: draining", "signal", signalName(s))
			cancel(fmt.Errorf("signal %s", signalName(s)))
		case <-ctx.Done():
		}
	}()
	// OPS-030: SIGHUP re-reads the key, credential and certificate files.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("reload: SIGHUP received")
				r, err := loadReloadable(f)
				if err != nil {
					log.Error("reload: refused; the configuration in use stays", "err", err, "rule", "OPS-030")
					continue
				}
				n.Reload(r) // logs its outcome
			}
		}
	}()
	return n.Serve(ctx, l)
}

// signalName is a shutdown signal's conventional name.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// loggedError is an error serve already logged as a record (OPS-050):
// main exits 1 without printing it again.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// keyPath is the identity key file serve uses.
func keyPath(f serveFlags) string {
	if f.keyFile != "" {
		return f.keyFile
	}
	return filepath.Join(f.data, "server.key")
}

// loadReloadable reads what a reload replaces (OPS-030) from the files the
// flags name: the -publisher keys (a directory: each *.pub file in it), the
// credential and the revocation list. Any failure fails it as a whole.
func loadReloadable(f serveFlags) (server.Reloadable, error) {
	r := server.Reloadable{Publishers: map[string]ed25519.PublicKey{}, Authorities: f.authorities, PresencePublishers: f.presencePublishers}
	for _, p := range f.publishers {
		keys, err := loadPublisherArg(p)
		if err != nil {
			return r, fmt.Errorf("-publisher %s: %w", p, err)
		}
		for _, k := range keys {
			r.Publishers[sig.Fingerprint(k)] = k
		}
	}
	for _, id := range f.presencePublishers {
		if _, ok := r.Publishers[id]; !ok {
			return r, fmt.Errorf("-presence-publishers %s: not the key ID of a -publisher key", id)
		}
	}
	if f.webhooks != "" {
		b, err := os.ReadFile(f.webhooks)
		if err != nil {
			return r, err
		}
		if r.Webhooks, err = webhook.ParseConfig(b); err != nil {
			return r, fmt.Errorf("-webhooks %s: %w", f.webhooks, err)
		}
	}
	if (f.credential == "") != (f.revocation == "") {
		return r, fmt.Errorf("-credential and -revocation-list go together (CRED-015)")
	}
	if f.credential == "" {
		return r, nil
	}
	var err error
	if r.Credential, err = os.ReadFile(f.credential); err != nil {
		return r, err
	}
	if r.RevocationList, err = os.ReadFile(f.revocation); err != nil {
		return r, err
	}
	if _, err := credential.ParseCredential(r.Credential); err != nil {
		return r, fmt.Errorf("-credential %s: %w", f.credential, err)
	}
	if _, err := credential.ParseRevocationList(r.RevocationList); err != nil {
		return r, fmt.Errorf("-revocation-list %s: %w", f.revocation, err)
	}
	return r, nil
}

// loadPublisherArg reads one -publisher value: a key (file, hex or
// base64), or a directory whose *.pub files are keys.
func loadPublisherArg(v string) ([]ed25519.PublicKey, error) {
	fi, err := os.Stat(v)
	if err != nil || !fi.IsDir() {
		k, err := loadPublicKeyArg(v)
		if err != nil {
			return nil, err
		}
		return []ed25519.PublicKey{k}, nil
	}
	names, err := filepath.Glob(filepath.Join(v, "*.pub"))
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	for _, name := range names {
		k, err := keyfile.LoadPublic(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		keys = append(keys, k.Bytes())
	}
	return keys, nil
}

// keyPath is the identity key file serve uses.
// loadPublicKeyArg reads a public key from a file, or from the argument
// itself (hex or base64).
func loadPublicKeyArg(v string) (ed25519.PublicKey, error) {
	if _, err := os.Stat(v); err == nil {
		k, err := keyfile.LoadPublic(v)
		if err != nil {
			return nil, err
		}
		return k.Bytes(), nil
	}
	k, err := keyfile.ParsePublic([]byte(v))
	if err != nil {
		return nil, err
	}
	return k.Bytes(), nil
}

// storageKeyEnv names the environment variable that may hold the storage
// key itself, 64 hex digits, instead of -storage-key (OPS-015); SEALFEED_STORAGE_KEY
// is the -storage-key flag, a file name, like every flag's variable.
const storageKeyEnv = "SEALFEED_STORAGE_KEY_HEX"

// storageKey reads the storage key from the -storage-key file (32 raw
// bytes or 64 hex digits) or else from $SEALFEED_STORAGE_KEY_HEX; nil when
// neither is set. Errors never quote the key.
func storageKey(path string, getenv func(string) string) ([]byte, error) {
	if path == "" {
		v := getenv(storageKeyEnv)
		if v == "" {
			return nil, nil
		}
		if k, err := hex.DecodeString(strings.TrimSpace(v)); err == nil && len(k) == 32 {
			return k, nil
		}
		return nil, fmt.Errorf("$%s: want 64 hex digits", storageKeyEnv)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 32 {
		return b, nil
	}
	if k, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("-storage-key %s: want 32 bytes or 64 hex digits", path)
}
