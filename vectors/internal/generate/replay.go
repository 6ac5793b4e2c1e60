package generate

import (
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("DuplicateID", "REPLAY", "An ID that was accepted before and is still inside the window (REPLAY-011, REPLAY-012).", "")
	note("Stale", "REPLAY", "An ID at least W below the highest accepted one (REPLAY-011, REPLAY-012).",
		"A window that grows without bound, or forgets too early, lets old messages through.")
	note("WindowEdge", "EDGE_CASE", "An ID exactly W − 1 or W below the highest accepted one.", "")
	note("SlotReuse", "EDGE_CASE", "Two IDs W apart share one slot of a bitmap window: advancing must clear it.",
		"An RFC 6479 bitmap that is not cleared on advance rejects new messages or accepts duplicates.")
	note("LargeJump", "EDGE_CASE", "The highest ID jumps far ahead, clearing the window.", "")
	note("MaxID", "EDGE_CASE", "IDs at 2^64 − 1.", "An implementation that adds to the ID overflows.")
	note("ZeroID", "MALFORMED", "Message ID 0, which is never valid (REPLAY-011).", "")
	note("RejectKeepsState", "STATE", "A rejected step changes no state (BATCH-014): the next step is decided as if it never happened.", "")
	note("ReplayedBatch", "REPLAY", "A batch_seq not above the highest one accepted in the session (REPLAY-010).",
		"A replayed batch re-delivers old messages and reuses an AEAD nonce.")
	note("NewSession", "STATE", "A new session with the same server key starts its batch sequence again from 0 (REPLAY-010): a batch_seq at or below one accepted in an earlier session is accepted.",
		"A client that keeps batch sequences across sessions refuses every batch of a server whose sequence went backwards (a restored or fresh store) until it passes the old value.")
}

const replayW = 1024

// windowModel is REPLAY-011 as the spec states it.
type windowModel struct {
	top      uint64
	accepted map[uint64]bool
}

func (w *windowModel) decide(id uint64) alert.Code {
	switch {
	case id == 0:
		return alert.IllegalParameter
	case id > w.top:
		return 0
	case w.top-id >= replayW:
		return alert.StaleMessage
	case w.accepted[id]:
		return alert.ReplayedMessage
	}
	return 0
}

func (w *windowModel) accept(id uint64) {
	w.accepted[id] = true
	w.top = max(w.top, id)
}

// seqModel is REPLAY-010: the highest batch_seq accepted in each session
// (none yet: 0, so 0 is never accepted).
type seqModel struct{ high map[int]uint64 }

func (s *seqModel) decide(session int, seq uint64) alert.Code {
	if seq <= s.high[session] {
		return alert.ReplayedBatch
	}
	return 0
}

func (s *seqModel) accept(session int, seq uint64) { s.high[session] = seq }

const maxU64 = 1<<64 - 1

