package conformance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/internal/hstrace"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// peer is the runner's scripted, adversarial SealFeed server for client
// tests: a real handshake.Server whose frames pass through misbehaviour
// switches, then a script that drives the connected session.
type peer struct {
	key  ed25519.PrivateKey
	cfg  func(conn int) *handshake.ServerConfig
	bugs serverBugs
	// script runs after the handshake of connection conn (0-based); it
	// returns when the connection should end. done reports whether the
	// client is expected to connect again.
	script func(conn int, c *conn) error
	conns  int // connections the test expects from the shim (default 1)
	// connBugs, if set, gives each connection its own misbehaviour
	// instead of bugs (CONF-082).
	connBugs func(conn int) serverBugs

	mu         sync.Mutex
	transcript []string
	errs       []error
}

// serverBugs are the handshake-level misbehaviour switches.
type serverBugs struct {
	// editServerHello rewrites the ServerHello message (header included).
	editServerHello func(msg []byte) []byte
	// editFlight rewrites the messages of the server flight; the runner
	// reseals the record with the real handshake key.
	editFlight func(msgs [][]byte) [][]byte
	// splitFlight sends the flight's messages in one record each.
	splitFlight bool
	// stall: read the ClientHello and answer nothing.
	stall bool
	// closeAfterServerHello closes the transport after ServerHello.
	closeAfterServerHello bool
	// garbage replaces the first server frame.
	garbage []byte
	// closeBeforeServerHello closes the transport after the ClientHello;
	// closeAfterFlight after the server flight, before the client's;
	// closeBeforeWelcome after the client flight, instead of Welcome.
	closeBeforeServerHello, closeAfterFlight, closeBeforeWelcome bool
}

func (p *peer) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.transcript) < 400 {
		p.transcript = append(p.transcript, fmt.Sprintf(format, args...))
	}
}

func (p *peer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, err)
}

// serve listens on loopback, accepts up to p.conns WebSocket connections in
// turn and runs each; it returns the URL and a stop function.
func (p *peer) serve(ctx context.Context) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	up := websocket.Upgrader{Subprotocols: []string{"sealfeed.v1"}, CheckOrigin: func(*http.Request) bool { return true }}
	n := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	closed := false
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1) // under mu, ordered before stop's Wait
		i := n
		n++
		mu.Unlock()
		defer wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if i >= max(p.conns, 1) {
			p.logf("conn %d: unexpected extra connection", i)
			return
		}
		if err := p.run(ctx, i, ws); err != nil {
			p.fail(fmt.Errorf("connection %d: %w", i, err))
		}
	})}
	go srv.Serve(l)
	stop := func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		srv.Close()
		wg.Wait()
	}
	return "ws://" + l.Addr().String() + "/v1/ws", stop, nil
}

func (p *peer) run(ctx context.Context, i int, ws *websocket.Conn) error {
	cfg := *p.cfg(i)
	secrets := map[string][]byte{}
	hstrace.Set(&cfg, func(name string, v []byte) { secrets[name] = append([]byte(nil), v...) })
	hs, err := handshake.NewServer(&cfg)
	if err != nil {
		return err
	}
	bugs := p.bugs
	if p.connBugs != nil {
		bugs = p.connBugs(i)
	}
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	read := func() ([]byte, error) {
		_, f, err := ws.ReadMessage()
		if err == nil {
			p.logf("conn %d ← %s", i, describe(f))
		}
		return f, err
	}
	write := func(f []byte) error {
		p.logf("conn %d → %s", i, describe(f))
		return ws.WriteMessage(websocket.BinaryMessage, f)
	}
	hello, err := read()
	if err != nil {
		return nil // the client gave up before its ClientHello: its result says why
	}
	if bugs.closeBeforeServerHello {
		ws.Close()
		return nil
	}
	if bugs.stall {
		// Hold the connection until the client gives up.
		for {
			if _, err := read(); err != nil {
				return nil
			}
		}
	}
	if bugs.garbage != nil {
		write(bugs.garbage)
		drain(ws, read)
		return nil
	}
	out, _, err := hs.Handle(hello)
	if err != nil {
		if f := hs.AlertFrame(codeOf(err)); f != nil {
			write(f)
		}
		return nil
	}
	sh, flight := out[0], out[1]
	if bugs.editServerHello != nil {
		_, _, raw, err := wire.ParsePlaintextFrame(sh)
		if err != nil {
			return err
		}
		sh = wire.AppendPlaintextFrame(nil, bugs.editServerHello(append([]byte(nil), raw...)))
	}
	if err := write(sh); err != nil {
		return nil
	}
	if bugs.closeAfterServerHello {
		ws.Close()
		return nil
	}
	if bugs.editFlight != nil || bugs.splitFlight {
		frames, err := reseal(secrets["s_hs_traffic"], flight, bugs.editFlight, bugs.splitFlight)
		if err != nil {
			return err
		}
		for _, f := range frames {
			if err := write(f); err != nil {
				return nil
			}
		}
	} else if err := write(flight); err != nil {
		return nil
	}
	if bugs.closeAfterFlight {
		ws.Close()
		return nil
	}
	// The client flight, then Welcome.
	for {
		f, err := read()
		if err != nil {
			return nil
		}
		out, done, err := hs.Handle(f)
		if err != nil {
			if !session.FromPeer(err) {
				if a := hs.AlertFrame(codeOf(err)); a != nil {
					write(a)
				}
			}
			return nil
		}
		if done && bugs.closeBeforeWelcome {
			ws.Close()
			return nil
		}
		for _, o := range out {
			if err := write(o); err != nil {
				return nil
			}
		}
		if done {
			break
		}
	}
	sess := hs.Session()
	keys, err := sess.BatchKeys()
	if err != nil {
		return err
	}
	// Batches are signed with the key of this connection's handshake
	// (BATCH-010): a test that rotates keys (ID-010) uses another per
	// connection.
	key := p.key
	if cfg.Key != nil {
		key = cfg.Key
	}
	c := &conn{p: p, i: i, ws: ws, sess: sess, keys: keys, key: key, read: read, write: write}
	if p.script == nil {
		return c.Close()
	}
	return p.script(i, c)
}

