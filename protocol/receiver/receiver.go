// Package receiver is the client's receive path without a transport: the
// BatchDelivery messages of one protected record in; the messages to hand
// to the application, the message IDs to acknowledge and the durable state
// change out (spec §11, §12). It owns the order of POST-009 and BATCH-014
// (every delivery of a record is verified and opened before any state
// changes), the batch sequence of a session (REPLAY-010), the message-ID
// window per client ID and store epoch (REPLAY-011, REPLAY-020,
// REPLAY-021), and the durable set of messages handed to the application
// but not yet acknowledged by it (DLV-010 … DLV-016).
//
// A Receiver is not safe for concurrent use; the client serialises calls.
package receiver

import (
	"maps"
	"slices"

	"github.com/sealfeed/sealfeed/internal/bugs"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// State is the durable part of the receive path (REPLAY-013, DLV-011):
// the client ID and store epochs of the current window, the window, and
// Unacked, the IDs of the window handed to the application and not yet
// acknowledged by it. Unrecorded marks a window started without any record
// of its client ID (DLV-015). The zero value is a client with no record.
type State struct {
	ClientID   [32]byte
	Window     replay.Window
	Epochs     replay.Epochs
	Unacked    map[uint64]struct{}
	Unrecorded bool
}

// UnackedIDs returns Unacked in ascending order, for persistence.
func (s *State) UnackedIDs() []uint64 { return slices.Sorted(maps.Keys(s.Unacked)) }

// SetUnacked replaces Unacked with ids. It rejects, with decode_error, an
// ID that the window has not accepted or that is stale (DLV-011), and more
// than W IDs, so a damaged state file cannot inject messages.
func (s *State) SetUnacked(ids []uint64) error {
	if len(ids) > replay.WindowSize {
		return alert.New(alert.DecodeError, "unacked: more than W IDs (DLV-011)")
	}
	u := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		if s.Window.Check(id) != replay.Duplicate {
			return alert.New(alert.DecodeError, "unacked: an ID the window does not hold (DLV-011)")
		}
		u[id] = struct{}{}
	}
	s.Unacked = u
	return nil
}

// Message is one verified, decrypted message for the application.
type Message struct {
	ID        uint64 // per-client message ID (DLV-001)
	Window    uint64 // the Receiver's window it was accepted in (Ack)
	Payload   []byte
	Broadcast bool
	BatchSeq  uint64
	// PossibleRedelivery: this message may have reached the application
	// before: it was handed over before a restart and not acknowledged
	// (DLV-012), its window began after a restore of the server's store
	// (DLV-005), or without a record of the client ID (DLV-015).
	PossibleRedelivery bool
}

// Result is what one record asks of the caller, in this order: the state
// (already saved through the save function given to Receive) — then hand
// Deliver to the application in order, and send Ack (DLV-003).
type Result struct {
	Deliver []Message
	Ack     []uint64 // ascending, no repeats
}

// Receiver is the receive path of one client across its connections in
// one process. Begin starts each session; Receive takes each record.
type Receiver struct {
	st *State
	// handed holds the IDs of Unacked handed to the application by this
	// process (DLV-013): not persisted, so that after a restart they are
	// handed over again.
	handed map[uint64]bool

	// gen counts the windows this Receiver started: an Ack names the
	// window of its message, so that an Ack from before a window change
	// cannot acknowledge another message with the same ID (DLV-005).
	gen uint64

	opener *batch.Opener   // the session's; nil between sessions
	seq    replay.BatchSeq // the session's batch sequence (REPLAY-010)
	// unrecordedSession: every message of this session is marked
	// PossibleRedelivery (DLV-015).
	unrecordedSession bool
}

// New returns a Receiver over st, which it changes in place; st is what the
// caller loaded from its state file (or a zero State).
func New(st *State) *Receiver {
	if st.Unacked == nil {
		st.Unacked = map[uint64]struct{}{}
	}
	return &Receiver{st: st, handed: map[uint64]bool{}}
}

// State returns the state the Receiver changes, for the caller to persist.
func (r *Receiver) State() *State { return r.st }

