package receiver

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// tb is what these helpers need of a *testing.T or *rapid.T.
type tb interface {
	Helper()
	Fatal(...any)
	Fatalf(string, ...any)
}

// server seals deliveries for one client session, as the server's batch
// path does.
type server struct {
	t      tb
	priv   ed25519.PrivateKey
	pub    *sig.PublicKey
	keys   *batch.Keys // the server's copy of the session's envelope keys
	client *batch.Keys
	seq    uint64
}

func newServer(t tb, session byte) *server {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub, err := sig.ParsePublicKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	ek := keyschedule.Envelope(bytes.Repeat([]byte{session}, 32))
	k, err := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	return &server{t: t, priv: priv, pub: pub, keys: k, client: c}
}

func (s *server) opener() *batch.Opener { return batch.NewOpener(s.pub, s.client, 0) }

// delivery returns a BatchDelivery carrying ids under the next sequence.
func (s *server) delivery(ids ...uint64) session.Message {
	s.seq++
	return s.deliveryAt(s.seq, ids...)
}

func (s *server) deliveryAt(seq uint64, ids ...uint64) session.Message {
	s.t.Helper()
	b, err := batch.NewBuilder(s.priv, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	var es []batch.Entry
	for _, id := range ids {
		es = append(es, batch.Entry{MessageID: id, Payload: fmt.Appendf(nil, "m%d", id)})
	}
	i, err := b.AddRecipient(s.keys, es)
	if err != nil {
		s.t.Fatal(err)
	}
	bt, err := b.Build(seq, 1)
	if err != nil {
		s.t.Fatal(err)
	}
	d, err := bt.AppendDelivery(nil, i)
	if err != nil {
		s.t.Fatal(err)
	}
	return session.Message{Type: wire.TypeBatchDelivery, Body: d}
}

// store is a state file: save copies the durable state, load returns a
// copy, as a restart reads it.
type store struct {
	saved *State
	saves int
	fail  bool
}

func (f *store) save(s *State) error {
	if f.fail {
		return errors.New("disk full")
	}
	f.saves++
	c := *s
	c.Unacked = make(map[uint64]struct{})
	for id := range s.Unacked {
		c.Unacked[id] = struct{}{}
	}
	f.saved = &c
	return nil
}

func (f *store) load() *State {
	if f.saved == nil {
		return &State{}
	}
	c := *f.saved
	c.Unacked = make(map[uint64]struct{})
	for id := range f.saved.Unacked {
		c.Unacked[id] = struct{}{}
	}
	return &c
}

var (
	clientA = [32]byte{0xa}
	clientB = [32]byte{0xb}
	epoch1  = [16]byte{1}
	epoch2  = [16]byte{2}
)

func begin(t tb, r *Receiver, srv *server, id [32]byte, epoch [16]byte, persistent bool) {
	t.Helper()
	if err := r.Begin(id, epoch, persistent, srv.opener()); err != nil {
		t.Fatal(err)
	}
}

func receive(t tb, r *Receiver, f *store, msgs ...session.Message) Result {
	t.Helper()
	res, err := r.Receive(msgs, f.save)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ids(ms []Message) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func redelivered(ms []Message) []uint64 {
	var out []uint64
	for _, m := range ms {
		if m.PossibleRedelivery {
			out = append(out, m.ID)
		}
	}
	return out
}

func check(t tb, what string, got, want []uint64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// DLV-012: a new ID is delivered, recorded in the window and in Unacked,
// saved before Receive returns, and not acknowledged by the receiver.
func TestReceiveNewIsDeliveredUnackedAndSaved(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, false)
	res := receive(t, r, f, srv.delivery(1, 2))
	check(t, "delivered", ids(res.Deliver), []uint64{1, 2})
	check(t, "acked", res.Ack, nil)
	check(t, "redelivery flags", redelivered(res.Deliver), nil)
	if f.saves != 1 {
		t.Fatalf("saves = %d, want 1 per record (REPLAY-013)", f.saves)
	}
	check(t, "saved unacked", f.saved.UnackedIDs(), []uint64{1, 2})
	if f.saved.Window.Check(1) != replay.Duplicate || f.saved.Window.Check(2) != replay.Duplicate {
		t.Fatal("saved window does not hold the delivered IDs")
	}
	if string(res.Deliver[1].Payload) != "m2" || res.Deliver[1].BatchSeq != 1 {
		t.Fatalf("message: %+v", res.Deliver[1])
	}
}

// DLV-013: a duplicate of a message this process handed over and the
// application has not acknowledged is dropped and NOT acknowledged, across
// a reconnect too; after the application's Ack a duplicate is acknowledged
// (REPLAY-012).
func TestDuplicateHandedInThisProcessIsDroppedWithoutAck(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, false)
	held := receive(t, r, f, srv.delivery(1, 2, 3))
	res := receive(t, r, f, srv.delivery(1, 2))
	check(t, "delivered again", ids(res.Deliver), nil)
	check(t, "acked", res.Ack, nil)

	// A reconnect: the server redelivers everything pending.
	r.EndSession()
	srv2 := newServer(t, 2)
	begin(t, r, srv2, clientA, epoch1, false)
	if !r.Ack(held.Deliver[1]) { // handed before the reconnect
		t.Fatal("Ack(2) after a reconnect changed nothing")
	}
	if r.Ack(held.Deliver[1]) {
		t.Fatal("a second Ack(2) changed the state")
	}
	res = receive(t, r, f, srv2.delivery(1, 2, 3))
	check(t, "delivered after reconnect", ids(res.Deliver), nil)
	check(t, "acked after reconnect", res.Ack, []uint64{2})
}

// DLV-012: after a restart (a new Receiver from the saved state) a message
// handed over and not acknowledged is handed over again, marked
// PossibleRedelivery, once; an acknowledged one is acknowledged again and
// not delivered.
func TestRestartRedeliversUnackedOnce(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, false)
	first := receive(t, r, f, srv.delivery(1, 2, 3))
	r.Ack(first.Deliver[0])
	// Lazily saved: the crash below may come before or after the save of
	// the Ack; both must be safe. Here the Ack of 1 was saved, 3's was not.
	if err := f.save(r.State()); err != nil {
		t.Fatal(err)
	}
	r.Ack(first.Deliver[2])

	r2 := New(f.load()) // restart
	srv2 := newServer(t, 2)
	begin(t, r2, srv2, clientA, epoch1, false)
	res := receive(t, r2, f, srv2.delivery(1, 2, 3, 4))
	check(t, "delivered", ids(res.Deliver), []uint64{2, 3, 4})
	check(t, "marked", redelivered(res.Deliver), []uint64{2, 3})
	check(t, "acked", res.Ack, []uint64{1})

	res = receive(t, r2, f, srv2.delivery(2, 3, 4))
	check(t, "delivered twice in one process", ids(res.Deliver), nil)
	check(t, "acked while held", res.Ack, nil)
}

