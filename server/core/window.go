package core

import (
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/server/store"
)

// deliveryLimits bound one client's share of one batch.
type deliveryLimits struct {
	window   uint64 // W of DLV-004 (replay.WindowSize)
	messages int    // MaxMessagesPerDelivery: the store query's limit
	bytes    int    // MaxBytesPerDelivery
	blobs    int    // MaxBlobsPerDelivery (§15)
}

// planDelivery decides which of a connection's pending messages its next
// delivery carries. pending is what the store returned for the connection
// (unacknowledged, unexpired, in ID order, every ID above the highest one
// already sent on the connection, at most lim.messages of them);
// lowestInFlight is the lowest ID sent on the connection and not yet
// acknowledged, 0 when nothing is in flight.
//
// It returns n, the length of the prefix of pending to send, and more: the
// next delivery can carry at least one more message without waiting for an
// acknowledgement (the prefix was cut by the byte or blob bound while its
// next message is inside the window, or the store returned a full page).
//
// DLV-004: no message is sent whose ID is W or more above the lowest ID the
// client has not acknowledged. That ID is the lowest in flight, or, with
// nothing in flight, the first pending one: every pending ID at or below
// the highest ID sent was sent on this connection, and is in flight unless
// the client acknowledged it. The first message is always sent when it is
// inside the window, whatever its size (a stored payload fits a delivery,
// LIM-001).
func planDelivery(pending []store.Message, lowestInFlight uint64, lim deliveryLimits) (n int, more bool) {
	if len(pending) == 0 {
		return 0, false
	}
	lowest := pending[0].Seq
	if lowestInFlight != 0 {
		lowest = lowestInFlight
	}
	inWindow := func(m store.Message) bool { return m.Seq-lowest < lim.window }
	bytes := 0
	var blobs []int64 // at most lim.blobs distinct blob IDs
	for _, m := range pending {
		if !inWindow(m) {
			return n, false // wait for an acknowledgement
		}
		if n > 0 && bytes+len(m.Payload) > lim.bytes {
			return n, true // m is inside the window: it goes in the next delivery
		}
		if m.BlobID != 0 && !containsBlob(blobs, m.BlobID) {
			if len(blobs) == lim.blobs {
				return n, true
			}
			blobs = append(blobs, m.BlobID)
		}
		n++
		bytes += len(m.Payload)
	}
	return n, n == lim.messages
}

func containsBlob(blobs []int64, id int64) bool {
	for _, b := range blobs {
		if b == id {
			return true
		}
	}
	return false
}

// limits returns the hub's delivery limits.
func (h *Hub) limits() deliveryLimits {
	return deliveryLimits{window: replay.WindowSize, messages: h.cfg.MaxMessagesPerDelivery, bytes: h.cfg.MaxBytesPerDelivery,
		blobs: batch.MaxBlobsPerDelivery}
}
