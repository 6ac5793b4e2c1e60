package handshake

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// ticketServer is a server with its own key set and generations.
func ticketServer(keys *TicketKeys, g TicketGenerations) *ServerConfig {
	return &ServerConfig{Key: serverKey, Now: fixedNow, TicketKeys: keys, Generations: g}
}

func resume(t *testing.T, tk *Ticket, scfg *ServerConfig) result {
	t.Helper()
	cfg := pinnedClient()
	cfg.Ticket = tk
	return mustConnect(t, cfg, scfg)
}

func keyIDOf(tk *Ticket) uint32 { return binary.BigEndian.Uint32(tk.Bytes) }

// HS-045: only the current key seals; the current and the previous key
// open; a ticket under a key two rotations old falls back to a full
// handshake (HS-040).
func TestTicketKeyRotation(t *testing.T) {
	k1, k2, k3 := TicketKey{ID: 1, Key: [32]byte{1}}, TicketKey{ID: 2, Key: [32]byte{2}}, TicketKey{ID: 3, Key: [32]byte{3}}
	g := &MemoryGenerations{Now: fixedNow}
	first := mustConnect(t, pinnedClient(), ticketServer(&TicketKeys{Current: k1}, g))
	t1 := first.c.NewTicket()
	if keyIDOf(t1) != 1 || len(t1.Bytes) != ticketLen {
		t.Fatalf("ticket under key %d, %d bytes", keyIDOf(t1), len(t1.Bytes))
	}
	r := resume(t, t1, ticketServer(&TicketKeys{Current: k2, Previous: &k1}, g))
	if !r.client.State().Resumed || r.client.State().ClientID != first.client.State().ClientID {
		t.Fatal("a ticket under the previous key did not resume")
	}
	t2 := r.c.NewTicket()
	if keyIDOf(t2) != 2 {
		t.Fatalf("the new ticket is under key %d, want the current key 2", keyIDOf(t2))
	}
	// Two rotations later the first key is gone: t2 (key 2) resumes, a
	// ticket under key 1 does not.
	old := ticketServer(&TicketKeys{Current: k3, Previous: &k2}, g)
	if r := resume(t, t2, old); !r.client.State().Resumed {
		t.Fatal("a ticket under the previous key did not resume")
	}
	g.Set(first.client.State().ClientID, TicketRecord{Latest: 1}, testNow.Add(time.Hour)) // t1's generation acceptable again
	if r := resume(t, t1, old); r.client.State().Resumed || r.client.State().ClientID == first.client.State().ClientID {
		t.Fatal("a ticket under a key two rotations old resumed")
	}
	// A key ID that names the current key with another key's bytes: the
	// AEAD fails, the same fallback.
	forged := bytes.Clone(t2.Bytes)
	binary.BigEndian.PutUint32(forged, 3)
	if r := resume(t, &Ticket{Bytes: forged, PSK: t2.PSK, ClientID: t2.ClientID, Expires: t2.Expires}, old); r.client.State().Resumed {
		t.Fatal("a ticket relabelled with another key ID resumed")
	}
}