// REPLAY-012: a stale ID is dropped and acknowledged; DLV-011: an Unacked
// ID that becomes stale leaves Unacked.
func TestStaleUnackedIsPruned(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, false)
	receive(t, r, f, srv.delivery(5, 6))
	res := receive(t, r, f, srv.delivery(5+replay.WindowSize))
	check(t, "delivered", ids(res.Deliver), []uint64{5 + replay.WindowSize})
	check(t, "unacked", f.saved.UnackedIDs(), []uint64{6, 5 + replay.WindowSize})
	res = receive(t, r, f, srv.delivery(5))
	check(t, "stale delivered", ids(res.Deliver), nil)
	check(t, "stale acked", res.Ack, []uint64{5})
}

// POST-009, BATCH-014: a record whose later delivery fails changes nothing
// (window, Unacked, batch sequence) and delivers nothing; nor does a
// record whose save fails.
func TestFailingRecordChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(srv *server) session.Message
		code alert.Code
	}{
		{"replayed batch", func(srv *server) session.Message { return srv.deliveryAt(1, 9) }, alert.ReplayedBatch},
		{"another session's", func(srv *server) session.Message {
			other := newServer(srv.t, 99)
			other.seq = srv.seq
			srv.seq++
			return other.delivery(9)
		}, alert.WrongRecipient},
		{"bad signature", func(srv *server) session.Message {
			m := srv.delivery(9)
			d, err := batch.ParseDelivery(m.Body)
			if err != nil {
				srv.t.Fatal(err)
			}
			d.Signature = bytes.Clone(d.Signature)
			d.Signature[0] ^= 1
			m.Body = d.AppendTo(nil)
			return m
		}, alert.BadSignature},
		{"undecodable", func(srv *server) session.Message {
			return session.Message{Type: wire.TypeBatchDelivery, Body: []byte{1}}
		}, alert.DecodeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, f := newServer(t, 1), &store{}
			r := New(&State{})
			begin(t, r, srv, clientA, epoch1, false)
			receive(t, r, f, srv.delivery(1))
			saves, before := f.saves, *r.State()
			good := srv.delivery(2, 3)
			_, err := r.Receive([]session.Message{good, tc.bad(srv)}, f.save)
			if code, ok := alert.Find(err); !ok || code != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			if f.saves != saves || r.State().Window != before.Window || len(r.State().Unacked) != 1 {
				t.Fatal("a failing record changed the state")
			}
			// The good delivery's sequence was not taken: it still opens.
			res := receive(t, r, f, good)
			check(t, "delivered after", ids(res.Deliver), []uint64{2, 3})
		})
	}
	t.Run("save fails", func(t *testing.T) {
		srv, f := newServer(t, 1), &store{}
		r := New(&State{})
		begin(t, r, srv, clientA, epoch1, false)
		receive(t, r, f, srv.delivery(1, 2))
		f.fail = true
		m := srv.delivery(1, 3, 2048)
		_, err := r.Receive([]session.Message{m}, f.save)
		if code, _ := alert.Find(err); code != alert.InternalError {
			t.Fatalf("err = %v", err)
		}
		check(t, "unacked after a failed save", r.State().UnackedIDs(), []uint64{1, 2})
		if r.State().Window.Top() != 2 {
			t.Fatal("window moved")
		}
		f.fail = false
		res := receive(t, r, f, m)
		check(t, "delivered after", ids(res.Deliver), []uint64{3, 2048})
	})
}

