// Command goshim is the reference shim of the conformance suite
// (spec/conformance.md). In live mode it is a thin wrapper over the client
// library (client.New, ServeOnce): it connects where the runner says,
// prints what the library hands to the application and how each
// connection ended, so every live test exercises the code users ship. In
// vector mode it answers vector operations on stdin/stdout with the
// implementation under protocol/ (vectors/run).
//
// With -bug it becomes a deliberately broken implementation, so that the
// suite's own tests can show that the suite catches each defect: every
// defect is an internal/bugs switch in the library or the protocol
// packages. -bug needs a build with -tags sealfeed_testhooks; the suite's
// tests build the shim so.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/conformance/vectormode"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// Bugs a broken shim can have; each disables one rule.
var bugNames = map[string]string{
	"skip-batch-signature":      "opens deliveries without verifying the batch signature (BATCH-011)",
	"no-replay-window":          "hands every message to the application, duplicates too (REPLAY-011)",
	"no-batch-seq-check":        "accepts any batch sequence number (REPLAY-010)",
	"accept-downgrade":          "accepts any version in ServerHello (HS-014)",
	"accept-expired-credential": "ignores the credential's validity period (CRED-005)",
	"ignore-merkle-proof":       "does not check the inclusion proof of its own leaf (MERKLE-001)",
	"no-store-epoch":            "keeps one window per client ID whatever the store epoch (REPLAY-020, REPLAY-021)",
}

type options struct {
	url, pin, authority, realm, groups, aeads, identitySeed, tokenHex, bug string
	connections, ackLag, keepGoing, restart                                int
	handshakeTimeout                                                       time.Duration
}

const exitUnimplemented = 89

