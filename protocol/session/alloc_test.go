package session

import (
	"testing"

	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// TestSealIntoReusedBufferAllocatesNothing: sealing a delivery into the
// caller's buffer allocates nothing once the buffer has grown, for each
// AEAD, so a sender that reuses its frame buffer (the hub's send path)
// allocates nothing per frame.
func TestSealIntoReusedBufferAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	for _, aead := range suite.SupportedAEADs {
		sealer, err := record.NewSealer(aead, make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		s := New(State{Role: Server}, keyschedule.EnvelopeKeys{}, sealer, nil)
		msg := wire.AppendMessage(nil, wire.TypeBatchDelivery, make([]byte, 2600))
		frame, err := s.Seal(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if frame, err = s.Seal(frame[:0], msg); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("AEAD %#04x: %.1f allocations per Seal into a reused buffer, want 0", aead, allocs)
		}
	}
}
