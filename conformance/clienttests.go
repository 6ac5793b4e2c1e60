package conformance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Test data: what the happy paths deliver.
var (
	m1 = msg{id: 1, payload: "first"}
	m2 = msg{id: 2, payload: "second"}
	m3 = msg{id: 3, payload: "to everyone", broadcast: true}
)

func rawConfig(e *env) *handshake.ServerConfig {
	return &handshake.ServerConfig{Key: e.serverKey, MaxPayload: 65536, IdleTimeoutMs: 60000}
}

// simple is a one-connection peer with a raw key that runs script.
func simple(script func(c *conn) error) func(e *env) *peer {
	return func(e *env) *peer {
		return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
			script: func(_ int, c *conn) error { return script(c) }}
	}
}

// deliverAll sends one batch per group of messages (seq 1, 2, …), waits for
// the acknowledgements and closes.
func deliverAll(batches ...[]msg) func(c *conn) error {
	return func(c *conn) error {
		n := 0
		for i, b := range batches {
			if err := c.deliver(uint64(i+1), b...); err != nil {
				return err
			}
			n += len(b)
		}
		if got := c.acks(n, 5*time.Second); len(got) < n {
			return fmt.Errorf("acknowledged %v, want %d IDs (DLV-003, REPLAY-012)", got, n)
		}
		return c.Close()
	}
}

// failing runs script and then waits for the client to close.
func failing(script func(c *conn) error) func(e *env) *peer {
	return simple(func(c *conn) error {
		if err := script(c); err != nil {
			return err
		}
		return c.wait()
	})
}

// withBugs is a one-connection raw-key peer with handshake misbehaviour.
func withBugs(b serverBugs) func(e *env) *peer {
	return func(e *env) *peer {
		return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) }, bugs: b}
	}
}

// editDelivery builds one batch (seq 1 unless given) and lets edit change
// the parsed delivery before it is sent.
func editDelivery(seq uint64, msgs []msg, edit func(d *batch.Delivery)) func(c *conn) error {
	return func(c *conn) error {
		body, _, _, err := c.build(seq, msgs)
		if err != nil {
			return err
		}
		d, err := batch.ParseDelivery(body)
		if err != nil {
			return err
		}
		edit(d)
		return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, d.AppendTo(nil)))
	}
}

// editHello rewrites the ServerHello with f applied to the parsed message.
func editHello(f func(sh *handshake.ServerHello)) func([]byte) []byte {
	return func(raw []byte) []byte {
		sh, err := handshake.ParseServerHello(raw[4:])
		if err != nil {
			return raw
		}
		f(sh)
		return sh.AppendTo(nil)
	}
}

func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return b
}

// flipInMessage flips a byte inside message i of the flight.
func flipInMessage(i int) func([][]byte) [][]byte {
	return func(ms [][]byte) [][]byte {
		if i < len(ms) {
			ms[i] = flipLast(ms[i])
		}
		return ms
	}
}

func credPeer(e *env, cred, crl []byte) *peer {
	return &peer{cfg: func(int) *handshake.ServerConfig {
		c := rawConfig(e)
		c.Credential, c.RevocationList = cred, crl
		return c
	}, script: func(_ int, c *conn) error { return deliverAll([]msg{m1})(c) }}
}

func credTest(id string, reqs []string, code alert.Code, issue func(e *env) ([]byte, []byte)) *clientTest {
	return &clientTest{id: id, reqs: reqs, needs: []string{"credential"}, want: expect{alert: code},
		setup: func(e *env) *peer { c, l := issue(e); return credPeer(e, c, l) },
		args:  func(e *env) []string { return e.trustArgs() }}
}

func suiteArgs(group, aead string) func(e *env) []string {
	return func(e *env) []string { return append(e.pinArgs(), "-groups", group, "-aeads", aead) }
}

