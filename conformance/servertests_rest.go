package conformance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/publisher"
)

// errSkip is a server test that cannot run against this target: it is
// reported skipped with the reason and is not required (CONF-061).
type errSkip struct{ reason string }

func (e *errSkip) Error() string { return e.reason }

// signCustom signs r like httpsig.Sign but with the components and extra
// parameters given, after the caller set Content-Digest (or not): the
// runner's way to send a signature that is valid yet breaks a rule.
func signCustom(r *http.Request, keyID string, key ed25519.PrivateKey, components []string, nonce string, created time.Time, extra map[string]int64) error {
	il := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, c := range components {
		il.Items = append(il.Items, httpsfv.NewItem(c))
	}
	il.Params.Add("created", created.Unix())
	for k, v := range extra {
		il.Params.Add(k, v)
	}
	il.Params.Add("nonce", nonce)
	il.Params.Add("keyid", keyID)
	il.Params.Add("alg", "ed25519")
	base, err := httpsig.SignatureBase(r, il)
	if err != nil {
		return err
	}
	in := httpsfv.NewDictionary()
	in.Add(httpsig.Label, il)
	sigIn, err := httpsfv.Marshal(in)
	if err != nil {
		return err
	}
	sd := httpsfv.NewDictionary()
	sd.Add(httpsig.Label, httpsfv.NewItem(ed25519.Sign(key, base)))
	sigVal, err := httpsfv.Marshal(sd)
	if err != nil {
		return err
	}
	r.Header.Set("Signature-Input", sigIn)
	r.Header.Set("Signature", sigVal)
	return nil
}

func newNonce() string { return publisher.NewIdempotencyKey() + "nonce" }