var replayArea = areaDef{
	name: "replay",
	build: func(a *area) (any, error) {
		steps := func(kind string, sessions []int, ids []uint64) ([]vectors.ReplayStep, alert.Code) {
			w := &windowModel{accepted: map[uint64]bool{}}
			s := &seqModel{high: map[int]uint64{}}
			var out []vectors.ReplayStep
			var last alert.Code
			for i, id := range ids {
				session := 0
				if sessions != nil {
					session = sessions[i]
				}
				var c alert.Code
				if kind == "MessageWindow" {
					if c = w.decide(id); c == 0 {
						w.accept(id)
					}
				} else {
					if c = s.decide(session, id); c == 0 {
						s.accept(session, id)
					}
				}
				r := "accept"
				if c != 0 {
					r = c.String()
				}
				out = append(out, vectors.ReplayStep{Session: session, ID: vectors.U64(id), Result: r})
				last = c
			}
			return out, last
		}
		add := func(g *vectors.ReplayGroup, name, comment, req string, sessions []int, ids []uint64, flags ...string) {
			st, last := steps(g.Type, sessions, ids)
			var t vectors.Test
			if last == 0 {
				t = a.valid(name, comment, req, flags...)
			} else {
				t = a.invalid(name, comment, req, last.String(), flags...)
			}
			g.Tests = append(g.Tests, vectors.ReplayTest{Test: t, Steps: st})
		}
		ids := func(v ...uint64) []uint64 { return v }

		mw := vectors.ReplayGroup{Type: "MessageWindow", WindowSize: replayW}
		m := func(name, comment, req string, v []uint64, flags ...string) {
			add(&mw, "window/"+name, comment, req, nil, v, flags...)
		}
		m("first", "the first ID, 1", "REPLAY-011", ids(1), "Normal")
		m("ascending", "1, 2, 3", "REPLAY-011", ids(1, 2, 3), "Normal")
		m("first-large", "a first ID of 1000000", "REPLAY-011", ids(1000000), "LargeJump")
		m("reordered", "10 then 5: new inside the window", "REPLAY-011", ids(10, 5), "Normal")
		m("edge-inside", "2000 then 977: top − id = 1023 < W", "REPLAY-011", ids(2000, 977), "WindowEdge")
		m("edge-inside-many", "1030, then 7 and 8 (top − id = 1023, 1022), then 1029", "REPLAY-011", ids(1030, 7, 8, 1029), "WindowEdge")
		m("jump-by-w", "1 then 1025", "REPLAY-011", ids(1, 1025), "LargeJump")
		m("jump-huge", "5 then 2^63", "REPLAY-011", ids(5, 1<<63), "LargeJump")
		m("max-id", "2^64 − 1 as first ID", "REPLAY-011", ids(maxU64), "MaxID")
		m("max-id-edge", "2^64 − 1, then 2^64 − 1024 (top − id = 1023)", "REPLAY-011", ids(maxU64, maxU64-1023), "MaxID", "WindowEdge")
		m("slot-reuse-new", "100, then 1124 (same slot), then 101 (never seen, inside)", "REPLAY-011", ids(100, 1124, 101), "SlotReuse")
		m("slot-reuse-advance", "100, then 1124: the slot of 100 is reused and must read as empty", "REPLAY-011", ids(100, 1124), "SlotReuse")
		m("cleared-after-jump", "1, 2, 3, then 1027, then 4 (never seen, top − id = 1023)", "REPLAY-011", ids(1, 2, 3, 1027, 4), "SlotReuse", "WindowEdge")
		m("duplicate-then-new", "5, 5 (duplicate), then 6", "REPLAY-012", ids(5, 5, 6), "RejectKeepsState")
		m("zero-then-first", "0 (invalid), then 1", "REPLAY-011", ids(0, 1), "RejectKeepsState", "ZeroID")
		m("stale-then-edge", "2000, 976 (stale), then 977", "REPLAY-012", ids(2000, 976, 977), "RejectKeepsState", "WindowEdge")
		m("duplicate", "5, then 5 again", "REPLAY-012", ids(5, 5), "DuplicateID")
		m("duplicate-top", "1, 2, 3, then 3", "REPLAY-012", ids(1, 2, 3, 3), "DuplicateID")
		m("duplicate-inside", "10, 5, then 5", "REPLAY-012", ids(10, 5, 5), "DuplicateID")
		m("duplicate-edge", "2000, 977, then 977 (top − id = 1023)", "REPLAY-012", ids(2000, 977, 977), "DuplicateID", "WindowEdge")
		m("duplicate-first-of-many", "1 … 8, then 1", "REPLAY-012", ids(1, 2, 3, 4, 5, 6, 7, 8, 1), "DuplicateID")
		m("stale-edge", "2000, then 976: top − id = 1024 = W", "REPLAY-012", ids(2000, 976), "Stale", "WindowEdge")
		m("stale-far", "1000000, then 1", "REPLAY-012", ids(1000000, 1), "Stale", "LargeJump")
		m("stale-accepted-before", "1, 1025, then 1: accepted before, now outside the window", "REPLAY-012", ids(1, 1025, 1), "Stale")
		m("slot-reuse-duplicate", "100, 1124, then 1124", "REPLAY-012", ids(100, 1124, 1124), "SlotReuse", "DuplicateID")
		m("slot-reuse-old-stale", "100, 1124, then 100 (same slot, now stale)", "REPLAY-012", ids(100, 1124, 100), "SlotReuse", "Stale")
		m("cleared-stale", "1, 2, 3, 1027, then 3 (top − id = 1024)", "REPLAY-012", ids(1, 2, 3, 1027, 3), "Stale", "WindowEdge")
		m("jump-then-old", "1, 2, 3, 3000, then 2", "REPLAY-012", ids(1, 2, 3, 3000, 2), "Stale", "LargeJump")
		m("stale-twice", "2000, 976, then 976 again: still stale", "REPLAY-012", ids(2000, 976, 976), "Stale", "RejectKeepsState")
		m("zero", "ID 0", "REPLAY-011", ids(0), "ZeroID")
		m("zero-after", "5, then 0", "REPLAY-011", ids(5, 0), "ZeroID")
		m("max-duplicate", "2^64 − 1 twice", "REPLAY-012", ids(maxU64, maxU64), "MaxID", "DuplicateID")
		m("max-stale", "2^64 − 1, then 2^64 − 1025 (top − id = W)", "REPLAY-012", ids(maxU64, maxU64-1024), "MaxID", "Stale")
		m("max-then-one", "2^64 − 1, then 1", "REPLAY-012", ids(maxU64, 1), "MaxID", "Stale")

		bs := vectors.ReplayGroup{Type: "BatchSequence"}
		b := func(name, comment string, sessions []int, v []uint64, flags ...string) {
			add(&bs, "batch/"+name, comment, "REPLAY-010", sessions, v, flags...)
		}
		b("first", "batch_seq 1", nil, ids(1), "Normal")
		b("ascending", "1, 2, 3", nil, ids(1, 2, 3), "Normal")
		b("gap", "1, then 100", nil, ids(1, 100), "Normal")
		b("jump-huge", "5, then 2^63", nil, ids(5, 1<<63), "LargeJump")
		b("max", "1, then 2^64 − 1", nil, ids(1, maxU64), "MaxID")
		b("new-session-lower", "session 0 at 5, then session 1 at 3: a new session starts from 0", []int{0, 1}, ids(5, 3), "NewSession")
		b("new-session-same", "session 0 at 5, then session 1 at 5", []int{0, 1}, ids(5, 5), "NewSession")
		b("new-session-restart-at-1", "session 0 at 2^63, then session 1 at 1 (a fresh store)", []int{0, 1}, ids(1<<63, 1), "NewSession")
		b("new-session-then-next", "session 0 at 100, session 1 at 3, then 4", []int{0, 1, 1}, ids(100, 3, 4), "NewSession")
		b("third-session", "sessions 0, 1, 2 at 9, 7 and 5", []int{0, 1, 2}, ids(9, 7, 5), "NewSession")
		b("replay-then-next", "5, 5 (replayed), then 6", nil, ids(5, 5, 6), "RejectKeepsState")
		b("replay", "1, then 1 again", nil, ids(1, 1), "ReplayedBatch")
		b("older", "5, then 4", nil, ids(5, 4), "ReplayedBatch")
		b("older-after-gap", "5, 100, then 99", nil, ids(5, 100, 99), "ReplayedBatch")
		b("max-replay", "2^64 − 1 twice", nil, ids(maxU64, maxU64), "MaxID", "ReplayedBatch")
		b("max-then-zero", "2^64 − 1, then 0 (a wrapped counter)", nil, ids(maxU64, 0), "MaxID", "ReplayedBatch")
		b("new-session-replay", "session 0 at 5, session 1 at 3, then 3 again", []int{0, 1, 1}, ids(5, 3, 3), "NewSession", "ReplayedBatch")
		b("new-session-older", "session 0 at 5, session 1 at 7, then 6", []int{0, 1, 1}, ids(5, 7, 6), "NewSession", "ReplayedBatch")
		b("new-session-zero", "session 0 at 5, then session 1 at 0: 0 is never accepted", []int{0, 1}, ids(5, 0), "NewSession", "ReplayedBatch")
		b("replay-after-reject", "3, 2 (replayed), then 2 again", nil, ids(3, 2, 2), "RejectKeepsState", "ReplayedBatch")

		return file(a, []string{
			"Replay decisions (spec §11). MessageWindow: the message-ID sliding window of W = 1024 IDs (REPLAY-011); an accepted ID is recorded, a duplicate is replayed_message, an ID with top − id ≥ W is stale_message, ID 0 is illegal_parameter (REPLAY-012: local results, not fatal).",
			"BatchSequence: per session, a batch_seq not above the highest one accepted in that session (0 at its start) is replayed_batch (REPLAY-010). Steps name their session: a step with a higher session number than the one before starts a new session of the same client with the same server key.",
			"Each test starts from a fresh state and lists every step with its expected result; a rejected step records nothing (BATCH-014).",
		}, []vectors.ReplayGroup{mw, bs}), nil
	},
	schema: func() map[string]any {
		step := strict(obj{"session": integer(0, 15), "id": u64(),
			"result": enum("accept", "replayed_message", "stale_message", "illegal_parameter", "replayed_batch")})
		return fileSchema("replay", "SealFeed v1 replay protection vectors",
			obj{"type": enum("MessageWindow", "BatchSequence"), "windowSize": integer(0, 1<<20)}, nil,
			obj{"steps": obj{"type": "array", "minItems": 1, "items": step}}, nil)
	},
}
