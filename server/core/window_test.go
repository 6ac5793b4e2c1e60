package core

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/server/store"
)

// msgs returns pending messages with the given IDs, each payload size
// bytes (0: a short text), no blob.
func msgs(size int, ids ...uint64) []store.Message {
	out := make([]store.Message, len(ids))
	for i, id := range ids {
		p := []byte(fmt.Sprint(id))
		if size > 0 {
			p = make([]byte, size)
		}
		out[i] = store.Message{Seq: id, Payload: p}
	}
	return out
}

func span(from, to uint64) []uint64 {
	var ids []uint64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

// DLV-004: planDelivery sends the longest prefix of the pending messages
// that stays below the lowest unacknowledged ID + W and within the
// delivery's byte, blob and message bounds.
func TestPlanDelivery(t *testing.T) {
	lim := deliveryLimits{window: replay.WindowSize, messages: 512, bytes: 1000, blobs: 2}
	big := deliveryLimits{window: replay.WindowSize, messages: 512, bytes: 1 << 20, blobs: 2}
	blob := func(ms []store.Message, blobs ...int64) []store.Message {
		for i := range ms {
			ms[i].BlobID = blobs[i]
		}
		return ms
	}
	for _, tc := range []struct {
		name     string
		pending  []store.Message
		inflight uint64 // lowest in flight, 0: none
		lim      deliveryLimits
		n        int
		more     bool
	}{
		{"nothing pending", nil, 0, lim, 0, false},
		{"nothing pending, some in flight", nil, 5, lim, 0, false},
		{"all fit", msgs(0, 1, 2, 3), 0, lim, 3, false},
		{"last ID inside the window", msgs(0, 2, 1024), 1, lim, 2, false},
		{"ID W above the lowest in flight waits", msgs(0, 1024, 1025), 1, lim, 1, false},
		{"first pending ID W above the lowest in flight", msgs(0, 1025), 1, lim, 0, false},
		{"nothing in flight: the window starts at the first pending", msgs(0, 3000, 4023, 4024), 0, lim, 2, false},
		{"gap: acknowledged IDs below do not count", msgs(0, 1500), 0, lim, 1, false},
		{"sparse IDs: one per window", msgs(0, 1, 1025, 2049), 0, lim, 1, false},
		{"bytes: cut, the next is in the window", msgs(400, 1, 2, 3), 0, lim, 2, true},
		{"bytes: the first always goes", msgs(5000, 1, 2), 0, lim, 1, true},
		{"bytes: cut at the window edge", msgs(400, 1, 2, 3), 0, deliveryLimits{window: 3, messages: 512, bytes: 1000, blobs: 2}, 2, true},
		{"blobs: a third blob waits", blob(msgs(0, 1, 2, 3, 4), 7, 8, 7, 9), 0, lim, 3, true},
		{"blobs: unicast between blobs", blob(msgs(0, 1, 2, 3), 7, 0, 8), 0, lim, 3, false},
		{"a full page: more may wait in the store", msgs(0, span(1, 512)...), 0, big, 512, true},
		{"a full page cut by the window", msgs(0, span(1000, 1511)...), 100, big, 1124 - 1000, false},
		{"a page, not full", msgs(0, span(1, 511)...), 0, big, 511, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, more := planDelivery(tc.pending, tc.inflight, tc.lim)
			if n != tc.n || more != tc.more {
				t.Fatalf("planDelivery = %d, %v; want %d, %v", n, more, tc.n, tc.more)
			}
		})
	}
}