// Begin applies a session's Welcome before any of its deliveries
// (POST-010, REPLAY-020, REPLAY-021): an epoch the client left is
// replayed_epoch and changes nothing; a new client ID or a new store epoch
// starts a new window with an empty Unacked (DLV-014). persistentID says
// that clientID may have received messages before this window: the client
// is key-identified, or resumed its ID with a ticket. A new window for
// such an ID without a record of it (a lost state, DLV-015) marks every
// message of the session, and of the next ones until a session of the
// window ends in this process (EndSession), PossibleRedelivery.
//
// opener opens the session's deliveries; the batch sequence starts at 0
// (REPLAY-010). The caller saves the state before it accepts a delivery.
func (r *Receiver) Begin(clientID [32]byte, epoch [16]byte, persistentID bool, opener *batch.Opener) error {
	if bugs.IgnoreStoreEpoch {
		epoch = [16]byte{}
	}
	_, hadEpoch := r.st.Epochs.Current()
	known := hadEpoch && r.st.ClientID == clientID
	fresh, err := r.st.Epochs.Enter(r.st.ClientID == clientID, epoch, r.st.Window.Top())
	if err != nil {
		return err
	}
	if fresh {
		r.st.ClientID, r.st.Window = clientID, replay.Window{}
		r.st.Unacked = map[uint64]struct{}{}
		r.st.Unrecorded = !known && persistentID
		clear(r.handed)
		r.gen++
	}
	r.unrecordedSession = r.st.Unrecorded
	r.opener, r.seq = opener, replay.BatchSeq{}
	return nil
}

// EndSession records that the current session ended in this process (a
// reconnect or a close, not a crash): from the next session on the window
// is precise (DLV-015). The change is saved with the next save.
func (r *Receiver) EndSession() {
	r.opener = nil
	r.st.Unrecorded = false
}

type opened struct {
	seq  uint64
	msgs []batch.Message
}

// Receive takes the messages of one protected record as the session layer
// returned them (BatchDelivery bodies in record order; other types are
// ignored). It verifies and opens every delivery, each against the batch
// sequence the ones before it leave (REPLAY-010), and checks every message
// ID (REPLAY-011), before it changes anything (POST-009, BATCH-014); a
// record that fails changes nothing and delivers nothing.
//
// Then it applies the receive rules of DLV-012 to each message ID: a new
// ID is accepted into the window, added to Unacked and delivered; a
// duplicate in Unacked that this process has not handed over is delivered
// again with PossibleRedelivery; a duplicate in Unacked already handed
// over by this process is dropped and not acknowledged (the application
// holds it); any other duplicate, and a stale ID, is dropped and
// acknowledged (REPLAY-012). IDs of Unacked that became stale are removed
// (DLV-011). When the durable state changed, Receive calls save once,
// before it returns anything (REPLAY-013); if save fails, the state is as
// before the call, and the error is internal_error.
func (r *Receiver) Receive(msgs []session.Message, save func(*State) error) (Result, error) {
	if r.opener == nil {
		return Result{}, alert.New(alert.InternalError, "receiver: no session")
	}
	var all []opened
	last := r.seq.Last()
	w := r.st.Window // a copy: the checks below must change nothing
	for _, m := range msgs {
		if m.Type != wire.TypeBatchDelivery {
			continue
		}
		d, err := batch.ParseDelivery(m.Body)
		if err != nil {
			return Result{}, err
		}
		if bugs.SkipBatchSeqCheck {
			last = 0
		}
		out, err := r.opener.Open(d, last)
		if err != nil {
			return Result{}, err
		}
		for _, om := range out {
			if w.Accept(om.ID) == replay.Invalid {
				return Result{}, replay.Invalid.Err()
			}
		}
		last = d.Header.Seq
		all = append(all, opened{seq: d.Header.Seq, msgs: out})
	}
	if len(all) == 0 {
		return Result{}, nil
	}

	// Every delivery passed: apply. Keep what a failed save must undo.
	oldWindow, oldSeq := r.st.Window, r.seq
	var added, pruned, handedNow, prunedHanded []uint64
	var res Result
	for _, o := range all {
		if !bugs.SkipBatchSeqCheck {
			if err := r.seq.Accept(o.seq); err != nil {
				r.st.Window, r.seq = oldWindow, oldSeq
				r.undo(added, pruned, handedNow)
				return Result{}, err
			}
		}
		for _, om := range o.msgs {
			res.apply(r, o.seq, om, &added, &handedNow)
		}
	}
	// DLV-011: an ID W or more below top can no longer be delivered
	// (DLV-004); it leaves Unacked.
	top := r.st.Window.Top()
	for id := range r.st.Unacked {
		if top-id >= replay.WindowSize {
			delete(r.st.Unacked, id)
			pruned = append(pruned, id)
			if r.handed[id] {
				delete(r.handed, id)
				prunedHanded = append(prunedHanded, id)
			}
		}
	}
	if len(added) > 0 || len(pruned) > 0 || r.st.Window != oldWindow {
		if err := save(r.st); err != nil {
			r.st.Window, r.seq = oldWindow, oldSeq
			r.undo(added, pruned, handedNow)
			for _, id := range prunedHanded {
				r.handed[id] = true
			}
			return Result{}, alert.New(alert.InternalError, "client: saving the receive state failed (REPLAY-013)")
		}
	}
	slices.Sort(res.Ack)
	res.Ack = slices.Compact(res.Ack)
	return res, nil
}

