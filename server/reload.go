package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/server/restapi"
)

// Reloadable is the part of a node's configuration a reload replaces
// (OPS-030): Config's fields of the same names. Everything else needs a
// restart.
type Reloadable struct {
	Publishers                 map[string]ed25519.PublicKey
	Authorities                []string
	PresencePublishers         []string
	Credential, RevocationList []byte
	// Webhooks maps publisher key IDs to their webhook URL (API-108).
	Webhooks map[string]string
}

// trust is the node's reloadable state, one value swapped at once: the
// REST verifier, the handshake factory and the token verifier read it.
type trust struct {
	Reloadable
	tokens *token.Verifier
	// credential's validity; zero without a credential
	credNotBefore, credNotAfter time.Time
}

// expiryCheckEvery is how often a serving node looks at the expiry of
// its credential and TLS certificate (OPS-031).
const expiryCheckEvery = time.Minute

// expiry levels of one item, in the order they are reached.
const (
	expiryOK = iota
	expiryWarn
	expiryExpired
)

// reloader holds the node's reloadable state.
type reloader struct {
	mu    sync.Mutex // serializes Reload
	cur   atomic.Pointer[trust]
	level map[string]int // expiry level last logged, by item; guarded by mu
}

// prepare checks r and builds the state it describes, without applying
// anything (OPS-030). At start-up a credential outside its validity is
// served (and reported, OPS-031); a reload refuses it.
func (n *Node) prepare(r Reloadable, reload bool) (*trust, error) {
	t := &trust{Reloadable: Reloadable{Publishers: maps.Clone(r.Publishers), Authorities: slices.Clone(r.Authorities),
		PresencePublishers: slices.Clone(r.PresencePublishers), Credential: slices.Clone(r.Credential), RevocationList: slices.Clone(r.RevocationList),
		Webhooks: maps.Clone(r.Webhooks)}}
	if t.Publishers == nil {
		t.Publishers = map[string]ed25519.PublicKey{}
	}
	for _, id := range t.PresencePublishers {
		if _, ok := t.Publishers[id]; !ok {
			return nil, fmt.Errorf("presence publisher %s is not the key ID of a publisher key", id)
		}
	}
	if err := n.checkWebhooks(t); err != nil {
		return nil, err
	}
	if (t.Credential == nil) != (t.RevocationList == nil) {
		return nil, errors.New("a credential and a revocation list go together (CRED-015)")
	}
	if (t.Credential != nil) != (n.cfg.Credential != nil) {
		return nil, errors.New("a credential can be replaced by a reload, not added or removed: that changes the realm and needs a restart")
	}
	if t.Credential != nil {
		c, err := credential.ParseCredential(t.Credential)
		if err != nil {
			return nil, fmt.Errorf("credential: %w", err)
		}
		if string(c.ServerKey[:]) != string(n.Key.Public().(ed25519.PublicKey)) {
			return nil, errors.New("the credential is for another server key")
		}
		if c.Realm != n.cfg.Realm {
			return nil, fmt.Errorf("the credential is for realm %q, the node serves %q: a new realm needs a restart", c.Realm, n.cfg.Realm)
		}
		l, err := credential.ParseRevocationList(t.RevocationList)
		if err != nil {
			return nil, fmt.Errorf("revocation list: %w", err)
		}
		if l.AuthorityID != c.AuthorityID {
			return nil, errors.New("the revocation list is not from the credential's authority")
		}
		t.credNotBefore, t.credNotAfter = time.Unix(int64(c.NotBefore), 0), time.Unix(int64(c.NotAfter), 0)
		// OPS-030: never replace a credential with one clients refuse.
		if now := n.cfg.Now(); reload && (now.Before(t.credNotBefore) || !now.Before(t.credNotAfter)) {
			return nil, fmt.Errorf("the credential is not valid now (valid %s to %s)",
				t.credNotBefore.UTC().Format(time.RFC3339), t.credNotAfter.UTC().Format(time.RFC3339))
		}
	}
	cfg := n.cfg
	cfg.Publishers = t.Publishers
	var err error
	if t.tokens, err = tokenVerifier(cfg, n.Key); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload replaces the publisher keys, authorities, presence grants, the
// credential and the revocation list with r, and re-reads the TLS
// certificate files of Config.TLSCert, all or nothing (OPS-030): a
// reload that fails leaves every part in use and says why. Connected
// sessions stay; handshakes and publisher requests that start
// afterwards use the new state. It logs the outcome.
func (n *Node) Reload(r Reloadable) error {
	n.reload.mu.Lock()
	defer n.reload.mu.Unlock()
	log := n.cfg.Logger
	t, err := n.prepare(r, true)
	if err == nil && n.cfg.TLSCert != nil {
		err = n.cfg.TLSCert.Reload() // keeps the certificate in use on failure (OPS-010)
	}
	if err != nil {
		err = fmt.Errorf("server: reload refused, nothing changed: %w", err)
		log.Error("reload: refused; the configuration in use stays", "err", err, "rule", "OPS-030")
		return err
	}
	n.apply(t)
	attrs := []any{"publishers", len(t.Publishers), "authorities", len(t.Authorities), "presence_publishers", len(t.PresencePublishers),
		"webhooks", len(t.Webhooks), "rule", "OPS-030"}
	if !t.credNotAfter.IsZero() {
		attrs = append(attrs, "credential_not_after", t.credNotAfter.UTC().Format(time.RFC3339))
	}
	log.Info("reload: applied", attrs...)
	n.checkExpiryLocked()
	return nil
}

// apply makes t the state in use.
func (n *Node) apply(t *trust) {
	n.reload.cur.Store(t)
	n.setOutboxFilter(t) // after the swap: the filter reads the state in use
	n.API.SetTrust(restapi.Trust{Publishers: t.Publishers, Authorities: t.Authorities, PresencePublishers: t.PresencePublishers})
	n.Hub.SetTokens(t.tokens)
}

// CredentialExpiry is the end of the validity of the credential in use;
// zero without one. For a gauge (sealfeed_credential_expiry_seconds).
func (n *Node) CredentialExpiry() time.Time { return n.reload.cur.Load().credNotAfter }

// TLSExpiry is the end of the validity of the TLS certificate in use
// (its leaf); zero when the node is not given one (Config.TLSCert).
func (n *Node) TLSExpiry() time.Time {
	if n.cfg.TLSCert == nil {
		return time.Time{}
	}
	return n.cfg.TLSCert.Leaf().NotAfter
}

// expiryItem is one thing that expires.
type expiryItem struct {
	name                string // credential, tls_certificate
	notBefore, notAfter time.Time
}

func (n *Node) expiryItems() []expiryItem {
	var items []expiryItem
	if t := n.reload.cur.Load(); !t.credNotAfter.IsZero() {
		items = append(items, expiryItem{"credential", t.credNotBefore, t.credNotAfter})
	}
	if n.cfg.TLSCert != nil {
		leaf := n.cfg.TLSCert.Leaf()
		items = append(items, expiryItem{"tls_certificate", leaf.NotBefore, leaf.NotAfter})
	}
	return items
}

// level says how close to its expiry it is at now (OPS-031): expired at
// NotAfter, a warning once less than the fraction of its lifetime is left.
func (it expiryItem) level(now time.Time, fraction float64) int {
	left := it.notAfter.Sub(now)
	switch {
	case left <= 0:
		return expiryExpired
	case float64(left) < fraction*float64(it.notAfter.Sub(it.notBefore)):
		return expiryWarn
	}
	return expiryOK
}

// warnFraction is Config.WarnExpiryFraction or its default.
func (n *Node) warnFraction() float64 {
	if f := n.cfg.WarnExpiryFraction; f > 0 {
		return f
	}
	return 0.25
}

// healthWarnings lists the items past their warning point (OPS-032).
func (n *Node) healthWarnings() []restapi.HealthWarning {
	var out []restapi.HealthWarning
	now := n.cfg.Now()
	for _, it := range n.expiryItems() {
		reason := ""
		switch it.level(now, n.warnFraction()) {
		case expiryWarn:
			reason = it.name + "_expiring"
		case expiryExpired:
			reason = it.name + "_expired"
		default:
			continue
		}
		out = append(out, restapi.HealthWarning{Reason: reason, NotAfter: it.notAfter.UTC().Format(time.RFC3339)})
	}
	return out
}

// unready is the reason /readyz refuses for the node's own state
// (OPS-033): an expired credential, which clients that trust the
// authority refuse.
func (n *Node) unready() string {
	if t := n.reload.cur.Load(); !t.credNotAfter.IsZero() && !n.cfg.Now().Before(t.credNotAfter) {
		return "credential_expired"
	}
	return ""
}

// checkExpiry logs each item whose expiry level changed since the last
// check (OPS-031): a warning when less than the warning fraction of its
// lifetime is left, an error at expiry, and a line when a renewal took it
// back.
func (n *Node) checkExpiry() {
	n.reload.mu.Lock()
	defer n.reload.mu.Unlock()
	n.checkExpiryLocked()
}

func (n *Node) checkExpiryLocked() {
	log := n.cfg.Logger
	now := n.cfg.Now()
	fraction := n.warnFraction()
	if n.reload.level == nil {
		n.reload.level = map[string]int{}
	}
	for _, it := range n.expiryItems() {
		lv := it.level(now, fraction)
		prev := n.reload.level[it.name]
		n.reload.level[it.name] = lv
		if lv == prev {
			continue
		}
		attrs := []any{"item", it.name, "not_after", it.notAfter.UTC().Format(time.RFC3339), "left", it.notAfter.Sub(now).Round(time.Second), "rule", "OPS-031"}
		switch lv {
		case expiryExpired:
			log.Error("expiry: expired; renew it and send SIGHUP", attrs...)
		case expiryWarn:
			log.Warn("expiry: less than the warning fraction of its lifetime is left; renew it and send SIGHUP", append(attrs, "fraction", fraction)...)
		default:
			log.Info("expiry: renewed", attrs...)
		}
	}
}

// watchExpiry checks the expiries every expiryCheckEvery until done.
func (n *Node) watchExpiry(done <-chan struct{}) {
	t := time.NewTicker(expiryCheckEvery)
	defer t.Stop()
	for {
		n.checkExpiry()
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}
