package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
)

// TestClusterToUser runs three `sealfeed serve -require-token` nodes on
// one JetStream server. alice's phone connects to node 0 and her laptop
// to node 1, bob to node 0; a publication to_user alice sent to node 2
// reaches both of alice's devices and not bob's: the devices are recorded
// in the deployment's shared directory (STORE-020, TOK-020, API-091).
func TestClusterToUser(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test runs a NATS server and server processes")
	}
	nc := natstest.Start(t, 1)
	cl := startClusterNodesEnv(t, func(int) string { return nc.URLs() }, func(int) []string {
		return []string{"SEALFEED_REPLICAS=1", "SEALFEED_REQUIRE_TOKEN=true"}
	})
	defer func() {
		if t.Failed() {
			for i, n := range cl.nodes {
				t.Logf("node %d output:\n%s", i, n.output())
			}
		}
	}()
	pub := publisher.New(cl.nodes[2].base, cl.pubKey)
	dial := func(node int, user, dev string) (*client.Client, string) {
		t.Helper()
		key, _ := keyfile.Generate()
		raw, err := pub.IssueToken(publisher.TokenRequest{Subject: user, Device: dev, ClientKey: key.Public().(ed25519.PublicKey),
			Realm: cl.realm, Lifetime: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, client.Config{URLs: []string{cl.wsURLs[node]}, Trust: cl.trust(), Identity: key,
			TokenSource: func(context.Context) ([]byte, error) { return raw, nil },
			MinBackoff:  20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		id := handshake.ClientID(key.Public().(ed25519.PublicKey))
		return c, hex.EncodeToString(id[:])
	}
	phone, phoneID := dial(0, "alice", "phone")
	laptop, laptopID := dial(1, "alice", "laptop")
	bob, _ := dial(0, "bob", "")

	// The nodes record devices off the session's path: publish until
	// node 2 resolves both (earlier probes reach the devices known then).
	var last string
	for i := 0; ; i++ {
		last = fmt.Sprintf("probe %d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := pub.Publish(ctx, publisher.Message{ToUser: []string{"alice"}, Payload: []byte(last)}, "")
		cancel()
		if err != nil && i > 100 {
			t.Fatal(err)
		}
		if err == nil && len(res.Messages) == 2 {
			if res.Messages[0].ClientID != laptopID || res.Messages[1].ClientID != phoneID ||
				res.Messages[0].Device != "laptop" || res.Messages[1].Device != "phone" || len(res.UnknownUsers) != 0 {
				t.Fatalf("answer %+v", res)
			}
			break
		}
		if i > 100 {
			t.Fatalf("node 2 never resolved both of alice's devices: %+v", res)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, c := range map[string]*client.Client{"phone": phone, "laptop": laptop} {
		deadline := time.After(20 * time.Second)
		for got := ""; got != last; {
			select {
			case m := <-c.Messages():
				got = string(m.Payload)
				m.Ack()
			case <-deadline:
				t.Fatalf("%s: %q never arrived", name, last)
			}
		}
	}
	select {
	case m := <-bob.Messages():
		t.Fatalf("bob received %q", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestPublishToUserCommand: `sealfeed publish -to-user` publishes to the
// devices of a user (API-090) and prints the answer with user and device;
// -to with -to-user is refused, and a user name may hold a comma.
func TestPublishToUserCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	s := newPublishingServer(t)
	key, _ := keyfile.Generate()
	raw, err := publisher.New(s.base(), s.pubKey).IssueToken(publisher.TokenRequest{Subject: "smith, anna", Device: "phone",
		ClientKey: key.Public().(ed25519.PublicKey), ServerKeyID: s.pin, Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "ws://" + s.addr + "/v1/ws", PinnedKeyID: &s.pin, Identity: key,
		TokenSource: func(context.Context) ([]byte, error) { return raw, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args := []string{"-server", s.base(), "-key", s.keyFile, "-to-user", "smith, anna", "-text", "to anna"}
	var out bytes.Buffer
	for i := 0; ; i++ {
		out.Reset()
		err := publishCommand(args, nil, &out, &bytes.Buffer{})
		if err == nil {
			break
		}
		if i == 100 || !strings.Contains(err.Error(), "API-093") {
			t.Fatalf("publish -to-user: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the device is recorded off the session's path (TOK-020)
	}
	if !strings.Contains(out.String(), `"user": "smith, anna"`) || !strings.Contains(out.String(), `"device": "phone"`) {
		t.Fatalf("publish -to-user printed %s", out.String())
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "to anna" {
			t.Fatalf("payload %q", m.Payload)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing arrived")
	}
	err = publishCommand([]string{"-server", s.base(), "-key", s.keyFile, "-to-user", "x", "-to", hex.EncodeToString(s.to[:]), "-text", "x"},
		nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "give one of -to and -to-user") {
		t.Fatalf("-to with -to-user: %v", err)
	}
}
