package jsstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/server/store"
)

// nodesOn opens one Store per options, each on its own connection to one
// JetStream server: nodes of one deployment. StorageKey and Replicas are
// filled in where unset.
func nodesOn(t *testing.T, opts ...Options) []*Store {
	t.Helper()
	c := natstest.Start(t, 1)
	var out []*Store
	for _, o := range opts {
		nc, err := nats.Connect(c.URLs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if o.StorageKey == nil {
			o.StorageKey = make([]byte, 32)
		}
		if o.Replicas == 0 {
			o.Replicas = 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		s, err := Open(ctx, nc, o)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// skewedNodes opens one node's store per clock offset, all on one stream
// of one JetStream server: nodes of one deployment whose clocks disagree.
func skewedNodes(t *testing.T, offsets ...time.Duration) []*Store {
	t.Helper()
	var opts []Options
	for _, off := range offsets {
		opts = append(opts, Options{Now: func() time.Time { return time.Now().Add(off) }})
	}
	return nodesOn(t, opts...)
}

// DLV-040: the store's clock decides expiry. A message published with a
// 60 s TTL on any of three nodes, whose clocks are true, 2 minutes ahead
// and 2 minutes behind (more than the TTL either way), is pending,
// delivered, reported pending and acknowledged on every node.
func TestExpiryDecidedByStoreClockNotNodes(t *testing.T) {
	nodes := skewedNodes(t, 0, 2*time.Minute, -2*time.Minute)
	ctx := context.Background()
	offset := func(n *Store) time.Duration { return n.opt.Now().Sub(time.Now()).Round(time.Minute) }
	for i, p := range nodes {
		for j, n := range nodes {
			to := cid(byte(0x40 + 3*i + j))
			res, _, err := p.Publish(ctx, &store.PublishRequest{Publisher: "p",
				Publications: []store.Publication{{To: [][32]byte{to}, Payload: []byte("sixty seconds"), TTL: 60 * time.Second}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			at := fmt.Sprintf("published on a node %v off, read on one %v off", offset(p), offset(n))
			msgs, err := n.Pending(ctx, to, 0, 10)
			if err != nil || len(msgs) != 1 || string(msgs[0].Payload) != "sixty seconds" {
				t.Fatalf("%s: pending %v %+v, want the message", at, err, msgs)
			}
			if c, err := n.PendingCount(ctx, to); err != nil || c != 1 {
				t.Fatalf("%s: pending count %d %v", at, c, err)
			}
			st, err := n.Status(ctx, res[0].Handle)
			if err != nil || st.State != store.Pending || !st.Expires.Equal(res[0].Expires) {
				t.Fatalf("%s: status %+v %v, want pending with the expiry the publish answered", at, st, err)
			}
			if k, err := n.Ack(ctx, map[[32]byte][]uint64{to: {res[0].Seq}}); err != nil || k != 1 {
				t.Fatalf("%s: ack counted %d %v, want 1", at, k, err)
			}
			if st, err := p.Status(ctx, res[0].Handle); err != nil || st.State != store.Acknowledged {
				t.Fatalf("%s: status after ack %+v %v", at, st, err)
			}
		}
	}
}

// DLV-040: a message the store's clock expired is delivered by no node,
// whatever their clocks: published with a 1 s TTL by a node 2 minutes
// behind (its stamp says it expires 2 minutes early), once it is pending
// no more on a node with a true clock it is pending on no node, expired
// in status (DLV-042), a late acknowledgement changes nothing (API-032),
// and JetStream removes it.
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
		if st, err := n.Status(ctx, res[0].Handle); err != store.ErrNotFound && (err != nil || st.State != store.Expired) {
			t.Fatalf("node %v off: status %+v %v, want expired or not found", off, st, err)
		}
		if k, err := n.Ack(ctx, map[[32]byte][]uint64{to: {res[0].Seq}}); err != nil || k != 0 {
			t.Fatalf("node %v off: late ack counted %d %v", off, k, err)
		}
	}
	// JetStream's TTL removes it a second later; the count follows.
	for {
		c, err := nodes[1].PendingCount(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		if c == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream never removed the expired message: count %d", c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, err := nodes[1].Status(ctx, res[0].Handle); err != store.ErrNotFound {
		t.Fatalf("status %+v %v once removed, want not found", st, err)
	}
}

// DLV-041: a nonce is kept for its window by the node's clock, whatever
// the store's: on a node 10 minutes behind, a nonce recorded until 10
// minutes from the node's now is still seen a moment later (the TTL was
// once taken from the wall clock, and such a node forgot it after 1 s).
func TestNonceWindowOnNodeClock(t *testing.T) {
	s := skewedNodes(t, -10*time.Minute)[0]
	exp := s.opt.Now().Add(10 * time.Minute)
	if seen, err := s.Seen(context.Background(), "k", "n-skewed", exp); err != nil || seen {
		t.Fatalf("first: %v %v", seen, err)
	}
	time.Sleep(1500 * time.Millisecond)
	if seen, err := s.Seen(context.Background(), "k", "n-skewed", exp); err != nil || !seen {
		t.Fatalf("again 1.5 s later: seen %v %v, want seen", seen, err)
	}
}
