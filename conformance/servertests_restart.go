package conformance

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/internal/hstrace"
	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/publisher"
)

// restart stops the server under test and starts it again (CONF-060); a
// target the runner did not start cannot be restarted, and the test is
// skipped (CONF-061). The publisher follows the server to its new URL.
func (r *serverRun) restart(ctx context.Context, crash bool) error {
	if err := r.canRestart(); err != nil {
		return err
	}
	p := r.t.Process
	r.honest.Close()
	if err := p.Restart(ctx, crash); err != nil {
		return err
	}
	r.t.BaseURL = p.URL()
	r.pub = publisher.New(r.t.BaseURL, r.t.Publisher)
	r.logf("restarted (crash=%v), now at %s", crash, r.t.BaseURL)
	return nil
}

// canRestart is nil when the runner started the server itself, and
// otherwise the skip that a restart test returns before it does anything.
func (r *serverRun) canRestart() error {
	if r.t.Process == nil {
		return &errSkip{"the runner cannot restart this server (give -server-cmd)"}
	}
	return nil
}

// restartTests are the server tests of state that must outlive the server
// process (CONF-060, CONF-064) and of load (CONF-065, CONF-066).
func restartTests() []*serverTest {
	return []*serverTest{
		{id: "server/restart/pending-survive-sigterm", reqs: []string{"DLV-001", "API-024", "API-026", "CONF-064"}, run: func(ctx context.Context, r *serverRun) error {
			return pendingSurviveRestart(ctx, r, false)
		}},
		{id: "server/restart/pending-survive-crash", reqs: []string{"DLV-001", "API-024", "API-026", "CONF-064"}, run: func(ctx context.Context, r *serverRun) error {
			return pendingSurviveRestart(ctx, r, true)
		}},
		{id: "server/restart/resumption-after-restart", reqs: []string{"HS-040", "REPLAY-010", "CONF-064"}, run: resumptionAfterRestart},
		{id: "server/delivery/more-than-window-pending", reqs: []string{"DLV-001", "DLV-004", "CONF-065"}, run: moreThanWindowPending},
		{id: "server/load/slow-consumer", reqs: []string{"DLV-001", "CONF-066"}, run: slowConsumer},
		connectedTest("duplicate-ack-ids", []string{"POST-005", "CONF-065"}, alert.IllegalParameter, func(ws *websocket.Conn, s *session.Session) {
			f, _ := s.Seal(nil, session.AppendAck(nil, []uint64{3, 3}))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}),
		badClientFinished(),
	}
}

// identified connects as a key-identified client with a token, so that the
// client ID stays the same across connections and restarts.
func (r *serverRun) identified(key ed25519.PrivateKey) (*rawClient, error) {
	raw, err := r.tokenFor(key.Public().(ed25519.PublicKey), nil)
	if err != nil {
		return nil, err
	}
	ws, s, err := r.connectWithToken(key, raw)
	if err != nil {
		return nil, err
	}
	return newRawClient(ws, s)
}

