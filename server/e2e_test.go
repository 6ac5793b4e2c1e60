package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// testNode is a node serving on a loopback port.
type testNode struct {
	*server.Node
	base, ws string
	pinned   [32]byte
	pubs     []*publisher.Publisher
	stop     func()
}

func startNode(t testing.TB, dir string, publishers int, mod func(*server.Config)) *testNode {
	t.Helper()
	cfg := server.Config{DataDir: dir, Synchronous: "NORMAL", Publishers: map[string]ed25519.PublicKey{}}
	if os.Getenv("SEALFEED_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var keys []ed25519.PrivateKey
	for i := 0; i < publishers; i++ {
		k, _ := keyfile.Generate()
		keys = append(keys, k)
		cfg.Publishers[sig.Fingerprint(k.Public().(ed25519.PublicKey))] = k.Public().(ed25519.PublicKey)
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := servertest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{Node: n.Node, base: n.Base, ws: n.WS}
	id, _ := hex.DecodeString(n.Fingerprint())
	copy(tn.pinned[:], id)
	for _, k := range keys {
		tn.pubs = append(tn.pubs, publisher.New(tn.base, k))
	}
	var once sync.Once
	tn.stop = func() {
		once.Do(func() {
			if err := n.Stop(); err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) dial(t testing.TB, mod func(*client.Config)) *client.Client {
	t.Helper()
	pin := tn.pinned
	cfg := client.Config{URL: tn.ws, PinnedKeyID: &pin, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collect reads n messages from c and acknowledges each (DLV-016), or
// fails after timeout.
func collect(t testing.TB, c *client.Client, n int, timeout time.Duration) []client.Message {
	t.Helper()
	out := collectHeld(t, c, n, timeout)
	for _, m := range out {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// collectHeld reads n messages from c without acknowledging them, or
// fails after timeout.
func collectHeld(t testing.TB, c *client.Client, n int, timeout time.Duration) []client.Message {
	t.Helper()
	var out []client.Message
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("messages closed after %d of %d", len(out), n)
			}
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}

// quiet asserts that no further message arrives within d.
func quiet(t testing.TB, c *client.Client, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected extra message %d %q", m.ID, m.Payload)
	case <-time.After(d):
	}
}

// TestEndToEndExactlyOnceInOrder: many clients (key-identified and
// anonymous), several publishers at once, unicast and broadcast; every
// client's application sees exactly its messages, once each, with
// strictly increasing message IDs (DLV-001, DLV-004, API-024), broadcasts
// as shared blobs (API-029), and presence reports them online with nothing
// pending once acknowledged (API-033).
func TestEndToEndExactlyOnceInOrder(t *testing.T) {
	tn := startNode(t, t.TempDir(), 3, nil)
	const clients, perPublisher, broadcasts = 12, 12, 5
	var cs []*client.Client
	for i := 0; i < clients; i++ {
		cs = append(cs, tn.dial(t, func(c *client.Config) {
			if i%2 == 0 {
				c.Identity, _ = keyfile.Generate()
			}
			c.StatePath = filepath.Join(t.TempDir(), "state.json")
		}))
	}
	var all [][32]byte
	for _, c := range cs {
		all = append(all, c.ClientID())
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for pi, p := range tn.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perPublisher; j++ {
				for ci, id := range all {
					if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{id}, Payload: fmt.Appendf(nil, "p%d c%d #%d", pi, ci, j)}, ""); err != nil {
						errs <- err
						return
					}
				}
				if pi == 0 && j < broadcasts {
					if _, err := p.Publish(ctx, publisher.Message{To: all, Payload: fmt.Appendf(nil, "broadcast #%d", j)}, ""); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := len(tn.pubs)*perPublisher + broadcasts
	for ci, c := range cs {
		got := collect(t, c, want, 20*time.Second)
		seen := map[string]bool{}
		next := map[int]int{} // per publisher, the next expected sequence
		nb := 0
		for i, m := range got {
			if i > 0 && m.ID <= got[i-1].ID {
				t.Fatalf("client %d: ID %d after %d", ci, m.ID, got[i-1].ID)
			}
			s := string(m.Payload)
			if seen[s] {
				t.Fatalf("client %d: %q twice", ci, s)
			}
			seen[s] = true
			if m.Broadcast {
				if s != fmt.Sprintf("broadcast #%d", nb) {
					t.Fatalf("client %d: broadcast %q out of order", ci, s)
				}
				nb++
				continue
			}
			var p, cc, j int
			if _, err := fmt.Sscanf(s, "p%d c%d #%d", &p, &cc, &j); err != nil || cc != ci {
				t.Fatalf("client %d got %q", ci, s)
			}
			if j != next[p] {
				t.Fatalf("client %d: publisher %d message %d, want %d (order)", ci, p, j, next[p])
			}
			next[p]++
		}
		quiet(t, c, 50*time.Millisecond)
	}
	// Everything was acknowledged: nothing is pending any more.
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range all {
		for {
			pr, err := tn.pubs[0].Presence(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !pr.Online {
				t.Fatalf("client %x not online", id[:4])
			}
			if pr.Pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %x: %d messages still pending", id[:4], pr.Pending)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestRedeliveryAfterReconnect: the guarantee of DLV-010 across restarts
// of the client. A message is acknowledged only when the application
// acknowledges it (DLV-016). A message handed over and not
// acknowledged is handed over again by a client restarted from its state
// file, marked as a possible redelivery (DLV-012); a key-identified client
// that lost its state keeps its ID and sees every pending message again,
// each marked (DLV-015). The status endpoint follows the states of
// API-032. (Until issue 14 this test asserted the opposite: the restarted
// client dropped the unacknowledged messages as duplicates and
// acknowledged them, so no application ever saw them again.)
func TestRedeliveryAfterReconnect(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	id, _ := keyfile.Generate()
	statePath := filepath.Join(t.TempDir(), "state.json")
	c := tn.dial(t, func(c *client.Config) { c.Identity, c.StatePath = id, statePath })
	ctx := context.Background()
	var handles []string
	for i := 0; i < 5; i++ {
		r, err := tn.pubs[0].Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: fmt.Appendf(nil, "m%d", i)}, "")
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, r.Messages[0].ID)
	}
	got := collectHeld(t, c, 5, 10*time.Second)
	got[0].Ack()
	waitState(t, tn.pubs[0], handles[0], "acknowledged")
	waitState(t, tn.pubs[0], handles[1], "delivered")
	c.Close()
	waitState(t, tn.pubs[0], handles[1], "pending")

	// Same identity, no state: the application sees 1…4 again, each
	// marked, since the client cannot know what it handed over before.
	c2 := tn.dial(t, func(c *client.Config) { c.Identity = id })
	again := collectHeld(t, c2, 4, 10*time.Second)
	for i, m := range again {
		if m.ID != got[i+1].ID || string(m.Payload) != string(got[i+1].Payload) || !m.PossibleRedelivery {
			t.Fatalf("lost state: got %d %q redelivery=%v, want %d marked", m.ID, m.Payload, m.PossibleRedelivery, got[i+1].ID)
		}
	}
	c2.Close()

	// Same identity and the saved state: the unacknowledged messages come
	// again, marked, and only once; acknowledging them ends the pending.
	c3 := tn.dial(t, func(c *client.Config) { c.Identity, c.StatePath = id, statePath })
	again = collectHeld(t, c3, 4, 10*time.Second)
	for i, m := range again {
		if m.ID != got[i+1].ID || !m.PossibleRedelivery {
			t.Fatalf("restart: got %d redelivery=%v, want %d marked", m.ID, m.PossibleRedelivery, got[i+1].ID)
		}
	}
	quiet(t, c3, 100*time.Millisecond)
	for _, m := range again {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range handles[1:] {
		waitState(t, tn.pubs[0], h, "acknowledged")
	}
	c3.Close()

	// Everything acknowledged and saved: a restart hands over nothing.
	c4 := tn.dial(t, func(c *client.Config) { c.Identity, c.StatePath = id, statePath })
	quiet(t, c4, 100*time.Millisecond)
}

func waitState(t *testing.T, p *publisher.Publisher, handle, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := p.Status(context.Background(), handle)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s is %s, want %s", handle, st.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAnonymousClientResumesClientID: an anonymous client keeps its client
// ID across reconnects through its ticket (HS-040) and gets what was
// published while it was away.
func TestAnonymousClientResumesClientID(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	statePath := filepath.Join(t.TempDir(), "state.json")
	c := tn.dial(t, func(c *client.Config) { c.StatePath = statePath })
	cid := c.ClientID()
	c.Close()
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{cid}, Payload: []byte("while away")}, ""); err != nil {
		t.Fatal(err)
	}
	c2 := tn.dial(t, func(c *client.Config) { c.StatePath = statePath })
	if c2.ClientID() != cid {
		t.Fatal("client ID changed across resumption")
	}
	if m := collect(t, c2, 1, 5*time.Second); string(m[0].Payload) != "while away" {
		t.Fatalf("got %q", m[0].Payload)
	}
}

// TestAuthorityTrustedClient: a node with a credential from an authority
// serves clients that trust the authority and name the realm (CRED-*,
// EXT-007), pinned clients on the same node alike; a client that trusts
// another realm, or sees its credential revoked, fails with the alert of
// the rule.
func TestAuthorityTrustedClient(t *testing.T) {
	dir := t.TempDir()
	// The node's key must exist before the authority signs it.
	key, _, err := keyfile.LoadOrCreatePrivate(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	authPub, authKey, _ := ed25519.GenerateKey(nil)
	authority, err := sig.ParsePublicKey(authPub)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	issue := func(serial uint64, revoked ...uint64) ([]byte, []byte) {
		c, err := credential.Issue(authKey, key.Public().(ed25519.PublicKey), "push.example", serial, now.Add(-time.Minute), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		l, err := credential.IssueRevocationList(authKey, 1, now.Add(-time.Minute), now.Add(time.Hour), revoked)
		if err != nil {
			t.Fatal(err)
		}
		return c.Marshal(), l.Marshal()
	}
	cred, crl := issue(7)
	// HS-070: the node announces a next key; only the pinned client is sent it.
	next, _, _ := ed25519.GenerateKey(nil)
	tn := startNode(t, dir, 1, func(c *server.Config) {
		c.Credential, c.RevocationList, c.Realm, c.NextKey = cred, crl, "push.example", next
	})

	trusting := tn.dial(t, func(c *client.Config) {
		c.PinnedKeyID = nil
		c.Trust = &credential.Trust{Authority: authority, Realm: "push.example"}
	})
	pinned := tn.dial(t, nil)
	for _, c := range []*client.Client{trusting, pinned} {
		if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("hello")}, ""); err != nil {
			t.Fatal(err)
		}
		if m := collect(t, c, 1, 5*time.Second); string(m[0].Payload) != "hello" {
			t.Fatalf("got %q", m[0].Payload)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = client.Dial(ctx, client.Config{URL: tn.ws, Trust: &credential.Trust{Authority: authority, Realm: "other.example"}})
	if code, ok := alert.Find(err); !ok || code != alert.RealmMismatch {
		t.Fatalf("other realm: %v", err)
	}
	tn.stop()

	// The same node, now with a list that revokes its own serial.
	cred, crl = issue(7, 7)
	tn2 := startNode(t, dir, 0, func(c *server.Config) { c.Credential, c.RevocationList, c.Realm = cred, crl, "push.example" })
	_, err = client.Dial(ctx, client.Config{URL: tn2.ws, Trust: &credential.Trust{Authority: authority, Realm: "push.example"}})
	if code, ok := alert.Find(err); !ok || code != alert.CredentialRevoked {
		t.Fatalf("revoked credential: %v", err)
	}
}