// restRuleTests are the server tests of the REST verification and
// validation rules that only a request the publisher library never sends
// can show (API-002 … API-032).
func restRuleTests() []*serverTest {
	to := func(r *serverRun) string {
		id := r.honest.ClientID()
		return hex.EncodeToString(id[:])
	}
	body := func(r *serverRun) []byte {
		return []byte(`{"to":["` + to(r) + `"],"text":"from the conformance runner"}`)
	}
	good := func(r *serverRun, b []byte) (*http.Request, error) {
		return r.signed("POST", "/v1/messages", b, r.pub.KeyID, r.t.Publisher, time.Now())
	}
	newReq := func(r *serverRun, b []byte) (*http.Request, error) {
		req, err := http.NewRequest("POST", strings.TrimRight(r.t.BaseURL, "/")+"/v1/messages", strings.NewReader(string(b)))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
	return []*serverTest{
		restTest("created-in-the-future", []string{"API-013", "CONF-062"}, 401, "stale-request", func(r *serverRun) (*http.Request, error) {
			return r.signed("POST", "/v1/messages", body(r), r.pub.KeyID, r.t.Publisher, time.Now().Add(time.Hour))
		}),
		restTest("expired-signature", []string{"API-013", "CONF-062"}, 401, "stale-request", func(r *serverRun) (*http.Request, error) {
			b := body(r)
			req, err := newReq(r, b)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Digest", httpsig.ContentDigest(b))
			return req, signCustom(req, r.pub.KeyID, r.t.Publisher, httpsig.Components, newNonce(), time.Now().Add(-time.Minute),
				map[string]int64{"expires": time.Now().Add(-30 * time.Second).Unix()})
		}),
		restTest("digest-not-covered", []string{"API-002", "CONF-062"}, 401, "incomplete-signature", func(r *serverRun) (*http.Request, error) {
			// A valid signature over every component but content-digest:
			// the body is then anyone's to choose.
			b := body(r)
			req, err := newReq(r, b)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Digest", httpsig.ContentDigest([]byte(`{"to":[],"text":"another body"}`)))
			return req, signCustom(req, r.pub.KeyID, r.t.Publisher, []string{"@method", "@authority", "@path", "@query"}, newNonce(), time.Now(), nil)
		}),
		restTest("short-nonce", []string{"API-003", "CONF-062"}, 400, "malformed-signature", func(r *serverRun) (*http.Request, error) {
			req, err := newReq(r, body(r))
			if err == nil {
				err = httpsig.Sign(req, body(r), r.pub.KeyID, r.t.Publisher, time.Now(), "short-nonce")
			}
			return req, err
		}),
		restTest("digest-differs-after-its-first-bytes", []string{"API-014", "CONF-062"}, 400, "bad-digest", func(r *serverRun) (*http.Request, error) {
			b := body(r)
			req, err := newReq(r, b)
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(b)
			sum[31] ^= 1 // the first bytes agree, the last does not
			req.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
			return req, signCustom(req, r.pub.KeyID, r.t.Publisher, httpsig.Components, newNonce(), time.Now(), nil)
		}),
		{id: "server/rest/forged-request-does-not-burn-its-nonce", reqs: []string{"API-018", "CONF-062"}, run: func(ctx context.Context, r *serverRun) error {
			nonce := newNonce()
			_, other, _ := ed25519.GenerateKey(nil)
			for i, c := range []struct {
				key    ed25519.PrivateKey
				status int
			}{{other, 401}, {r.t.Publisher, 202}} {
				req, err := newReq(r, body(r))
				if err != nil {
					return err
				}
				if err := httpsig.Sign(req, body(r), r.pub.KeyID, c.key, time.Now(), nonce); err != nil {
					return err
				}
				resp, err := http.DefaultClient.Do(req.WithContext(ctx))
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != c.status {
					return fmt.Errorf("request %d (the nonce of a forged request, then signed by the publisher): status %d, want %d", i+1, resp.StatusCode, c.status)
				}
			}
			return r.expectPayload("from the conformance runner")
		}},
		restTest("duplicate-recipients", []string{"API-020", "CONF-062"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			return good(r, []byte(`{"to":["`+to(r)+`","`+to(r)+`"],"text":"twice"}`))
		}),
		restTest("data-after-the-json-body", []string{"API-021", "CONF-062"}, 400, "malformed-json", func(r *serverRun) (*http.Request, error) {
			return good(r, append(body(r), []byte(` {}`)...))
		}),
		restTest("idempotency-key-with-a-space", []string{"API-026", "CONF-062"}, 400, "invalid-idempotency-key", func(r *serverRun) (*http.Request, error) {
			req, err := newReq(r, body(r))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Idempotency-Key", "two words")
			return req, httpsig.Sign(req, body(r), r.pub.KeyID, r.t.Publisher, time.Now(), newNonce())
		}),
		restTest("ttl-zero", []string{"API-030", "CONF-062"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			return good(r, []byte(`{"to":["`+to(r)+`"],"text":"x","ttl":0}`))
		}),
		{id: "server/rest/same-idempotency-key-other-body", reqs: []string{"API-027", "CONF-062"}, run: func(ctx context.Context, r *serverRun) error {
			key := publisher.NewIdempotencyKey()
			if _, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte("first " + key)}, key); err != nil {
				return err
			}
			_, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte("second " + key)}, key)
			var p *publisher.Problem
			if !errors.As(err, &p) || p.Status != 422 || !strings.HasSuffix(p.Type, "/problems/idempotency-key-reused") {
				return fmt.Errorf("the same Idempotency-Key with another body: %v, want 422 idempotency-key-reused", err)
			}
			if err := r.expectPayload("first " + key); err != nil {
				return err
			}
			return r.expectNothing(300 * time.Millisecond)
		}},
		{id: "server/rest/concurrent-same-idempotency-key", reqs: []string{"API-026", "CONF-063"}, run: func(ctx context.Context, r *serverRun) error {
			key := publisher.NewIdempotencyKey()
			m := publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte("once " + key)}
			const n = 8
			var wg sync.WaitGroup
			ids := make([]string, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := r.pub.Publish(ctx, m, key)
					if err == nil {
						ids[i] = res.Messages[0].ID
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			var first string
			for i := range n {
				var p *publisher.Problem
				if errors.As(errs[i], &p) && p.Status == 409 {
					continue // the first request still in progress (API-026 allows 409)
				}
				if errs[i] != nil {
					return errs[i]
				}
				if first == "" {
					first = ids[i]
				} else if ids[i] != first {
					return fmt.Errorf("concurrent publishes with one Idempotency-Key stored %s and %s", first, ids[i])
				}
			}
			if err := r.expectPayload(string(m.Payload)); err != nil {
				return err
			}
			return r.expectNothing(500 * time.Millisecond)
		}},
		{id: "server/rest/status-for-another-publisher", reqs: []string{"API-031", "CONF-062"}, run: func(ctx context.Context, r *serverRun) error {
			if r.t.OtherPublisher == nil {
				return &errSkip{"needs a second registered publisher key (-other-publisher-key)"}
			}
			res, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{r.honest.ClientID()}, Payload: []byte("mine")}, "")
			if err != nil {
				return err
			}
			if err := r.expectPayload("mine"); err != nil {
				return err
			}
			_, err = publisher.New(r.t.BaseURL, r.t.OtherPublisher).Status(ctx, res.Messages[0].ID)
			var p *publisher.Problem
			if !errors.As(err, &p) || p.Status != 404 || !strings.HasSuffix(p.Type, "/problems/not-found") {
				return fmt.Errorf("another publisher's status request: %v, want 404 not-found", err)
			}
			return nil
		}},
		{id: "server/rest/pending-limit-exactly", reqs: []string{"API-028", "CONF-062"}, run: pendingLimitExactly},
		{id: "server/delivery/ack-after-expiry", reqs: []string{"API-032", "DLV-040", "CONF-062"}, run: ackAfterExpiry},
	}
}

