package jsstore

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/server/store"
)

// presenceNodes opens two Stores, two nodes of one deployment, on one
// JetStream server with a short presence TTL.
func presenceNodes(t *testing.T, ttl time.Duration) (a, b *Store) {
	t.Helper()
	n := nodesOn(t, Options{PresenceTTL: ttl}, Options{PresenceTTL: ttl})
	return n[0], n[1]
}

func presenceOf(t *testing.T, s *Store, id [32]byte) (bool, time.Time) {
	t.Helper()
	on, since, err := s.Presence(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return on, since
}

// API-070, API-072: an entry one node writes is read by the other; the
// node a client left removes only its own entry, never the entry of the
// node the client moved to.
func TestPresenceSharedBetweenNodes(t *testing.T) {
	a, b := presenceNodes(t, time.Minute)
	ctx := context.Background()
	id := cid(7)
	if on, _ := presenceOf(t, b, id); on {
		t.Fatal("online before any node wrote it")
	}
	since := time.Unix(1_800_000_000, 123456789)
	if err := a.SetOnline(ctx, id, since); err != nil {
		t.Fatal(err)
	}
	if on, got := presenceOf(t, b, id); !on || !got.Equal(since) {
		t.Fatalf("on b: online %v since %v, want true since %v", on, got, since)
	}
	// The client moves to b; a notices its connection ended only later.
	later := since.Add(time.Second)
	if err := b.SetOnline(ctx, id, later); err != nil {
		t.Fatal(err)
	}
	if err := a.SetOffline(ctx, id); err != nil {
		t.Fatal(err)
	}
	if on, got := presenceOf(t, a, id); !on || !got.Equal(later) {
		t.Fatalf("after a's late SetOffline: online %v since %v, want true since %v (b's entry)", on, got, later)
	}
	if err := b.SetOffline(ctx, id); err != nil {
		t.Fatal(err)
	}
	if on, _ := presenceOf(t, a, id); on {
		t.Fatal("online after the node it was on removed it")
	}
	if err := b.SetOffline(ctx, id); err != nil {
		t.Fatalf("SetOffline of an absent entry: %v", err)
	}
}

// API-071: a node that stops writing (it died) leaves its entries to
// lapse within PresenceTTL, while a node that keeps renewing its own every
// PresenceRefresh keeps them.
func TestPresenceOfADeadNodeLapses(t *testing.T) {
	const ttl = 3 * time.Second
	a, b := presenceNodes(t, ttl)
	ctx := context.Background()
	dead, alive := cid(1), cid(2)
	start := time.Now()
	if err := a.SetOnline(ctx, dead, start); err != nil {
		t.Fatal(err)
	}
	if err := b.SetOnline(ctx, alive, start); err != nil {
		t.Fatal(err)
	}
	if b.PresenceRefresh() != ttl/3 {
		t.Fatalf("PresenceRefresh %v, want %v", b.PresenceRefresh(), ttl/3)
	}
	if on, _ := presenceOf(t, b, dead); !on {
		t.Fatal("not online right after SetOnline")
	}
	deadline := start.Add(4 * ttl) // the server's age check runs on its own timer
	for {
		time.Sleep(b.PresenceRefresh())
		if err := b.SetOnline(ctx, alive, start); err != nil {
			t.Fatal(err)
		}
		on, _ := presenceOf(t, b, dead)
		if !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead node's entry still online %v after it was written (TTL %v)", time.Since(start), ttl)
		}
	}
	if time.Since(start) < ttl-time.Second/2 {
		t.Fatalf("entry lapsed after %v, before its TTL %v", time.Since(start), ttl)
	}
	// Renewed every refresh, the live node's entry outlived the TTL.
	if time.Since(start) <= ttl {
		time.Sleep(ttl - time.Since(start) + b.PresenceRefresh())
		if err := b.SetOnline(ctx, alive, start); err != nil {
			t.Fatal(err)
		}
	}
	if on, _ := presenceOf(t, a, alive); !on {
		t.Fatal("a renewed entry lapsed")
	}
}

// A presence entry is read strictly: anything but the node's JSON object
// is an error, never "online".
func TestPresenceEntryStrict(t *testing.T) {
	a, _ := presenceNodes(t, time.Minute)
	ctx := context.Background()
	for _, v := range []string{`{}`, `{"node":"x"}`, `{"node":"x","since":1,"extra":2}`, `{"node":"x","since":1} {}`, `not json`} {
		var id [32]byte
		if _, err := a.presence.Put(ctx, "0000000000000000000000000000000000000000000000000000000000000000", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if on, _, err := a.Presence(ctx, id); err == nil || on {
			t.Errorf("entry %q: online %v, err %v; want an error", v, on, err)
		}
	}
}

// BenchmarkDeliveredStateCost compares the store write of a publish of one
// message with one key-value write, what a cluster-wide "delivered" state
// (API-032) would add for every message sent, and again when it is
// acknowledged or turns back to pending: on one JetStream server, a ratio
// within one run (docs/scale-out.md).
func BenchmarkDeliveredStateCost(b *testing.B) {
	c := natstest.Start(b, 1)
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	ctx := context.Background()
	s, err := Open(ctx, nc, Options{StorageKey: make([]byte, 32), Replicas: 1})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 256)
	b.Run("publish", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			req := &store.PublishRequest{Publisher: "bench", Publications: []store.Publication{{To: [][32]byte{cid(byte(i))}, Payload: payload, TTL: time.Hour}}}
			if _, _, err := s.Publish(ctx, req, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kv-write", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.SetOnline(ctx, cid(byte(i)), time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
