package main

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
)

// TestClusterPresence runs three `sealfeed serve` nodes on one JetStream
// server with a 3 s presence TTL. A client connected to node 0 only is
// online when node 1 and node 2 are asked (API-070), offline on both once
// it closed (API-072); a client of node 1, which is then killed with
// SIGKILL and so never removes its entry, turns offline on node 2 within
// the TTL (API-071).
func TestClusterPresence(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test runs a NATS server and server processes")
	}
	const ttl = 3 * time.Second
	nc := natstest.Start(t, 1)
	var cl *clusterNodes
	cl = startClusterNodesEnv(t, func(int) string { return nc.URLs() }, func(int) []string {
		return []string{"SEALFEED_REPLICAS=1", "SEALFEED_PRESENCE_TTL=" + ttl.String()}
	})
	defer func() {
		if t.Failed() {
			for i, n := range cl.nodes {
				t.Logf("node %d output:\n%s", i, n.output())
			}
		}
	}()
	pubs := make([]*publisher.Publisher, 3)
	for i, n := range cl.nodes {
		pubs[i] = publisher.New(n.base, cl.pubKey)
	}
	dial := func(node int) (*client.Client, [32]byte) {
		t.Helper()
		id, _ := keyfile.Generate()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, client.Config{URLs: []string{cl.wsURLs[node]}, Trust: cl.trust(), Identity: id,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cid := handshake.ClientID(id.Public().(ed25519.PublicKey))
		// API-040: the publisher earns the presence of the client by
		// publishing to it.
		if _, err := pubs[2].Publish(ctx, publisher.Message{To: [][32]byte{cid}, Payload: []byte("hello")}, ""); err != nil {
			t.Fatal(err)
		}
		return c, cid
	}
	// online asks node n until the answer is want or wait passed, and
	// returns how long that took.
	online := func(n int, id [32]byte, want bool, wait time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p, err := pubs[n].Presence(ctx, id)
			cancel()
			if err != nil {
				t.Fatalf("presence on node %d: %v", n, err)
			}
			if p.Online == want {
				if want && p.ConnectedSince == "" {
					t.Fatalf("node %d: online without connected_since", n)
				}
				return time.Since(start)
			}
			if time.Since(start) > wait {
				t.Fatalf("node %d: online %v after %v, want %v", n, p.Online, wait, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	c0, id0 := dial(0)
	_, id1 := dial(1)
	// Attach and the connection's end write the record at once; waiting
	// less than the TTL shows the end was not left to lapse (the server
	// test TestClusterPresenceAndDeliveredPerNode, with its 10 s renewal,
	// shows Attach's write).
	const change = 2 * ttl / 3
	for _, n := range []int{1, 2} {
		online(n, id0, true, change)
	}
	online(0, id1, true, change)
	c0.Close()
	for _, n := range []int{1, 2} {
		online(n, id0, false, change)
	}

	// Renewals keep a live node's client online past the TTL.
	time.Sleep(ttl + ttl/3)
	online(2, id1, true, 0)
	cl.nodes[1].kill()
	killed := time.Now()
	online(2, id1, false, 3*ttl) // the NATS server's age check runs on its own timer
	lapse := time.Since(killed)
	t.Logf("a killed node's client turned offline after %v (TTL %v)", lapse.Round(10*time.Millisecond), ttl)
	if lapse > ttl+2*time.Second {
		t.Errorf("offline %v after the kill, more than the TTL %v (+2 s for the NATS server's age check)", lapse, ttl)
	}
}
