package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/webhook"
)

// checkWebhooks validates the webhook part of a reloadable state
// (API-108, OPS-060): every key ID a registered publisher, every URL one
// webhook.CheckURL accepts, and a webhook key and an engine with an outbox
// whenever one is configured.
func (n *Node) checkWebhooks(t *trust) error {
	for id, u := range t.Webhooks {
		if _, ok := t.Publishers[id]; !ok {
			return fmt.Errorf("webhook for %s: not the key ID of a publisher key", id)
		}
		if err := webhook.CheckURL(u); err != nil {
			return fmt.Errorf("webhook for %s: %w", id, err)
		}
	}
	if len(t.Webhooks) == 0 {
		return nil
	}
	if n.cfg.WebhookKey == nil {
		return errors.New("webhooks need a webhook key (-webhook-key, API-107)")
	}
	if _, ok := n.Store.(store.Outbox); !ok {
		return fmt.Errorf("the store %T keeps no webhook outbox (STORE-030)", n.Store)
	}
	return nil
}

// startWebhooks sets the store's outbox filter to the publishers that have
// a webhook in the state in use (so a reload changes it at once) and
// builds the dispatcher; Serve runs it.
func (n *Node) startWebhooks() error {
	if n.cfg.WebhookKey == nil {
		return nil
	}
	if len(n.cfg.WebhookKey) != ed25519.PrivateKeySize {
		return errors.New("webhook key: not an Ed25519 private key")
	}
	if string(n.cfg.WebhookKey) == string(n.Key) {
		return errors.New("webhook key: it is the node's identity key; webhooks need a key of their own (API-107)")
	}
	// A cluster's store is a store.OutboxClaimer: every node's dispatcher
	// claims events from the shared outbox (STORE-034).
	o, ok := n.Store.(store.Outbox)
	if !ok {
		return nil // checkWebhooks refuses any webhook; the key is still published
	}
	url := func(publisher string) (string, bool) {
		u, ok := n.reload.cur.Load().Webhooks[publisher]
		return u, ok
	}
	n.outboxFilter = func(publisher string) bool { _, ok := url(publisher); return ok }
	n.setOutboxFilter(n.reload.cur.Load())
	c := n.cfg.Webhook
	c.Outbox, c.Key, c.URL, c.Logger, c.Now = o, n.cfg.WebhookKey, url, n.cfg.Logger, n.cfg.Now
	d, err := webhook.New(c)
	if err != nil {
		return err
	}
	n.hooks = d
	return nil
}

// setOutboxFilter gives the store the filter while t configures any
// webhook, and none otherwise: without one the store reads nothing more
// per acknowledgement (BenchmarkAckOutbox).
func (n *Node) setOutboxFilter(t *trust) {
	o, ok := n.Store.(store.Outbox)
	if !ok || n.outboxFilter == nil {
		return
	}
	if len(t.Webhooks) == 0 {
		o.SetOutboxFilter(nil)
		return
	}
	o.SetOutboxFilter(n.outboxFilter)
}

// webhookPublic is the public webhook key GET /v1/server publishes; nil
// without one.
func (n *Node) webhookPublic() ed25519.PublicKey {
	if n.cfg.WebhookKey == nil {
		return nil
	}
	return n.cfg.WebhookKey.Public().(ed25519.PublicKey)
}

// registerWebhookMetrics exports the dispatcher's counters (OPS-060).
func (n *Node) registerWebhookMetrics() {
	if n.hooks == nil {
		return
	}
	s, r := &n.hooks.Stats, n.Metrics
	r.Counter("sealfeed_webhook_batches_sent_total", "Webhook batches a receiver answered 2xx (OPS-060).", func() float64 { return float64(s.Batches.Load()) })
	r.Counter("sealfeed_webhook_events_sent_total", "Events in the webhook batches delivered (OPS-060).", func() float64 { return float64(s.Events.Load()) })
	r.Counter("sealfeed_webhook_failures_total", "Webhook POSTs that failed: an error, a timeout or an answer other than 2xx; each is retried (OPS-060).",
		func() float64 { return float64(s.Failures.Load()) })
	r.Counter("sealfeed_webhook_events_dropped_total", "Webhook events given up: older than the retry limit, or their publisher lost its webhook (OPS-060).",
		func() float64 { return float64(s.Dropped.Load()) })
	r.Gauge("sealfeed_webhook_queued_events", "Webhook events read from the outbox and not yet delivered or dropped (OPS-060).",
		func() float64 { return float64(s.Queued.Load()) })
}