func main() {
	var o options
	mode := flag.String("mode", "live", "live or vectors")
	flag.StringVar(&o.url, "url", "", "WebSocket URL of the server")
	flag.StringVar(&o.pin, "pin", "", "server key fingerprint (hex)")
	flag.StringVar(&o.authority, "authority", "", "authority public key (hex)")
	flag.StringVar(&o.realm, "realm", "", "realm (with -authority)")
	flag.StringVar(&o.groups, "groups", "x25519,x25519mlkem768", "groups to offer")
	flag.StringVar(&o.aeads, "aeads", "chacha20poly1305,aes256gcm", "AEADs to offer")
	flag.StringVar(&o.identitySeed, "identity-seed", "", "32-byte hex seed of a client key (key-identified client)")
	flag.StringVar(&o.tokenHex, "token", "", "hex access token to present in every handshake (§6.8, CONF-010; needs -identity-seed)")
	flag.IntVar(&o.connections, "connections", 1, "connections to make, one after another, keeping state")
	flag.IntVar(&o.keepGoing, "keep-going", 0, "1: after a connection that ends otherwise than in order, print how it ended (ended …) and open the next one (CONF-082)")
	flag.IntVar(&o.restart, "restart", 0, "1: before each connection after the first, start the client anew from its state file, as a restarted process (CONF-083)")
	flag.IntVar(&o.ackLag, "ack-lag", 0, "1: the application acknowledges each message when the next one is handed to it, the last one never (CONF-081); 0: when it is printed")
	flag.DurationVar(&o.handshakeTimeout, "handshake-timeout", 10*time.Second, "handshake time limit (HS-051)")
	flag.StringVar(&o.bug, "bug", "", "make this a broken implementation: "+strings.Join(sortedKeys(bugNames), ", "))
	flag.Parse()
	if o.bug != "" {
		if _, ok := bugNames[o.bug]; !ok {
			fmt.Fprintln(os.Stderr, "goshim: unknown -bug", o.bug)
			os.Exit(2)
		}
		if !setBugs(o.bug) {
			fmt.Fprintln(os.Stderr, "goshim: -bug needs a shim built with -tags sealfeed_testhooks")
			os.Exit(2)
		}
	}
	switch *mode {
	case "live":
		os.Exit(live(&o))
	case "vectors":
		os.Exit(vectors(o.bug))
	default:
		fmt.Println("result unimplemented mode-" + *mode)
		os.Exit(exitUnimplemented)
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var groupIDs = map[string]uint16{"x25519": suite.GroupX25519, "x25519mlkem768": suite.GroupX25519MLKEM768}
var aeadIDs = map[string]uint16{"chacha20poly1305": suite.AEADChaCha20Poly1305, "aes256gcm": suite.AEADAES256GCM}

func ids(list string, names map[string]uint16) ([]uint16, error) {
	var out []uint16
	for _, n := range strings.Split(list, ",") {
		id, ok := names[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("unknown %q", n)
		}
		out = append(out, id)
	}
	return out, nil
}

// end reports how the run ended and returns the exit code.
func end(kind string, code alert.Code) int {
	if kind == "ok" {
		fmt.Println("result ok")
		return 0
	}
	if kind == "closed" {
		fmt.Println("result closed")
		return 1
	}
	fmt.Printf("result %s %s\n", kind, code)
	return 1
}

// failure reports err: an Alert from the peer, a local alert (which the
// client library sent), or a closed transport.
func failure(err error) int {
	if code, ok := alert.Find(err); ok {
		if session.FromPeer(err) {
			return end("peer-alert", code)
		}
		return end("alert", code)
	}
	return end("closed", 0)
}

// describeEnd names how a connection ended as CONF-012's result line
// does, without "result".
func describeEnd(err error) string {
	if code, ok := alert.Find(err); ok {
		if session.FromPeer(err) {
			return "peer-alert " + code.String()
		}
		return "alert " + code.String()
	}
	return "closed"
}

// live runs the client library (client.New) one connection at a time,
// keeping its state across them (CONF-011), and prints what it hands to
// the application (CONF-012). Each message is acknowledged when printed,
// and every duplicate or stale one by the library (CONF-013).
func live(o *options) int {
	cfg := client.Config{URL: o.url, HandshakeTimeout: o.handshakeTimeout}
	var err error
	if cfg.Groups, err = ids(o.groups, groupIDs); err != nil {
		fmt.Println("result unimplemented group")
		return exitUnimplemented
	}
	if cfg.AEADs, err = ids(o.aeads, aeadIDs); err != nil {
		fmt.Println("result unimplemented aead")
		return exitUnimplemented
	}
	switch {
	case o.pin != "":
		b, err := hex.DecodeString(o.pin)
		if err != nil || len(b) != 32 {
			fmt.Fprintln(os.Stderr, "goshim: bad -pin")
			return 2
		}
		cfg.PinnedKeyID = (*[32]byte)(b)
	case o.authority != "":
		b, err := hex.DecodeString(o.authority)
		if err != nil {
			return 2
		}
		k, err := sig.ParsePublicKey(b)
		if err != nil {
			return 2
		}
		cfg.Trust = &credential.Trust{Authority: k, Realm: o.realm}
	}
	if o.identitySeed != "" {
		b, err := hex.DecodeString(o.identitySeed)
		if err != nil || len(b) != 32 {
			return 2
		}
		cfg.Identity = ed25519.NewKeyFromSeed(b)
	}
	if o.tokenHex != "" {
		tok, err := hex.DecodeString(o.tokenHex)
		if err != nil || len(tok) == 0 || cfg.Identity == nil {
			return 2
		}
		cfg.TokenSource = func(context.Context) ([]byte, error) { return tok, nil }
	}
	if o.keepGoing < 0 || o.keepGoing > 1 {
		fmt.Println("result unimplemented keep-going")
		return exitUnimplemented
	}
	if o.restart < 0 || o.restart > 1 {
		fmt.Println("result unimplemented restart")
		return exitUnimplemented
	}
	if o.restart == 1 {
		dir, err := os.MkdirTemp("", "goshim-state-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "goshim:", err)
			return 2
		}
		defer os.RemoveAll(dir)
		cfg.StatePath = filepath.Join(dir, "state.json")
	}
	if o.ackLag < 0 || o.ackLag > 1 {
		fmt.Println("result unimplemented ack-lag")
		return exitUnimplemented
	}
	// CONF-081: with -ack-lag 1 the application holds each message until
	// the next one arrives, so the runner can tell a hand-over from an Ack.
	var held *client.Message
	cfg.ManualAck = o.ackLag == 1
	cfg.Handler = func(_ context.Context, m client.Message) error {
		kind := "unicast"
		if m.Broadcast {
			kind = "broadcast"
		}
		fmt.Printf("message %d %s %x\n", m.ID, kind, m.Payload)
		if cfg.ManualAck {
			if held != nil {
				held.Ack()
			}
			held = &m
		}
		return nil
	}
	c, err := client.New(cfg)
	if err != nil {
		return failure(err)
	}
	defer func() { c.Close() }()
	connected := func(e client.Event) {
		resumed := 0
		if e.Resumed {
			resumed = 1
		}
		fmt.Printf("connected %x resumed=%d\n", e.ClientID, resumed)
	}
	for i := 0; i < o.connections; i++ {
		if o.restart == 1 && i > 0 {
			// CONF-083: the process ends in order (its state saved) and
			// starts again: what it had handed over is forgotten (DLV-013),
			// and so is the message its application held.
			c.Close()
			held = nil
			if c, err = client.New(cfg); err != nil {
				return failure(err)
			}
		}
		err := c.ServeOnce(context.Background(), connected)
		// A connection ends normally with close_notify, or with going_away
		// (POST-022): then the next one (CONF-011).
		code, ok := alert.Find(err)
		if ok && session.FromPeer(err) && code == alert.CloseNotify {
			continue
		}
		if ok && session.FromPeer(err) && code == alert.GoingAway {
			// POST-022: not to the same endpoint without a random delay.
			time.Sleep(rand.N(client.GoingAwaySpread))
			continue
		}
		if o.keepGoing == 1 && i < o.connections-1 {
			// CONF-082: report how it ended, keep the state, go on.
			fmt.Println("ended " + describeEnd(err))
			continue
		}
		return failure(err)
	}
	return end("ok", 0)
}

// vectors answers vector operations with the reference implementation
// (vectors/run.Case); a -bug switches off the same rule there.
func vectors(bug string) int {
	name := "sealfeed-go"
	if bug != "" {
		name += " (-bug " + bug + ")"
	}
	err := vectormode.Serve(os.Stdin, os.Stdout, name, func(area string, group, test json.RawMessage) (string, string, map[string]any) {
		a := run.Case(area, group, test)
		return a.Result, a.Alert, a.Outputs
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "goshim:", err)
		return 1
	}
	return 0
}