// The plan is the longest prefix that keeps every bound, and it never
// holds an ID W or more above the lowest unacknowledged one (DLV-004),
// whatever the pending IDs, the lowest ID in flight and the bounds.
func TestPlanDeliveryIsLongestPrefixInsideTheWindow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lim := deliveryLimits{
			window:   rapid.SampledFrom([]uint64{1, 2, 3, 64, replay.WindowSize}).Draw(t, "window"),
			messages: rapid.IntRange(1, 40).Draw(t, "messages"),
			bytes:    rapid.IntRange(1, 200).Draw(t, "bytes"),
			blobs:    rapid.IntRange(1, 3).Draw(t, "blobs"),
		}
		var inflight uint64
		next := uint64(1)
		if rapid.Bool().Draw(t, "inflight") {
			inflight = rapid.Uint64Range(1, 2000).Draw(t, "lowestInFlight")
			next = inflight + rapid.Uint64Range(1, 1100).Draw(t, "sentAbove")
		}
		k := rapid.IntRange(0, lim.messages).Draw(t, "pending")
		pending := make([]store.Message, k)
		for i := range pending {
			next += rapid.SampledFrom([]uint64{1, 1, 1, 2, 500, 1024}).Draw(t, "gap")
			pending[i] = store.Message{Seq: next, Payload: make([]byte, rapid.IntRange(0, 120).Draw(t, "size")),
				BlobID: rapid.SampledFrom([]int64{0, 0, 1, 2, 3, 4}).Draw(t, "blob")}
		}
		n, more := planDelivery(pending, inflight, lim)
		lowest := inflight
		if lowest == 0 && k > 0 {
			lowest = pending[0].Seq
		}
		// Every message sent is inside the window and the bounds hold.
		bytes, blobs := 0, map[int64]bool{}
		for _, m := range pending[:n] {
			if m.Seq-lowest >= lim.window {
				t.Fatalf("ID %d sent with %d unacknowledged (W %d)", m.Seq, lowest, lim.window)
			}
			bytes += len(m.Payload)
			if m.BlobID != 0 {
				blobs[m.BlobID] = true
			}
		}
		if n > 1 && bytes > lim.bytes || len(blobs) > lim.blobs {
			t.Fatalf("%d bytes, %d blobs in a delivery", bytes, len(blobs))
		}
		if n == k {
			if more != (k == lim.messages) {
				t.Fatalf("all %d sent, more %v", k, more)
			}
			return
		}
		// Maximal: the next message breaks a bound; more says whether it
		// was only the delivery's size.
		m := pending[n]
		outside := m.Seq-lowest >= lim.window
		_, newBlob := blobs[m.BlobID]
		newBlob = m.BlobID != 0 && !newBlob
		full := (n > 0 && bytes+len(m.Payload) > lim.bytes) || (newBlob && len(blobs) == lim.blobs)
		if !outside && !full {
			t.Fatalf("stopped at %d of %d for no bound", n, k)
		}
		if more != !outside {
			t.Fatalf("more %v with the next message outside the window %v", more, outside)
		}
	})
}

