package server_test

import (
	"context"
	"crypto/ed25519"

	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/core"
)

func requireTokens(c *server.Config) { c.RequireToken = true }

// tokenFor issues a token with tn's first publisher key for key, with edit
// applied to the request.
func tokenFor(t testing.TB, tn *testNode, key ed25519.PrivateKey, edit func(*publisher.TokenRequest)) []byte {
	t.Helper()
	r := publisher.TokenRequest{Subject: "alice", Device: "phone", ClientKey: key.Public().(ed25519.PublicKey),
		ServerKeyID: tn.pinned, Lifetime: 10 * time.Minute}
	if edit != nil {
		edit(&r)
	}
	raw, err := tn.pubs[0].IssueToken(r)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func dialErr(tn *testNode, mod func(*client.Config)) error {
	pin := tn.pinned
	cfg := client.Config{URL: tn.ws, PinnedKeyID: &pin}
	mod(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err == nil {
		c.Close()
	}
	return err
}

func peerCode(err error) alert.Code {
	code, ok := alert.Find(err)
	if !ok || !session.FromPeer(err) {
		return 255
	}
	return code
}

// TestTokenRequired (TOK-009 for the record): on real sockets, a server with RequireToken refuses
// anonymous and tokenless clients with token_required and each invalid
// token with its alert (HS-062, TOK-004 … TOK-006); a valid token connects,
// the node records the user on the connection, and messages arrive.
func TestTokenRequired(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, requireTokens)
	key, _ := keyfile.Generate()
	other, _ := keyfile.Generate()
	cases := []struct {
		name string
		mod  func(*client.Config)
		want alert.Code
	}{
		{"anonymous", func(*client.Config) {}, alert.TokenRequired},
		{"key-identified without token", func(c *client.Config) { c.Identity = key }, alert.TokenRequired},
		{"another deployment", func(c *client.Config) {
			c.Identity = key
			raw := tokenFor(t, tn, key, func(r *publisher.TokenRequest) { r.ServerKeyID[0] ^= 1 })
			c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
		}, alert.RealmMismatch},
		{"realm this node does not have", func(c *client.Config) {
			c.Identity = key
			raw := tokenFor(t, tn, key, func(r *publisher.TokenRequest) { r.Realm = "push.example" })
			c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
		}, alert.RealmMismatch},
		{"bound to another client key", func(c *client.Config) {
			c.Identity = key
			raw := tokenFor(t, tn, other, nil)
			c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
		}, alert.TokenKeyMismatch},
		{"expired", func(c *client.Config) {
			c.Identity = key
			tk, err := token.Issue(keyOf(tn), token.Params{Subject: "alice", ClientKey: key.Public().(ed25519.PublicKey),
				Audience:  token.Audience{Type: token.AudienceServerKey, ServerKeyID: tn.pinned},
				NotBefore: time.Now().Add(-10 * time.Minute), Lifetime: 5 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			c.TokenSource = func(context.Context) ([]byte, error) { return tk.Marshal(), nil }
		}, alert.TokenExpired},
		{"unregistered issuer", func(c *client.Config) {
			c.Identity = key
			stranger, _ := keyfile.Generate()
			raw, err := publisher.New(tn.base, stranger).IssueToken(publisher.TokenRequest{Subject: "alice",
				ClientKey: key.Public().(ed25519.PublicKey), ServerKeyID: tn.pinned})
			if err != nil {
				t.Fatal(err)
			}
			c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
		}, alert.UnknownSigner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := peerCode(dialErr(tn, c.mod)); got != c.want {
				t.Fatalf("dial: %v, want the server's %v", got, c.want)
			}
		})
	}

	raw := tokenFor(t, tn, key, nil)
	cl := tn.dial(t, func(c *client.Config) {
		c.Identity = key
		c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
	})
	id := handshake.ClientID(key.Public().(ed25519.PublicKey))
	u, ok := waitUser(t, tn, id)
	tk, _ := token.Parse(raw)
	if !ok || u.Subject != "alice" || u.Device != "phone" || u.TokenID != tk.ID {
		t.Fatalf("the node's record of the client: %+v, %v", u, ok)
	}
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{id}, Payload: []byte("hi alice")}, ""); err != nil {
		t.Fatal(err)
	}
	if m := collect(t, cl, 1, 10*time.Second); string(m[0].Payload) != "hi alice" {
		t.Fatalf("payload %q", m[0].Payload)
	}
}

// waitUser waits for the session to attach (Dial returns after the
// handshake; the node attaches it just after) and returns its user.
func waitUser(t testing.TB, tn *testNode, id [32]byte) (core.User, bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if u, ok := tn.Hub.User(id); ok {
			return u, ok
		}
	}
	return tn.Hub.User(id)
}

