package jsstore

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/server/store"
)

// skewedNodes opens one node's store per clock offset, all on one stream
// of one JetStream server: nodes of one deployment whose clocks disagree.
func skewedNodes(t *testing.T, offsets ...time.Duration) []*Store {
	t.Helper()
	c := natstest.Start(t, 1)
	var out []*Store
	for _, off := range offsets {
		nc, err := nats.Connect(c.URLs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		s, err := Open(ctx, nc, Options{StorageKey: make([]byte, 32), Replicas: 1,
			Now: func() time.Time { return time.Now().Add(off) }})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// DLV-040: the store's clock decides expiry. A message published with a
// 60 s TTL on a node with a true clock is pending, delivered, reported
// pending and acknowledged on nodes whose clocks are 2 minutes ahead and
// 2 minutes behind: more than the TTL either way.
func TestExpiryDecidedByStoreClockNotNodes(t *testing.T) {
	nodes := skewedNodes(t, 0, 2*time.Minute, -2*time.Minute)
	ctx := context.Background()
	for i, n := range nodes[1:] {
		to := cid(byte(0x40 + i))
		res, _, err := nodes[0].Publish(ctx, &store.PublishRequest{Publisher: "p",
			Publications: []store.Publication{{To: [][32]byte{to}, Payload: []byte("sixty seconds"), TTL: 60 * time.Second}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		off := n.opt.Now().Sub(time.Now()).Round(time.Minute)
		msgs, err := n.Pending(ctx, to, 0, 10)
		if err != nil || len(msgs) != 1 || string(msgs[0].Payload) != "sixty seconds" {
			t.Fatalf("node %v off: pending %v %+v, want the message", off, err, msgs)
		}
		if c, err := n.PendingCount(ctx, to); err != nil || c != 1 {
			t.Fatalf("node %v off: pending count %d %v", off, c, err)
		}
		st, err := n.Status(ctx, res[0].Handle)
		if err != nil || st.State != store.Pending || !st.Expires.Equal(res[0].Expires) {
			t.Fatalf("node %v off: status %+v %v, want pending with the expiry the publish answered", off, st, err)
		}
		if k, err := n.Ack(ctx, map[[32]byte][]uint64{to: {res[0].Seq}}); err != nil || k != 1 {
			t.Fatalf("node %v off: ack counted %d %v, want 1", off, k, err)
		}
		if st, err := nodes[0].Status(ctx, res[0].Handle); err != nil || st.State != store.Acknowledged {
			t.Fatalf("node %v off: status after ack %+v %v", off, st, err)
		}
	}
}

// DLV-040: a message the store's clock expired is delivered by no node,
// whatever their clocks: published with a 1 s TTL by a node 2 minutes
// behind (its stamp says it expires 2 minutes early), it is removed by
// the store, then pending nowhere, not found in status (DLV-042), and a
// late acknowledgement changes nothing (API-032).
func TestExpiredByStoreClockDeliveredByNoNode(t *testing.T) {
	nodes := skewedNodes(t, -2*time.Minute, 2*time.Minute, 0)
	ctx := context.Background()
	to := cid(0x50)
	res, _, err := nodes[0].Publish(ctx, &store.PublishRequest{Publisher: "p",
		Publications: []store.Publication{{To: [][32]byte{to}, Payload: []byte("one second"), TTL: time.Second}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := nodes[2].Pending(ctx, to, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store never expired a message with a 1 s TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range nodes {
		off := n.opt.Now().Sub(time.Now()).Round(time.Minute)
		if msgs, err := n.Pending(ctx, to, 0, 10); err != nil || len(msgs) != 0 {
			t.Fatalf("node %v off: pending %v %+v after the store expired it", off, err, msgs)
		}
		if c, err := n.PendingCount(ctx, to); err != nil || c != 0 {
			t.Fatalf("node %v off: pending count %d %v", off, c, err)
		}
		if st, err := n.Status(ctx, res[0].Handle); err != store.ErrNotFound {
			t.Fatalf("node %v off: status %+v %v, want not found", off, st, err)
		}
		if k, err := n.Ack(ctx, map[[32]byte][]uint64{to: {res[0].Seq}}); err != nil || k != 0 {
			t.Fatalf("node %v off: late ack counted %d %v", off, k, err)
		}
	}
}

// DLV-041: a nonce is kept for its window by the node's clock, whatever
// the store's: on a node 10 minutes behind, a nonce recorded until 10
// minutes from the node's now is still seen a moment later (the TTL was
// once taken from the wall clock, and such a node forgot it after 1 s).
func TestNonceWindowOnNodeClock(t *testing.T) {
	s := skewedNodes(t, -10*time.Minute)[0]
	exp := s.opt.Now().Add(10 * time.Minute)
	if seen, err := s.Seen("k", "n-skewed", exp); err != nil || seen {
		t.Fatalf("first: %v %v", seen, err)
	}
	time.Sleep(1500 * time.Millisecond)
	if seen, err := s.Seen("k", "n-skewed", exp); err != nil || !seen {
		t.Fatalf("again 1.5 s later: seen %v %v, want seen", seen, err)
	}
}
