package replay

import (
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// TestEpochsRefuseAnEpochLeft: REPLAY-020 and REPLAY-021 as a table of
// Welcomes in turn.
func TestEpochsRefuseAnEpochLeft(t *testing.T) {
	var e Epochs
	steps := []struct {
		same       bool
		epoch      byte
		top        uint64
		newWindow  bool
		code       alert.Code // 0: accepted
		redelivery uint64     // the highest ID marked afterwards
	}{
		{true, 1, 0, false, 0, 0}, // the first epoch: the window (empty) is kept
		{true, 1, 5, false, 0, 0}, // the same epoch again
		{true, 2, 5, true, 0, 5},  // a restore: new window, IDs up to 5 marked
		{true, 1, 3, false, alert.ReplayedEpoch, 5},
		{true, 2, 3, false, 0, 5}, // the current epoch is not "left"
		{false, 2, 3, true, 0, 0}, // a new client ID: new window, no marks
		{true, 3, 9, true, 0, 9},  // another restore
		{false, 2, 0, false, alert.ReplayedEpoch, 9},
	}
	for i, s := range steps {
		nw, err := e.Enter(s.same, [16]byte{s.epoch}, s.top)
		if code, _ := alert.CodeOf(err); code != s.code || (err == nil) != (s.code == 0) {
			t.Fatalf("step %d: %v, want code %v", i, err, s.code)
		}
		if nw != s.newWindow || !e.PossibleRedelivery(s.redelivery) || e.PossibleRedelivery(s.redelivery+1) {
			t.Fatalf("step %d: new window %v, redelivery bound %d", i, nw, e.redeliveryTop)
		}
	}
	b, _ := e.MarshalBinary()
	var d Epochs
	if err := d.UnmarshalBinary(b); err != nil || d.current != e.current || len(d.past) != 2 || d.redeliveryTop != 9 {
		t.Fatalf("round trip: %v %+v", err, d)
	}
	for name, bad := range map[string][]byte{"truncated": b[:len(b)-1], "trailing": append(b, 0), "flag 2": append([]byte{2}, b[1:]...),
		"none seen with epochs left": append([]byte{0}, b[1:]...)} {
		if err := d.UnmarshalBinary(bad); err == nil {
			t.Fatalf("%s: decoded", name)
		}
	}
}

// TestEpochsLeftAreBounded: the newest MaxPastEpochs epochs left are kept.
func TestEpochsLeftAreBounded(t *testing.T) {
	var e Epochs
	for i := 0; i <= MaxPastEpochs+1; i++ {
		if _, err := e.Enter(true, [16]byte{byte(i), byte(i >> 8)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.past) != MaxPastEpochs || e.past[0] != ([16]byte{1}) {
		t.Fatalf("%d epochs left, oldest %x", len(e.past), e.past[0][:2])
	}
}