// Several deliveries in one record are all opened first, then applied in
// order; the state is saved once for the record (REPLAY-013).
func TestRecordWithSeveralDeliveriesSavesOnce(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, false)
	res := receive(t, r, f, srv.delivery(1, 2), srv.delivery(2, 3), srv.delivery(4))
	check(t, "delivered", ids(res.Deliver), []uint64{1, 2, 3, 4})
	if f.saves != 1 {
		t.Fatalf("saves = %d", f.saves)
	}
	if res.Deliver[3].BatchSeq != 3 {
		t.Fatalf("batch seq %d", res.Deliver[3].BatchSeq)
	}
	// A record of duplicates only (held by the application) saves nothing.
	receive(t, r, f, srv.delivery(1, 2))
	if f.saves != 1 {
		t.Fatalf("saves = %d after a record that changed nothing", f.saves)
	}
}

// DLV-015: a persistent client ID (key-identified or resumed) whose window
// starts without a record marks every message PossibleRedelivery until a
// session of that window ends in the process; a restart before that keeps
// marking. A fresh anonymous ID, and a known ID, mark nothing.
func TestLostStateMarksFirstSession(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, true)
	res := receive(t, r, f, srv.delivery(1, 2))
	check(t, "marked, first session", redelivered(res.Deliver), []uint64{1, 2})

	r2 := New(f.load()) // a crash in the first session
	srv2 := newServer(t, 2)
	begin(t, r2, srv2, clientA, epoch1, true)
	res = receive(t, r2, f, srv2.delivery(3))
	check(t, "marked after a crash in the first session", redelivered(res.Deliver), []uint64{3})

	r2.EndSession()
	srv3 := newServer(t, 3)
	begin(t, r2, srv3, clientA, epoch1, true)
	res = receive(t, r2, f, srv3.delivery(4))
	check(t, "marked, second session", redelivered(res.Deliver), nil)

	// A fresh anonymous client ID: nothing was delivered to it before.
	r3 := New(&State{})
	srv4 := newServer(t, 4)
	begin(t, r3, srv4, clientB, epoch1, false)
	res = receive(t, r3, &store{}, srv4.delivery(1))
	check(t, "marked, new anonymous ID", redelivered(res.Deliver), nil)
}

// REPLAY-021, DLV-014: a new client ID or store epoch starts a new window
// with an empty Unacked; the old epoch is refused afterwards (REPLAY-020).
func TestNewWindowEmptiesUnacked(t *testing.T) {
	srv, f := newServer(t, 1), &store{}
	r := New(&State{})
	begin(t, r, srv, clientA, epoch1, false)
	receive(t, r, f, srv.delivery(1, 2))
	r.EndSession()
	srv2 := newServer(t, 2)
	begin(t, r, srv2, clientA, epoch2, false)
	if len(r.State().Unacked) != 0 || r.State().Window.Top() != 0 {
		t.Fatal("new epoch kept the old window's state")
	}
	res := receive(t, r, f, srv2.delivery(1, 2, 3))
	check(t, "delivered in the new epoch", ids(res.Deliver), []uint64{1, 2, 3})
	check(t, "marked (DLV-005)", redelivered(res.Deliver), []uint64{1, 2})
	if r.Ack(Message{ID: 1, Window: 1}) || !r.Unacked(1) {
		t.Fatal("an Ack from the left window acknowledged the new window's message 1")
	}
	if err := r.Begin(clientA, epoch1, false, srv.opener()); codeOf(err) != alert.ReplayedEpoch {
		t.Fatalf("old epoch: %v", err)
	}
	begin(t, r, srv2, clientB, epoch2, false)
	if len(r.State().Unacked) != 0 || r.State().ClientID != clientB {
		t.Fatal("new client ID kept the old window's state")
	}
}

