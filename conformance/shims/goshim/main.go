// Command goshim is the reference shim of the conformance suite
// (spec/conformance.md): the Go implementation under protocol/ driven by
// the runner. In live mode it connects where the runner says, prints what it
// receives and how the connection ended; in vector mode it answers vector
// operations on stdin/stdout.
//
// With -bug it becomes a deliberately broken implementation, so that the
// suite's own tests can show that the suite catches each defect. -bug needs
// a build with -tags sealfeed_testhooks (internal/bugs); the suite's tests
// build the shim so.
package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/conformance/vectormode"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
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
	url, pin, authority, realm, groups, aeads, identitySeed, bug string
	connections                                                  int
	handshakeTimeout                                             time.Duration
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
	flag.IntVar(&o.connections, "connections", 1, "connections to make, one after another, keeping state")
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

// client is the shim's state across connections (REPLAY-013).
type client struct {
	o        *options
	window   replay.Window
	seq      replay.BatchSeq // the current session's batch sequence (REPLAY-010)
	epochs   replay.Epochs
	ticket   *handshake.Ticket
	clientID [32]byte
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

// failure reports err: an Alert from the peer, a local alert, or a closed
// transport.
func failure(err error) int {
	if code, ok := alert.Find(err); ok {
		if session.FromPeer(err) {
			return end("peer-alert", code)
		}
		return end("alert", code)
	}
	return end("closed", 0)
}

func live(o *options) int {
	cfg := &handshake.ClientConfig{GREASE: true}
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
	c := &client{o: o}
	for i := 0; i < o.connections; i++ {
		if code := c.connection(*cfg); code >= 0 {
			return code
		}
	}
	return end("ok", 0)
}

// connection runs one connection; it returns -1 when the server ended it
// with close_notify, else the exit code of a failure.
func (c *client) connection(cfg handshake.ClientConfig) int {
	if cfg.Identity == nil && c.ticket != nil {
		cfg.Ticket = c.ticket
	}
	hs, err := handshake.NewClient(&cfg)
	if err != nil {
		return failure(err)
	}
	d := websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}, HandshakeTimeout: c.o.handshakeTimeout}
	ws, _, err := d.Dial(c.o.url, nil)
	if err != nil {
		return end("closed", 0)
	}
	defer ws.Close()
	ws.SetReadLimit(wire.FrameHeaderLen + wire.MaxProtectedFrame + 1)
	send := func(f []byte) {
		if f != nil {
			ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}
	}
	hsFail := func(err error) int {
		if code, ok := alert.Find(err); ok && !session.FromPeer(err) {
			send(hs.AlertFrame(code))
		}
		return failure(err)
	}
	hello, err := hs.Start()
	if err != nil {
		return hsFail(err)
	}
	send(hello)
	ws.SetReadDeadline(time.Now().Add(c.o.handshakeTimeout))
	for done := false; !done; {
		mt, f, err := ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return hsFail(alert.New(alert.Timeout, "handshake timeout"))
			}
			return end("closed", 0)
		}
		if mt != websocket.BinaryMessage {
			return hsFail(alert.New(alert.DecodeError, "text message"))
		}
		out, ok, err := hs.Handle(f)
		if err != nil {
			return hsFail(err)
		}
		for _, o := range out {
			send(o)
		}
		done = ok
	}
	sess := hs.Session()
	st := sess.State()
	// One window per (client ID, store epoch); an epoch left is refused
	// before anything of the session is kept (REPLAY-011, REPLAY-020).
	epoch := st.Welcome.StoreEpoch
	if c.o.bug == "no-store-epoch" {
		epoch = [16]byte{}
	}
	fresh, err := c.epochs.Enter(st.ClientID == c.clientID, epoch, c.window.Top())
	if err != nil {
		send(sess.AlertFrame(alert.ReplayedEpoch))
		return failure(err)
	}
	if fresh {
		c.clientID, c.window = st.ClientID, replay.Window{} // a new ID space (REPLAY-021)
	}
	if t := hs.NewTicket(); t != nil {
		c.ticket = t
	}
	resumed := 0
	if st.Resumed {
		resumed = 1
	}
	c.seq = replay.BatchSeq{} // batch sequences are per session (REPLAY-010)
	fmt.Printf("connected %x resumed=%d\n", st.ClientID, resumed)
	keys, err := sess.BatchKeys()
	if err != nil {
		return failure(err)
	}
	opener := batch.NewOpener(st.ServerKey, keys, int(st.Welcome.MaxPayload))
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	sessFail := func(err error) int {
		if code, ok := alert.Find(err); ok && !session.FromPeer(err) {
			send(sess.AlertFrame(code))
		}
		return failure(err)
	}
	for {
		_, f, err := ws.ReadMessage()
		if err != nil {
			return end("closed", 0)
		}
		msgs, err := sess.Open(f)
		if err != nil {
			if code, _ := alert.Find(err); session.FromPeer(err) && code == alert.CloseNotify {
				return -1
			}
			return sessFail(err)
		}
		// POST-009: every delivery of the record is verified before any
		// takes effect.
		opened, err := c.openAll(opener, msgs)
		if err != nil {
			return sessFail(err)
		}
		for _, p := range sess.Pending() {
			send(p)
		}
		for _, o := range opened {
			acks, err := c.accept(o)
			if err != nil {
				return sessFail(err)
			}
			slices.Sort(acks)
			acks = slices.Compact(acks)
			if len(acks) > 0 {
				af, err := sess.Seal(nil, session.AppendAck(nil, acks))
				if err != nil {
					return sessFail(err)
				}
				send(af)
			}
		}
	}
}

// opened is one verified, decrypted delivery not yet applied.
type opened struct {
	seq  uint64
	msgs []batch.Message
}

// openAll verifies and opens every BatchDelivery of a record, each against
// the batch sequence the ones before it would leave in this session
// (REPLAY-010), and changes no state.
func (c *client) openAll(o *batch.Opener, msgs []session.Message) ([]opened, error) {
	var out []opened
	last := c.seq.Last()
	for _, m := range msgs {
		if m.Type != wire.TypeBatchDelivery {
			continue
		}
		d, err := batch.ParseDelivery(m.Body)
		if err != nil {
			return nil, err
		}
		if c.o.bug == "no-batch-seq-check" {
			last = 0
		}
		ms, err := o.Open(d, last)
		if err != nil {
			return nil, err
		}
		last = d.Header.Seq
		out = append(out, opened{seq: d.Header.Seq, msgs: ms})
	}
	return out, nil
}

// accept records one opened delivery in the replay state and prints its
// new messages; it returns the IDs to acknowledge (DLV-003).
func (c *client) accept(o opened) ([]uint64, error) {
	if c.o.bug != "no-batch-seq-check" {
		if err := c.seq.Accept(o.seq); err != nil {
			return nil, err
		}
	}
	var acks []uint64
	for _, m := range o.msgs {
		r := c.window.Accept(m.ID)
		if c.o.bug == "no-replay-window" && r != replay.Invalid {
			r = replay.New
		}
		switch r {
		case replay.New:
			kind := "unicast"
			if m.Broadcast {
				kind = "broadcast"
			}
			fmt.Printf("message %d %s %x\n", m.ID, kind, m.Payload)
		case replay.Invalid:
			return nil, r.Err()
		}
		acks = append(acks, m.ID)
	}
	return acks, nil
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
