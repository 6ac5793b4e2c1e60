package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
)

// TestWebhookClusterFailover: STORE-032, STORE-034, STORE-035, API-106, OPS-062.
// Three `sealfeed serve -nats -webhooks -webhook-key` nodes share one
// webhook key and file. A client acknowledges a message on node 0; its
// receiver refuses every POST at first, so one node holds the event and
// retries it. That node is killed with SIGKILL; once the receiver accepts,
// another node sends the event: verified with the key GET /v1/server
// publishes, under the Idempotency-Key of the refused attempts, and every
// POST that got a 2xx carries that one event under that one key.
func TestWebhookClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test runs a NATS cluster and server processes")
	}
	rc := newHookReceiver(t)

	dir := t.TempDir()
	hookKey, _ := keyfile.Generate()
	hookPEM, _ := keyfile.MarshalPrivate(hookKey)
	keyFile, hooksFile := filepath.Join(dir, "webhook.key"), filepath.Join(dir, "webhooks.json")
	if err := os.WriteFile(keyFile, hookPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var pubID string
	nc := natstest.Start(t, 3)
	cl := startClusterNodesArgs(t, func(int) string { return nc.URLs() }, func(int) []string { return nil },
		func(cl *clusterNodes, i int) []string {
			if i == 0 { // the same file and key on every node (API-107, OPS-061)
				pubID = sig.Fingerprint(cl.pubKey.Public().(ed25519.PublicKey))
				hooks := fmt.Appendf(nil, `{"publishers": {%q: {"url": %q}}}`, pubID, rc.URL+"/hook")
				if err := os.WriteFile(hooksFile, hooks, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			return []string{"-webhooks", hooksFile, "-webhook-key", keyFile, "-webhook-claim-ttl", "2s"}
		})
	alive := map[int]bool{0: true, 1: true, 2: true}
	defer func() {
		for i, n := range cl.nodes {
			if alive[i] {
				n.kill()
			}
		}
		if t.Failed() {
			for i, n := range cl.nodes {
				t.Logf("node %d output:\n%s", i, n.output())
			}
		}
	}()

	ctx := context.Background()
	idKey, _ := keyfile.Generate()
	c, err := client.Dial(ctx, client.Config{URLs: cl.wsURLs[:1], Trust: cl.trust(), Identity: idKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := publisher.New(cl.nodes[0].base, cl.pubKey)
	r, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("ack me")}, "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no message")
	}
	handle := r.Messages[0].ID

	// The node that holds the event: its dispatcher counts the refusals.
	holder := -1
	for deadline := time.Now().Add(60 * time.Second); holder < 0; time.Sleep(50 * time.Millisecond) {
		for i, n := range cl.nodes {
			if metric(t, n.base, "sealfeed_webhook_failures_total") > 0 {
				holder = i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no node attempted the webhook")
		}
	}
	// Its retries (backoff 1 s, 2 s) outlast the claim's 2 s: it renews the
	// claim, and no other node is handed the event meanwhile.
	time.Sleep(4 * time.Second)
	for i := range cl.nodes {
		if i != holder && metric(t, cl.nodes[i].base, "sealfeed_webhook_failures_total") > 0 {
			t.Errorf("node %d attempted the batch too, while node %d held it (STORE-034)", i, holder)
		}
	}
	cl.nodes[holder].kill()
	alive[holder] = false
	other := (holder + 1) % 3
	k, err := publisher.New(cl.nodes[other].base, cl.pubKey).WebhookKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey.Equal(hookKey.Public()) {
		t.Fatal("GET /v1/server publishes another webhook key than -webhook-key")
	}
	refusedKey := rc.accept(k)[0].key
	for deadline := time.Now().Add(60 * time.Second); len(rc.verified()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no webhook from the surviving nodes after node %d was killed", holder)
		}
	}
	time.Sleep(time.Second) // room for a duplicate to show
	rc.noneBad(t)
	for _, a := range rc.all() {
		if a.key != refusedKey {
			t.Fatalf("Idempotency-Key %s after the failover, %s before: the same batch must keep its key (API-106)", a.key, refusedKey)
		}
		if a.status != 204 {
			continue
		}
		e := a.batch.Events
		if a.batch.Publisher != pubID || len(e) != 1 || e[0].ID != handle || e[0].Type != publisher.EventAcknowledged {
			t.Fatalf("delivered batch %+v, want the one acknowledgement of %s", a.batch, handle)
		}
	}
}

// metric reads a counter or gauge without labels from a node's /metrics;
// 0 when the node does not answer or has no such line.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
