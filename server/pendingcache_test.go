package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/store/pendingcache"
)

// TestNodeHoldsPendingOfConnectedClients: DLV-050. A node on its embedded
// store holds the pending messages of its connected clients in memory:
// what is published to a connected client is delivered from there, the
// client's acknowledgement empties it, and a client that leaves is no
// longer held.
func TestNodeHoldsPendingOfConnectedClients(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	pc, ok := tn.Store.(*pendingcache.Store)
	if !ok {
		t.Fatalf("the node's store is %T, not the pending cache", tn.Store)
	}
	c := tn.dial(t, nil)
	nextEvent(t, c, 5*time.Second, func(e client.Event) bool { return e.Connected })
	waitUntil(t, "the connected client's list in memory", func() bool { _, ok := pc.AppendPending(nil, c.ClientID(), 0, 1); return ok })
	hits := pc.M.Hits.Load()
	for _, p := range []string{"one", "two"} {
		if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte(p)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if m := collect(t, c, 2, 5*time.Second); string(m[0].Payload) != "one" || string(m[1].Payload) != "two" {
		t.Fatalf("got %q %q", m[0].Payload, m[1].Payload)
	}
	if pc.M.Hits.Load() == hits {
		t.Fatal("delivered without reading the cache")
	}
	waitUntil(t, "the acknowledged messages to leave memory", func() bool {
		_, msgs := pc.Stats()
		return msgs == 0
	})
	c.Close()
	waitUntil(t, "the closed client to leave memory", func() bool {
		clients, _ := pc.Stats()
		return clients == 0
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
