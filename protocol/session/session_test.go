package session

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

func codeOf(err error) alert.Code {
	var e *alert.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 255
}

// pair returns a connected client and server over fresh record states.
func pair(t *testing.T) (c, s *Session) {
	cs, ss := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	mk := func(send, recv []byte) (*record.Sealer, *record.Opener) {
		se, err := record.NewSealer(suite.AEADChaCha20Poly1305, send)
		if err != nil {
			t.Fatal(err)
		}
		op, _ := record.NewOpener(suite.AEADChaCha20Poly1305, recv)
		return se, op
	}
	se, op := mk(cs, ss)
	c = New(State{Role: Client}, keyschedule.EnvelopeKeys{}, se, op)
	c.MarkWelcomed()
	se, op = mk(ss, cs)
	return c, New(State{Role: Server}, keyschedule.EnvelopeKeys{}, se, op)
}

func TestKeyUpdateRoundTrip(t *testing.T) {
	c, s := pair(t)
	f, err := c.KeyUpdate(true)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Open(f); err != nil || len(m) != 0 {
		t.Fatalf("server: %v %v", m, err)
	}
	p := s.Pending()
	if len(p) != 1 {
		t.Fatalf("%d pending frames, want the KeyUpdate(0) answer", len(p))
	}
	if _, err := c.Open(p[0]); err != nil {
		t.Fatal(err)
	}
	if len(c.Pending()) != 0 {
		t.Fatal("KeyUpdate(0) answered (POST-003)")
	}
	// Both directions now use the next secrets.
	f, _ = c.Seal(nil, AppendAck(nil, []uint64{1, 2}))
	m, err := s.Open(f)
	if err != nil || len(m) != 1 {
		t.Fatal(err)
	}
	if ids, err := ParseAck(m[0].Body); err != nil || len(ids) != 2 {
		t.Fatal(err)
	}
	f, _ = s.Seal(nil, wire.AppendMessage(nil, wire.TypeBatchDelivery, []byte("b")))
	if _, err := c.Open(f); err != nil {
		t.Fatal(err)
	}
}

// POST-003, POST-004, and the check order of POST-009.
func TestKeyUpdateAbuse(t *testing.T) {
	c, s := pair(t)
	for i := 0; i < MaxKeyUpdatesWithoutData; i++ {
		f, _ := c.KeyUpdate(false)
		if _, err := s.Open(f); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	f, _ := c.KeyUpdate(false)
	if _, err := s.Open(f); codeOf(err) != alert.LimitExceeded {
		t.Fatalf("17th KeyUpdate in a row: %v (POST-004)", err)
	}

	c, s = pair(t)
	f, _ = c.sealer.Seal(nil, wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{2}), 0)
	if _, err := s.Open(f); codeOf(err) != alert.IllegalParameter {
		t.Fatalf("request_update 2: %v", err)
	}
	c, s = pair(t)
	inner := append(wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{0}), AppendAck(nil, []uint64{1})...)
	f, _ = c.sealer.Seal(nil, inner, 0)
	if _, err := s.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("KeyUpdate not last: %v", err)
	}
}

func TestMessagesInWrongDirection(t *testing.T) {
	c, s := pair(t)
	f, _ := s.Seal(nil, AppendAck(nil, []uint64{1}))
	if _, err := c.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("Ack to client: %v", err)
	}
	if !c.Closed() {
		t.Fatal("session not closed after a failure")
	}
	c, s = pair(t)
	w := (&Welcome{}).AppendTo(nil)
	f, _ = s.Seal(nil, w)
	if _, err := c.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("second Welcome: %v (POST-001)", err)
	}
	c, s = pair(t)
	f, _ = c.Seal(nil, wire.AppendMessage(nil, wire.TypeBatchDelivery, nil))
	if _, err := s.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("BatchDelivery to server: %v", err)
	}
}

// ALERT-001 (protected after keys), ALERT-002, POST-006.
func TestAlerts(t *testing.T) {
	c, s := pair(t)
	f := s.AlertFrame(alert.Overloaded)
	if _, err := c.Open(f); codeOf(err) != alert.Overloaded {
		t.Fatalf("alert: %v", err)
	}
	if s.AlertFrame(alert.ReplayedMessage) != nil {
		t.Fatal("local-only alert sent (ALERT-002)")
	}
}

