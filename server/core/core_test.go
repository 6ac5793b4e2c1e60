package core

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/server/store"
)

// pendingStore is the part of store.Store a tick uses: Pending answers
// from a fixed map, batch sequences come from a counter. The embedded
// interface is nil: any other method panics, so a test that reaches one
// fails loudly.
type pendingStore struct {
	store.Store
	mu      sync.Mutex
	pending map[[32]byte][]store.Message
	next    uint64
}

func (s *pendingStore) Pending(_ context.Context, id [32]byte, after uint64, limit int) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Message
	for _, m := range s.pending[id] {
		if m.Seq > after && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *pendingStore) ReserveBatchSeqs(_ context.Context, _ [32]byte, n uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.next + 1
	s.next += n
	return first, nil
}

// recordingPeer keeps what the hub sends and whether it closed.
type recordingPeer struct {
	mu     sync.Mutex
	frames [][]byte
	closed bool
	final  []byte
	full   bool // Send reports a full queue
}

func (p *recordingPeer) Send(f []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.full {
		return false
	}
	p.frames = append(p.frames, bytes.Clone(f))
	return true
}

func (p *recordingPeer) Close(final []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed, p.final = true, bytes.Clone(final)
}

// client is the far end of one attached session: its record layer and its
// envelope keys, derived from fixed secrets.
type client struct {
	id     [32]byte
	conn   *Conn // the hub's side
	sess   *session.Session
	opener *batch.Opener
	peer   *recordingPeer
	seen   int      // frames opened so far
	last   uint64   // highest batch_seq accepted in this session
	got    []string // payloads received so far
	ids    []uint64 // their message IDs
	acked  map[uint64]bool
}

var serverKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))

func attach(t *testing.T, h *Hub, n byte) *client {
	t.Helper()
	secret := func(what string) []byte { return bytes.Repeat([]byte(what[:1]+string(rune('a'+n))), 16) }
	s2c, c2s, env := secret("s"), secret("c"), keyschedule.Envelope(secret("e"))
	ss, _ := record.NewSealer(suite.AEADChaCha20Poly1305, s2c)
	so, _ := record.NewOpener(suite.AEADChaCha20Poly1305, c2s)
	cs, _ := record.NewSealer(suite.AEADChaCha20Poly1305, c2s)
	co, _ := record.NewOpener(suite.AEADChaCha20Poly1305, s2c)
	var id [32]byte
	id[0] = n
	srv := session.New(session.State{Role: session.Server, AEAD: suite.AEADChaCha20Poly1305, ClientID: id}, env, ss, so)
	pk, err := sig.ParsePublicKey(serverKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := batch.NewKeys(suite.AEADChaCha20Poly1305, env)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{id: id, sess: session.New(session.State{Role: session.Client, AEAD: suite.AEADChaCha20Poly1305, ClientID: id}, env, cs, co), opener: batch.NewOpener(pk, keys, 0), peer: &recordingPeer{}}
	conn, err := h.Attach(srv, c.peer)
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	return c
}

// received opens the frames the client got since the last call and returns
// every payload received so far, and the alert it was closed with (0 if
// none).
func (c *client) received(t *testing.T) ([]string, alert.Code) {
	t.Helper()
	c.peer.mu.Lock()
	frames, final, closed := c.peer.frames[c.seen:], c.peer.final, c.peer.closed
	c.seen += len(frames)
	c.peer.mu.Unlock()
	for _, f := range frames {
		msgs, err := c.sess.Open(f)
		if err != nil {
			t.Fatalf("client %d: %v", c.id[0], err)
		}
		for _, m := range msgs {
			d, err := batch.ParseDelivery(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.opener.Open(d, c.last)
			if err != nil {
				t.Fatalf("client %d: %v", c.id[0], err)
			}
			c.last = d.Header.Seq
			for _, o := range out {
				c.got = append(c.got, string(o.Payload))
				c.ids = append(c.ids, o.ID)
			}
		}
	}
	var code alert.Code
	if closed && final != nil {
		_, err := c.sess.Open(final)
		if !session.FromPeer(err) {
			t.Fatalf("client %d: final frame is not an Alert: %v", c.id[0], err)
		}
		code, _ = alert.CodeOf(err)
	}
	return c.got, code
}

// SIG-006: the core refuses a signing key whose public half is not its
// seed's.
func TestNewChecksKeyHalves(t *testing.T) {
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	mixed := append(bytes.Clone(serverKey[:32]), other[32:]...)
	_, err := New(Config{Key: mixed, Store: &pendingStore{}})
	if code, _ := alert.CodeOf(err); code != alert.BadKey {
		t.Fatalf("mismatched key halves: %v, want bad_key", err)
	}
	if _, err := New(Config{Key: serverKey, Store: &pendingStore{}}); err != nil {
		t.Fatal(err)
	}
}

// BATCH-008: a recipient the batch builder refuses is closed with the
// builder's alert and keeps its messages stored; the batch is built and
// sent to every other recipient. The refusal here is an oversized stored
// payload (record_overflow); an envelope key at its BATCH-007 limit is
// refused by the same AddRecipient call with limit_exceeded and takes the
// same path (tested in protocol/batch). Before BATCH-008 the tick failed
// for everyone, again on every retry.
func TestOneRecipientNeverFailsBatch(t *testing.T) {
	st := &pendingStore{pending: map[[32]byte][]store.Message{}}
	h, err := New(Config{Key: serverKey, Store: st, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	var cs []*client
	for i := byte(1); i <= 3; i++ {
		c := attach(t, h, i)
		payload := []byte(fmt.Sprintf("for %d", i))
		if i == 2 {
			payload = make([]byte, batch.MaxPayload+1)
		}
		st.pending[c.id] = []store.Message{{ClientID: c.id, Seq: 1, Payload: payload}}
		cs = append(cs, c)
	}
	if err := h.tick(context.Background()); err != nil {
		t.Fatalf("tick: %v", err)
	}
	for i, c := range cs {
		got, code := c.received(t)
		if i == 1 {
			if len(got) != 0 || code != alert.RecordOverflow {
				t.Fatalf("refused client: got %q, closed with %v", got, code)
			}
			continue
		}
		if want := fmt.Sprintf("for %d", i+1); len(got) != 1 || got[0] != want || code != 0 {
			t.Fatalf("client %d: got %q (closed %v), want [%q]", i+1, got, code, want)
		}
	}
	if h.M.Batches.Load() != 1 || h.M.Connections.Load() != 2 {
		t.Fatalf("%d batches, %d connections", h.M.Batches.Load(), h.M.Connections.Load())
	}
	if on, _ := h.Online(cs[1].id); on {
		t.Fatal("the refused session is still attached")
	}
	// The next tick serves the remaining clients without trouble.
	st.pending[cs[0].id] = append(st.pending[cs[0].id], store.Message{ClientID: cs[0].id, Seq: 2, Payload: []byte("again")})
	h.Wake(cs[0].id)
	if err := h.tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs[0].received(t); len(got) != 2 || got[1] != "again" {
		t.Fatalf("second tick: %q", got)
	}
}
