package run

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/vectors/judge"
)

// The tests of package vectors run every vector through Case and Judge;
// these check the edges of the API on hand-written tests.

const replayTest = `{"tcId": 7, "comment": "c", "flags": [], "result": "invalid", "requirement": "REPLAY-012",
	"alert": "replayed_message", "steps": [{"signer": 0, "id": "5", "result": "accept"}, {"signer": 0, "id": "5", "result": "replayed_message"}]}`

func TestUnknownArea(t *testing.T) {
	if a := Case("nope", json.RawMessage(`{}`), json.RawMessage(`{}`)); a.Result != Unimplemented {
		t.Errorf("unknown area: %+v", a)
	}
	if _, err := judge.Strip("nope", json.RawMessage(`{}`)); err == nil {
		t.Error("Strip of an unknown area")
	}
	if err := judge.Judge("nope", json.RawMessage(replayTest), Valid, "", nil); err == nil {
		t.Error("Judge of an unknown area")
	}
}

func TestStripAndCase(t *testing.T) {
	s, err := judge.Strip("replay", json.RawMessage(replayTest))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s); got != `{"flags":[],"requirement":"REPLAY-012","steps":[{"id":"5","signer":0},{"id":"5","signer":0}],"tcId":7}` {
		t.Errorf("stripped: %s", got)
	}
	a := Case("replay", json.RawMessage(`{"type": "MessageWindow", "windowSize": 1024}`), json.RawMessage(replayTest))
	out, _ := json.Marshal(a.Outputs)
	if a.Result != Invalid || a.Alert != "replayed_message" || string(out) != `{"steps":[{"result":"accept"},{"result":"replayed_message"}]}` {
		t.Errorf("answer %s %s %s", a.Result, a.Alert, out)
	}
	if err := judge.Judge("replay", json.RawMessage(replayTest), a.Result, a.Alert, out); err != nil {
		t.Error(err)
	}
	if a := Case("replay", json.RawMessage(`{"type": "MessageWindow", "windowSize": 1024}`), json.RawMessage(`[`)); a.Alert != "internal_error" || a.Err == nil {
		t.Errorf("malformed test: %+v", a)
	}
}

func TestJudgeMessages(t *testing.T) {
	test := json.RawMessage(replayTest)
	for _, c := range []struct {
		result, alert, outputs, want string
	}{
		{Invalid, "replayed_message", `{"steps":[{"result":"accept"},{"result":"replayed_message"}],"extra":1}`, ""},
		{Invalid, "replayed_message", `{"steps":[{"result":"accept"},{"result":"accept"}]}`, `output steps[1].result: got "accept", want "replayed_message"`},
		{Invalid, "replayed_message", `{"steps":[{"result":"accept"}]}`, `output steps: got 1 elements, want 2`},
		{Invalid, "replayed_message", `{"steps":[{"result":"accept"},{"result":"replayed_message","x":1}]}`, `output steps[1].x: got 1, want no such field`},
		{Invalid, "replayed_message", `{}`, `output steps: missing, want [{"result":"accept"},{"result":"replayed_message"}]`},
		{Invalid, "stale_message", `{"steps":[{"result":"accept"},{"result":"replayed_message"}]}`, `alert: got "stale_message", want "replayed_message"`},
		{Valid, "", `{"steps":[{"result":"accept"},{"result":"replayed_message"}]}`, `result: got valid, want invalid (alert replayed_message)`},
		{"maybe", "", `{"steps":[{"result":"accept"},{"result":"replayed_message"}]}`, `result: got "maybe", want invalid`},
		{Invalid, "replayed_message", `[]`, `outputs: got [], want a JSON object`},
	} {
		err := judge.Judge("replay", test, c.result, c.alert, json.RawMessage(c.outputs))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.outputs, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %s %s: %v, want %q", c.result, c.alert, c.outputs, err, c.want)
		}
	}
	// Numbers and hex compare exactly; object fields in any order.
	x := json.RawMessage(`{"tcId":1,"result":"valid","private":"","public":"","shared":"ab01"}`)
	if err := judge.Judge("x25519", x, Valid, "", json.RawMessage(`{"shared":"AB01"}`)); err == nil {
		t.Error("upper-case hex accepted")
	}
	if err := judge.Judge("x25519", x, Valid, "", json.RawMessage(`{"other":1,"shared":"ab01"}`)); err != nil {
		t.Error(err)
	}
}