// POST-002, POST-005, EXT-002.
func TestParseWelcomeAndAckReject(t *testing.T) {
	good := (&Welcome{MaxPayload: 1, MaxRecord: 1000, Ticket: []byte{1}, TicketLifetime: 60}).AppendTo(nil)[4:]
	if _, err := ParseWelcome(good); err != nil {
		t.Fatal(err)
	}
	mut := func(f func(w *Welcome)) []byte {
		w := &Welcome{MaxPayload: 1, MaxRecord: 1000}
		f(w)
		return w.AppendTo(nil)[4:]
	}
	flags := append([]byte(nil), good...)
	flags[32] = 0x02
	for name, c := range map[string]struct {
		body []byte
		want alert.Code
	}{
		"undefined flag":       {flags, alert.IllegalParameter},
		"max_record too large": {mut(func(w *Welcome) { w.MaxRecord = wire.MaxRecordPlaintext + 1 }), alert.IllegalParameter},
		// POST-002: the session's max_payload never exceeds MaxPayload.
		"max_payload too large": {mut(func(w *Welcome) { w.MaxPayload = MaxPayload + 1 }), alert.IllegalParameter},
		"ticket without life":   {mut(func(w *Welcome) { w.Ticket = []byte{1} }), alert.IllegalParameter},
		"life without ticket":   {mut(func(w *Welcome) { w.TicketLifetime = 5 }), alert.IllegalParameter},
		"lifetime over 7 days":  {mut(func(w *Welcome) { w.Ticket, w.TicketLifetime = []byte{1}, MaxTicketLifetime+1 }), alert.IllegalParameter},
		"critical extension":    {mut(func(w *Welcome) { w.Extensions = []wire.Extension{{Type: 0x8a8a}} }), alert.UnknownCriticalExtension},
		"trailing byte":         {append(append([]byte(nil), good...), 0), alert.DecodeError},
		"truncated":             {good[:len(good)-1], alert.DecodeError},
	} {
		if _, err := ParseWelcome(c.body); codeOf(err) != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	for name, ids := range map[string][]uint64{"descending": {2, 1}, "duplicate": {3, 3}, "zero": {0, 1}} {
		if _, err := ParseAck(AppendAck(nil, ids)[4:]); codeOf(err) != alert.IllegalParameter {
			t.Errorf("ack %s: %v", name, err)
		}
	}
	if _, err := ParseAck(AppendAck(nil, nil)[4:]); codeOf(err) != alert.DecodeError {
		t.Error("empty ack accepted")
	}
}

// A Session exports no field: its parameters are read through State, a
// copy, and its secrets (envelope keys, traffic secrets) not at all.
func TestStateIsASnapshotWithoutSecrets(t *testing.T) {
	typ := reflect.TypeFor[Session]()
	for i := range typ.NumField() {
		if typ.Field(i).IsExported() {
			t.Errorf("Session exports field %s", typ.Field(i).Name)
		}
	}
	st := reflect.TypeFor[State]()
	for i := range st.NumField() {
		if f := st.Field(i); f.Type == reflect.TypeFor[[]byte]() || f.Type == reflect.TypeFor[keyschedule.EnvelopeKeys]() {
			t.Errorf("State field %s holds key material", f.Name)
		}
	}
	w := Welcome{Ticket: []byte{1}, TicketLifetime: 60, Extensions: []wire.Extension{{Type: 0x4a4a, Data: []byte{2}}}}
	s := New(State{Role: Client, Welcome: w}, keyschedule.EnvelopeKeys{}, nil, nil)
	got := s.State()
	got.ClientID[0], got.Welcome.Ticket[0], got.Welcome.Extensions[0].Data[0] = 9, 9, 9
	got.Welcome.Extensions[0].Type = 9
	if again := s.State(); again.ClientID[0] != 0 || again.Welcome.Ticket[0] != 1 ||
		again.Welcome.Extensions[0].Data[0] != 2 || again.Welcome.Extensions[0].Type != 0x4a4a {
		t.Errorf("changing a State changed the Session: %+v", again)
	}
}

// POST-020: Heartbeat(1) is answered with one frame carrying Heartbeat(0),
// Heartbeat(0) is not answered, neither is passed up, and both work in
// either direction.
func TestHeartbeat(t *testing.T) {
	c, s := pair(t)
	for _, dir := range []struct {
		name     string
		from, to *Session
	}{{"client to server", c, s}, {"server to client", s, c}} {
		f, err := dir.from.Heartbeat(true)
		if err != nil {
			t.Fatal(err)
		}
		m, err := dir.to.Open(f)
		if err != nil || len(m) != 0 {
			t.Fatalf("%s: Heartbeat(1) gave %v %v, want no message", dir.name, m, err)
		}
		p := dir.to.Pending()
		if len(p) != 1 {
			t.Fatalf("%s: %d pending frames, want the Heartbeat(0) answer", dir.name, len(p))
		}
		if m, err := dir.from.Open(p[0]); err != nil || len(m) != 0 {
			t.Fatalf("%s: answer gave %v %v", dir.name, m, err)
		}
		if n := len(dir.from.Pending()); n != 0 {
			t.Fatalf("%s: Heartbeat(0) answered with %d frames", dir.name, n)
		}
	}
}

// POST-020: one frame answers Heartbeat(1) and KeyUpdate(1), Heartbeat(0)
// first, and the keys switch after it.
func TestHeartbeatWithKeyUpdate(t *testing.T) {
	c, s := pair(t)
	inner := AppendKeyUpdate(AppendHeartbeat(nil, true), true)
	f, err := c.sealer.Seal(nil, inner, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.sealer.Update()
	if _, err := s.Open(f); err != nil {
		t.Fatal(err)
	}
	p := s.Pending()
	if len(p) != 1 {
		t.Fatalf("%d answer frames, want 1", len(p))
	}
	// Open the answer by hand to see its messages in order.
	plain, err := c.opener.Open(bytes.Clone(p[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := AppendKeyUpdate(AppendHeartbeat(nil, false), false)
	if !bytes.Equal(plain, want) { // sealed without padding
		t.Fatalf("answer %x, want %x", plain, want)
	}
	c.opener.Update()
	// Both sides now use the next secrets in both directions.
	f, _ = c.Seal(nil, AppendAck(nil, []uint64{1}))
	if m, err := s.Open(f); err != nil || len(m) != 1 {
		t.Fatalf("after the update: %v %v", m, err)
	}
}

// POST-020: reply_requested other than 0 or 1, and a body of another length.
func TestHeartbeatMalformed(t *testing.T) {
	for _, tc := range []struct {
		body []byte
		code alert.Code
	}{{[]byte{2}, alert.IllegalParameter}, {[]byte{0xff}, alert.IllegalParameter},
		{nil, alert.DecodeError}, {[]byte{0, 0}, alert.DecodeError}} {
		c, s := pair(t)
		f, _ := c.Seal(nil, wire.AppendMessage(nil, wire.TypeHeartbeat, tc.body))
		if _, err := s.Open(f); codeOf(err) != tc.code {
			t.Errorf("body %x: %v, want %v", tc.body, err, tc.code)
		}
		if len(s.Pending()) != 0 {
			t.Errorf("body %x: answered", tc.body)
		}
	}
}

// POST-020 with POST-004: Heartbeats between KeyUpdates do not reset the
// run of KeyUpdates without data.
func TestHeartbeatDoesNotEndKeyUpdateRun(t *testing.T) {
	c, s := pair(t)
	for i := 0; i <= MaxKeyUpdatesWithoutData; i++ {
		hb, _ := c.Seal(nil, AppendHeartbeat(nil, false))
		if _, err := s.Open(hb); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
		f, _ := c.KeyUpdate(false)
		_, err := s.Open(f)
		if i < MaxKeyUpdatesWithoutData && err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if i == MaxKeyUpdatesWithoutData && codeOf(err) != alert.LimitExceeded {
			t.Fatalf("update %d: %v, want limit_exceeded", i, err)
		}
	}
}

// POST-010: store_epoch is 16 bytes after ticket_lifetime, before the
// extensions; a Welcome cut inside it is decode_error.
func TestWelcomeStoreEpoch(t *testing.T) {
	w := &Welcome{MaxPayload: 65536, MaxRecord: wire.MaxRecordPlaintext, Ticket: []byte{1, 2, 3}, TicketLifetime: 60}
	for i := range w.StoreEpoch {
		w.StoreEpoch[i] = byte(0xa0 + i)
	}
	b := w.AppendTo(nil)[wire.MessageHeaderLen:]
	got, err := ParseWelcome(b)
	if err != nil || got.StoreEpoch != w.StoreEpoch {
		t.Fatalf("%v %+v", err, got)
	}
	// ticket_lifetime ends at 32+1+4+4+4+2+3+4 = 54; the epoch follows.
	if !bytes.Equal(b[54:70], w.StoreEpoch[:]) {
		t.Fatalf("store_epoch not after ticket_lifetime: % x", b)
	}
	for _, n := range []int{54, 62, 69} {
		if _, err := ParseWelcome(b[:n]); codeOf(err) != alert.DecodeError {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}