// ClientTests returns every live client test. IDs are stable: a test is
// never renumbered or reused for another check.
func ClientTests() []*clientTest {
	now := time.Now()
	hour := time.Hour
	ok3 := expect{ok: true, messages: []msg{m1, m2, m3}}
	var ts []*clientTest
	add := func(t ...*clientTest) { ts = append(ts, t...) }

	// Happy paths: every suite.
	for _, s := range []struct{ group, aead string }{
		{"x25519", "chacha20poly1305"}, {"x25519", "aes256gcm"},
		{"x25519mlkem768", "chacha20poly1305"}, {"x25519mlkem768", "aes256gcm"},
	} {
		var needs []string
		if s.group == "x25519mlkem768" {
			needs = append(needs, "mlkem")
		}
		if s.aead == "aes256gcm" {
			needs = append(needs, "aes")
		}
		add(&clientTest{id: "client/happy/suite/" + s.group + "-" + s.aead, reqs: []string{"SUITE-001", "HS-010", "HS-011", "BATCH-014", "DLV-003"},
			doc: "handshake with one suite, one batch with unicast and broadcast messages", needs: needs, want: ok3,
			setup: simple(deliverAll([]msg{m1, m2, m3})), args: suiteArgs(s.group, s.aead)})
	}
	add(
		&clientTest{id: "client/happy/credential", reqs: []string{"CRED-016", "HS-021", "EXT-007"}, needs: []string{"credential"},
			doc: "authority-trusted client: credential with stapled revocation list", want: expect{ok: true, messages: []msg{m1}},
			setup: func(e *env) *peer {
				c, l := e.credentials(1, now.Add(-hour), now.Add(hour), now.Add(-hour), now.Add(hour))
				return credPeer(e, c, l)
			},
			args: func(e *env) []string { return e.trustArgs() }},
		&clientTest{id: "client/happy/key-identified", reqs: []string{"HS-030", "ID-001"}, needs: []string{"identity"},
			doc: "key-identified client: the server sees its key", want: expect{ok: true, messages: []msg{m1}},
			setup: func(e *env) *peer {
				return &peer{cfg: func(int) *handshake.ServerConfig { c := rawConfig(e); c.RequireClientKey = true; return c },
					script: func(_ int, c *conn) error {
						if c.sess.State().ClientKey == nil || c.sess.State().ClientID != handshake.ClientID(c.sess.State().ClientKey.Bytes()) {
							return fmt.Errorf("client ID is not ID-001 of the client key")
						}
						return deliverAll([]msg{m1})(c)
					}}
			},
			args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("07", 32)) }},
		&clientTest{id: "client/happy/resumption", reqs: []string{"HS-040", "HS-044", "ID-002"}, needs: []string{"resumption"},
			doc:  "an anonymous client resumes with its ticket and keeps its client ID",
			want: expect{ok: true, conns: 2, sameID: true, resumed: []bool{false, true}, messages: []msg{m1, m2}},
			setup: func(e *env) *peer {
				tk := &handshake.TicketKeys{Current: handshake.TicketKey{ID: 1, Key: [32]byte(bytes.Repeat([]byte{9}, 32))}}
				gens := &handshake.MemoryGenerations{}
				return &peer{cfg: func(int) *handshake.ServerConfig {
					c := rawConfig(e)
					c.TicketKeys, c.Generations = tk, gens
					return c
				},
					script: func(i int, c *conn) error {
						if i == 0 {
							return deliverAll([]msg{m1})(c)
						}
						if err := c.deliver(2, m2); err != nil {
							return err
						}
						c.acks(1, 5*time.Second)
						return c.Close()
					}}
			}},
		&clientTest{id: "client/epoch/restore-then-replay", reqs: []string{"POST-010", "REPLAY-011", "REPLAY-020", "REPLAY-021", "DLV-005"}, needs: []string{"identity"},
			doc: "a new store epoch starts a new window, so a reassigned ID 1 reaches the application; " +
				"a Welcome with the epoch the client left is refused with replayed_epoch",
			want: expect{alert: alert.ReplayedEpoch, conns: 3, sameID: true, messages: []msg{m1, {id: 1, payload: "after the restore"}}},
			setup: func(e *env) *peer {
				// Epochs per connection: 1, 2 (the restore), 1 again (the old store put back).
				return &peer{cfg: func(i int) *handshake.ServerConfig { c := rawConfig(e); c.StoreEpoch[0] = byte(1 + i%2); return c },
					script: func(i int, c *conn) error {
						switch i {
						case 0:
							return deliverAll([]msg{m1})(c)
						case 1:
							if err := c.deliver(2, msg{id: 1, payload: "after the restore"}); err != nil { // batch_seq keeps rising (REPLAY-010)
								return err
							}
							if got := c.acks(1, 5*time.Second); len(got) < 1 {
								return fmt.Errorf("the reassigned ID 1 was not acknowledged (REPLAY-021)")
							}
							return c.Close()
						}
						return c.wait()
					}}
			},
			args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("0a", 32)) }},
		&clientTest{id: "client/happy/reconnect-redelivery", reqs: []string{"DLV-002", "DLV-004", "REPLAY-012", "REPLAY-013"}, needs: []string{"identity"},
			doc:  "messages redelivered on the next connection reach the application once",
			want: expect{ok: true, conns: 2, sameID: true, messages: []msg{m1, m2, {id: 4, payload: "fourth"}}},
			setup: func(e *env) *peer {
				return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
					script: func(i int, c *conn) error {
						if i == 0 {
							return deliverAll([]msg{m1, m2})(c)
						}
						if err := c.deliver(7, m1, m2, msg{id: 4, payload: "fourth"}); err != nil {
							return err
						}
						if got := c.acks(3, 5*time.Second); len(got) < 3 {
							return fmt.Errorf("redelivered duplicates not acknowledged: %v (REPLAY-012)", got)
						}
						return c.Close()
					}}
			},
			args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("08", 32)) }},
		&clientTest{id: "client/happy/going-away-then-reconnect", reqs: []string{"POST-022", "CONF-011", "CONF-015"}, needs: []string{"identity"},
			doc:  "going_away ends a connection in order: the client keeps its state, reconnects, and messages redelivered on the next connection reach the application once",
			want: expect{ok: true, conns: 2, sameID: true, messages: []msg{m1, m2}},
			setup: func(e *env) *peer {
				return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
					script: func(i int, c *conn) error {
						if err := c.deliver(1, m1); err != nil {
							return err
						}
						if got := c.acks(1, 5*time.Second); len(got) < 1 {
							return fmt.Errorf("message 1 not acknowledged: %v", got)
						}
						if i == 0 {
							return c.closeWith(alert.GoingAway)
						}
						if err := c.deliver(2, m2); err != nil {
							return err
						}
						if got := c.acks(1, 5*time.Second); len(got) < 1 {
							return fmt.Errorf("message 2 not acknowledged: %v", got)
						}
						return c.Close()
					}}
			},
			args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("0b", 32)) }},
		&clientTest{id: "client/happy/batch-seq-per-session", reqs: []string{"REPLAY-010", "BATCH-020", "KS-006"}, needs: []string{"identity"},
			doc:  "batch sequences are per session: the next session's batch_seq 1 is accepted after 1000 in the session before (a server on a restored or fresh store)",
			want: expect{ok: true, conns: 2, sameID: true, messages: []msg{m1, m2}},
			setup: func(e *env) *peer {
				return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
					script: func(i int, c *conn) error {
						if i == 0 {
							if err := c.deliver(1000, m1); err != nil {
								return err
							}
							if got := c.acks(1, 5*time.Second); len(got) < 1 {
								return fmt.Errorf("message 1 not acknowledged: %v", got)
							}
							return c.Close()
						}
						if err := c.deliver(1, m2); err != nil {
							return err
						}
						if got := c.acks(1, 5*time.Second); len(got) < 1 {
							return fmt.Errorf("batch_seq 1 of a new session refused: acknowledged %v (REPLAY-010)", got)
						}
						return c.Close()
					}}
			},
			args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("0a", 32)) }},
		&clientTest{id: "client/happy/several-batches", reqs: []string{"REPLAY-010", "BATCH-020"}, want: ok3,
			setup: simple(deliverAll([]msg{m1}, []msg{m2}, []msg{m3}))},
		&clientTest{id: "client/happy/batch-seq-gap", reqs: []string{"REPLAY-010"}, doc: "sequence numbers may skip",
			want: expect{ok: true, messages: []msg{m1, m2}},
			setup: simple(func(c *conn) error {
				c.deliver(1, m1)
				c.deliver(9, m2)
				c.acks(2, 5*time.Second)
				return c.Close()
			})},
		&clientTest{id: "client/happy/ids-out-of-order-in-window", reqs: []string{"REPLAY-011"},
			want:  expect{ok: true, messages: []msg{{id: 5, payload: "five"}, {id: 3, payload: "three"}}},
			setup: simple(deliverAll([]msg{{id: 5, payload: "five"}}, []msg{{id: 3, payload: "three"}}))},
		&clientTest{id: "client/happy/duplicate-id-dropped", reqs: []string{"REPLAY-011", "REPLAY-012"},
			doc: "a message ID seen before is dropped and still acknowledged", want: expect{ok: true, messages: []msg{m1}},
			setup: simple(deliverAll([]msg{m1}, []msg{m1}))},
		&clientTest{id: "client/happy/stale-id-dropped", reqs: []string{"REPLAY-011", "REPLAY-012"},
			doc: "an ID W or more below the top is dropped and acknowledged", want: expect{ok: true, messages: []msg{{id: 2000, payload: "top"}}},
			setup: simple(deliverAll([]msg{{id: 2000, payload: "top"}}, []msg{{id: 5, payload: "old"}}))},
		&clientTest{id: "client/happy/key-update", reqs: []string{"POST-003"}, want: expect{ok: true, messages: []msg{m1}},
			setup: simple(func(c *conn) error {
				f, err := c.sess.KeyUpdate(false)
				if err != nil {
					return err
				}
				c.write(f)
				return deliverAll([]msg{m1})(c)
			})},
		&clientTest{id: "client/happy/key-update-requested", reqs: []string{"POST-003"}, doc: "the client answers KeyUpdate(1) with KeyUpdate(0)",
			want: expect{ok: true, messages: []msg{m1}},
			setup: simple(func(c *conn) error {
				f, err := c.sess.KeyUpdate(true)
				if err != nil {
					return err
				}
				c.write(f)
				// The client's answer switches its sending key; its Ack
				// then opens only if it sent the answer first.
				return deliverAll([]msg{m1})(c)
			})},
		&clientTest{id: "client/happy/largest-payload", reqs: []string{"BATCH-005", "LIM-001"},
			want:  expect{ok: true, messages: []msg{{id: 1, payload: strings.Repeat("x", 65536)}}},
			setup: simple(deliverAll([]msg{{id: 1, payload: strings.Repeat("x", 65536)}}))},
		&clientTest{id: "client/happy/many-entries", reqs: []string{"BATCH-005"}, want: expect{ok: true, messages: manyMsgs(300)},
			setup: simple(deliverAll(manyMsgs(300)))},
		&clientTest{id: "client/happy/padding", reqs: []string{"REC-004"}, want: expect{ok: true, messages: []msg{m1}},
			setup: simple(func(c *conn) error {
				body, _, _, _ := c.build(1, []msg{m1})
				f, err := c.sess.SealPadded(nil, 300, wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
				if err != nil {
					return err
				}
				c.write(f)
				c.acks(1, 5*time.Second)
				return c.Close()
			})},
		&clientTest{id: "client/happy/two-deliveries-one-record", reqs: []string{"REC-007"}, want: expect{ok: true, messages: []msg{m1, m2}},
			setup: simple(func(c *conn) error {
				b1, _, _, _ := c.build(1, []msg{m1})
				b2, _, _, _ := c.build(2, []msg{m2})
				c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, b1), wire.AppendMessage(nil, wire.TypeBatchDelivery, b2))
				c.acks(2, 5*time.Second)
				return c.Close()
			})},
		&clientTest{id: "client/happy/empty-session", reqs: []string{"POST-006"}, doc: "close_notify right after Welcome", want: expect{ok: true},
			setup: simple(func(c *conn) error { return c.Close() })},
	)

	// Handshake misbehaviour.
	hs := func(id string, reqs []string, code alert.Code, b serverBugs, args func(e *env) []string) *clientTest {
		return &clientTest{id: "client/handshake/" + id, reqs: reqs, want: expect{alert: code}, setup: withBugs(b), args: args}
	}
	chachaOnly := func(e *env) []string { return append(e.pinArgs(), "-aeads", "chacha20poly1305") }
	x25519Only := func(e *env) []string { return append(e.pinArgs(), "-groups", "x25519") }
	add(
		hs("downgrade-version", []string{"HS-014", "HS-024"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) { sh.Version = 0x0002 })}, nil),
		hs("grease-version-chosen", []string{"HS-014", "EXT-003"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) { sh.Version = 0x1a1a })}, nil),
		hs("aead-not-offered", []string{"HS-014"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) { sh.AEAD = 0x0002 })}, chachaOnly),
		hs("grease-aead-chosen", []string{"HS-014", "EXT-003"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) { sh.AEAD = 0x2a2a })}, nil),
		hs("group-not-offered", []string{"HS-014"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) { sh.KeyShare.Group = 0x0002 })}, x25519Only),
		hs("key-share-wrong-length", []string{"HS-014", "SUITE-002"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) { sh.KeyShare.KeyExchange = sh.KeyShare.KeyExchange[:31] })}, x25519Only),
		hs("unknown-critical-extension", []string{"HS-015", "EXT-002", "EXT-004"}, alert.UnknownCriticalExtension,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) {
				sh.Extensions = append(sh.Extensions, wire.Extension{Type: 0x8a8a})
			})}, nil),
		hs("psk-accepted-without-ticket", []string{"HS-015"}, alert.IllegalParameter,
			serverBugs{editServerHello: editHello(func(sh *handshake.ServerHello) {
				sh.Extensions = append(sh.Extensions, wire.Extension{Type: wire.ExtPSKAccepted})
			})}, nil),
		hs("serverhello-truncated", []string{"WIRE-001"}, alert.DecodeError,
			serverBugs{editServerHello: func(raw []byte) []byte { return raw[:len(raw)-1] }}, nil),
		hs("bad-signature", []string{"HS-022", "SIG-005"}, alert.BadSignature, serverBugs{editFlight: flipInMessage(1)}, nil),
		hs("bad-finished", []string{"HS-023"}, alert.DecryptError, serverBugs{editFlight: flipInMessage(2)}, nil),
		hs("flight-split", []string{"HS-020"}, alert.UnexpectedMessage, serverBugs{splitFlight: true}, nil),
		hs("flight-without-finished", []string{"HS-020"}, alert.UnexpectedMessage,
			serverBugs{editFlight: func(ms [][]byte) [][]byte { return ms[:2] }}, nil),
		hs("flight-without-serververify", []string{"HS-020", "HS-022"}, alert.UnexpectedMessage,
			serverBugs{editFlight: func(ms [][]byte) [][]byte { return [][]byte{ms[0], ms[2]} }}, nil),
		hs("flight-reordered", []string{"HS-020"}, alert.UnexpectedMessage,
			serverBugs{editFlight: func(ms [][]byte) [][]byte { ms[0], ms[1] = ms[1], ms[0]; return ms }}, nil),
		hs("garbage-first-frame", []string{"WIRE-022"}, alert.DecodeError, serverBugs{garbage: []byte("HTTP/1.1 200 OK\r\n")}, nil),
		hs("oversize-plaintext-frame", []string{"WIRE-023", "LIM-001"}, alert.RecordOverflow,
			serverBugs{garbage: append(wire.AppendFrameHeader(nil, wire.FramePlaintext, wire.MaxPlaintextFrame+1), make([]byte, wire.MaxPlaintextFrame+1)...)}, nil),
		&clientTest{id: "client/handshake/stall", reqs: []string{"HS-051"}, doc: "the server never answers", want: expect{alert: alert.Timeout},
			setup: withBugs(serverBugs{stall: true})},
		&clientTest{id: "client/handshake/close-after-serverhello", reqs: []string{"HS-050"}, want: expect{closed: true},
			setup: withBugs(serverBugs{closeAfterServerHello: true})},
		&clientTest{id: "client/handshake/plaintext-alert", reqs: []string{"ALERT-004"}, want: expect{alert: alert.HandshakeFailure, peer: true},
			setup: withBugs(serverBugs{garbage: wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.HandshakeFailure))})},
		// Server-key rotation (§5.3): keys per connection, the shim pins
		// the first (CONF-030).
		rotation("learn-then-switch", []string{"ID-010", "ID-012", "HS-070", "CONF-030"},
			"the server announces its next key; the client connects to that key next, without reconfiguration",
			expect{ok: true, conns: 2, sameID: true, messages: []msg{m1, m2}}, keyOld|announceNew, keyNew),
		rotation("never-announced", []string{"ID-003", "ID-010", "CONF-030"},
			"the server switches keys without announcing the new one: the client refuses it",
			expect{alert: alert.UnknownServerKey, conns: 2, sameID: true, messages: []msg{m1}}, keyOld, keyNew),
		rotation("announcement-withdrawn", []string{"ID-010", "CONF-030"},
			"an announcement the next connection no longer carries is forgotten: the client refuses the key it named",
			expect{alert: alert.UnknownServerKey, conns: 3, sameID: true, messages: []msg{m1, m2}}, keyOld|announceNew, keyOld, keyNew),
		rotation("old-key-after-switch", []string{"ID-010", "CONF-030"},
			"once the client has authenticated the new key it no longer accepts the old one",
			expect{alert: alert.UnknownServerKey, conns: 3, sameID: true, messages: []msg{m1, m2}}, keyOld|announceNew, keyNew, keyOld),
		rotation("second-pin-kept", []string{"ID-010", "HS-070", "CONF-030"},
			"a client accepts the announcing key and the announced one on every connection until the switch",
			expect{ok: true, conns: 3, sameID: true, messages: []msg{m1, m2, {id: 3, payload: "third"}}}, keyOld|announceNew, keyOld|announceNew, keyNew),
		&clientTest{id: "client/rotation/announcement-unsigned", reqs: []string{"ID-011", "HS-022", "CONF-030"},
			doc:  "next_server_key added to ServerIdentity in flight, ServerVerify unchanged: the handshake fails",
			want: expect{alert: alert.BadSignature},
			setup: withBugs(serverBugs{editFlight: func(ms [][]byte) [][]byte {
				si, err := handshake.ParseServerIdentity(ms[0][4:])
				if err != nil {
					panic(err)
				}
				next := make([]byte, 32)
				copy(next, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x33}, 32)).Public().(ed25519.PublicKey))
				si.Extensions = []wire.Extension{{Type: wire.ExtNextServerKey, Data: next}}
				ms[0] = si.AppendTo(nil)
				return ms
			}})},
		&clientTest{id: "client/handshake/wrong-server-key", reqs: []string{"ID-003"}, want: expect{alert: alert.UnknownServerKey},
			setup: withBugs(serverBugs{}),
			args: func(e *env) []string {
				other := e.pin
				other[0] ^= 1
				return []string{"-pin", hex.EncodeToString(other[:])}
			}},
		&clientTest{id: "client/handshake/credential-to-pinned-client", reqs: []string{"HS-021"}, needs: []string{"credential"},
			want: expect{alert: alert.UnknownServerKey},
			setup: func(e *env) *peer {
				cred, crl := e.credentials(1, now.Add(-hour), now.Add(hour), now.Add(-hour), now.Add(hour))
				return credPeer(e, cred, crl)
			}},
		&clientTest{id: "client/handshake/raw-key-to-authority-client", reqs: []string{"HS-021"}, needs: []string{"credential"},
			want: expect{alert: alert.UnknownServerKey}, setup: withBugs(serverBugs{}), args: func(e *env) []string { return e.trustArgs() }},
	)

	// Credentials.
	valid := func(e *env) ([]byte, []byte) {
		return e.credentials(1, now.Add(-hour), now.Add(hour), now.Add(-hour), now.Add(hour))
	}
	add(
		credTest("client/credential/expired", []string{"CRED-005", "CRED-016"}, alert.CredentialExpired, func(e *env) ([]byte, []byte) {
			return e.credentials(1, now.Add(-48*hour), now.Add(-24*hour), now.Add(-hour), now.Add(hour))
		}),
		credTest("client/credential/not-yet-valid", []string{"CRED-005"}, alert.CredentialExpired, func(e *env) ([]byte, []byte) {
			return e.credentials(1, now.Add(24*hour), now.Add(48*hour), now.Add(-hour), now.Add(hour))
		}),
		credTest("client/credential/revoked", []string{"CRED-014"}, alert.CredentialRevoked, func(e *env) ([]byte, []byte) {
			return e.credentials(5, now.Add(-hour), now.Add(hour), now.Add(-hour), now.Add(hour), 3, 5)
		}),
		credTest("client/credential/stale-revocation-list", []string{"CRED-012"}, alert.RevocationStale, func(e *env) ([]byte, []byte) {
			return e.credentials(1, now.Add(-hour), now.Add(hour), now.Add(-72*hour), now.Add(-48*hour))
		}),
		credTest("client/credential/bad-signature", []string{"CRED-003"}, alert.BadCredential, func(e *env) ([]byte, []byte) {
			c, l := valid(e)
			return flipLast(c), l
		}),
		credTest("client/credential/bad-list-signature", []string{"CRED-010"}, alert.BadCredential, func(e *env) ([]byte, []byte) {
			c, l := valid(e)
			return c, flipLast(l)
		}),
		credTest("client/credential/other-authority", []string{"CRED-002"}, alert.UnknownServerKey, func(e *env) ([]byte, []byte) {
			_, other, _ := ed25519.GenerateKey(nil)
			save := e.authKey
			e.authKey = other
			c, l := valid(e)
			e.authKey = save
			return c, l
		}),
		credTest("client/credential/wrong-realm", []string{"CRED-006"}, alert.RealmMismatch, func(e *env) ([]byte, []byte) {
			save := e.realm
			e.realm = "elsewhere.example"
			c, l := valid(e)
			e.realm = save
			return c, l
		}),
		credTest("client/credential/truncated", []string{"WIRE-001"}, alert.DecodeError, func(e *env) ([]byte, []byte) {
			c, l := valid(e)
			return c[:len(c)-1], l
		}),
	)

	// Record layer.
	rec := func(id string, reqs []string, code alert.Code, script func(c *conn) error) *clientTest {
		return &clientTest{id: "client/record/" + id, reqs: reqs, want: expect{alert: code}, setup: failing(script)}
	}
	delivery := func(c *conn, seq uint64, ms ...msg) []byte {
		body, _, _, _ := c.build(seq, ms)
		return wire.AppendMessage(nil, wire.TypeBatchDelivery, body)
	}
	add(
		&clientTest{id: "client/record/replayed", reqs: []string{"REC-001"}, want: expect{alert: alert.BadRecordMAC, messages: []msg{m1}},
			setup: failing(func(c *conn) error {
				f := c.seal(delivery(c, 1, m1))
				c.write(f)
				return c.write(f)
			})},
		rec("reordered", []string{"REC-001"}, alert.BadRecordMAC, func(c *conn) error {
			f1, f2 := c.seal(delivery(c, 1, m1)), c.seal(delivery(c, 2, m2))
			c.write(f2)
			return c.write(f1)
		}),
		rec("dropped", []string{"REC-001"}, alert.BadRecordMAC, func(c *conn) error {
			c.seal(delivery(c, 1, m1))
			return c.write(c.seal(delivery(c, 2, m2)))
		}),
		rec("bit-flip", []string{"REC-001", "REC-002"}, alert.BadRecordMAC, func(c *conn) error {
			return c.write(flipLast(c.seal(delivery(c, 1, m1))))
		}),
		rec("truncated", []string{"WIRE-001", "WIRE-022"}, alert.DecodeError, func(c *conn) error {
			f := c.seal(delivery(c, 1, m1))
			return c.write(f[:len(f)-1])
		}),
		rec("oversize", []string{"WIRE-023", "LIM-001"}, alert.RecordOverflow, func(c *conn) error {
			return c.write(wire.AppendFrameHeader(nil, wire.FrameProtected, wire.MaxProtectedFrame+1))
		}),
		rec("plaintext-after-connect", []string{"REC-006", "ALERT-004"}, alert.UnexpectedMessage, func(c *conn) error {
			return c.write(wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, alert.InternalError)))
		}),
		rec("nonzero-padding", []string{"REC-003", "REC-007"}, alert.DecodeError, func(c *conn) error {
			inner := append(delivery(c, 1, m1), 0, 1)
			f, err := c.sess.Sealer().Seal(nil, inner, 0)
			if err != nil {
				return err
			}
			return c.write(f)
		}),
		rec("empty-record", []string{"REC-007"}, alert.DecodeError, func(c *conn) error {
			f, err := c.sess.Sealer().Seal(nil, []byte{0}, 0)
			if err != nil {
				return err
			}
			return c.write(f)
		}),
	)

	// Post-handshake messages.
	post := func(id string, reqs []string, code alert.Code, msgs func(c *conn) [][]byte) *clientTest {
		return rec(id, reqs, code, func(c *conn) error { return c.sendMessages(msgs(c)...) })
	}
	post2 := func(id string, reqs []string, code alert.Code, msgs func(c *conn) [][]byte) *clientTest {
		t := post(id, reqs, code, msgs)
		t.id = "client/session/" + id
		return t
	}
	add(
		post2("second-welcome", []string{"POST-001"}, alert.UnexpectedMessage, func(c *conn) [][]byte {
			w := c.sess.State().Welcome
			return [][]byte{w.AppendTo(nil)}
		}),
		post2("ack-to-client", []string{"WIRE-010", "HS-052"}, alert.UnexpectedMessage, func(c *conn) [][]byte {
			return [][]byte{session.AppendAck(nil, []uint64{1})}
		}),
		post2("undefined-message-type", []string{"WIRE-010"}, alert.UnexpectedMessage, func(c *conn) [][]byte {
			return [][]byte{wire.AppendMessage(nil, 0x7e, []byte{1})}
		}),
		post2("handshake-message-after-connect", []string{"HS-052"}, alert.UnexpectedMessage, func(c *conn) [][]byte {
			return [][]byte{wire.AppendMessage(nil, wire.TypeServerHello, []byte{0})}
		}),
		post2("key-update-not-last", []string{"POST-003", "POST-009"}, alert.UnexpectedMessage, func(c *conn) [][]byte {
			return [][]byte{session.AppendKeyUpdate(nil, false), delivery(c, 1, m1)}
		}),
		post2("key-update-bad-request", []string{"POST-003"}, alert.IllegalParameter, func(c *conn) [][]byte {
			return [][]byte{wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{2})}
		}),
		post2("key-update-trailing-byte", []string{"WIRE-001"}, alert.DecodeError, func(c *conn) [][]byte {
			return [][]byte{wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{0, 0})}
		}),
		&clientTest{id: "client/session/key-update-flood", reqs: []string{"POST-004", "LIM-001"}, want: expect{alert: alert.LimitExceeded},
			setup: failing(func(c *conn) error {
				for i := 0; i <= session.MaxKeyUpdatesWithoutData; i++ {
					f, err := c.sess.KeyUpdate(false)
					if err != nil {
						return err
					}
					c.write(f)
				}
				return nil
			})},
		&clientTest{id: "client/session/server-alert", reqs: []string{"POST-006", "ALERT-001"}, want: expect{alert: alert.InternalError, peer: true},
			setup: failing(func(c *conn) error { return c.write(c.sess.AlertFrame(alert.InternalError)) })},
		&clientTest{id: "client/session/close-mid-stream", reqs: []string{"POST-006"}, doc: "the transport drops without close_notify",
			want: expect{closed: true, messages: []msg{m1}},
			setup: simple(func(c *conn) error {
				c.deliver(1, m1)
				c.acks(1, 5*time.Second)
				return c.ws.Close()
			})},
	)

	// Batches.
	bt := func(id string, reqs []string, code alert.Code, script func(c *conn) error) *clientTest {
		t := rec(id, reqs, code, script)
		t.id = "client/batch/" + id
		return t
	}
	edit := func(id string, reqs []string, code alert.Code, f func(d *batch.Delivery)) *clientTest {
		return bt(id, reqs, code, editDelivery(1, []msg{m1, m2}, f))
	}
	add(
		edit("bad-signature", []string{"BATCH-011", "SIG-005"}, alert.BadSignature, func(d *batch.Delivery) { d.Signature = flipLast(d.Signature) }),
		edit("tampered-leaf", []string{"MERKLE-001", "BATCH-011"}, alert.BadProof, func(d *batch.Delivery) { d.Own.Leaf = flipLast(d.Own.Leaf) }),
		bt("tampered-proof", []string{"MERKLE-001"}, alert.BadProof, func(c *conn) error {
			// Two more recipients, so that the own leaf has an audit path.
			body, _, _, err := c.build(1, []msg{m1}, otherKeys(c.sess.State().AEAD), otherKeys(c.sess.State().AEAD))
			if err != nil {
				return err
			}
			d, err := batch.ParseDelivery(body)
			if err != nil || len(d.Own.Path) == 0 {
				return fmt.Errorf("no audit path to tamper with: %v", err)
			}
			d.Own.Path[0][31] ^= 1
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, d.AppendTo(nil)))
		}),
		edit("wrong-leaf-index", []string{"MERKLE-001", "MERKLE-002"}, alert.BadProof, func(d *batch.Delivery) { d.Own.Index ^= 1 }),
		bt("trailing-bytes", []string{"WIRE-001"}, alert.DecodeError, func(c *conn) error {
			body, _, _, _ := c.build(1, []msg{m1})
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, append(body, 0)))
		}),
		bt("wrong-signer", []string{"BATCH-010"}, alert.UnknownSigner, func(c *conn) error {
			_, other, _ := ed25519.GenerateKey(nil)
			c.key = other
			return c.deliver(1, m1)
		}),
		withMsgs(bt("replayed", []string{"REPLAY-010"}, alert.ReplayedBatch, func(c *conn) error {
			body, _, _, _ := c.build(1, []msg{m1})
			c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
		}), m1),
		withMsgs(bt("reordered", []string{"REPLAY-010"}, alert.ReplayedBatch, func(c *conn) error {
			b1, _, _, _ := c.build(1, []msg{m1})
			b2, _, _, _ := c.build(2, []msg{m2})
			c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, b2))
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, b1))
		}), m2),
		bt("seq-zero", []string{"REPLAY-010", "BATCH-020"}, alert.ReplayedBatch, func(c *conn) error { return c.deliver(0, m1) }),
		bt("leaf-for-another-client", []string{"BATCH-012"}, alert.WrongRecipient, func(c *conn) error {
			_, b, handles, err := c.build(1, []msg{m1}, otherKeys(c.sess.State().AEAD))
			if err != nil {
				return err
			}
			body, err := b.AppendDelivery(nil, handles[1])
			if err != nil {
				return err
			}
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
		}),
		bt("missing-blob", []string{"BATCH-013", "BATCH-016"}, alert.BadProof, editDelivery(1, []msg{m1, m3}, func(d *batch.Delivery) { d.Blobs = nil })),
		// A valid delivery followed by an undefined message type: the whole
		// record fails and the delivery does not reach the application.
		post2("record-fails-as-a-whole", []string{"POST-009", "WIRE-010"}, alert.UnexpectedMessage, func(c *conn) [][]byte {
			return [][]byte{delivery(c, 1, m1, m3), wire.AppendMessage(nil, 0x7e, nil)}
		}),
		bt("truncated-delivery", []string{"WIRE-001"}, alert.DecodeError, func(c *conn) error {
			body, _, _, _ := c.build(1, []msg{m1})
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, body[:len(body)-1]))
		}),
		&clientTest{id: "client/batch/payload-above-max-payload", reqs: []string{"BATCH-005", "POST-002"}, want: expect{alert: alert.RecordOverflow},
			setup: func(e *env) *peer {
				return &peer{cfg: func(int) *handshake.ServerConfig { c := rawConfig(e); c.MaxPayload = 100; return c },
					script: func(_ int, c *conn) error {
						c.deliver(1, msg{id: 1, payload: strings.Repeat("y", 101)})
						return c.wait()
					}}
			}},
		bt("record-with-a-failing-second-delivery", []string{"POST-009", "BATCH-014"}, alert.BadProof, func(c *conn) error {
			// Two deliveries in one record, the second tampered: the first
			// must not reach the application either.
			b1, _, _, _ := c.build(1, []msg{m1})
			b2, _, _, _ := c.build(2, []msg{m2})
			d2, err := batch.ParseDelivery(b2)
			if err != nil {
				return err
			}
			d2.Own.Leaf = flipLast(d2.Own.Leaf)
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, b1), wire.AppendMessage(nil, wire.TypeBatchDelivery, d2.AppendTo(nil)))
		}),
		&clientTest{id: "client/batch/nothing-delivered-from-failing-batch", reqs: []string{"BATCH-014"}, doc: "a delivery that fails changes no state and delivers nothing",
			want: expect{alert: alert.BadProof, messages: []msg{m1}},
			setup: failing(func(c *conn) error {
				c.deliver(1, m1)
				return editDelivery(2, []msg{m2}, func(d *batch.Delivery) { d.Own.Leaf = flipLast(d.Own.Leaf) })(c)
			})},
	)
	add(tokenClientTests()...)
	add(liveClientTests()...)
	return ts
}

