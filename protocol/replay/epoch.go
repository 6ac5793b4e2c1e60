package replay

import (
	"slices"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// MaxPastEpochs bounds the store epochs an Epochs remembers having left
// (REPLAY-020 asks for at least 64): one per restore of the server's
// store; past the bound the oldest is forgotten.
const MaxPastEpochs = 256

// Epochs follows the server's store epoch (ID-004) for one client state:
// the epoch of the current window, the epochs left, and which IDs of the
// current window may be redeliveries of messages handed over before a
// restore (DLV-005). The zero value has seen no epoch.
type Epochs struct {
	have          bool
	current       [16]byte
	past          [][16]byte
	redeliveryTop uint64
}

// Enter applies REPLAY-020 and REPLAY-021 to a session's Welcome, given
// whether its client ID is the one the current window belongs to and the
// window's top. An epoch left before is replayed_epoch and changes
// nothing. Otherwise newWindow says whether the caller must start a new,
// empty window: for a new client ID, or a new epoch, whose change also
// marks the IDs up to top as possible redeliveries.
func (e *Epochs) Enter(sameClient bool, epoch [16]byte, top uint64) (newWindow bool, err error) {
	changed := e.have && epoch != e.current
	if changed && slices.Contains(e.past, epoch) {
		return false, alert.New(alert.ReplayedEpoch, "the server's store epoch is one this client left (REPLAY-020)")
	}
	if changed {
		e.past = append(e.past, e.current)
		if len(e.past) > MaxPastEpochs {
			e.past = slices.Delete(e.past, 0, len(e.past)-MaxPastEpochs)
		}
	}
	e.have, e.current = true, epoch
	switch {
	case !sameClient:
		e.redeliveryTop = 0
		return true, nil
	case changed:
		e.redeliveryTop = max(e.redeliveryTop, top)
		return true, nil
	}
	return false, nil
}

// Current returns the epoch of the current window; ok is false before the
// first Enter.
func (e *Epochs) Current() (epoch [16]byte, ok bool) { return e.current, e.have }

// PossibleRedelivery reports whether message id of the current window may
// have reached the application before a restore (DLV-005).
func (e *Epochs) PossibleRedelivery(id uint64) bool { return id <= e.redeliveryTop }

// MarshalBinary encodes the epochs for persistence (REPLAY-020): a flag
// byte (1: an epoch was seen), the current epoch, the redelivery bound as
// a big-endian uint64, a uint16 count and the epochs left, oldest first.
func (e *Epochs) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+16+8+2+16*len(e.past))
	if e.have {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, e.current[:]...)
	b = wire.AppendUint64(b, e.redeliveryTop)
	b = wire.AppendUint16(b, uint16(len(e.past)))
	for _, p := range e.past {
		b = append(b, p[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced, strictly; on error
// e is unchanged and the error is decode_error.
func (e *Epochs) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(b)
	var d Epochs
	flag := r.Uint8("epochs flag")
	r.Copy(d.current[:], "current epoch")
	d.redeliveryTop = r.Uint64("redelivery bound")
	n := int(r.Uint16("epochs left"))
	for i := 0; i < n && r.Err() == nil; i++ {
		var p [16]byte
		r.Copy(p[:], "epoch left")
		d.past = append(d.past, p)
	}
	if err := r.Finish("epochs"); err != nil {
		return err
	}
	if flag > 1 || n > MaxPastEpochs || (flag == 0 && (n > 0 || d.redeliveryTop != 0 || d.current != [16]byte{})) {
		return alert.New(alert.DecodeError, "epochs: inconsistent state")
	}
	d.have = flag == 1
	*e = d
	return nil
}
