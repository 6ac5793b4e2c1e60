package generate

import (
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("KeyUpdateRequest", "BASIC", "KeyUpdate(1): the receiver owes a KeyUpdate(0) and switches its sending key after it (POST-003).", "")
	note("KeyUpdateFlood", "RESOURCE", "KeyUpdates in a row without other messages (POST-004).", "Each costs the receiver HKDF work.")
	note("PeerAlertProtected", "STATE", "A protected Alert from the peer: the session ends with the peer's code (POST-006).", "")
	note("Closed", "STATE", "Input after the session failed (HS-050).", "")
	note("HeartbeatRequest", "BASIC", "Heartbeat(1): the receiver owes a Heartbeat(0); Heartbeats are never passed up (POST-020).", "")
}

// sender protects frames under a traffic secret, updating on KeyUpdate.
type sender struct {
	aead   uint16
	secret []byte
	seq    uint64
}

func (s *sender) send(inner []byte) []byte {
	f := sealRecord(s.aead, s.secret, s.seq, inner)
	s.seq++
	return f
}

func (s *sender) update() { s.secret, s.seq = keyschedule.NextTrafficSecret(s.secret), 0 }

// messagesOf splits an inner plaintext into encoded messages.
func messagesOf(inner []byte) [][]byte {
	r := wire.NewReader(inner)
	var out [][]byte
	for !r.Empty() && inner[len(inner)-r.Len()] != 0 {
		_, _, raw := r.ReadMessage()
		if r.Err() != nil {
			break
		}
		out = append(out, raw)
	}
	return out
}