// keyOf returns the private key of tn's first publisher.
func keyOf(tn *testNode) ed25519.PrivateKey { return tn.pubs[0].Key }

// TestTokenRefresh: the client refreshes on the open connection; the node
// answers TokenAccepted and records the new token (POST-030 … POST-032). A
// refresh naming another user closes the connection with
// illegal_parameter (POST-031).
func TestTokenRefresh(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, requireTokens)
	key, _ := keyfile.Generate()
	var mu sync.Mutex
	sub := "alice"
	var issued [][]byte
	source := func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		raw := tokenFor(t, tn, key, func(r *publisher.TokenRequest) { r.Subject = sub })
		issued = append(issued, raw)
		return raw, nil
	}
	cl := tn.dial(t, func(c *client.Config) { c.Identity = key; c.TokenSource = source })
	id := handshake.ClientID(key.Public().(ed25519.PublicKey))
	drain := func(want func(client.Event) bool) client.Event {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-cl.Events():
				if want(e) {
					return e
				}
			case <-deadline:
				t.Fatal("no such event")
			}
		}
	}
	cl.RefreshToken()
	drain(func(e client.Event) bool { return e.TokenRefreshed })
	mu.Lock()
	last, _ := token.Parse(issued[len(issued)-1])
	mu.Unlock()
	if u, ok := tn.Hub.User(id); !ok || u.TokenID != last.ID {
		t.Fatalf("after the refresh the node holds %x, want %x", u.TokenID, last.ID)
	}

	mu.Lock()
	sub = "mallory"
	mu.Unlock()
	cl.RefreshToken()
	e := drain(func(e client.Event) bool { return e.Err != nil })
	if peerCode(e.Err) != alert.IllegalParameter {
		t.Fatalf("refresh for another user ended the connection with %v, want the server's illegal_parameter", e.Err)
	}
}

// TestTokenExpiresWhileConnected: a connection whose token is not
// refreshed is closed by the node with token_expired at not_after + skew
// (TOK-011).
func TestTokenExpiresWhileConnected(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, requireTokens)
	key, _ := keyfile.Generate()
	// Valid for 2 s from 61 s ago: the deadline is about a second away.
	tk, err := token.Issue(keyOf(tn), token.Params{Subject: "alice", ClientKey: key.Public().(ed25519.PublicKey),
		Audience:  token.Audience{Type: token.AudienceServerKey, ServerKeyID: tn.pinned},
		NotBefore: time.Now().Add(-61 * time.Second), Lifetime: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	raw := tk.Marshal()
	start := time.Now()
	cl := tn.dial(t, func(c *client.Config) {
		c.Identity = key
		c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
		c.MinBackoff, c.MaxBackoff = time.Minute, time.Minute // no reconnect during the test
	})
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e := <-cl.Events():
			if e.Err == nil {
				continue
			}
			if peerCode(e.Err) != alert.TokenExpired {
				t.Fatalf("connection ended with %v, want the server's token_expired", e.Err)
			}
			if time.Now().Before(tk.Deadline()) {
				t.Fatalf("closed at %v, before the deadline %v", time.Now(), tk.Deadline())
			}
			t.Logf("closed %v after dialling", time.Since(start))
			return
		case <-deadline:
			t.Fatal("the connection outlived its token")
		}
	}
}

// TestTokenRefreshedOnSchedule: without being asked, the client refreshes
// two thirds into its token's life (TOK-012) and the node accepts it.
func TestTokenRefreshedOnSchedule(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, requireTokens)
	key, _ := keyfile.Generate()
	var mu sync.Mutex
	calls := 0
	source := func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		tk, err := token.Issue(keyOf(tn), token.Params{Subject: "alice", ClientKey: key.Public().(ed25519.PublicKey),
			Audience: token.Audience{Type: token.AudienceServerKey, ServerKeyID: tn.pinned}, Lifetime: 3 * time.Second})
		if err != nil {
			return nil, err
		}
		return tk.Marshal(), nil
	}
	start := time.Now()
	cl := tn.dial(t, func(c *client.Config) { c.Identity = key; c.TokenSource = source })
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e := <-cl.Events():
			if e.Err != nil {
				t.Fatalf("connection ended: %v", e.Err)
			}
			if !e.TokenRefreshed {
				continue
			}
			// Whole seconds: the token's not_before is the second the
			// source ran, two thirds of 3 s is 2 s after it.
			if d := time.Since(start); d < time.Second {
				t.Fatalf("refreshed %v after dialling, before two thirds of the 3 s lifetime", d)
			}
			mu.Lock()
			n := calls
			mu.Unlock()
			if n != 2 {
				t.Fatalf("token source called %d times, want 2 (handshake, refresh)", n)
			}
			return
		case <-deadline:
			t.Fatal("no refresh")
		}
	}
}