// apply is the rule of DLV-012 for one authenticated message.
func (res *Result) apply(r *Receiver, seq uint64, om batch.Message, added, handedNow *[]uint64) {
	msg := Message{ID: om.ID, Window: r.gen, Payload: om.Payload, Broadcast: om.Broadcast, BatchSeq: seq}
	switch r.st.Window.Accept(om.ID) {
	case replay.New:
		r.st.Unacked[om.ID] = struct{}{}
		*added = append(*added, om.ID)
		r.handed[om.ID] = true
		*handedNow = append(*handedNow, om.ID)
		msg.PossibleRedelivery = r.unrecordedSession || r.st.Epochs.PossibleRedelivery(om.ID)
		res.Deliver = append(res.Deliver, msg)
	case replay.Duplicate:
		_, unacked := r.st.Unacked[om.ID]
		switch {
		case bugs.NoReplayWindow:
			res.Deliver = append(res.Deliver, msg)
			res.Ack = append(res.Ack, om.ID)
		case unacked && !r.handed[om.ID]:
			r.handed[om.ID] = true
			*handedNow = append(*handedNow, om.ID)
			msg.PossibleRedelivery = true
			res.Deliver = append(res.Deliver, msg)
		case unacked:
			// Handed over by this process and not yet acknowledged: the
			// application holds it and will acknowledge it (DLV-013).
		default:
			res.Ack = append(res.Ack, om.ID) // REPLAY-012
		}
	default: // Stale (Invalid was refused before anything changed)
		if bugs.NoReplayWindow {
			res.Deliver = append(res.Deliver, msg)
		}
		res.Ack = append(res.Ack, om.ID) // REPLAY-012
	}
}

func (r *Receiver) undo(added, pruned, handedNow []uint64) {
	for _, id := range pruned {
		r.st.Unacked[id] = struct{}{}
	}
	for _, id := range added { // after pruned: an added ID may be pruned too
		delete(r.st.Unacked, id)
	}
	for _, id := range handedNow {
		delete(r.handed, id)
	}
}

// Ack records that the application took message m (DLV-016): it leaves
// Unacked. It reports whether it was unacknowledged in the current window:
// only then does the caller send the Ack, on its current connection if
// any, and save the state, lazily (a crash before that save only makes the
// message a possible redelivery). A message of a window left since is not
// acknowledged: its ID may name another message now (DLV-005).
func (r *Receiver) Ack(m Message) (send bool) {
	id := m.ID
	if m.Window != r.gen {
		return false
	}
	if _, ok := r.st.Unacked[id]; !ok {
		return false
	}
	delete(r.st.Unacked, id)
	delete(r.handed, id)
	return true
}

// Unacked reports whether id was handed over and not yet acknowledged.
func (r *Receiver) Unacked(id uint64) bool {
	_, ok := r.st.Unacked[id]
	return ok
}
