package conformance

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Live scenarios a vector cannot express (spec/conformance.md, CONF-080 …):
// several connections, the order of hand-over and Ack, and state kept
// across connections.

// ackLagArgs: the shim's application holds each message until the next one
// is handed to it (CONF-081), with a client key (a persistent client ID).
func ackLagArgs(seed byte) func(e *env) []string {
	return func(e *env) []string {
		return append(e.pinArgs(), "-ack-lag", "1", "-identity-seed", strings.Repeat(fmt.Sprintf("%02x", seed), 32))
	}
}

// noAcks checks that sync saw no Ack: what it saw was sent while the
// client handled the records before it.
func noAcks(c *conn, why string) error {
	got, err := c.sync(5 * time.Second)
	if err != nil {
		return err
	}
	if len(got) > 0 {
		return fmt.Errorf("acknowledged %v %s", got, why)
	}
	return nil
}

// wantAcks waits for the Acks of ids, and no others.
func wantAcks(c *conn, why string, ids ...uint64) error {
	got := c.acks(len(ids), 5*time.Second)
	if !slices.Equal(got, ids) {
		return fmt.Errorf("acknowledged %v, want %v %s", got, ids, why)
	}
	return nil
}

func liveClientTests() []*clientTest {
	now := time.Now()
	hour := time.Hour
	var ts []*clientTest
	add := func(t ...*clientTest) { ts = append(ts, t...) }

	add(
		&clientTest{id: "client/delivery/ack-after-hand-over", reqs: []string{"DLV-003", "DLV-016", "CONF-081"}, needs: []string{"identity"},
			doc:  "a message is acknowledged only after the application took it: with the application holding message 1, no Ack of it until message 2 is handed over",
			want: expect{ok: true, messages: []msg{m1, m2}},
			setup: simple(func(c *conn) error {
				if err := c.deliver(1, m1); err != nil {
					return err
				}
				if err := noAcks(c, "while the application still holds message 1 (DLV-003)"); err != nil {
					return err
				}
				if err := c.deliver(2, m2); err != nil {
					return err
				}
				if err := wantAcks(c, "once message 2 was handed over (DLV-016)", 1); err != nil {
					return err
				}
				return c.Close()
			}),
			args: ackLagArgs(0x21)},
		&clientTest{id: "client/delivery/ack-of-a-window-left", reqs: []string{"DLV-005", "DLV-014", "REPLAY-021", "CONF-081"}, needs: []string{"identity"},
			doc: "an application's Ack of a message of a window left since (a new store epoch) is not sent: " +
				"its ID names another message now",
			want: expect{ok: true, conns: 2, sameID: true, messages: []msg{{id: 1, payload: "before the restore"}, {id: 1, payload: "after the restore"}, m2}},
			setup: func(e *env) *peer {
				return &peer{cfg: func(i int) *handshake.ServerConfig { c := rawConfig(e); c.StoreEpoch[0] = byte(1 + i); return c },
					script: func(i int, c *conn) error {
						if i == 0 {
							if err := c.deliver(1, msg{id: 1, payload: "before the restore"}); err != nil {
								return err
							}
							if err := noAcks(c, "while the application holds message 1 (DLV-003)"); err != nil {
								return err
							}
							return c.Close()
						}
						// The application takes the old message 1 when the
						// new one is handed over: that Ack must not go out.
						if err := c.deliver(1, msg{id: 1, payload: "after the restore"}); err != nil {
							return err
						}
						if err := noAcks(c, "the application acknowledged message 1 of the window before the restore (DLV-005)"); err != nil {
							return err
						}
						if err := c.deliver(2, m2); err != nil {
							return err
						}
						if err := wantAcks(c, "once message 2 was handed over", 1); err != nil {
							return err
						}
						return c.Close()
					}}
			},
			args: ackLagArgs(0x22)},
		&clientTest{id: "client/resumption/refused-new-client-id", reqs: []string{"REPLAY-021", "DLV-014", "HS-040", "REPLAY-013", "CONF-080"}, needs: []string{"resumption"},
			doc: "the server cannot open the ticket and assigns a new client ID: its message IDs 1 and 2, " +
				"seen under the old ID, are new messages and reach the application",
			want: expect{ok: true, conns: 2, resumed: []bool{false, false},
				messages: []msg{m1, m2, {id: 1, payload: "new ID, first"}, {id: 2, payload: "new ID, second"}}},
			setup: func(e *env) *peer {
				gens := &handshake.MemoryGenerations{}
				var first [32]byte
				return &peer{cfg: func(i int) *handshake.ServerConfig {
					c := rawConfig(e)
					// Another ticket key on the second connection: the
					// ticket does not open, so a full handshake (HS-040).
					k := byte(0x40 + i)
					c.TicketKeys = &handshake.TicketKeys{Current: handshake.TicketKey{ID: uint32(k), Key: [32]byte(bytes.Repeat([]byte{k}, 32))}}
					c.Generations = gens
					return c
				},
					script: func(i int, c *conn) error {
						if i == 0 {
							first = c.sess.State().ClientID
							return deliverAll([]msg{m1, m2})(c)
						}
						if c.sess.State().ClientID == first {
							return fmt.Errorf("the server assigned the same client ID")
						}
						return deliverAll([]msg{{id: 1, payload: "new ID, first"}, {id: 2, payload: "new ID, second"}})(c)
					}}
			}},
		&clientTest{id: "client/credential/revocation-number-kept", reqs: []string{"CRED-013", "CONF-011", "CONF-080"}, needs: []string{"credential"},
			doc:  "a revocation list numbered below one seen on an earlier connection is a rollback: revocation_stale",
			want: expect{alert: alert.RevocationStale, conns: 2, messages: []msg{m1}},
			setup: func(e *env) *peer {
				cred, err := credential.Issue(e.authKey, e.serverKey.Public().(ed25519.PublicKey), e.realm, 1, now.Add(-hour), now.Add(hour))
				if err != nil {
					panic(err)
				}
				list := func(n uint64) []byte {
					l, err := credential.IssueRevocationList(e.authKey, n, now.Add(-hour), now.Add(hour), nil)
					if err != nil {
						panic(err)
					}
					return l.Marshal()
				}
				lists := [][]byte{list(5), list(3)}
				return &peer{cfg: func(i int) *handshake.ServerConfig {
					c := rawConfig(e)
					c.Credential, c.RevocationList = cred.Marshal(), lists[i]
					return c
				}, script: func(i int, c *conn) error { return deliverAll([]msg{m1})(c) }}
			},
			args: func(e *env) []string { return e.trustArgs() }},
	)

	// Reconnect storm: each of many short connections redelivers everything
	// so far and one new message; each reaches the application once.
	const storm = 10
	var stormMsgs []msg
	for i := range storm {
		stormMsgs = append(stormMsgs, msg{id: uint64(i + 1), payload: fmt.Sprintf("storm %d", i+1)})
	}
	add(&clientTest{id: "client/storm/reconnects", reqs: []string{"DLV-002", "DLV-004", "REPLAY-012", "REPLAY-013", "CONF-011", "CONF-080"}, needs: []string{"identity"},
		doc:  fmt.Sprintf("%d connections in quick succession, each redelivering every message so far and one more: each message reaches the application once, every redelivery is acknowledged", storm),
		want: expect{ok: true, conns: storm, sameID: true, messages: stormMsgs},
		setup: func(e *env) *peer {
			return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
				script: func(i int, c *conn) error {
					// Half the connections deliver in one batch, half one
					// batch per message; every second one closes without
					// waiting for the Acks (they are redelivered next).
					if i%2 == 0 {
						if err := c.deliver(1, stormMsgs[:i+1]...); err != nil {
							return err
						}
					} else {
						for j := 0; j <= i; j++ {
							if err := c.deliver(uint64(j+1), stormMsgs[j]); err != nil {
								return err
							}
						}
					}
					if i%3 == 1 && i < storm-1 {
						return c.Close()
					}
					if got := c.acks(i+1, 5*time.Second); len(got) < i+1 {
						return fmt.Errorf("connection %d: acknowledged %v, want %d IDs (REPLAY-012)", i, got, i+1)
					}
					return c.Close()
				}}
		},
		args: func(e *env) []string { return append(e.pinArgs(), "-identity-seed", strings.Repeat("23", 32)) }})

	// A burst of batches with key updates among them (POST-003, POST-004).
	var burst []msg
	for i := range 12 {
		burst = append(burst, msg{id: uint64(i + 1), payload: fmt.Sprintf("burst %d", i+1)})
	}
	add(&clientTest{id: "client/session/key-update-mid-burst", reqs: []string{"POST-003", "POST-004", "POST-009", "REPLAY-010", "CONF-080"},
		doc: "twelve batches sent without waiting, KeyUpdate(0) and KeyUpdate(1) after some of them in the same record " +
			"and in records of their own: every message arrives once, in order, and is acknowledged",
		want: expect{ok: true, messages: burst},
		setup: simple(func(c *conn) error {
			for i, m := range burst {
				body, _, _, err := c.build(uint64(i+1), []msg{m})
				if err != nil {
					return err
				}
				d := wire.AppendMessage(nil, wire.TypeBatchDelivery, body)
				switch i % 4 {
				case 1: // the KeyUpdate last in the delivery's record (POST-009)
					if err := c.sendMessages(d, session.AppendKeyUpdate(nil, i%8 == 1)); err != nil {
						return err
					}
					if err := c.sess.Sealer().Update(); err != nil {
						return err
					}
					continue
				case 3: // a record of its own after the delivery's
					if err := c.sendMessages(d); err != nil {
						return err
					}
					f, err := c.sess.KeyUpdate(i%8 == 7)
					if err != nil {
						return err
					}
					if err := c.write(f); err != nil {
						return err
					}
					continue
				}
				if err := c.sendMessages(d); err != nil {
					return err
				}
			}
			if got := c.acks(len(burst), 10*time.Second); len(got) < len(burst) {
				return fmt.Errorf("acknowledged %v, want %d IDs", got, len(burst))
			}
			return c.Close()
		})})

	// A batch sealed for another client's session, after a good one: the
	// first message stays delivered, nothing of the second reaches the
	// application.
	add(withMsgs(&clientTest{id: "client/batch/sealed-for-another-session", reqs: []string{"BATCH-012", "BATCH-014", "CONF-080"},
		doc:  "after a good batch, one whose every leaf is sealed for other sessions' keys (for the same message IDs) is wrong_recipient and delivers nothing",
		want: expect{alert: alert.WrongRecipient},
		setup: failing(func(c *conn) error {
			if err := c.deliver(1, m1); err != nil {
				return err
			}
			if err := wantAcks(c, "for the good batch", 1); err != nil {
				return err
			}
			// A client of another session would open this: our message
			// IDs, its envelope keys.
			save := c.keys
			c.keys = otherKeys(c.sess.State().AEAD)
			body, _, _, err := c.build(2, []msg{m1, m2}, otherKeys(c.sess.State().AEAD))
			c.keys = save
			if err != nil {
				return err
			}
			return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, body))
		})}, m1))
	// Checks whose order decides the alert (BATCH-011: batch sequence,
	// then signature), and window slides (REPLAY-011).
	add(
		withMsgs(&clientTest{id: "client/batch/replayed-with-bad-signature", reqs: []string{"BATCH-011", "REPLAY-010", "CONF-080"},
			doc:  "a delivery that repeats batch_seq 1 and has a broken signature is replayed_batch: the sequence is checked first",
			want: expect{alert: alert.ReplayedBatch},
			setup: failing(func(c *conn) error {
				if err := c.deliver(1, m1); err != nil {
					return err
				}
				return editDelivery(1, []msg{m2}, func(d *batch.Delivery) { d.Signature = flipLast(d.Signature) })(c)
			})}, m1),
		&clientTest{id: "client/batch/second-delivery-repeats-first-seq", reqs: []string{"BATCH-011", "REPLAY-010", "POST-009", "CONF-080"},
			doc:  "in one record, a second delivery with the first one's batch_seq and a broken signature is replayed_batch: it is checked against the sequence the first leaves",
			want: expect{alert: alert.ReplayedBatch},
			setup: failing(func(c *conn) error {
				b1, _, _, err := c.build(2, []msg{m1})
				if err != nil {
					return err
				}
				b2, _, _, err := c.build(2, []msg{m2})
				if err != nil {
					return err
				}
				d2, err := batch.ParseDelivery(b2)
				if err != nil {
					return err
				}
				d2.Signature = flipLast(d2.Signature)
				return c.sendMessages(wire.AppendMessage(nil, wire.TypeBatchDelivery, b1), wire.AppendMessage(nil, wire.TypeBatchDelivery, d2.AppendTo(nil)))
			})},
		&clientTest{id: "client/batch/blob-leaf-as-own-leaf", reqs: []string{"BATCH-012", "CONF-080"},
			doc:  "a delivery whose own leaf is a blob leaf (with its valid proof) is illegal_parameter",
			want: expect{alert: alert.IllegalParameter},
			setup: failing(editDelivery(1, []msg{m1, m3}, func(d *batch.Delivery) {
				d.Own, d.Blobs = d.Blobs[0], nil
			}))},
		&clientTest{id: "client/happy/window-jump", reqs: []string{"REPLAY-011", "CONF-080"},
			doc:   fmt.Sprintf("after ID 5, ID %d slides the window by more than W: ID %d, inside the new window and never seen, is new", replay.WindowSize+10, replay.WindowSize+5),
			want:  expect{ok: true, messages: []msg{{id: 5, payload: "five"}, {id: replay.WindowSize + 10, payload: "far"}, {id: replay.WindowSize + 5, payload: "aliases five"}}},
			setup: simple(deliverAll([]msg{{id: 5, payload: "five"}}, []msg{{id: replay.WindowSize + 10, payload: "far"}}, []msg{{id: replay.WindowSize + 5, payload: "aliases five"}}))},
	)
	// A peer that closes at every point of the handshake and of a
	// delivery, then fails a record, then sends an Alert; the last
	// connection redelivers everything (CONF-082).
	third, fourth := msg{id: 3, payload: "third"}, msg{id: 4, payload: "fourth"}
	closeAt := []serverBugs{
		{closeBeforeServerHello: true}, {closeAfterServerHello: true}, {closeAfterFlight: true}, {closeBeforeWelcome: true},
	}
	const points = 9
	add(&clientTest{id: "client/storm/close-at-every-point", reqs: []string{"POST-006", "POST-009", "BATCH-014", "DLV-002", "REPLAY-012", "REPLAY-013", "CONF-082"},
		needs: []string{"identity"},
		doc: "connections closed before ServerHello, after it, after the server flight, before Welcome, after Welcome, right after a delivery; " +
			"one failing a record, one ended by the server's Alert: each is reported, and the last connection's redelivery of everything reaches the application exactly once",
		want: expect{ok: true, conns: points, handshakes: points - len(closeAt), sameID: true,
			ended:    []string{"closed", "closed", "closed", "closed", "closed", "closed", "alert bad_proof", "peer-alert internal_error"},
			messages: []msg{m1, m2, third, fourth}},
		setup: func(e *env) *peer {
			return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
				connBugs: func(i int) serverBugs {
					if i < len(closeAt) {
						return closeAt[i]
					}
					return serverBugs{}
				},
				script: func(i int, c *conn) error {
					switch i {
					case 4: // after Welcome
						return c.ws.Close()
					case 5: // right after a delivery, before its Ack is read
						if err := c.deliver(1, m1); err != nil {
							return err
						}
						return c.ws.Close()
					case 6: // a good record, then a failing one
						if err := c.deliver(1, m1, m2); err != nil {
							return err
						}
						if err := editDelivery(2, []msg{third}, func(d *batch.Delivery) { d.Own.Leaf = flipLast(d.Own.Leaf) })(c); err != nil {
							return err
						}
						return c.wait()
					case 7:
						if err := c.write(c.sess.AlertFrame(alert.InternalError)); err != nil {
							return err
						}
						return c.wait()
					}
					return deliverAll([]msg{m1, m2, third, fourth})(c)
				}}
		},
		args: func(e *env) []string {
			return append(e.pinArgs(), "-keep-going", "1", "-identity-seed", strings.Repeat("24", 32))
		}})
	// Restarts (CONF-083): a held message handed over again after a
	// restart, and an unacknowledged ID that became stale leaves the set
	// before the state is saved (DLV-011).
	far, farther := msg{id: replay.WindowSize + 1, payload: "W above"}, msg{id: replay.WindowSize + 2, payload: "W+1 above"}
	add(&clientTest{id: "client/restart/stale-unacked-pruned", reqs: []string{"DLV-011", "DLV-012", "DLV-013", "CONF-081", "CONF-083"}, needs: []string{"identity"},
		doc: "message 1 is held by the application when the client restarts; ID 1+W makes it stale, so it leaves the unacknowledged set: " +
			"the state loads after the next restart, and 1+W, held then, is handed over again",
		want: expect{ok: true, conns: 3, sameID: true, messages: []msg{m1, far, far, farther}},
		setup: func(e *env) *peer {
			return &peer{cfg: func(int) *handshake.ServerConfig { return rawConfig(e) },
				script: func(i int, c *conn) error {
					switch i {
					case 0:
						if err := c.deliver(1, m1); err != nil {
							return err
						}
						if err := noAcks(c, "while the application holds message 1 (DLV-003)"); err != nil {
							return err
						}
					case 1:
						if err := c.deliver(1, far); err != nil {
							return err
						}
						if _, err := c.sync(5 * time.Second); err != nil {
							return err
						}
					case 2:
						if err := c.deliver(1, far, farther); err != nil {
							return err
						}
						if err := wantAcks(c, "once the next message was handed over", far.id); err != nil {
							return err
						}
					}
					return c.Close()
				}}
		},
		args: func(e *env) []string {
			return append(ackLagArgs(0x25)(e), "-restart", "1")
		}})
	return ts
}
