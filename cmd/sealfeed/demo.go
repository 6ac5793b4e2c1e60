package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// demoClient is one in-process client: its handshake, its session and the
// replay state it keeps across reconnects (REPLAY-013).
type demoClient struct {
	name    string
	hs      *handshake.Client
	srv     *handshake.Server // the server side of this client's connection
	sess    *session.Session
	srvSess *session.Session
	keys    *batch.Keys // the server's copy of this client's envelope keys
	opener  *batch.Opener
	window  replay.Window
	seq     replay.BatchSeq // this session's batch sequence (REPLAY-010)
}

type timeline struct {
	w     io.Writer
	start time.Time
}

func (t *timeline) say(who, format string, args ...any) {
	fmt.Fprintf(t.w, "%8.3fms  %-12s %s\n", float64(time.Since(t.start).Microseconds())/1000, who, fmt.Sprintf(format, args...))
}

func demoCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	protocol := fs.Bool("protocol", false, "run the protocol-level demo instead: three in-memory handshakes, one batch, two replays")
	work := fs.Duration("work", 800*time.Millisecond, "how long the slow service works on a job")
	browser := fs.Bool("browser", false, "serve the browser demo instead (one user, two devices) until interrupted")
	listen := fs.String("listen", "127.0.0.1:8090", "with -browser: the address of the app's page and API")
	tokenLifetime := fs.Duration("token-lifetime", 0, "with -browser: lifetime of the connect tokens the service issues, 1s to 1h (0: 15m); the page refreshes them")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed demo [-protocol] [-work D] [-browser [-listen ADDR] [-token-lifetime D]]\n\n"+
			"Runs the whole flow on loopback in one process: a server node on a temporary embedded\n"+
			"store that requires connect tokens, and a slow HTTP service with a publisher key\n"+
			"(examples/slowbusiness) that logs users in (a demo login: no password) and issues their\n"+
			"tokens. alice connects from two devices (phone, laptop) and bob from one; each hands\n"+
			"its client ID to the service and receives its result, verified and decrypted; the\n"+
			"service publishes to alice by user (to_user), which reaches both of her devices, and\n"+
			"sends a broadcast. Every acknowledgement comes back to the service as a signed delivery\n"+
			"webhook, which it verifies. Prints a timeline of every step.\n\n"+
			"With -browser it serves the same node and service, and the service's page: alice with two\n"+
			"devices in one browser page, each with its own key and token, a button that makes the\n"+
			"service publish to alice, the webhooks it verified, and its log. Open the URL it prints.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if *protocol {
		return runProtocolDemo(stdout)
	}
	if *browser {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if *tokenLifetime != 0 && (*tokenLifetime < time.Second || *tokenLifetime > token.MaxLifetime) {
			return fmt.Errorf("-token-lifetime: %v is not between 1s and %v (TOK-003)", *tokenLifetime, token.MaxLifetime)
		}
		return runBrowserDemo(ctx, stdout, *work, *tokenLifetime, *listen)
	}
	return runFlowDemo(stdout, *work)
}