func drain(ws *websocket.Conn, read func() ([]byte, error)) {
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := read(); err != nil {
			return
		}
	}
}

func codeOf(err error) alert.Code {
	c, _ := alert.CodeOf(err)
	return c
}

// reseal opens the server flight with the server handshake key, lets edit
// change its messages, and seals them again (one record, or one per message
// with split).
func reseal(secret, flight []byte, edit func([][]byte) [][]byte, split bool) ([][]byte, error) {
	// The AEAD is the ServerHello's; the wrong one fails to open.
	for _, id := range []uint16{0x0001, 0x0002} {
		o, err := record.NewOpener(id, secret)
		if err != nil {
			continue
		}
		inner, err := o.Open(append([]byte(nil), flight...))
		if err != nil {
			continue
		}
		var msgs [][]byte
		r := wire.NewReader(inner)
		for r.Len() > 0 {
			_, _, raw := r.ReadMessage()
			if r.Err() != nil {
				return nil, r.Err()
			}
			msgs = append(msgs, append([]byte(nil), raw...))
		}
		if edit != nil {
			msgs = edit(msgs)
		}
		s, err := record.NewSealer(id, secret)
		if err != nil {
			return nil, err
		}
		if !split {
			var all []byte
			for _, m := range msgs {
				all = append(all, m...)
			}
			f, err := s.Seal(nil, all, 0)
			return [][]byte{f}, err
		}
		var out [][]byte
		for _, m := range msgs {
			f, err := s.Seal(nil, m, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
	return nil, errors.New("conformance: cannot open the server flight")
}

// conn is a connected session on the runner's side.
type conn struct {
	p     *peer
	i     int
	ws    *websocket.Conn
	sess  *session.Session
	keys  *batch.Keys
	key   ed25519.PrivateKey
	read  func() ([]byte, error)
	write func([]byte) error
}

// msg is one message of a scripted delivery.
type msg struct {
	id        uint64
	payload   string
	broadcast bool
}

// build builds one batch of seq for this client (and, with others, extra
// recipients whose handles follow) and returns the delivery body for this
// client and the batch.
func (c *conn) build(seq uint64, msgs []msg, others ...*batch.Keys) ([]byte, *batch.Batch, []int, error) {
	b, err := batch.NewBuilder(c.key, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	var entries []batch.Entry
	blobs := map[string]int{}
	for _, m := range msgs {
		e := batch.Entry{MessageID: m.id}
		if m.broadcast {
			h, ok := blobs[m.payload]
			if !ok {
				h = b.AddBroadcast([]byte(m.payload))
				blobs[m.payload] = h
			}
			e.Broadcast = h
		} else {
			e.Payload = []byte(m.payload)
		}
		entries = append(entries, e)
	}
	h, err := b.AddRecipient(c.keys, entries)
	if err != nil {
		return nil, nil, nil, err
	}
	handles := []int{h}
	for i, k := range others {
		oh, err := b.AddRecipient(k, []batch.Entry{{MessageID: uint64(i + 1), Payload: []byte("for someone else")}})
		if err != nil {
			return nil, nil, nil, err
		}
		handles = append(handles, oh)
	}
	bt, err := b.Build(seq, uint64(time.Now().UnixMilli()))
	if err != nil {
		return nil, nil, nil, err
	}
	body, err := bt.AppendDelivery(nil, h)
	return body, bt, handles, err
}

// deliver builds and sends one batch.
func (c *conn) deliver(seq uint64, msgs ...msg) error {
	body, _, _, err := c.build(seq, msgs)
	if err != nil {
		return err
	}
	return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
}

// sendMessages seals encoded messages into one record and sends it.
func (c *conn) sendMessages(msgs ...[]byte) error {
	f, err := c.sess.Seal(nil, msgs...)
	if err != nil {
		return err
	}
	return c.write(f)
}

// seal returns a sealed record without sending it.
func (c *conn) seal(msgs ...[]byte) []byte {
	f, err := c.sess.Seal(nil, msgs...)
	if err != nil {
		c.p.fail(err)
	}
	return f
}

// acks reads frames until the acknowledged IDs cover want or the timeout;
// it returns the IDs acknowledged.
func (c *conn) acks(want int, timeout time.Duration) []uint64 {
	var got []uint64
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	defer c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(got) < want {
		f, err := c.read()
		if err != nil {
			return got
		}
		ms, err := c.sess.Open(f)
		if err != nil {
			return got
		}
		for _, m := range ms {
			if m.Type == wire.TypeAck {
				ids, err := session.ParseAck(m.Body)
				if err == nil {
					got = append(got, ids...)
				}
			}
		}
		for _, pf := range c.sess.Pending() {
			c.write(pf)
		}
	}
	return got
}

// Close ends the connection with close_notify after the client had a
// moment to acknowledge (so that the shim's acknowledgements are read).
func (c *conn) Close() error { return c.closeWith(alert.CloseNotify) }

// closeWith ends the connection with an Alert of an orderly close:
// close_notify, or going_away (POST-022).
func (c *conn) closeWith(code alert.Code) error {
	if f := c.sess.AlertFrame(code); f != nil {
		c.write(f)
	}
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	drain(c.ws, c.read)
	return nil
}

// wait reads until the client closes (after it sent an Alert, typically).
func (c *conn) wait() error {
	drain(c.ws, c.read)
	return nil
}

// otherKeys returns envelope keys of a session that is not the client's.
func otherKeys(aead uint16) *batch.Keys {
	secret := make([]byte, 32)
	rand.Read(secret)
	k, err := batch.NewKeys(aead, keyschedule.Envelope(secret))
	if err != nil {
		panic(err)
	}
	return k
}

func describe(f []byte) string {
	if len(f) == 0 {
		return "empty frame"
	}
	switch wire.FrameType(f[0]) {
	case wire.FramePlaintext:
		if t, body, _, err := wire.ParsePlaintextFrame(f); err == nil {
			if t == wire.TypeAlert && len(body) == 1 {
				return fmt.Sprintf("plaintext Alert %v", alert.Code(body[0]))
			}
			return fmt.Sprintf("plaintext message type 0x%02x, %d bytes", uint8(t), len(f))
		}
		return fmt.Sprintf("plaintext frame, %d bytes", len(f))
	case wire.FrameProtected:
		return fmt.Sprintf("protected record, %d bytes", len(f))
	}
	return fmt.Sprintf("%d bytes of something else", len(f))
}

// sync sends Heartbeat(1) in a record of its own and reads until the
// client's answer (a record that carries no Ack), so that every Ack the
// client sent while it handled the records before it has arrived: the
// client handles records in order (CONF-081). It returns those Acks' IDs.
// A record of only Heartbeat or KeyUpdate messages counts as the answer;
// the client's own Heartbeat(1), if its interval passes meanwhile, ends
// the wait early, which can only make a test that checks for a missing
// Ack pass, never fail a correct client.
func (c *conn) sync(timeout time.Duration) ([]uint64, error) {
	if err := c.sendMessages(session.AppendHeartbeat(nil, true)); err != nil {
		return nil, err
	}
	var got []uint64
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	defer c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		f, err := c.read()
		if err != nil {
			return got, fmt.Errorf("no answer to Heartbeat(1) (POST-020): %w", err)
		}
		ms, err := c.sess.Open(f)
		if err != nil {
			return got, err
		}
		for _, pf := range c.sess.Pending() {
			c.write(pf)
		}
		if len(ms) == 0 {
			return got, nil
		}
		for _, m := range ms {
			if m.Type == wire.TypeAck {
				ids, err := session.ParseAck(m.Body)
				if err == nil {
					got = append(got, ids...)
				}
			}
		}
	}
}
