package fuzz

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

var fuzzServerID = sig.KeyID(fuzzPub)

func newServer() *handshake.Server {
	s, err := handshake.NewServer(&handshake.ServerConfig{Key: fuzzKey,
		TicketKeys: &handshake.TicketKeys{Current: handshake.TicketKey{ID: 1, Key: [32]byte(bytes.Repeat([]byte{2}, 32))}}, Generations: &handshake.MemoryGenerations{}})
	if err != nil {
		panic(err)
	}
	return s
}

func newClient() *handshake.Client {
	c, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &fuzzServerID, GREASE: true})
	if err != nil {
		panic(err)
	}
	return c
}

// realFrames returns the frames of one real handshake, in order.
func realFrames() (hello, serverHello, serverFlight, clientFlight, welcome []byte) {
	c, s := newClient(), newServer()
	var frames [][]byte
	l := &handshake.Loopback{Server: s, OnFrame: func(_ string, f []byte) { frames = append(frames, f) }}
	if _, err := c.Drive(l); err != nil || len(frames) != 5 {
		panic(fmt.Sprintf("seed handshake: %v, %d frames", err, len(frames)))
	}
	return frames[0], frames[1], frames[2], frames[3], frames[4]
}

func FuzzServerHandle(f *testing.F) {
	hello, _, _, _, _ := realFrames()
	f.Add(hello)
	f.Add(wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, 40)))
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := newServer()
		out, done, err := s.Handle(frame)
		if err == nil && (done || len(out) != 2) {
			t.Fatal("server completed or misbehaved on one frame")
		}
	})
}

func FuzzClientHandle(f *testing.F) {
	_, sh, flight, _, _ := realFrames()
	f.Add(sh)
	f.Add(flight)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c := newClient()
		c.Start()
		if _, done, err := c.Handle(frame); err == nil && done {
			t.Fatal("client completed on a ServerHello")
		}
		c.Handle(frame)
	})
}

func FuzzParseHandshakeMessages(f *testing.F) {
	hello, sh, _, _, _ := realFrames()
	f.Add(hello[8:])
	f.Add(sh[8:])
	f.Add((&handshake.ServerIdentity{Type: 1, PublicKey: fuzzPub}).AppendTo(nil)[4:])
	f.Fuzz(func(t *testing.T, body []byte) {
		if m, err := handshake.ParseClientHello(body); err == nil && !bytes.Equal(m.AppendTo(nil)[4:], body) {
			t.Fatal("ClientHello does not re-encode")
		}
		if m, err := handshake.ParseServerHello(body); err == nil && !bytes.Equal(m.AppendTo(nil)[4:], body) {
			t.Fatal("ServerHello does not re-encode")
		}
		if m, err := handshake.ParseServerIdentity(body); err == nil && !bytes.Equal(m.AppendTo(nil)[4:], body) {
			t.Fatal("ServerIdentity does not re-encode")
		}
	})
}

func FuzzParseWelcomeAndAck(f *testing.F) {
	f.Add((&session.Welcome{MaxPayload: 10, Ticket: []byte{1}, TicketLifetime: 5}).AppendTo(nil)[4:])
	f.Add(session.AppendAck(nil, []uint64{1, 2, 3})[4:])
	f.Fuzz(func(t *testing.T, body []byte) {
		if w, err := session.ParseWelcome(body); err == nil && !bytes.Equal(w.AppendTo(nil)[4:], body) {
			t.Fatal("Welcome does not re-encode")
		}
		if ids, err := session.ParseAck(body); err == nil && !bytes.Equal(session.AppendAck(nil, ids)[4:], body) {
			t.Fatal("Ack does not re-encode")
		}
	})
}

func FuzzRecordOpen(f *testing.F) {
	secret := bytes.Repeat([]byte{3}, 32)
	s, _ := record.NewSealer(suite.AEADChaCha20Poly1305, secret)
	good, _ := s.Seal(nil, session.AppendAck(nil, []uint64{1}), 7)
	f.Add(good)
	f.Add([]byte{0x17, 0, 0, 16})
	f.Fuzz(func(t *testing.T, frame []byte) {
		o, _ := record.NewOpener(suite.AEADChaCha20Poly1305, secret)
		in := append([]byte(nil), frame...)
		inner, err := o.Open(in)
		if err == nil && !bytes.Equal(frame, good) {
			t.Fatalf("forged record accepted: %x", inner)
		}
	})
}

func deliveryFixture() (*batch.Opener, []byte) {
	pk, _ := sig.ParsePublicKey(fuzzPub)
	ek := keyschedule.Envelope(bytes.Repeat([]byte{4}, 32))
	sk, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	ck, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	other, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, keyschedule.Envelope(bytes.Repeat([]byte{5}, 32)))
	// Deterministic data keys: the fuzzing coordinator and its workers
	// each build the fixture and must get the same bytes.
	b, err := batch.NewBuilder(fuzzKey, mrand.NewChaCha8([32]byte{6}))
	if err != nil {
		panic(err)
	}
	x := b.AddBroadcast([]byte("news"))
	h, _ := b.AddRecipient(sk, []batch.Entry{{MessageID: 1, Payload: []byte("hi")}, {MessageID: 2, Broadcast: x}})
	b.AddRecipient(other, []batch.Entry{{MessageID: 1, Broadcast: x}})
	bt, _ := b.Build(9, 0)
	body, _ := bt.AppendDelivery(nil, h)
	return batch.NewOpener(pk, ck, 0), body
}

func FuzzParseDelivery(f *testing.F) {
	_, body := deliveryFixture()
	f.Add(body)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := batch.ParseDelivery(b)
		if err == nil && !bytes.Equal(d.AppendTo(nil), b) {
			t.Fatal("delivery does not re-encode")
		}
	})
}

// Only the exact delivery the server built opens.
func FuzzOpenDelivery(f *testing.F) {
	o, body := deliveryFixture()
	f.Add(body)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := batch.ParseDelivery(b)
		if err != nil {
			return
		}
		if _, err := o.Open(d, 0); err == nil && !bytes.Equal(b, body) {
			t.Fatal("altered delivery opened")
		}
	})
}
