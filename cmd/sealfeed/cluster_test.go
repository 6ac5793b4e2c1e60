package main

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
)

// TestClusterLosesNothing runs three SealFeed nodes as child processes on
// a three-server NATS JetStream cluster. Clients trust the authority, so
// any node's credential is accepted, and are spread over the nodes; three
// publishers post to random nodes. Under load one SealFeed node is killed
// with SIGKILL and one NATS server is stopped; clients reconnect to the
// other nodes and publishers retry, with the same Idempotency-Key, what
// got no answer. Every message that got a 2xx reaches its client's
// application exactly once, in message-ID order, and nothing else does
// (DLV-001, DLV-002, DLV-004, REPLAY-010 across signers, API-025, API-026).
// Anonymous clients start on the node that is killed and fail over to
// another: it opens their tickets with the key set and generations every
// node shares through the store, so they keep their client IDs and their
// pending messages (HS-045, HS-046).
func TestClusterLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test runs a NATS cluster and server processes")
	}
	nc := natstest.Start(t, 3)
	cl := startClusterNodes(t, func(int) string { return nc.URLs() })
	nodes, wsURLs, pubKey := cl.nodes, cl.wsURLs, cl.pubKey
	dir := t.TempDir()

	const nKeyed, nAnonymous = 6, 3
	const nClients = nKeyed + nAnonymous
	var ids [][32]byte
	var anonymous []*client.Client
	rxs := make([]*receiver, nClients)
	for i := 0; i < nClients; i++ {
		urls := []string{wsURLs[i%3], wsURLs[(i+1)%3], wsURLs[(i+2)%3]}
		cfg := client.Config{URLs: urls, Trust: cl.trust(),
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
		if i < nKeyed {
			cfg.Identity, _ = keyfile.Generate()
		} else {
			cfg.URLs = wsURLs // node 0 first: the one that is killed
			cfg.StatePath = filepath.Join(dir, fmt.Sprintf("anonymous%d.json", i))
		}
		c, err := client.Dial(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i < nKeyed {
			ids = append(ids, handshake.ClientID(cfg.Identity.Public().(ed25519.PublicKey)))
		} else {
			ids = append(ids, c.ClientID())
			anonymous = append(anonymous, c)
		}
		rxs[i] = watch(c)
	}

	var mu sync.Mutex
	ok := map[string][]int{} // payload → recipients
	var alive = []bool{true, true, true}
	publishOnce := func(payload string, to []int, key string) error {
		var dsts [][32]byte
		for _, i := range to {
			dsts = append(dsts, ids[i])
		}
		var err error
		// A JetStream leader election after a NATS server dies takes a few
		// seconds, during which publishes get 503; retry with backoff, as
		// a back end would, for up to 30 s.
		deadline := time.Now().Add(30 * time.Second)
		for attempt := 0; time.Now().Before(deadline); attempt++ {
			mu.Lock()
			n := rand.IntN(3)
			for !alive[n] {
				n = (n + 1) % 3
			}
			mu.Unlock()
			p := publisher.New(nodes[n].base, pubKey)
			p.Retries = -1
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = p.Publish(ctx, publisher.Message{To: dsts, Payload: []byte(payload)}, key)
			cancel()
			if err == nil {
				mu.Lock()
				ok[payload] = to
				mu.Unlock()
				return nil
			}
			time.Sleep(min(time.Second, 50*time.Millisecond<<min(attempt, 5)))
		}
		return err
	}
	var wg sync.WaitGroup
	var seq int
	var seqMu sync.Mutex
	stop := time.Now().Add(2 * time.Second)
	errs := make(chan error, 3)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				seqMu.Lock()
				seq++
				n := seq
				seqMu.Unlock()
				to := []int{n % nClients}
				if n%5 == 0 {
					to = []int{n % nClients, (n + 1) % nClients, (n + 2) % nClients}
				}
				if err := publishOnce(fmt.Sprintf("msg-%05d", n), to, publisher.NewIdempotencyKey()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	mu.Lock()
	alive[0] = false
	mu.Unlock()
	nodes[0].kill() // SIGKILL a SealFeed node
	nc.Kill(1)      // and stop a NATS server
	wg.Wait()
	close(errs)
	for err := range errs {
		for i, n := range nodes {
			t.Logf("node %d output:\n%s", i, n.output())
		}
		t.Fatalf("a publish never succeeded: %v", err)
	}
	want := make([]map[string]bool, nClients)
	for i := range want {
		want[i] = map[string]bool{}
	}
	for p, to := range ok {
		for _, i := range to {
			want[i][p] = true
		}
	}
	t.Logf("%d messages published with a 2xx across the failures", len(ok))
	checkDelivered(t, rxs, want, 45*time.Second)
	if t.Failed() {
		for i, n := range nodes {
			t.Logf("node %d output:\n%s", i, n.output())
		}
	}
	for j, c := range anonymous {
		if c.ClientID() != ids[nKeyed+j] {
			t.Errorf("anonymous client %d changed its client ID on failover", j)
		}
	}
}

// clusterNodes is three `sealfeed serve` nodes of one cluster: one
// storage key, one publisher key, a credential for each node from one
// authority, which clients trust.
type clusterNodes struct {
	nodes     []*subprocess
	wsURLs    []string
	pubKey    ed25519.PrivateKey
	authority *sig.PublicKey
	realm     string
}

func (cl *clusterNodes) trust() *credential.Trust {
	return &credential.Trust{Authority: cl.authority, Realm: cl.realm}
}

// startClusterNodes starts three nodes; node i uses the NATS URLs
// natsURLs(i) returns. It returns when every node answers /healthz.
func startClusterNodes(t testing.TB, natsURLs func(i int) string) *clusterNodes {
	t.Helper()
	return startClusterNodesEnv(t, natsURLs, func(int) []string { return nil })
}

// startClusterNodesEnv is startClusterNodes with env(i) added to node i's
// environment.
func startClusterNodesEnv(t testing.TB, natsURLs func(i int) string, env func(i int) []string) *clusterNodes {
	t.Helper()
	return startClusterNodesArgs(t, natsURLs, env, func(*clusterNodes, int) []string { return nil })
}

// startClusterNodesArgs is startClusterNodesEnv with args(cl, i) added to
// node i's flags; cl has its publisher key when args is called.
func startClusterNodesArgs(t testing.TB, natsURLs func(i int) string, env func(i int) []string, args func(cl *clusterNodes, i int) []string) *clusterNodes {
	t.Helper()
	dir := t.TempDir()
	authPub, authKey, _ := ed25519.GenerateKey(nil)
	cl := &clusterNodes{realm: "cluster.test"}
	cl.authority, _ = sig.ParsePublicKey(authPub)
	storageKey := filepath.Join(dir, "storage.key")
	k := make([]byte, 32)
	crand.Read(k)
	os.WriteFile(storageKey, k, 0o600)
	cl.pubKey, _ = keyfile.Generate()
	pubFile := filepath.Join(dir, "publisher.pub")
	pem, _ := keyfile.MarshalPublic(cl.pubKey.Public().(ed25519.PublicKey))
	os.WriteFile(pubFile, pem, 0o644)

	now := time.Now()
	for i := 0; i < 3; i++ {
		data := filepath.Join(dir, fmt.Sprintf("node%d", i))
		sk, _, err := keyfile.LoadOrCreatePrivate(filepath.Join(data, "server.key"))
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := credential.Issue(authKey, sk.Public().(ed25519.PublicKey), cl.realm, uint64(i+1), now.Add(-time.Hour), now.Add(24*time.Hour))
		crl, _ := credential.IssueRevocationList(authKey, 1, now.Add(-time.Hour), now.Add(24*time.Hour), nil)
		credFile, crlFile := filepath.Join(dir, fmt.Sprintf("cred%d", i)), filepath.Join(dir, fmt.Sprintf("crl%d", i))
		os.WriteFile(credFile, cred.Marshal(), 0o644)
		os.WriteFile(crlFile, crl.Marshal(), 0o644)
		addr := freeAddr(t)
		cl.nodes = append(cl.nodes, startServeEnv(t, env(i), addr, append([]string{"-data", data, "-nats", natsURLs(i), "-storage-key", storageKey,
			"-credential", credFile, "-revocation-list", crlFile, "-publisher", pubFile, "-log-level", "warn", "-sync", "NORMAL"}, args(cl, i)...)...))
		cl.wsURLs = append(cl.wsURLs, "ws://"+addr+"/v1/ws")
	}
	return cl
}