// HS-046: generations. The owner resumes with its newest ticket; a client
// that crashed before saving its newest ticket resumes once more with the
// one before (the crash case); a ticket older than that, or stolen and
// used after the owner moved on, falls back to a full handshake with a new
// client ID (the theft case); two parties sharing one ticket cannot take
// turns for ever.
func TestTicketGenerations(t *testing.T) {
	g := &MemoryGenerations{Now: fixedNow}
	srv := ticketServer(ticketKeys, g)
	first := mustConnect(t, pinnedClient(), srv)
	id := first.client.State().ClientID
	gen := func() TicketRecord { r, _, _ := g.Record(id); return r }
	if r := gen(); r != (TicketRecord{Latest: 1}) {
		t.Fatalf("after the full handshake: %+v", r)
	}
	t1 := first.c.NewTicket()
	resumes := func(name string, tk *Ticket) (*Ticket, bool) {
		t.Helper()
		r := resume(t, tk, srv)
		if r.client.State().Resumed != (r.client.State().ClientID == id) {
			t.Fatalf("%s: resumed %v with client ID changed %v", name, r.client.State().Resumed, r.client.State().ClientID != id)
		}
		return r.c.NewTicket(), r.client.State().Resumed
	}
	t2, ok := resumes("owner", t1)
	if !ok || gen() != (TicketRecord{Latest: 2, Retry: true}) {
		t.Fatalf("owner with generation 1: %v %+v", ok, gen())
	}
	// Crash: t2 was never saved; t1 once more.
	t3, ok := resumes("crash", t1)
	if !ok || gen() != (TicketRecord{Latest: 3}) {
		t.Fatalf("crash case: %v %+v", ok, gen())
	}
	// t1 again (a thief who copied it, or the same crash twice): refused,
	// and so is t2, which was issued but superseded.
	for name, tk := range map[string]*Ticket{"generation 1": t1, "generation 2": t2} {
		if _, ok := resumes(name, tk); ok {
			t.Fatalf("%s resumed after generation 3 was issued from generation 1", name)
		}
	}
	// Theft of the newest ticket: the thief resumes first, the owner once
	// more (it cannot tell), then the thief's ticket is dead.
	thief, ok := resumes("thief", t3)
	if !ok {
		t.Fatal("thief")
	}
	owner, ok := resumes("owner after theft", t3)
	if !ok || gen() != (TicketRecord{Latest: 5}) {
		t.Fatalf("owner after the theft: %v %+v", ok, gen())
	}
	if _, ok := resumes("thief again", thief); ok {
		t.Fatal("the two holders of one ticket take turns")
	}
	if _, ok := resumes("owner", owner); !ok {
		t.Fatal("the owner lost its client ID")
	}
	// A client ID without a record (a key-identified one, or one whose
	// record expired) never resumes.
	g2 := &MemoryGenerations{Now: fixedNow}
	if r := resume(t, owner, ticketServer(ticketKeys, g2)); r.client.State().Resumed {
		t.Fatal("a ticket without a record resumed")
	}
}

