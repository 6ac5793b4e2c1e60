package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// signedFor returns a publish of body to authority (the Host the signature
// covers), signed with k, to be sent to the node at base.
func signedFor(t *testing.T, base, authority string, k ed25519.PrivateKey, body []byte, idempotencyKey string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", base+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Host = authority
	if idempotencyKey != "" {
		r.Header.Set("Idempotency-Key", idempotencyKey)
	}
	var nonce [18]byte
	rand.Read(nonce[:])
	if err := httpsig.Sign(r, body, sig.Fingerprint(k.Public().(ed25519.PublicKey)), k, time.Now(), base64.RawURLEncoding.EncodeToString(nonce[:])); err != nil {
		t.Fatal(err)
	}
	return r
}

func do(t *testing.T, r *http.Request, body []byte) (int, string) {
	t.Helper()
	r.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCapturedRequestIsRefusedByAnotherAuthority: two deployments trust
// the same publisher key; a request signed for the first and replayed on
// the second is refused with 401 wrong-authority naming the second's
// authorities (API-039). A deployment without configured authorities
// accepts it (the documented default).
func TestCapturedRequestIsRefusedByAnotherAuthority(t *testing.T) {
	k, _ := keyfile.Generate()
	trust := func(authorities ...string) func(*server.Config) {
		return func(c *server.Config) {
			c.Publishers[sig.Fingerprint(k.Public().(ed25519.PublicKey))] = k.Public().(ed25519.PublicKey)
			c.Authorities = authorities
		}
	}
	a := startNode(t, t.TempDir(), 0, trust("push-a.example"))
	b := startNode(t, t.TempDir(), 0, trust("push-b.example", "push-b.example:8443"))
	open := startNode(t, t.TempDir(), 0, trust())
	body := []byte(`{"to":["` + strings.Repeat("ab", 32) + `"],"text":"hi"}`)

	captured := signedFor(t, a.base, "push-a.example", k, body, "")
	if st, resp := do(t, captured.Clone(context.Background()), body); st != 202 {
		t.Fatalf("the deployment it was signed for: %d %s", st, resp)
	}
	// Replayed on b: same bytes, same Host (the signature covers it).
	replay := captured.Clone(context.Background())
	replay.URL.Host = strings.TrimPrefix(b.base, "http://")
	st, resp := do(t, replay, body)
	if st != 401 || !strings.Contains(resp, `/problems/wrong-authority"`) || !strings.Contains(resp, `"rule":"API-039"`) ||
		!strings.Contains(resp, "push-b.example, push-b.example:8443") {
		t.Fatalf("replay on another deployment: %d %s", st, resp)
	}
	// b's own authority, in any case, is accepted.
	if st, resp := do(t, signedFor(t, b.base, "PUSH-B.example:8443", k, body, ""), body); st != 202 {
		t.Fatalf("b's own authority: %d %s", st, resp)
	}
	replay = captured.Clone(context.Background())
	replay.URL.Host = strings.TrimPrefix(open.base, "http://")
	if st, resp := do(t, replay, body); st != 202 {
		t.Fatalf("no authority configured: %d %s", st, resp)
	}
}

// TestIdempotencyKeyOutsideTheSignatureIsRefused: an Idempotency-Key added
// to a signed request gets 401 incomplete-signature naming the component
// (API-038); the Go publisher signs the key it sends.
func TestIdempotencyKeyOutsideTheSignatureIsRefused(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	k := tn.pubs[0].Key
	body := []byte(`{"to":["` + strings.Repeat("cd", 32) + `"],"text":"hi"}`)
	host := strings.TrimPrefix(tn.base, "http://")
	r := signedFor(t, tn.base, host, k, body, "")
	r.Header.Set("Idempotency-Key", "added-in-transit")
	st, resp := do(t, r, body)
	if st != 401 || !strings.Contains(resp, `/problems/incomplete-signature"`) || !strings.Contains(resp, `"rule":"API-038"`) ||
		!strings.Contains(resp, `\"idempotency-key\"`) {
		t.Fatalf("unsigned Idempotency-Key: %d %s", st, resp)
	}
	if st, resp := do(t, signedFor(t, tn.base, host, k, body, "signed-key"), body); st != 202 {
		t.Fatalf("signed Idempotency-Key: %d %s", st, resp)
	}
	res, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{{1}}, Payload: []byte("x")}, "publisher-key")
	if err != nil || len(res.Messages) != 1 {
		t.Fatalf("publisher with an Idempotency-Key: %v", err)
	}
}

// TestPresenceOnlyForPublishersOfTheClient: a publisher that published to
// a client and one granted every client see its presence; another gets
// 404, the same answer as for a client ID that never existed (API-040,
// API-033).
func TestPresenceOnlyForPublishersOfTheClient(t *testing.T) {
	var granted string
	tn := startNode(t, t.TempDir(), 3, func(c *server.Config) {
		for id := range c.Publishers {
			granted = id
		}
		c.PresencePublishers = []string{granted}
	})
	var own, foreign, all *publisher.Publisher
	for _, p := range tn.pubs {
		switch {
		case p.KeyID == granted:
			all = p
		case own == nil:
			own = p
		default:
			foreign = p
		}
	}
	ctx := context.Background()
	c := tn.dial(t, nil)
	id := c.ClientID()
	if _, err := own.Publish(ctx, publisher.Message{To: [][32]byte{id}, Payload: []byte("x")}, ""); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*publisher.Publisher{"publishing": own, "granted": all} {
		// The client's Dial returns after the handshake; the server attaches
		// the session right after, so Online may lag a moment.
		deadline := time.Now().Add(5 * time.Second)
		for {
			pr, err := p.Presence(ctx, id)
			if err == nil && pr.Online {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("%s publisher: %+v %v", name, pr, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var pb *publisher.Problem
	_, err := foreign.Presence(ctx, id)
	if !errors.As(err, &pb) || pb.Status != 404 || pb.Rule != "API-040" {
		t.Fatalf("foreign publisher: %v", err)
	}
	seen := *pb
	seen.RequestID = "" // each answer has its own (OPS-053)
	_, err = foreign.Presence(ctx, [32]byte{0xee})
	if errors.As(err, &pb) {
		pb.RequestID = ""
	}
	if !errors.As(err, &pb) || *pb != seen {
		t.Fatalf("a client that does not exist answers otherwise: %+v, %+v", pb, seen)
	}
	// The granted key sees a client nobody published to.
	if pr, err := all.Presence(ctx, [32]byte{0xee}); err != nil || pr.Online || pr.Pending != 0 {
		t.Fatalf("granted publisher, unknown client: %+v %v", pr, err)
	}
}