// withMsgs sets the messages a failing test delivers before it fails.
// rotation step flags: which key a connection's server uses and whether it
// announces the next one.
const (
	keyOld      = 1
	keyNew      = 2
	announceNew = 4
)

// rotation is a key-identified client test over one connection per step:
// each step's server uses the old key (e.serverKey, which the shim pins) or
// a new one, announcing the new key or not; the connections deliver m1, m2
// and "third" in turn, and a connection the client refuses ends the test.
func rotation(name string, reqs []string, doc string, want expect, steps ...int) *clientTest {
	newKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x31}, 32))
	return &clientTest{id: "client/rotation/" + name, reqs: reqs, doc: doc, needs: []string{"identity"}, want: want,
		setup: func(e *env) *peer {
			next, err := sig.ParsePublicKey(newKey.Public().(ed25519.PublicKey))
			if err != nil {
				panic(err)
			}
			return &peer{cfg: func(i int) *handshake.ServerConfig {
				c := rawConfig(e)
				if steps[i]&keyNew != 0 {
					c.Key = newKey
				}
				if steps[i]&announceNew != 0 {
					c.NextKey = next
				}
				return c
			},
				script: func(i int, c *conn) error {
					m := []msg{m1, m2, {id: 3, payload: "third"}}[i]
					if err := c.deliver(uint64(i+1), m); err != nil {
						return err
					}
					if got := c.acks(1, 5*time.Second); len(got) < 1 {
						return fmt.Errorf("message %d not acknowledged", m.id)
					}
					return c.Close()
				}}
		},
		args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("0b", 32)) }}
}

func withMsgs(t *clientTest, ms ...msg) *clientTest {
	t.want.messages = ms
	return t
}

func manyMsgs(n int) []msg {
	out := make([]msg, n)
	for i := range out {
		out[i] = msg{id: uint64(i + 1), payload: fmt.Sprintf("m%03d", i+1)}
	}
	return out
}