// pendingSurviveRestart: messages acknowledged before a restart stay
// acknowledged, messages pending across it are delivered once and in order
// afterwards, a retry of their publish with the same Idempotency-Key is
// answered from the record kept across the restart, and message IDs keep
// rising (DLV-001, API-024, API-026).
func pendingSurviveRestart(ctx context.Context, r *serverRun, crash bool) error {
	if err := r.canRestart(); err != nil {
		return err
	}
	_, key, _ := ed25519.GenerateKey(nil)
	c, err := r.identified(key)
	if err != nil {
		return err
	}
	id := c.s.State().ClientID
	to := [][32]byte{id}
	first, err := r.pub.Publish(ctx, publisher.Message{To: to, Payload: []byte("before the restart")}, "")
	if err != nil {
		return err
	}
	got, err := c.receive(1, 10*time.Second)
	if err != nil {
		return err
	}
	c.ack(got[0].ID)
	if err := r.waitState(ctx, first.Messages[0].ID, "acknowledged"); err != nil {
		return err
	}
	c.ws.Close()
	idem := publisher.NewIdempotencyKey()
	ms := []publisher.Message{{To: to, Payload: []byte("pending 1")}, {To: to, Payload: []byte("pending 2")}, {To: to, Payload: []byte("pending 3")}}
	pending, err := r.pub.PublishMany(ctx, ms, idem)
	if err != nil {
		return err
	}
	if err := r.restart(ctx, crash); err != nil {
		return err
	}
	again, err := r.pub.PublishMany(ctx, ms, idem)
	if err != nil {
		return fmt.Errorf("the retry after the restart: %w", err)
	}
	if !again.Replayed || len(again.Messages) != 3 || again.Messages[0].ID != pending.Messages[0].ID {
		return errors.New("a retry with the same Idempotency-Key after a restart was stored again (API-026)")
	}
	c, err = r.identified(key)
	if err != nil {
		return err
	}
	defer c.ws.Close()
	if c.s.State().ClientID != id {
		return errors.New("the client ID changed across the restart")
	}
	got, err = c.receive(3, 10*time.Second)
	if err != nil {
		return fmt.Errorf("pending messages after the restart: %w", err)
	}
	last := first.Messages[0].MessageID
	for i, m := range got {
		if string(m.Payload) != string(ms[i].Payload) || m.ID != pending.Messages[i].MessageID || m.ID <= last {
			return fmt.Errorf("after the restart got %d %q, want %d %q", m.ID, m.Payload, pending.Messages[i].MessageID, ms[i].Payload)
		}
		last = m.ID
	}
	c.ack(got[0].ID, got[1].ID, got[2].ID)
	next, err := r.pub.Publish(ctx, publisher.Message{To: to, Payload: []byte("after the restart")}, "")
	if err != nil {
		return err
	}
	got, err = c.receive(1, 10*time.Second)
	if err != nil {
		return err
	}
	if string(got[0].Payload) != "after the restart" || got[0].ID != next.Messages[0].MessageID || got[0].ID <= last {
		return fmt.Errorf("after the restart got %d %q (the message before it had ID %d): delivered twice or IDs not rising", got[0].ID, got[0].Payload, last)
	}
	return c.ack(got[0].ID)
}

// resumptionAfterRestart: an anonymous client resumes with its ticket after
// the server restarted, keeps its client ID, and receives what was
// published meanwhile, with batch_seq rising in the new session from 1 on
// (HS-040, REPLAY-010).
func resumptionAfterRestart(ctx context.Context, r *serverRun) error {
	if err := r.canRestart(); err != nil {
		return err
	}
	dialTicket := func(t *handshake.Ticket) (*rawClient, *handshake.Ticket, bool, error) {
		ws, err := r.dial()
		if err != nil {
			return nil, nil, false, err
		}
		pin := r.t.Fingerprint
		hc, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &pin, Ticket: t})
		if err != nil {
			ws.Close()
			return nil, nil, false, err
		}
		s, err := hc.Drive(wsframe.Conn{WS: ws})
		if err != nil {
			ws.Close()
			return nil, nil, false, err
		}
		c, err := newRawClient(ws, s)
		return c, hc.NewTicket(), s.State().Resumed, err
	}
	c, ticket, _, err := dialTicket(nil)
	if err != nil {
		return err
	}
	id := c.s.State().ClientID
	c.ws.Close()
	if ticket == nil {
		return &errSkip{"the server issued no resumption ticket"}
	}
	if err := r.restart(ctx, false); err != nil {
		return err
	}
	var ms []publisher.Message
	for i := range 3 {
		ms = append(ms, publisher.Message{To: [][32]byte{id}, Payload: []byte(fmt.Sprintf("resumed %d", i))})
	}
	if _, err := r.pub.PublishMany(ctx, ms, ""); err != nil {
		return err
	}
	c, _, resumed, err := dialTicket(ticket)
	if err != nil {
		return fmt.Errorf("resumption after the restart: %w", err)
	}
	defer c.ws.Close()
	if !resumed || c.s.State().ClientID != id {
		return fmt.Errorf("the ticket from before the restart did not resume (resumed=%v, same client ID=%v)", resumed, c.s.State().ClientID == id)
	}
	got, err := c.receive(3, 10*time.Second)
	if err != nil {
		return err
	}
	for i, m := range got {
		if string(m.Payload) != string(ms[i].Payload) {
			return fmt.Errorf("got %q, want %q", m.Payload, ms[i].Payload)
		}
	}
	return c.ack(got[0].ID, got[1].ID, got[2].ID)
}