func runProtocolDemo(out io.Writer) error {
	tl := &timeline{w: out, start: time.Now()}
	now := time.Now()

	_, serverKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	serverPub := serverKey.Public().(ed25519.PublicKey)
	serverID := sig.KeyID(serverPub)
	tl.say("server", "identity key fingerprint %s", sig.Fingerprint(serverPub))

	authPub, authKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	authority, err := sig.ParsePublicKey(authPub)
	if err != nil {
		return err
	}
	cred, err := credential.Issue(authKey, serverPub, "demo.sealfeed", 7, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		return err
	}
	crl, err := credential.IssueRevocationList(authKey, 1, now.Add(-time.Hour), now.Add(24*time.Hour), []uint64{3, 5})
	if err != nil {
		return err
	}
	tl.say("authority", "issued credential serial 7 for realm %q (24 h) and revocation list #1 revoking serials 3, 5", "demo.sealfeed")

	tickets := &handshake.TicketKeys{Current: handshake.TicketKey{ID: 1}}
	if _, err := io.ReadFull(rand.Reader, tickets.Current.Key[:]); err != nil {
		return err
	}
	generations := &handshake.MemoryGenerations{}
	serverConfig := func(withCredential bool) *handshake.ServerConfig {
		c := &handshake.ServerConfig{Key: serverKey, TicketKeys: tickets, Generations: generations, TicketLifetime: time.Hour,
			MaxPayload: 65536, IdleTimeoutMs: 60000}
		if withCredential {
			c.Credential, c.RevocationList = cred.Marshal(), crl.Marshal()
		}
		return c
	}

	_, carolKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	clients := []struct {
		name    string
		cfg     *handshake.ClientConfig
		useCred bool
	}{
		{"alice", &handshake.ClientConfig{PinnedKeyID: &serverID, Groups: []uint16{suite.GroupX25519}, GREASE: true}, false},
		{"bob", &handshake.ClientConfig{Trust: &credential.Trust{Authority: authority, Realm: "demo.sealfeed"}}, true},
		{"carol", &handshake.ClientConfig{PinnedKeyID: &serverID, Identity: carolKey, AEADs: []uint16{suite.AEADAES256GCM}}, false},
	}

	var dcs []*demoClient
	for _, c := range clients {
		dc, err := connect(tl, c.name, c.cfg, serverConfig(c.useCred))
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		dcs = append(dcs, dc)
	}

	// One tick: the server packs everything pending into one batch.
	b, err := batch.NewBuilder(serverKey, nil)
	if err != nil {
		return err
	}
	news := b.AddBroadcast([]byte("maintenance window tonight 22:00 UTC"))
	pending := map[string][]batch.Entry{
		"alice": {{MessageID: 1, Payload: []byte("order 1042 shipped")}, {MessageID: 2, Broadcast: news}},
		"bob":   {{MessageID: 1, Broadcast: news}, {MessageID: 2, Payload: []byte("report ready: q3.pdf")}},
		"carol": {{MessageID: 1, Payload: []byte("your code is 481 220")}, {MessageID: 2, Broadcast: news}},
	}
	handles := make([]int, len(dcs))
	for i, dc := range dcs {
		if handles[i], err = b.AddRecipient(dc.keys, pending[dc.name]); err != nil {
			return err
		}
	}
	bt, err := b.Build(1, uint64(time.Now().UnixMilli()))
	if err != nil {
		return err
	}
	tl.say("server", "built batch seq 1: %d leaves (3 recipients + 1 broadcast blob), one signature, root %x…", bt.Header.LeafCount, bt.Header.Root[:6])

	var replayFrame []byte
	for i, dc := range dcs {
		body, err := bt.AppendDelivery(nil, handles[i])
		if err != nil {
			return err
		}
		frame, err := dc.srvSess.Seal(nil, wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
		if err != nil {
			return err
		}
		if i == 0 {
			replayFrame = append([]byte(nil), frame...)
		}
		tl.say("server", "→ %s: BatchDelivery in a %d-byte record", dc.name, len(frame))
		ids, err := dc.receive(tl, frame)
		if err != nil {
			return fmt.Errorf("%s: %w", dc.name, err)
		}
		ackFrame, err := dc.sess.Seal(nil, session.AppendAck(nil, ids))
		if err != nil {
			return err
		}
		msgs, err := dc.srvSess.Open(ackFrame)
		if err != nil {
			return err
		}
		acked, err := session.ParseAck(msgs[0].Body)
		if err != nil {
			return err
		}
		tl.say("server", "← %s: Ack %v", dc.name, acked)
	}

	// The server (or a relay) re-sends the same batch in a fresh record: the
	// envelope layer refuses it (REPLAY-010).
	body, _ := bt.AppendDelivery(nil, handles[0])
	frame, err := dcs[0].srvSess.Seal(nil, wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
	if err != nil {
		return err
	}
	_, err = dcs[0].receive(tl, frame)
	tl.say("alice", "re-sent batch seq 1 rejected: %s", alertName(err))
	if code, _ := alert.CodeOf(err); code != alert.ReplayedBatch {
		return fmt.Errorf("re-sent batch: got %v, want replayed_batch", err)
	}
	// An attacker replays a captured record: the record layer refuses it
	// (REC-001), which is fatal for the connection.
	_, err = dcs[0].sess.Open(replayFrame)
	tl.say("alice", "replayed record rejected: %s; connection closed", alertName(err))
	if code, _ := alert.CodeOf(err); code != alert.BadRecordMAC {
		return fmt.Errorf("replayed record: got %v, want bad_record_mac", err)
	}
	tl.say("demo", "done: 3 handshakes, 1 batch, 6 messages delivered once each, 2 replays refused")
	return nil
}

// connect runs a handshake by passing frames between the two state machines.
func connect(tl *timeline, name string, ccfg *handshake.ClientConfig, scfg *handshake.ServerConfig) (*demoClient, error) {
	c, err := handshake.NewClient(ccfg)
	if err != nil {
		return nil, err
	}
	s, err := handshake.NewServer(scfg)
	if err != nil {
		return nil, err
	}
	// The one client handshake driver, over frames passed in memory.
	l := &handshake.Loopback{Server: s, OnFrame: func(from string, f []byte) {
		if from == "client" {
			tl.say(name, "→ %s, %d bytes", frameKind(f), len(f))
		} else {
			tl.say("server", "→ %s: %s, %d bytes", name, frameKind(f), len(f))
		}
	}}
	sess, err := c.Drive(l)
	if l.Err != nil {
		return nil, fmt.Errorf("server: %w", l.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if s.Session() == nil {
		return nil, errors.New("handshake did not complete")
	}
	st := sess.State()
	how := "anonymous"
	if st.ClientKey != nil {
		how = "key-identified"
	}
	tl.say(name, "connected: %s client ID %x…, version %d, group %s, AEAD %s, server %s",
		how, st.ClientID[:6], st.Version, groupName(st.Group), suite.AEADName(st.AEAD), sig.Fingerprint(st.ServerKey.Bytes())[:16]+"…")

	srvSess := s.Session()
	keys, err := srvSess.BatchKeys()
	if err != nil {
		return nil, err
	}
	ckeys, err := sess.BatchKeys()
	if err != nil {
		return nil, err
	}
	return &demoClient{name: name, hs: c, srv: s, sess: sess, srvSess: srvSess, keys: keys,
		opener: batch.NewOpener(st.ServerKey, ckeys, int(st.Welcome.MaxPayload))}, nil
}

// receive opens one protected frame holding a BatchDelivery, verifies and
// decrypts it, applies the replay rules, prints the messages and returns the
// IDs to acknowledge (DLV-003).
func (dc *demoClient) receive(tl *timeline, frame []byte) ([]uint64, error) {
	msgs, err := dc.sess.Open(frame)
	if err != nil {
		return nil, err
	}
	var ack []uint64
	for _, m := range msgs {
		if m.Type != wire.TypeBatchDelivery {
			return nil, alert.Errorf(alert.UnexpectedMessage, "message type 0x%02x", uint8(m.Type))
		}
		d, err := batch.ParseDelivery(m.Body)
		if err != nil {
			return nil, err
		}
		out, err := dc.opener.Open(d, dc.seq.Last())
		if err != nil {
			return nil, err
		}
		if err := dc.seq.Accept(d.Header.Seq); err != nil {
			return nil, err
		}
		tl.say(dc.name, "batch seq %d verified: signature ok, proof of %d hashes ok, leaf decrypted", d.Header.Seq, len(d.Own.Path))
		for _, msg := range out {
			switch r := dc.window.Accept(msg.ID); r {
			case replay.New:
				kind := "unicast"
				if msg.Broadcast {
					kind = "broadcast"
				}
				tl.say(dc.name, "message %d (%s): %q", msg.ID, kind, msg.Payload)
			default:
				tl.say(dc.name, "message %d dropped: %s", msg.ID, alertName(r.Err()))
			}
			ack = append(ack, msg.ID)
		}
	}
	return ack, nil
}

func alertName(err error) string {
	if code, ok := alert.CodeOf(err); ok {
		return code.String()
	}
	return "accepted"
}

func frameKind(f []byte) string {
	if len(f) > 0 && wire.FrameType(f[0]) == wire.FramePlaintext {
		if t, _, _, err := wire.ParsePlaintextFrame(f); err == nil {
			switch t {
			case wire.TypeServerHello:
				return "ServerHello"
			case wire.TypeClientHello:
				return "ClientHello"
			}
		}
		return "plaintext frame"
	}
	return "protected record"
}

func groupName(g uint16) string {
	switch g {
	case suite.GroupX25519:
		return "X25519"
	case suite.GroupX25519MLKEM768:
		return "X25519MLKEM768"
	}
	return fmt.Sprintf("0x%04x", g)
}