var sessionArea = areaDef{
	name: "session",
	build: func(a *area) (any, error) {
		var groups []vectors.SessionGroup
		for _, role := range []string{"client", "server"} {
			aead := suite.AEADChaCha20Poly1305
			g := vectors.SessionGroup{Type: "SessionOpen", Role: role, AEAD: aead,
				ReceiveSecret: randBytes(a.name, role+"/receive", 32), SendSecret: randBytes(a.name, role+"/send", 32)}
			appMsg := ackMsg(7) // what a client sends
			wrongMsg := wire.AppendMessage(nil, wire.TypeBatchDelivery, []byte{1, 2, 3})
			if role == "client" {
				appMsg, wrongMsg = wrongMsg, ackMsg(7)
			}
			type step struct {
				inner []byte
				fails bool // code 0 is close_notify, so failure is explicit
				code  alert.Code
			}
			add := func(name, comment, req string, steps []step, flags ...string) {
				peer := &sender{aead: aead, secret: g.ReceiveSecret}
				me := &sender{aead: aead, secret: g.SendSecret}
				var vs []vectors.SessionStep
				var last alert.Code
				lastFails := false
				for _, s := range steps {
					st := vectors.SessionStep{Frame: peer.send(s.inner), Messages: []vectors.Hex{}, Answers: []vectors.Hex{}, Result: "accept"}
					last, lastFails = s.code, s.fails
					if s.fails {
						st.Result = s.code.String()
						vs = append(vs, st)
						continue
					}
					var answer []byte // POST-020, POST-003: Heartbeat(0) first, KeyUpdate(0) last
					beat, update := false, false
					for _, m := range messagesOf(s.inner) {
						switch wire.MsgType(m[0]) {
						case wire.TypeHeartbeat:
							beat = beat || m[4] == 1
						case wire.TypeKeyUpdate:
							update = update || m[4] == 1
							peer.update()
						default:
							st.Messages = append(st.Messages, m)
						}
					}
					if beat {
						answer = append(answer, heartbeatMsg(0)...)
					}
					if update {
						answer = append(answer, keyUpdateMsg(0)...)
					}
					if answer != nil {
						st.Answers = append(st.Answers, me.send(answer))
						if update {
							me.update()
						}
					}
					vs = append(vs, st)
				}
				var t vectors.Test
				if !lastFails {
					t = a.valid(role+"/"+name, comment, req, flags...)
				} else {
					t = a.invalid(role+"/"+name, comment, req, last.String(), flags...)
				}
				g.Tests = append(g.Tests, vectors.SessionTest{Test: t, Steps: vs})
			}
			ok := func(inner ...[]byte) step { return step{inner: cat(inner...)} }
			bad := func(c alert.Code, inner ...[]byte) step { return step{inner: cat(inner...), fails: true, code: c} }
			ku0, ku1 := keyUpdateMsg(0), keyUpdateMsg(1)

			add("message", "one application message", "POST-001", []step{ok(appMsg)}, "Normal")
			add("two-messages", "two application messages in one frame, then a padded one", "REC-007",
				[]step{ok(appMsg, appMsg), ok(appMsg, make([]byte, 9))}, "Normal", "Padding")
			add("key-update", "KeyUpdate(0), then a message under the next key", "POST-003", []step{ok(ku0), ok(appMsg)}, "KeyUpdateRecord")
			add("key-update-request", "KeyUpdate(1): the session answers KeyUpdate(0) under its sending key", "POST-003",
				[]step{ok(ku1), ok(appMsg)}, "KeyUpdateRequest")
			add("message-then-key-update", "a message and KeyUpdate(1) in one frame", "POST-003", []step{ok(appMsg, ku1), ok(appMsg)}, "KeyUpdateRequest")
			var run []step
			for i := 0; i < 16; i++ {
				run = append(run, ok(ku0))
			}
			add("key-updates-16", "16 KeyUpdates in a row, then a message", "POST-004", append(run, ok(appMsg)), "KeyUpdateFlood", "MaxSize")
			add("key-updates-reset", "16 KeyUpdates, a message, 16 more: the count restarts", "POST-004",
				append(append(append([]step{}, run...), ok(appMsg)), run...), "KeyUpdateFlood")
			add("key-updates-17", "17 KeyUpdates in a row", "POST-004", append(append([]step{}, run...), bad(alert.LimitExceeded, ku0)), "KeyUpdateFlood")
			add("key-update-2", "KeyUpdate with request_update = 2", "POST-003", []step{bad(alert.IllegalParameter, keyUpdateMsg(2))}, "UnknownType")
			add("key-update-not-last", "KeyUpdate followed by a message in the same frame", "POST-003",
				[]step{bad(alert.UnexpectedMessage, ku0, appMsg)}, "UnexpectedMessage")
			add("key-update-long", "a KeyUpdate body of two bytes", "WIRE-011",
				[]step{bad(alert.DecodeError, wire.AppendMessage(nil, wire.TypeKeyUpdate, []byte{0, 0}))}, "TrailingData")
			add("key-update-empty", "an empty KeyUpdate body", "WIRE-011",
				[]step{bad(alert.DecodeError, wire.AppendMessage(nil, wire.TypeKeyUpdate, nil))}, "Truncated")
			hb0, hb1 := heartbeatMsg(0), heartbeatMsg(1)
			add("heartbeat-request", "Heartbeat(1): the session answers Heartbeat(0) and passes nothing up", "POST-020",
				[]step{ok(hb1), ok(appMsg)}, "HeartbeatRequest")
			add("heartbeat-answer", "Heartbeat(0) is not answered", "POST-020", []step{ok(hb0), ok(appMsg)}, "HeartbeatRequest")
			add("heartbeat-with-message", "a message and Heartbeat(1) in one frame", "POST-020",
				[]step{ok(appMsg, hb1, appMsg)}, "HeartbeatRequest")
			add("heartbeat-and-key-update", "Heartbeat(1) and KeyUpdate(1) in one frame: one answer, Heartbeat(0) then KeyUpdate(0)",
				"POST-020", []step{ok(hb1, ku1), ok(appMsg)}, "HeartbeatRequest", "KeyUpdateRequest")
			add("heartbeat-2", "Heartbeat with reply_requested = 2", "POST-020",
				[]step{bad(alert.IllegalParameter, heartbeatMsg(2))}, "UnknownType")
			add("heartbeat-long", "a Heartbeat body of two bytes", "WIRE-011",
				[]step{bad(alert.DecodeError, wire.AppendMessage(nil, wire.TypeHeartbeat, []byte{1, 0}))}, "TrailingData")
			var beatRun []step
			for i := 0; i < 16; i++ {
				beatRun = append(beatRun, ok(hb0, ku0))
			}
			add("key-updates-17-heartbeats", "17 KeyUpdates, each after a Heartbeat: Heartbeats do not end the run", "POST-020",
				append(beatRun, bad(alert.LimitExceeded, hb0, ku0)), "KeyUpdateFlood")
			add("going-away", "a protected Alert going_away", "POST-022",
				[]step{ok(appMsg), bad(alert.GoingAway, wire.AppendAlert(nil, alert.GoingAway))}, "PeerAlertProtected")
			add("wrong-direction", fmt.Sprintf("a message a %s never receives", role), "WIRE-010", []step{bad(alert.UnexpectedMessage, wrongMsg)}, "UnexpectedMessage")
			add("welcome", "a Welcome in the connected state", "POST-001",
				[]step{bad(alert.UnexpectedMessage, wire.AppendMessage(nil, wire.TypeWelcome, make([]byte, 52)))}, "UnexpectedMessage")
			add("client-hello", "a ClientHello message in a protected record", "HS-050",
				[]step{bad(alert.UnexpectedMessage, wire.AppendMessage(nil, wire.TypeClientHello, []byte{1}))}, "UnexpectedMessage")
			add("unregistered-type", "message type 0x20", "WIRE-010",
				[]step{bad(alert.UnexpectedMessage, wire.AppendMessage(nil, 0x20, []byte{1}))}, "UnknownType")
			add("alert", "a protected Alert bad_proof", "POST-006", []step{ok(appMsg), bad(alert.BadProof, wire.AppendAlert(nil, alert.BadProof))}, "PeerAlertProtected")
			add("close-notify", "a protected Alert close_notify", "POST-006", []step{bad(alert.CloseNotify, wire.AppendAlert(nil, alert.CloseNotify))}, "PeerAlertProtected")
			add("unknown-alert", "a protected Alert with the unregistered code 200: internal_error", "POST-006",
				[]step{bad(alert.InternalError, wire.AppendAlert(nil, 200))}, "PeerAlertProtected", "UnknownType")
			add("alert-then-more", "a protected Alert bad_proof, then an undefined message type in the same frame: the receiver fails with the peer's code", "POST-015",
				[]step{bad(alert.BadProof, wire.AppendAlert(nil, alert.BadProof), wire.AppendMessage(nil, 0x20, []byte{1}))}, "PeerAlertProtected", "OrderOfChecks")
			undecodable := wire.AppendMessage(nil, wire.TypeBatchDelivery, []byte{0xff})
			if role == "server" {
				undecodable = wire.AppendMessage(nil, wire.TypeAck, []byte{0, 1, 0})
			}
			add("body-undecoded", "a message whose body does not decode: the session passes it up as received", "POST-016",
				[]step{ok(undecodable)}, "Normal")
			add("after-failure", "KeyUpdate(2) fails the session; the next frame is refused", "HS-050",
				[]step{bad(alert.IllegalParameter, keyUpdateMsg(2)), bad(alert.UnexpectedMessage, appMsg)}, "Closed")
			groups = append(groups, g)
		}
		return file(a, []string{
			"The connected state (spec §9): application messages over protected records, KeyUpdate (POST-003, POST-004), Heartbeat (POST-020), Welcome and Alert in the wrong place.",
			"Each test feeds the steps to a fresh session of the group's role; accepted steps yield messages and the frames the session owes its peer (answers).",
		}, groups), nil
	},
	schema: func() map[string]any {
		step := strict(obj{"frame": hexAny(), "messages": arrayOf(hexAny()), "answers": arrayOf(hexAny()),
			"result": obj{"anyOf": []any{constant("accept"), obj{"$ref": "#/$defs/alert"}}}})
		return fileSchema("session", "SealFeed v1 connected-session vectors",
			obj{"type": constant("SessionOpen"), "role": enum("client", "server"), "aead": enum(1, 2),
				"receiveSecret": hexLen(32), "sendSecret": hexLen(32)}, nil,
			obj{"steps": obj{"type": "array", "minItems": 1, "items": step}}, nil)
	},
}
