package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/store/memstore"
)

// device is a client of a user: its key, client ID and connection.
type device struct {
	key ed25519.PrivateKey
	id  [32]byte
	c   *client.Client
}

// dialDevice connects a client whose token names user and device.
func dialDevice(t *testing.T, tn *testNode, key ed25519.PrivateKey, user, dev string) *device {
	t.Helper()
	if key == nil {
		key, _ = keyfile.Generate()
	}
	raw := tokenFor(t, tn, key, func(r *publisher.TokenRequest) { r.Subject, r.Device = user, dev })
	c := tn.dial(t, func(c *client.Config) {
		c.Identity = key
		c.TokenSource = func(context.Context) ([]byte, error) { return raw, nil }
	})
	return &device{key: key, id: handshake.ClientID(key.Public().(ed25519.PublicKey)), c: c}
}

// waitDevices waits until the node's directory holds want devices of
// user (the hub records them off the session's path, TOK-020).
func waitDevices(t *testing.T, s store.Store, user string, want ...[32]byte) {
	t.Helper()
	dir := s.(store.Directory)
	var got [][32]byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		ds, err := dir.Devices(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, d := range ds {
			got = append(got, d.ClientID)
		}
		if len(got) == len(want) && !slices.ContainsFunc(want, func(id [32]byte) bool { return !slices.Contains(got, id) }) {
			return
		}
	}
	t.Fatalf("devices of %q: %x, want %x", user, got, want)
}

// problemOf returns the problem an API call failed with.
// lastSeen returns when the directory last saw client id of user.
func lastSeen(t *testing.T, s store.Store, user string, id [32]byte) time.Time {
	t.Helper()
	ds, err := s.(store.Directory).Devices(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ClientID == id {
			return d.LastSeen
		}
	}
	t.Fatalf("no device %x of %q", id[:4], user)
	return time.Time{}
}

func problemOf(t *testing.T, err error) *publisher.Problem {
	t.Helper()
	var p *publisher.Problem
	if !errors.As(err, &p) {
		t.Fatalf("want a problem answer, got %v", err)
	}
	return p
}