// pendingLimitExactly fills a client that never connects up to the pending
// limit, which must be accepted, and wants the next publish refused with
// 429 (API-028).
func pendingLimitExactly(ctx context.Context, r *serverRun) error {
	limit := r.t.MaxPending
	if limit == 0 {
		return &errSkip{"needs the server's pending limit (-server-max-pending)"}
	}
	var id [32]byte
	rand.Read(id[:])
	for sent := 0; sent < limit; {
		ms := make([]publisher.Message, min(1000, limit-sent))
		for i := range ms {
			ms[i] = publisher.Message{To: [][32]byte{id}, Payload: []byte("fill")}
		}
		if _, err := r.pub.PublishMany(ctx, ms, ""); err != nil {
			return fmt.Errorf("after %d of %d pending messages: %w", sent, limit, err)
		}
		sent += len(ms)
	}
	_, err := r.pub.Publish(ctx, publisher.Message{To: [][32]byte{id}, Payload: []byte("one too many")}, "")
	var p *publisher.Problem
	if !errors.As(err, &p) || p.Status != 429 {
		return fmt.Errorf("publish %d to a client with %d pending (the limit): %v, want 429", limit+1, limit, err)
	}
	return nil
}

// rawClient is a connected raw session that opens deliveries itself.
type rawClient struct {
	ws      *websocket.Conn
	s       *session.Session
	opener  *batch.Opener
	lastSeq uint64
}

func (r *serverRun) rawConnect() (*rawClient, error) {
	ws, s, err := r.connect()
	if err != nil {
		return nil, err
	}
	return newRawClient(ws, s)
}

func newRawClient(ws *websocket.Conn, s *session.Session) (*rawClient, error) {
	keys, err := s.BatchKeys()
	if err != nil {
		ws.Close()
		return nil, err
	}
	return &rawClient{ws: ws, s: s, opener: batch.NewOpener(s.State().ServerKey, keys, 0)}, nil
}

// receive reads deliveries until n messages arrived and returns them; the
// batch sequence must rise within the session (REPLAY-010).
func (c *rawClient) receive(n int, within time.Duration) ([]batch.Message, error) {
	var out []batch.Message
	deadline := time.Now().Add(within)
	for len(out) < n {
		c.ws.SetReadDeadline(deadline)
		_, f, err := c.ws.ReadMessage()
		if err != nil {
			return out, fmt.Errorf("%d of %d messages arrived: %v", len(out), n, err)
		}
		msgs, err := c.s.Open(f)
		if err != nil {
			return out, fmt.Errorf("a frame from the server did not open: %v", err)
		}
		for _, m := range msgs {
			if m.Type != wire.TypeBatchDelivery {
				continue
			}
			d, err := batch.ParseDelivery(m.Body)
			if err != nil {
				return out, err
			}
			got, err := c.opener.Open(d, c.lastSeq)
			if err != nil {
				return out, fmt.Errorf("a delivery did not open (batch_seq %d after %d): %v", d.Header.Seq, c.lastSeq, err)
			}
			c.lastSeq = d.Header.Seq
			out = append(out, got...)
		}
	}
	return out, nil
}

func (c *rawClient) ack(ids ...uint64) error {
	f, err := c.s.Seal(nil, session.AppendAck(nil, ids))
	if err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.BinaryMessage, f)
}

// ackAfterExpiry acknowledges delivered messages just after their TTL ran
// out: each must end expired, never acknowledged (API-032). The server's
// expiry sweep may mark a message expired before the Ack arrives, which
// would hide a server that applies late Acks; three messages expire 300 ms
// apart, so that no one sweep precedes every Ack.
func ackAfterExpiry(ctx context.Context, r *serverRun) error {
	c, err := r.rawConnect()
	if err != nil {
		return err
	}
	defer c.ws.Close()
	to := [][32]byte{c.s.State().ClientID}
	type short struct {
		handle  string
		id      uint64
		expires time.Time
	}
	var shorts []short
	for i := range 3 {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		res, err := r.pub.Publish(ctx, publisher.Message{To: to, Payload: []byte(fmt.Sprintf("short-lived %d", i)), TTL: time.Second}, "")
		if err != nil {
			return err
		}
		exp, err := time.Parse(time.RFC3339Nano, res.Messages[0].Expires)
		if err != nil {
			return fmt.Errorf("expires %q: %v", res.Messages[0].Expires, err)
		}
		if _, err := c.receive(1, 10*time.Second); err != nil {
			return err
		}
		shorts = append(shorts, short{res.Messages[0].ID, res.Messages[0].MessageID, exp})
	}
	for _, m := range shorts {
		time.Sleep(time.Until(m.expires) + 20*time.Millisecond)
		if err := c.ack(m.id); err != nil {
			return err
		}
	}
	for _, m := range shorts {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := r.pub.Status(ctx, m.handle)
			if err != nil {
				return err
			}
			if st.State == "acknowledged" {
				return fmt.Errorf("message %d, acknowledged after its TTL, is acknowledged, want expired (API-032)", m.id)
			}
			if st.State == "expired" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("message %d is still %s 10 s after its TTL", m.id, st.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