// SetUnacked refuses IDs the window does not hold, so a damaged state file
// cannot make the client hand over a message it never received.
func TestSetUnackedIsStrict(t *testing.T) {
	var s State
	s.Window.Accept(3)
	if err := s.SetUnacked([]uint64{3}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]uint64{{4}, {0}, {2}} {
		if err := s.SetUnacked(bad); codeOf(err) != alert.DecodeError {
			t.Fatalf("%v: %v", bad, err)
		}
	}
}

// The receive rules of DLV-012 … DLV-016 against a plain model: a set of
// accepted IDs with a top, the set of unacknowledged IDs and the set handed
// over by the current process, through random deliveries, acks,
// reconnects and restarts (a restart forgets the unsaved acks).
func TestReceiverMatchesModelAndNeverHandsOverTwiceInAProcess(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := &store{}
		r := New(&State{})
		sessionN := byte(1)
		srv := newServer(t, sessionN)
		begin(t, r, srv, clientA, epoch1, false)

		accepted := map[uint64]bool{}
		var top uint64
		unacked, handed := map[uint64]bool{}, map[uint64]bool{}
		savedUnacked := map[uint64]bool{}
		handedInProcess := map[uint64]int{}
		byID := map[uint64]Message{} // the last hand-over of each ID

		n := rapid.IntRange(1, 40).Draw(t, "steps")
		for range n {
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1, 2: // a delivery of IDs near the top
				k := rapid.IntRange(1, 4).Draw(t, "count")
				var ms []uint64
				for range k {
					ms = append(ms, top+1+rapid.Uint64Range(0, 3).Draw(t, "ahead")-rapid.Uint64Range(0, min(top, 1100)).Draw(t, "back"))
				}
				slices.Sort(ms)
				ms = slices.Compact(ms)
				res := receive(t, r, f, srv.delivery(ms...))
				var wantDeliver, wantMarked, wantAck []uint64
				for _, id := range ms {
					switch {
					case id > top || (top-id < replay.WindowSize && !accepted[id]):
						accepted[id], unacked[id], handed[id] = true, true, true
						top = max(top, id)
						wantDeliver = append(wantDeliver, id)
					case top-id >= replay.WindowSize:
						wantAck = append(wantAck, id)
					case unacked[id] && !handed[id]:
						handed[id] = true
						wantDeliver = append(wantDeliver, id)
						wantMarked = append(wantMarked, id)
					case unacked[id]:
					default:
						wantAck = append(wantAck, id)
					}
				}
				for id := range unacked {
					if top-id >= replay.WindowSize {
						delete(unacked, id)
						delete(handed, id)
					}
				}
				slices.Sort(wantAck)
				check(t, "delivered", ids(res.Deliver), wantDeliver)
				check(t, "marked", redelivered(res.Deliver), wantMarked)
				check(t, "acked", res.Ack, slices.Compact(wantAck))
				for _, m := range res.Deliver {
					byID[m.ID] = m
					handedInProcess[m.ID]++
					if handedInProcess[m.ID] > 1 {
						t.Fatalf("message %d handed over twice in one process", m.ID)
					}
				}
				if f.saved != nil {
					clear(savedUnacked)
					for id := range f.saved.Unacked {
						savedUnacked[id] = true
					}
				}
			case 3: // the application acknowledges one it holds
				held := slices.Sorted(func(yield func(uint64) bool) {
					for id := range unacked {
						if handed[id] && !yield(id) {
							return
						}
					}
				})
				if len(held) == 0 {
					continue
				}
				id := rapid.SampledFrom(held).Draw(t, "ack")
				if !r.Ack(byID[id]) {
					t.Fatalf("Ack(%d) of a held message changed nothing", id)
				}
				delete(unacked, id)
				delete(handed, id)
				if rapid.Bool().Draw(t, "save ack") {
					if err := f.save(r.State()); err != nil {
						t.Fatal(err)
					}
					clear(savedUnacked)
					for id := range f.saved.Unacked {
						savedUnacked[id] = true
					}
				}
			case 4: // a reconnect
				r.EndSession()
				sessionN++
				srv = newServer(t, sessionN)
				begin(t, r, srv, clientA, epoch1, false)
			case 5: // a crash and restart: unsaved acks are lost
				r = New(f.load())
				sessionN++
				srv = newServer(t, sessionN)
				begin(t, r, srv, clientA, epoch1, false)
				clear(unacked)
				for id := range savedUnacked {
					unacked[id] = true
				}
				clear(handed)
				clear(handedInProcess)
			}
		}
	})
}

func codeOf(err error) alert.Code {
	code, _ := alert.Find(err)
	return code
}
