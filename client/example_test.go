package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/keys"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// startServer runs a server node on loopback for the examples and returns
// its base URL, its fingerprint and a registered publisher key. It uses only
// exported packages, so the examples build outside this module too
// (TestExampleBuildsOutsideModule).
func startServer() (base string, fingerprint string, pub ed25519.PrivateKey, stop func()) {
	dir, err := os.MkdirTemp("", "sealfeed-example-")
	if err != nil {
		log.Fatal(err)
	}
	pub, _ = keys.Generate()
	pk := pub.Public().(ed25519.PublicKey)
	n, err := server.New(server.Config{DataDir: dir, Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk}})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx, l) }()
	return "http://" + l.Addr().String(), n.Fingerprint(), pub, func() { cancel(); <-served; os.RemoveAll(dir) }
}

// A client pins the server's fingerprint, keeps its identity key and
// replay state in files, and receives what a publisher sends to its client
// ID.
func Example() {
	base, fingerprint, pubKey, stop := startServer()
	defer stop()

	// The client: pinned server key, persistent identity and replay state.
	var pin [32]byte
	fp, _ := hex.DecodeString(fingerprint) // as printed by `sealfeed serve`
	copy(pin[:], fp)
	dir, _ := os.MkdirTemp("", "sealfeed-client-")
	defer os.RemoveAll(dir)
	identity, _, err := keys.LoadOrCreatePrivate(filepath.Join(dir, "identity.key"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan struct{})
	c, err := client.Dial(ctx, client.Config{
		URL:         "ws" + base[len("http"):] + server.WebSocketPath,
		PinnedKeyID: &pin,
		Identity:    identity,
		StatePath:   filepath.Join(dir, "state.json"),
		// Verified, decrypted, handed over once (again after a crash, with
		// m.PossibleRedelivery, if Handler had not returned); acknowledged
		// when Handler returns nil.
		Handler: func(ctx context.Context, m client.Message) error {
			fmt.Printf("message %d: %s\n", m.ID, m.Payload)
			close(got)
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A back end publishes to the client's ID with its signed requests.
	p := publisher.New(base, pubKey)
	if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("your report is ready")}, ""); err != nil {
		log.Fatal(err)
	}
	<-got
	// Output: message 1: your report is ready
}

// Without a Handler the application reads Messages and acknowledges each
// message with Ack once it has stored it; until then the server keeps it,
// and a client restarted from its state file hands it over again.
func ExampleMessage_Ack() {
	base, fingerprint, pubKey, stop := startServer()
	defer stop()
	var pin [32]byte
	fp, _ := hex.DecodeString(fingerprint)
	copy(pin[:], fp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "ws" + base[len("http"):] + server.WebSocketPath, PinnedKeyID: &pin})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p := publisher.New(base, pubKey)
	r, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("order 1042 shipped")}, "")
	if err != nil {
		log.Fatal(err)
	}
	m := <-c.Messages()
	// … store m.Payload durably, then:
	if err := m.Ack(); err != nil {
		log.Fatal(err)
	}
	for {
		st, err := p.Status(ctx, r.Messages[0].ID)
		if err != nil {
			log.Fatal(err)
		}
		if st.State == "acknowledged" {
			fmt.Println(string(m.Payload), "→", st.State)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Output: order 1042 shipped → acknowledged
}
