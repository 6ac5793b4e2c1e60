package jsstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/server/store"
)

// outboxNodes opens two Stores (two nodes) on one JetStream server, with
// the filter selecting the publisher "hooked".
func outboxNodes(t *testing.T, claimTTL time.Duration) (a, b *Store) {
	t.Helper()
	n := nodesOn(t, Options{ClaimTTL: claimTTL}, Options{ClaimTTL: claimTTL})
	for _, s := range n {
		s.SetOutboxFilter(func(p string) bool { return p == "hooked" })
	}
	return n[0], n[1]
}

func publishHooked(t *testing.T, s *Store, to [32]byte, n int) []store.Assigned {
	t.Helper()
	var pubs []store.Publication
	for range n {
		pubs = append(pubs, store.Publication{To: [][32]byte{to}, Payload: []byte("p"), TTL: time.Hour})
	}
	out, _, err := s.Publish(context.Background(), &store.PublishRequest{Publisher: "hooked", Publications: pubs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func outboxLen(t *testing.T, s *Store) int {
	t.Helper()
	n, err := s.OutboxLen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// STORE-032: the event is stored before the acknowledgement is applied. A
// node that dies in between leaves the event and a pending message; the
// acknowledgement sent again (to any node) applies it and stores no second
// event.
func TestOutboxEventBeforeAck(t *testing.T) {
	a, b := outboxNodes(t, 0)
	ctx := context.Background()
	c := cid(7)
	res := publishHooked(t, a, c, 1)
	crash := errors.New("the node died here")
	a.ob.crashBeforeAck = func() error { return crash }
	if _, err := a.Ack(ctx, map[[32]byte][]uint64{c: {res[0].Seq}}); !errors.Is(err, crash) {
		t.Fatalf("ack through the crash point: %v", err)
	}
	if n := outboxLen(t, a); n != 1 {
		t.Fatalf("after a crash before the acknowledgement was applied: %d events, want 1 (STORE-032)", n)
	}
	if st, err := b.Status(ctx, res[0].Handle); err != nil || st.State != store.Pending {
		t.Fatalf("the message after the crash: %+v, %v; want pending", st, err)
	}
	if n, err := b.Ack(ctx, map[[32]byte][]uint64{c: {res[0].Seq}}); err != nil || n != 1 {
		t.Fatalf("the acknowledgement again on another node: %d, %v", n, err)
	}
	evs, err := b.OutboxEvents(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Handle != res[0].Handle || evs[0].State != store.Acknowledged {
		t.Fatalf("events after the acknowledgement was applied: %+v, %v; want the one event", evs, err)
	}
}

// STORE-034: the shared consumer hands an event to one node at a time; a
// renewed claim keeps it there; a lapsed one (the node died) hands it to
// another node, which settles it.
func TestOutboxClaimsOneNodeAtATime(t *testing.T) {
	const ttl = time.Second
	a, b := outboxNodes(t, ttl)
	ctx := context.Background()
	c := cid(8)
	res := publishHooked(t, a, c, 3)
	if n, err := a.Ack(ctx, map[[32]byte][]uint64{c: {res[0].Seq, res[1].Seq, res[2].Seq}}); err != nil || n != 3 {
		t.Fatalf("ack: %d, %v", n, err)
	}
	got, err := a.ClaimEvents(ctx, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("node A claims %d events (%v), want 3", len(got), err)
	}
	ids := []uint64{got[0].ID, got[1].ID, got[2].ID}
	for end := time.Now().Add(2 * ttl); time.Now().Before(end); time.Sleep(ttl / 4) {
		if err := a.RenewClaims(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if evs, err := b.ClaimEvents(ctx, 10); err != nil || len(evs) != 0 {
			t.Fatalf("node B was handed %+v (%v) while node A holds and renews them", evs, err)
		}
	}
	// A dies: no renewal, no acknowledgement.
	var taken []store.Event
	for deadline := time.Now().Add(10 * ttl); len(taken) < 3; time.Sleep(50 * time.Millisecond) {
		evs, err := b.ClaimEvents(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, evs...)
		if time.Now().After(deadline) {
			t.Fatalf("node B was handed %d of the 3 events of a node that stopped renewing", len(taken))
		}
	}
	var bIDs []uint64
	for _, e := range taken {
		bIDs = append(bIDs, e.ID)
	}
	if err := b.OutboxDelete(ctx, bIDs); err != nil {
		t.Fatal(err)
	}
	if n := outboxLen(t, b); n != 0 {
		t.Fatalf("%d events left after node B settled them", n)
	}
}

// STORE-033: a message of a publisher with a webhook that expires
// unacknowledged gets one `expired` event from the sweep, however many
// nodes sweep; an acknowledged one gets none.
func TestOutboxExpiredBySweep(t *testing.T) {
	a, b := outboxNodes(t, 0)
	ctx := context.Background()
	c := cid(9)
	res, _, err := a.Publish(ctx, &store.PublishRequest{Publisher: "hooked", Publications: []store.Publication{
		{To: [][32]byte{c}, Payload: []byte("x"), TTL: time.Second}, {To: [][32]byte{c}, Payload: []byte("y"), TTL: time.Second}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ack(ctx, map[[32]byte][]uint64{c: {res[1].Seq}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} { // before the expiry: nothing
		if _, err := s.Expire(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := outboxLen(t, a); n != 1 {
		t.Fatalf("before the expiry: %d events, want the acknowledgement's", n)
	}
	time.Sleep(time.Second + 2*expirySlack)
	for _, s := range []*Store{a, b, a} {
		if _, err := s.Expire(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := a.OutboxEvents(ctx, 0, 10)
	if err != nil || len(evs) != 2 || evs[1].State != store.Expired || evs[1].Handle != res[0].Handle ||
		!evs[1].Time.Equal(res[0].Expires) {
		t.Fatalf("after the expiry, swept by two nodes: %+v, %v; want the acknowledgement and one expiry of %s", evs, err, res[0].Handle)
	}
}

// STORE-036: Ready fails while the webhook stream does not answer.
func TestReadyNeedsTheWebhookStream(t *testing.T) {
	s, _ := outboxNodes(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("fresh store not ready: %v", err)
	}
	if err := s.js.DeleteStream(ctx, s.ob.stream.CachedInfo().Config.Name); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); err == nil {
		t.Fatal("ready without its webhook stream")
	}
}

// BenchmarkAckOutbox compares an acknowledgement of a message whose
// publisher has a webhook (its event published first, STORE-032) with one
// whose publisher has none; ratios from one run only.
func BenchmarkAckOutbox(b *testing.B) {
	for _, hooked := range []bool{false, true} {
		b.Run(map[bool]string{false: "no-webhook", true: "webhook"}[hooked], func(b *testing.B) {
			c := natstest.Start(b, 1)
			nc, err := nats.Connect(c.URLs())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			ctx := context.Background()
			s, err := Open(ctx, nc, Options{StorageKey: make([]byte, 32), Replicas: 1})
			if err != nil {
				b.Fatal(err)
			}
			if hooked {
				s.SetOutboxFilter(func(string) bool { return true })
			}
			to := cid(1)
			var pubs []store.Publication
			for range b.N {
				pubs = append(pubs, store.Publication{To: [][32]byte{to}, Payload: []byte("p"), TTL: time.Hour})
			}
			res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: pubs}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.Ack(ctx, map[[32]byte][]uint64{to: {res[i].Seq}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