// HS-046, HS-047: two handshakes presenting the same ticket at once: both
// pass ClientHello, one completes, the other fails with handshake_failure,
// and the record advanced once.
func TestConcurrentPresentationOneWins(t *testing.T) {
	g := &MemoryGenerations{Now: fixedNow}
	first := mustConnect(t, pinnedClient(), ticketServer(ticketKeys, g))
	tk := first.c.NewTicket()
	type hs struct {
		c    *Client
		s    *Server
		hold [][]byte // the client flight, held back
	}
	var both []*hs
	for range 2 {
		cfg := pinnedClient()
		cfg.Ticket = tk
		c, _ := NewClient(cfg)
		s, _ := NewServer(ticketServer(ticketKeys, g))
		hello, _ := c.Start()
		out, _, err := s.Handle(hello)
		if err != nil {
			t.Fatal(err)
		}
		var flight [][]byte
		for _, f := range out {
			o, _, err := c.Handle(f)
			if err != nil {
				t.Fatal(err)
			}
			flight = append(flight, o...)
		}
		both = append(both, &hs{c, s, flight})
	}
	var won, lost int
	for _, h := range both {
		_, done, err := h.s.Handle(h.hold[0])
		switch {
		case err == nil && done:
			won++
		case codeOf(err) == alert.HandshakeFailure:
			lost++
		default:
			t.Fatalf("second handshake: %v", err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("%d won, %d lost", won, lost)
	}
	if r, _, _ := g.Record(first.client.State().ClientID); r != (TicketRecord{Latest: 2, Retry: true}) {
		t.Fatalf("record %+v", r)
	}
}

// The record rule itself (HS-046), generation 0 never accepted.
func TestTicketRecordRule(t *testing.T) {
	for _, c := range []struct {
		r    TicketRecord
		g    uint64
		want bool
	}{
		{TicketRecord{Latest: 1}, 1, true}, {TicketRecord{Latest: 1}, 0, false}, {TicketRecord{Latest: 1, Retry: true}, 0, false},
		{TicketRecord{Latest: 5}, 4, false}, {TicketRecord{Latest: 5, Retry: true}, 4, true}, {TicketRecord{Latest: 5, Retry: true}, 3, false},
		{TicketRecord{Latest: 5, Retry: true}, 6, false},
	} {
		if got := c.r.Accepts(c.g); got != c.want {
			t.Errorf("%+v accepts %d: %v", c.r, c.g, got)
		}
	}
}

// HS-048: the ticket the server issues is the normative layout, opened
// here with the formula of the spec alone; a ticket built from the
// formula resumes; relabelled, version 2 or generation 0 it does not.
func TestTicketFormat(t *testing.T) {
	k := TicketKey{ID: 0x01020304, Key: [32]byte{5}}
	keys := &TicketKeys{Current: k}
	g := &MemoryGenerations{Now: fixedNow}
	first := mustConnect(t, pinnedClient(), ticketServer(keys, g))
	tk := first.c.NewTicket()
	a, _ := chacha20poly1305.New(k.Key[:])
	aad := append([]byte("sealfeed v1 ticket\x00"), 1, 2, 3, 4)
	if !bytes.Equal(tk.Bytes[:4], []byte{1, 2, 3, 4}) {
		t.Fatalf("key_id % x", tk.Bytes[:4])
	}
	pt, err := a.Open(nil, tk.Bytes[4:16], tk.Bytes[16:], aad)
	if err != nil {
		t.Fatal(err)
	}
	id := first.client.State().ClientID
	want := append(append(append([]byte{1}, id[:]...), tk.PSK...), 0, 0, 0, 0, 0, 0, 0, 1)
	want = binary.BigEndian.AppendUint64(want, uint64(testNow.Add(24*time.Hour).Unix()))
	if !bytes.Equal(pt, want) {
		t.Fatalf("plaintext\n% x\nwant\n% x", pt, want)
	}
	build := func(version byte, gen uint64, keyID uint32) *Ticket {
		p := append(append([]byte{version}, id[:]...), tk.PSK...)
		p = binary.BigEndian.AppendUint64(p, gen)
		p = binary.BigEndian.AppendUint64(p, uint64(testNow.Add(time.Hour).Unix()))
		b := binary.BigEndian.AppendUint32(nil, keyID)
		b = append(b, make([]byte, 12)...)
		b = a.Seal(b, b[4:16], p, binary.BigEndian.AppendUint32([]byte("sealfeed v1 ticket\x00"), keyID))
		return &Ticket{Bytes: b, PSK: tk.PSK, ClientID: id, Expires: testNow.Add(time.Hour)}
	}
	if r := resume(t, build(1, 1, k.ID), ticketServer(keys, g)); !r.client.State().Resumed {
		t.Fatal("a ticket built from the spec's layout did not resume")
	}
	g.Set(id, TicketRecord{Latest: 1}, testNow.Add(time.Hour))
	for name, bad := range map[string]*Ticket{"version 2": build(2, 1, k.ID), "generation 0": build(1, 0, k.ID)} {
		if r := resume(t, bad, ticketServer(keys, g)); r.client.State().Resumed {
			t.Fatalf("%s resumed", name)
		}
	}
	g.Set(id, TicketRecord{Latest: 1}, testNow.Add(time.Hour))
	other := &TicketKeys{Current: k, Previous: &TicketKey{ID: 9, Key: k.Key}}
	relabelled := build(1, 1, k.ID)
	binary.BigEndian.PutUint32(relabelled.Bytes, 9) // the key ID is in the additional data
	if r := resume(t, relabelled, ticketServer(other, g)); r.client.State().Resumed {
		t.Fatal("a ticket relabelled to another key ID of the same key resumed")
	}
}