// TestPublishToUser, on real sockets against a node that requires tokens
// (TOK-020, API-090 … API-094): alice connects a phone and a laptop, bob
// one device without a label. A publication to_user alice reaches both of
// her devices and not bob's, names each message's user and device, lists
// the unknown user carol, and replays the same answer for its
// Idempotency-Key; an offline device gets its message on reconnect; users
// together are a broadcast to every device; a new key for alice's phone
// replaces the old one; all users unknown, both or neither of to and
// to_user, and invalid users are refused with 422. The publisher is not
// the key that issued the tokens: any registered key addresses any user
// (API-095).
func TestPublishToUser(t *testing.T) {
	tn := startNode(t, t.TempDir(), 2, requireTokens)
	pub := tn.pubs[1] // not the key that issued the tokens (API-095)
	ctx := context.Background()
	phone := dialDevice(t, tn, nil, "alice", "phone")
	laptop := dialDevice(t, tn, nil, "alice", "laptop")
	bob := dialDevice(t, tn, nil, "bob", "")
	waitDevices(t, tn.Store, "alice", phone.id, laptop.id)
	waitDevices(t, tn.Store, "bob", bob.id)

	res, err := pub.Publish(ctx, publisher.Message{ToUser: []string{"alice", "carol"}, Payload: []byte("hi alice")}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	// API-091: devices in the order of their labels.
	want := []publisher.Accepted{{ClientID: hexID(laptop.id), User: "alice", Device: "laptop"}, {ClientID: hexID(phone.id), User: "alice", Device: "phone"}}
	check := func(what string, res *publisher.Result, want []publisher.Accepted, unknown ...string) {
		t.Helper()
		if len(res.Messages) != len(want) {
			t.Fatalf("%s: %d messages, want %d: %+v", what, len(res.Messages), len(want), res)
		}
		for i, m := range res.Messages {
			if m.ClientID != want[i].ClientID || m.User != want[i].User || m.Device != want[i].Device {
				t.Fatalf("%s: message %d is %+v, want %+v", what, i, m, want[i])
			}
		}
		if !slices.Equal(res.UnknownUsers, unknown) {
			t.Fatalf("%s: unknown_users %q, want %q", what, res.UnknownUsers, unknown)
		}
	}
	check("to_user alice, carol", res, want, "carol")
	for _, d := range []*device{phone, laptop} {
		if m := collect(t, d.c, 1, 10*time.Second); string(m[0].Payload) != "hi alice" {
			t.Fatalf("payload %q", m[0].Payload)
		}
	}
	quiet(t, bob.c, 200*time.Millisecond)

	// API-094: a replay answers the same, even after the directory changed.
	again, err := pub.Publish(ctx, publisher.Message{ToUser: []string{"alice", "carol"}, Payload: []byte("hi alice")}, "k1")
	if err != nil || !again.Replayed {
		t.Fatalf("replay: %v %+v", err, again)
	}
	check("replay", again, want, "carol")
	for i := range again.Messages {
		if again.Messages[i].ID != res.Messages[i].ID {
			t.Fatal("the replay names other handles")
		}
	}

	// An offline device of the user gets the message when it reconnects.
	// Its last seen moves to when its connection ended (STORE-021).
	connected := lastSeen(t, tn.Store, "alice", laptop.id)
	time.Sleep(5 * time.Millisecond)
	laptop.c.Close()
	for end := time.Now().Add(10 * time.Second); !lastSeen(t, tn.Store, "alice", laptop.id).After(connected); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the laptop's last seen did not move when its connection ended")
		}
	}
	res, err = pub.Publish(ctx, publisher.Message{ToUser: []string{"alice"}, Payload: []byte("while away")}, "")
	if err != nil {
		t.Fatal(err)
	}
	check("offline laptop", res, want)
	collect(t, phone.c, 1, 10*time.Second)
	laptop = dialDevice(t, tn, laptop.key, "alice", "laptop")
	if m := collect(t, laptop.c, 1, 10*time.Second); string(m[0].Payload) != "while away" {
		t.Fatalf("on reconnect: %q", m[0].Payload)
	}

	// Users together: every device of each, in the order of to_user.
	res, err = pub.PublishMany(ctx, []publisher.Message{{ToUser: []string{"bob", "alice"}, Payload: []byte("to all")},
		{To: [][32]byte{bob.id}, Payload: []byte("by client ID")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	check("broadcast to users", res, append([]publisher.Accepted{{ClientID: hexID(bob.id), User: "bob"}}, append(want, publisher.Accepted{ClientID: hexID(bob.id)})...))
	for _, d := range []*device{phone, laptop} {
		collect(t, d.c, 1, 10*time.Second)
	}
	collect(t, bob.c, 2, 10*time.Second)

	// API-091: a client reached through an earlier user is not addressed
	// again (eve's only device is alice's phone; API-094 then lists eve).
	if err := tn.Store.(store.Directory).RecordDevice(ctx, store.UserDevice{User: "eve"}, phone.id, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err = pub.Publish(ctx, publisher.Message{ToUser: []string{"alice", "eve"}, Payload: []byte("shared")}, "")
	if err != nil {
		t.Fatal(err)
	}
	check("a device of two users", res, want, "eve")
	for _, d := range []*device{phone, laptop} {
		collect(t, d.c, 1, 10*time.Second)
	}
	quiet(t, phone.c, 100*time.Millisecond)

	// STORE-020: a new key for alice's phone replaces the old one.
	phone.c.Close()
	newPhone := dialDevice(t, tn, nil, "alice", "phone")
	waitDevices(t, tn.Store, "alice", newPhone.id, laptop.id)
	res, err = pub.Publish(ctx, publisher.Message{ToUser: []string{"alice"}, Payload: []byte("new phone")}, "")
	if err != nil {
		t.Fatal(err)
	}
	check("replaced phone", res, []publisher.Accepted{want[0], {ClientID: hexID(newPhone.id), User: "alice", Device: "phone"}})

	// API-093: no device known for any user.
	_, err = pub.Publish(ctx, publisher.Message{ToUser: []string{"carol", "dave"}, Payload: []byte("x")}, "")
	if p := problemOf(t, err); p.Status != 422 || !strings.HasSuffix(p.Type, "/unknown-users") || p.Rule != "API-093" {
		t.Fatalf("all users unknown: %+v", p)
	}

	// API-090: exactly one of to and to_user; valid users.
	for _, tc := range []struct{ body, detail string }{
		{`{"to":["` + hexID(bob.id) + `"],"to_user":["alice"],"text":"x"}`, "exactly one of to and to_user"},
		{`{"text":"x"}`, "exactly one of to and to_user"},
		{`{"to_user":[],"text":"x"}`, "to_user must list 1 to 1000 users"},
		{`{"to_user":["alice","alice"],"text":"x"}`, "to_user[1]: duplicate user"},
		{`{"to_user":[""],"text":"x"}`, "to_user[0]: a user is 1 to 255 bytes"},
		{`{"to_user":["` + strings.Repeat("é", 128) + `"],"text":"x"}`, "to_user[0]: a user is 1 to 255 bytes"},
		{`{"to_user":["alice"]}`, "exactly one of payload"},
	} {
		err := pub.Do(ctx, "POST", "/v1/messages", []byte(tc.body), "", nil)
		if p := problemOf(t, err); p.Status != 422 || !strings.HasSuffix(p.Type, "/invalid-message") || !strings.Contains(p.Detail, tc.detail) {
			t.Fatalf("%s: %+v, want 422 invalid-message naming %q", tc.body, p, tc.detail)
		}
	}
	err = pub.Do(ctx, "POST", "/v1/messages/bulk", []byte(`{"messages":[{"to_user":["alice"],"text":"x"},{"to_user":["a"],"to":[],"text":"y"}]}`), "", nil)
	if p := problemOf(t, err); p.Status != 422 || !strings.Contains(p.Detail, "messages[1].exactly one of to and to_user") {
		t.Fatalf("bulk with both: %+v", p)
	}
	quiet(t, bob.c, 100*time.Millisecond)
}

// TestPublishToUserDeviceLimit: the devices a request's to_user
// publications resolve to are at most 10 000 together (API-092): 101 users
// of 100 devices each (STORE-022's most) are refused with 422 naming the
// limit and store nothing; 100 of them are stored. The node runs on the
// memory store: the limit is the API's, and ten thousand device records
// are cheap there.
func TestPublishToUserDeviceLimit(t *testing.T) {
	mem, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.Store = mem })
	dir := tn.Store.(store.Directory)
	users := make([]string, 101)
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	for u := range users {
		users[u] = fmt.Sprintf("user%03d", u)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range store.MaxDevicesPerUser {
				id := [32]byte{byte(u), byte(d), 0xd1}
				if err := dir.RecordDevice(context.Background(), store.UserDevice{User: users[u], Device: fmt.Sprint(d)}, id, now); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = tn.pubs[0].Publish(ctx, publisher.Message{ToUser: users, Payload: []byte("x")}, "")
	if p := problemOf(t, err); p.Status != 422 || p.Rule != "API-092" || !strings.Contains(p.Detail, "more than 10000 devices") {
		t.Fatalf("10 100 devices: %+v", p)
	}
	if n, err := tn.Store.PendingCount(ctx, [32]byte{0, 0, 0xd1}); err != nil || n != 0 {
		t.Fatalf("a refused request stored %d messages (%v)", n, err)
	}
	res, err := tn.pubs[0].Publish(ctx, publisher.Message{ToUser: users[1:], Payload: []byte("x")}, "")
	if err != nil || len(res.Messages) != 10000 || len(res.UnknownUsers) != 0 {
		t.Fatalf("10 000 devices: %v", err)
	}
}

// TestDeviceSeenOnRefresh: a TokenRefresh records the device again, so a
// device connected for longer than the retention stays known (TOK-020,
// STORE-021).
func TestDeviceSeenOnRefresh(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, requireTokens)
	key, _ := keyfile.Generate()
	cl := tn.dial(t, func(c *client.Config) {
		c.Identity = key
		c.TokenSource = func(context.Context) ([]byte, error) { return tokenFor(t, tn, key, nil), nil }
	})
	id := handshake.ClientID(key.Public().(ed25519.PublicKey))
	waitDevices(t, tn.Store, "alice", id)
	before := lastSeen(t, tn.Store, "alice", id)
	time.Sleep(5 * time.Millisecond)
	cl.RefreshToken()
	for deadline := time.After(10 * time.Second); ; {
		select {
		case e := <-cl.Events():
			if !e.TokenRefreshed {
				continue
			}
		case <-deadline:
			t.Fatal("no refresh")
		}
		break
	}
	for end := time.Now().Add(10 * time.Second); !lastSeen(t, tn.Store, "alice", id).After(before); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the refresh did not record the device again")
		}
	}
}