// A client with more than W pending messages gets the first W, then one
// more per acknowledgement of the lowest, and in the end every message
// exactly once; its replay window never finds one stale (DLV-004). The
// tick loop is driven by hand, with the deliveries the real batch path
// seals.
func TestMoreThanWPendingForOneClient(t *testing.T) {
	const total = 3000
	st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
	h := newHub(t, st)
	c := attach(t, h, 1)
	for id := uint64(1); id <= total; id++ {
		st.pending[c.id] = append(st.pending[c.id], store.Message{ClientID: c.id, Seq: id, Payload: []byte(fmt.Sprint(id))})
	}
	var w replay.Window
	seen := 0
	drain := func() {
		t.Helper()
		for i := 0; i < 20; i++ {
			if err := h.tick(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		c.received(t)
		for _, id := range c.ids[seen:] {
			if r := w.Accept(id); r != replay.New {
				t.Fatalf("message %d reached the client %v", id, r)
			}
		}
		seen = len(c.ids)
	}
	drain()
	if want := span(1, replay.WindowSize); !slices.Equal(c.ids, want) {
		t.Fatalf("before any Ack: got IDs %d…%d (%d), want 1…1024", c.ids[0], c.ids[len(c.ids)-1], len(c.ids))
	}
	// Acknowledging a message other than the lowest moves nothing.
	c.ack(t, 500)
	drain()
	if len(c.ids) != replay.WindowSize {
		t.Fatalf("an Ack above the lowest let %d more through", len(c.ids)-replay.WindowSize)
	}
	c.ack(t, 1, 2)
	drain()
	if got := c.ids[replay.WindowSize:]; !slices.Equal(got, []uint64{1025, 1026}) {
		t.Fatalf("after acknowledging 1 and 2: %v, want [1025 1026]", got)
	}
	// Acknowledge everything as it arrives.
	for len(c.ids) < total {
		before := len(c.ids)
		c.ack(t, notAcked(c, c.ids)...)
		drain()
		if len(c.ids) == before {
			t.Fatalf("stuck at %d of %d", before, total)
		}
	}
	if !slices.Equal(c.ids, span(1, total)) {
		t.Fatal("not every message exactly once in order")
	}
}

// notAcked returns the IDs of ids that c has not acknowledged yet.
func notAcked(c *client, ids []uint64) []uint64 {
	var out []uint64
	for _, id := range ids {
		if !c.acked[id] {
			out = append(out, id)
		}
	}
	return out
}

// The window holds across acknowledgements in any order, reconnects and
// more messages arriving: no message ever reaches the client stale, none
// twice on one connection, and once the client acknowledges everything it
// has, every message arrives (DLV-002, DLV-004).
func TestDeliveryNeverStaleWhateverTheAckOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		st := &ackStore{pendingStore: pendingStore{pending: map[[32]byte][]store.Message{}}}
		h := newHub(t, st)
		c := attach(t, h, 1)
		var w replay.Window // the client's: across connections
		next := uint64(0)
		publish := func(n int) {
			st.mu.Lock()
			for i := 0; i < n; i++ {
				next++
				st.pending[c.id] = append(st.pending[c.id], store.Message{ClientID: c.id, Seq: next, Payload: []byte("m")})
			}
			st.mu.Unlock()
			h.Wake(c.id)
		}
		handed := map[uint64]bool{}
		seen := 0
		receive := func() {
			if err := h.tick(context.Background()); err != nil {
				rt.Fatal(err)
			}
			c.received(t)
			for _, id := range c.ids[seen:] {
				switch w.Accept(id) {
				case replay.New:
					handed[id] = true
				case replay.Duplicate:
					// a redelivery after a reconnect; the client acknowledges it
				default:
					rt.Fatalf("message %d arrived stale (top %d)", id, w.Top())
				}
			}
			seen = len(c.ids)
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0:
				publish(rapid.SampledFrom([]int{1, 10, 300, 1100}).Draw(rt, "publish"))
			case 1, 2:
				receive()
			case 3:
				// Acknowledge a random subset of what is in flight.
				c.conn.mu.Lock()
				inflight := slices.Clone(c.conn.inflight)
				c.conn.mu.Unlock()
				var ids []uint64
				for _, id := range inflight {
					if rapid.IntRange(0, 3).Draw(rt, "ackThis") > 0 {
						ids = append(ids, id)
					}
				}
				if len(ids) > 0 {
					c.ack(t, ids...)
					if _, _, err := h.flushAcks(context.Background(), false); err != nil {
						rt.Fatal(err)
					}
				}
			case 4:
				// Reconnect: a new connection of the same client
				// replaces the old one; its replay window stays. The
				// old transport ends before the new handshake, or after
				// it (DLV-052: the new connection waits for it).
				old := c
				before := rapid.Bool().Draw(rt, "oldEndsFirst")
				if before {
					old.conn.Detach()
				}
				c = attach(t, h, 1)
				if !before {
					old.conn.Detach()
					waitFor(t, "the new connection released", func() bool {
						c.conn.mu.Lock()
						defer c.conn.mu.Unlock()
						return !c.conn.held
					})
				}
				seen = 0
			}
		}
		// Acknowledge everything until all arrived.
		for round := 0; ; round++ {
			receive()
			c.conn.mu.Lock()
			inflight := slices.Clone(c.conn.inflight)
			c.conn.mu.Unlock()
			if len(inflight) == 0 && len(handed) == int(next) {
				break
			}
			if round > 20 {
				rt.Fatalf("%d of %d messages handed over; %d in flight", len(handed), next, len(inflight))
			}
			if len(inflight) > 0 {
				c.ack(t, inflight...)
				if _, _, err := h.flushAcks(context.Background(), false); err != nil {
					rt.Fatal(err)
				}
			}
			h.Wake(c.id)
		}
	})
}