// moreThanWindowPending publishes more messages to one client than the
// replay window W holds and wants every one, in order, each once: the
// server holds back what lies beyond the window until acknowledgements
// move it (DLV-001, DLV-004).
func moreThanWindowPending(ctx context.Context, r *serverRun) error {
	const n = 1200 // above W = 1024
	id := r.honest.ClientID()
	var want []string
	for sent := 0; sent < n; {
		ms := make([]publisher.Message, min(500, n-sent))
		for i := range ms {
			p := fmt.Sprintf("pending %04d", sent+i)
			want = append(want, p)
			ms[i] = publisher.Message{To: [][32]byte{id}, Payload: []byte(p)}
		}
		if _, err := r.pub.PublishMany(ctx, ms, ""); err != nil {
			return err
		}
		sent += len(ms)
	}
	var last uint64
	for i, p := range want {
		m, err := r.next()
		if err != nil {
			return fmt.Errorf("after %d of %d messages: %w", i, n, err)
		}
		if string(m.Payload) != p || m.ID <= last {
			return fmt.Errorf("message %d: got %d %q, want %q after ID %d", i, m.ID, m.Payload, p, last)
		}
		last = m.ID
	}
	return r.expectNothing(300 * time.Millisecond)
}

// slowConsumer floods a client that never reads: the server must keep
// serving the others (the runner checks the honest client afterwards) and
// must not count the flood as acknowledged.
func slowConsumer(ctx context.Context, r *serverRun) error {
	c, err := r.rawConnect()
	if err != nil {
		return err
	}
	defer c.ws.Close()
	to := [][32]byte{c.s.State().ClientID}
	payload := make([]byte, 4096)
	n := 1200 // 4.8 MiB, far above what the socket buffers hold
	if r.t.MaxPending > 0 {
		n = min(n, r.t.MaxPending)
	}
	var handles []string
	for sent := 0; sent < n; {
		ms := make([]publisher.Message, min(400, n-sent))
		sent += len(ms)
		for i := range ms {
			ms[i] = publisher.Message{To: to, Payload: payload}
		}
		res, err := r.pub.PublishMany(ctx, ms, "")
		if err != nil {
			return err
		}
		handles = append(handles, res.Messages[0].ID, res.Messages[len(res.Messages)-1].ID)
	}
	for _, h := range handles {
		st, err := r.pub.Status(ctx, h)
		if err != nil {
			return err
		}
		if st.State == "acknowledged" {
			return fmt.Errorf("message %s to a client that never read is acknowledged", h)
		}
	}
	return nil
}

// badClientFinished completes a handshake whose client Finished carries a
// wrong MAC, sealed correctly under the client handshake key: the server
// must refuse it with decrypt_error (HS-023).
func badClientFinished() *serverTest {
	return &serverTest{id: "server/handshake/bad-client-finished", reqs: []string{"HS-023", "CONF-067"}, run: func(ctx context.Context, r *serverRun) error {
		ws, err := r.dial()
		if err != nil {
			return err
		}
		defer ws.Close()
		pin := r.t.Fingerprint
		cfg := &handshake.ClientConfig{PinnedKeyID: &pin, AEADs: []uint16{suite.AEADChaCha20Poly1305}}
		traced := map[string][]byte{}
		hstrace.Set(cfg, func(name string, v []byte) { traced[name] = append([]byte(nil), v...) })
		hc, err := handshake.NewClient(cfg)
		if err != nil {
			return err
		}
		if err := untilClientFlight(ws, hc); err != nil { // the honest flight is not sent
			return err
		}
		fin, secret := traced["ClientFinished"], traced["c_hs_traffic"]
		if len(fin) < 5 || secret == nil {
			return errors.New("the handshake trace lacks the client Finished or its key")
		}
		fin[len(fin)-1] ^= 1
		s, err := record.NewSealer(suite.AEADChaCha20Poly1305, secret)
		if err != nil {
			return err
		}
		frame, err := s.Seal(nil, fin, 0)
		if err != nil {
			return err
		}
		ws.WriteMessage(websocket.BinaryMessage, frame)
		_, f, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("no alert before the connection ended: %v (a wrong client Finished accepted?)", err)
		}
		_, _, err = hc.Handle(f)
		if !session.FromPeer(err) {
			return fmt.Errorf("expected an Alert, got %s (%v): the server accepted a wrong client Finished", describe(f), err)
		}
		got, _ := alert.Find(err)
		return want(got, alert.DecryptError, nil)
	}}
}
