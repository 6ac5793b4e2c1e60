package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// RunOutbox runs the contract of store.Outbox (STORE-030, STORE-031)
// against an engine whose stores implement it: events for the publishers
// the filter selects only, recorded with the acknowledgement or expiry
// that caused them and exactly once per message, read in ID order, deleted
// by ID, and, for an engine that persists, kept across Close and open.
func RunOutbox(t *testing.T, e Engine) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *env, store.Outbox)
	}{
		{"RecordsFilteredEvents", testOutboxRecords},
		{"NoFilterNoEvents", testOutboxNoFilter},
		{"PagingAndDelete", testOutboxPaging},
		{"Durability", testOutboxDurability},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{wall: e.WallClock, now: time.Unix(1_800_000_000, 0)}
			v := &env{e: e, c: c, s: e.Open(t, c.Now), ctx: context.Background()}
			o, ok := v.s.(store.Outbox)
			if !ok {
				t.Fatalf("%T is not a store.Outbox", v.s)
			}
			tc.f(t, v, o)
		})
	}
}

func hooked(p string) bool { return p == "hooked" }

func (v *env) events(t *testing.T, o store.Outbox, after uint64, limit int) []store.Event {
	t.Helper()
	evs, err := o.OutboxEvents(v.ctx, after, limit)
	if err != nil {
		t.Fatalf("outbox events: %v", err)
	}
	for i, e := range evs {
		if e.ID <= after || (i > 0 && e.ID <= evs[i-1].ID) {
			t.Fatalf("outbox events after %d: IDs %v not rising past it", after, evs)
		}
	}
	return evs
}

