package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// Two nodes of one JetStream deployment, a client on node A holding a
// message without acknowledging it: node B answers presence for the
// client as A does (API-070), and the message's state is `delivered` on A
// only; B answers `pending` (API-073). Once the application acknowledges,
// both answer `acknowledged`. When A stops, B answers offline.
func TestClusterPresenceAndDeliveredPerNode(t *testing.T) {
	nats := natstest.Start(t, 1)
	storageKey := make([]byte, 32)
	rand.Read(storageKey)
	pk, _ := keyfile.Generate()
	pub := pk.Public().(ed25519.PublicKey)
	node := func() (*testNode, *publisher.Publisher) {
		tn := startNode(t, t.TempDir(), 0, func(c *server.Config) {
			c.Cluster = &server.ClusterConfig{NATS: nats.URLs(), StorageKey: storageKey, Replicas: 1}
			c.Publishers[sig.Fingerprint(pub)] = pub
		})
		return tn, publisher.New(tn.base, pk)
	}
	a, pubA := node()
	_, pubB := node()
	c := a.dial(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := pubB.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("held")}, "")
	if err != nil {
		t.Fatal(err)
	}
	handle := r.Messages[0].ID
	// Attach queues the record's write: B sees it after that one write,
	// long before the first renewal (10 s at the default TTL).
	for name, p := range map[string]*publisher.Publisher{"A": pubA, "B": pubB} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			pr, err := p.Presence(ctx, c.ClientID())
			if err != nil {
				t.Fatal(err)
			}
			if pr.Online && pr.Pending == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("presence on node %s: online %v, pending %d; want online, 1", name, pr.Online, pr.Pending)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	m := collectHeld(t, c, 1, 10*time.Second)
	waitState(t, pubA, handle, "delivered")
	st, err := pubB.Status(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "pending" {
		t.Errorf("state on the client's other node: %s, want pending (API-073)", st.State)
	}
	m[0].Ack()
	waitState(t, pubA, handle, "acknowledged")
	waitState(t, pubB, handle, "acknowledged")

	// A node that stops in order removes its clients' records on its way
	// out (API-072), without waiting for the 30 s TTL.
	a.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pr, err := pubB.Presence(ctx, c.ClientID())
		if err != nil {
			t.Fatal(err)
		}
		if !pr.Online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still online on node B 5 s after node A stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