func (v *env) outboxLen(t *testing.T, o store.Outbox) int {
	t.Helper()
	n, err := o.OutboxLen(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// STORE-030: an acknowledgement and an expiry of a message of a hooked
// publisher each record one event, with the message's handle, client, ID
// and time; a publisher without a webhook records nothing, and neither do
// a repeated acknowledgement or one after the expiry.
func testOutboxRecords(t *testing.T, v *env, o store.Outbox) {
	o.SetOutboxFilter(hooked)
	a, b := cid(1), cid(2)
	res := v.publish(t, &store.PublishRequest{Publisher: "hooked", Publications: []store.Publication{
		pub(a), {To: [][32]byte{a, b}, Payload: []byte("both"), TTL: v.c.short()}}})
	plain := v.publish(t, &store.PublishRequest{Publisher: "plain", Publications: []store.Publication{pub(a), pub(b)}})
	if n := v.ack(t, map[[32]byte][]uint64{a: {res[0].Seq, plain[0].Seq}}); n != 2 {
		t.Fatalf("ack changed %d messages, want 2", n)
	}
	ackedAt := v.c.Now().Truncate(time.Millisecond)
	v.ack(t, map[[32]byte][]uint64{a: {res[0].Seq}}) // again: no second event
	evs := v.events(t, o, 0, 100)
	if len(evs) != 1 {
		t.Fatalf("after one acknowledgement of a hooked message: %d events %+v, want 1", len(evs), evs)
	}
	if v.e.WallClock {
		// The store's clock (DLV-040), read apart from the suite's: the
		// same to within a second.
		if d := evs[0].Time.Sub(ackedAt); d < -time.Second || d > time.Second {
			t.Fatalf("acknowledgement event at %v, %v from the acknowledgement", evs[0].Time, d)
		}
		ackedAt = evs[0].Time
	}
	want := store.Event{ID: evs[0].ID, Publisher: "hooked", State: store.Acknowledged, Handle: res[0].Handle,
		ClientID: a, Seq: res[0].Seq, Time: ackedAt}
	if !sameEvent(evs[0], want) {
		t.Fatalf("event %+v, want %+v", evs[0], want)
	}
	v.c.advance(t, v.c.short()+time.Second)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	v.ack(t, map[[32]byte][]uint64{b: {res[2].Seq}}) // after its expiry: changes nothing
	evs = v.events(t, o, evs[0].ID, 100)
	if len(evs) != 2 {
		t.Fatalf("after the expiry of two hooked messages: %d events %+v, want 2", len(evs), evs)
	}
	got := map[string]store.Event{}
	for _, e := range evs {
		got[e.Handle] = e
	}
	for _, r := range res[1:] {
		w := store.Event{ID: got[r.Handle].ID, Publisher: "hooked", State: store.Expired, Handle: r.Handle,
			ClientID: r.ClientID, Seq: r.Seq, Time: r.Expires.Truncate(time.Millisecond)}
		if !sameEvent(got[r.Handle], w) {
			t.Fatalf("expiry event %+v, want %+v", got[r.Handle], w)
		}
	}
	if n := v.outboxLen(t, o); n != 3 {
		t.Fatalf("outbox holds %d events, want 3", n)
	}
}

func sameEvent(a, b store.Event) bool {
	return a.ID == b.ID && a.Publisher == b.Publisher && a.State == b.State && a.Handle == b.Handle &&
		a.ClientID == b.ClientID && a.Seq == b.Seq && a.Time.Equal(b.Time)
}

// STORE-030: without a filter (the default) nothing is recorded.
func testOutboxNoFilter(t *testing.T, v *env, o store.Outbox) {
	res := v.publish(t, &store.PublishRequest{Publisher: "hooked", Publications: []store.Publication{pub(cid(1))}})
	v.ack(t, map[[32]byte][]uint64{cid(1): {res[0].Seq}})
	if evs := v.events(t, o, 0, 10); len(evs) != 0 {
		t.Fatalf("events without a filter: %+v", evs)
	}
	o.SetOutboxFilter(hooked)
	o.SetOutboxFilter(nil)
	res = v.publish(t, &store.PublishRequest{Publisher: "hooked", Publications: []store.Publication{pub(cid(1))}})
	v.ack(t, map[[32]byte][]uint64{cid(1): {res[0].Seq}})
	if evs := v.events(t, o, 0, 10); len(evs) != 0 {
		t.Fatalf("events after the filter was removed: %+v", evs)
	}
}

// STORE-031: events are read in ID order after a cursor, at most limit at
// a time, and deleted by ID; unknown IDs are ignored.
func testOutboxPaging(t *testing.T, v *env, o store.Outbox) {
	o.SetOutboxFilter(hooked)
	c := cid(3)
	var pubs []store.Publication
	for range 5 {
		pubs = append(pubs, pub(c))
	}
	res := v.publish(t, &store.PublishRequest{Publisher: "hooked", Publications: pubs})
	for _, r := range res { // one call each: the IDs follow the order of the acknowledgements
		v.ack(t, map[[32]byte][]uint64{c: {r.Seq}})
	}
	first := v.events(t, o, 0, 3)
	if len(first) != 3 {
		t.Fatalf("limit 3: %d events", len(first))
	}
	rest := v.events(t, o, first[2].ID, 3)
	if len(rest) != 2 {
		t.Fatalf("after the third: %d events, want 2", len(rest))
	}
	all := append(first, rest...)
	for i, e := range all {
		if e.Seq != res[i].Seq {
			t.Fatalf("event %d is for message %d, want %d (commit order)", i, e.Seq, res[i].Seq)
		}
	}
	if err := o.OutboxDelete(v.ctx, []uint64{all[1].ID, all[3].ID, all[4].ID + 1000}); err != nil {
		t.Fatal(err)
	}
	left := v.events(t, o, 0, 10)
	if len(left) != 3 || left[0].ID != all[0].ID || left[1].ID != all[2].ID || left[2].ID != all[4].ID {
		t.Fatalf("after deleting the second and fourth: %+v", left)
	}
	if n := v.outboxLen(t, o); n != 3 {
		t.Fatalf("outbox length %d, want 3", n)
	}
}

// STORE-030: an engine that persists keeps the events and the deletions
// across Close and open; IDs are not reused.
func testOutboxDurability(t *testing.T, v *env, o store.Outbox) {
	if v.e.Reopen == nil {
		t.Skip("the engine keeps nothing across Close")
	}
	o.SetOutboxFilter(hooked)
	c := cid(4)
	res := v.publish(t, &store.PublishRequest{Publisher: "hooked", Publications: []store.Publication{pub(c), pub(c)}})
	v.ack(t, map[[32]byte][]uint64{c: {res[0].Seq, res[1].Seq}})
	before := v.events(t, o, 0, 10)
	if len(before) != 2 {
		t.Fatalf("%d events, want 2", len(before))
	}
	if err := o.OutboxDelete(v.ctx, []uint64{before[0].ID}); err != nil {
		t.Fatal(err)
	}
	v.s = v.e.Reopen(t, v.s, v.c.Now)
	o = v.s.(store.Outbox)
	after := v.events(t, o, 0, 10)
	if len(after) != 1 || !sameEvent(after[0], before[1]) {
		t.Fatalf("after reopening: %+v, want %+v", after, before[1:])
	}
	o.SetOutboxFilter(hooked)
	res = v.publish(t, &store.PublishRequest{Publisher: "hooked", Publications: []store.Publication{pub(c)}})
	v.ack(t, map[[32]byte][]uint64{c: {res[0].Seq}})
	evs := v.events(t, o, after[0].ID, 10)
	if len(evs) != 1 || evs[0].ID <= before[1].ID {
		t.Fatalf("a new event after reopening: %+v (IDs must not be reused)", evs)
	}
}
