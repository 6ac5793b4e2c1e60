// Package vectormode is the vector mode of the SealFeed conformance suite:
// the runner feeds every test vector of vectors/v1 to an implementation
// under test — a shim process speaking JSON lines on its standard input and
// output — and judges the answers itself, with the expected results, alerts
// and outputs it never sends.
//
// Tests enumerates the vectors, Strip removes what a test expects from it,
// RunShim (or Run, over streams already connected) drives a shim and judges
// its answers, and Serve is the shim side of the protocol, so that a shim
// written in Go is three lines around an executor such as the reference's,
// vectors/run.Case:
//
//	err := vectormode.Serve(os.Stdin, os.Stdout, "my-impl", func(area string, group, test json.RawMessage) (string, string, map[string]any) {
//		a := run.Case(area, group, test)
//		return a.Result, a.Alert, a.Outputs
//	})
//
// # Protocol
//
// PROTOCOL.md in this directory is the same text for implementers in
// other languages. The protocol is line-oriented: every message is one JSON
// object encoded on one line (no newline inside it), terminated by "\n", in
// UTF-8. Lines that are empty or only white space are ignored.
//
// 1. The runner starts the shim and writes the hello line
//
//	{"hello": "sealfeed-conformance/1"}
//
// The shim's first line must answer it with the same protocol version and
// its implementation's name:
//
//	{"hello": "sealfeed-conformance/1", "implementation": "<name>"}
//
// A shim that does not speak the runner's version answers with its own
// version and exits; the runner then fails every test.
//
// 2. The runner writes one request per test:
//
//	{"id": "vector/batch/17", "area": "batch", "group": {…}, "test": {…}}
//
// id is the test's stable ID, vector/<area>/<tcId>. area names the vector
// file (vectors/v1/<area>.json). group is the test's group object from that
// file without its "tests" field, and test the test object stripped (Strip):
// without "result", "alert" and "comment" and without the expected outputs,
// nested ones included (the table below). Every other field is as in the
// file and documented by vectors/README.md and vectors/areas.go: byte
// strings in lower-case hex, uint64 protocol values as decimal strings.
//
// Requests are pipelined: the runner does not wait for an answer before
// writing the next request, but it keeps at most MaxInFlight requests
// unanswered, so a shim that reads requests and answers them one at a time
// never blocks the runner.
//
// 3. The shim answers every request with one line, in any order:
//
//	{"id": "vector/batch/17", "result": "valid", "alert": "", "outputs": {…}}
//
// result is "valid" (the operation succeeded), "invalid" (it failed; alert
// is then the name of the alert, as in protocol/alert and registries.md,
// e.g. "decode_error") or "unimplemented" (the shim does not support the
// area or the operation; the test is reported as skipped, never as passed).
// outputs holds the values the operation computed, named and encoded
// exactly like the vector fields that hold the expected values; it may be
// omitted when the test has none. alert may be omitted or empty when result
// is not "invalid".
//
// 4. When every test is answered (or has failed), the runner closes the
// shim's standard input. The shim then exits with status 0.
//
// # Outputs
//
// The outputs of each area are those of package vectors/judge; its
// documentation explains each, and vectors/README.md defines every field.
// In short:
//
//	area            outputs of a valid test                         also judged on invalid tests
//	expand_label    info, output                                    –
//	keyschedule     secrets                                         –
//	x25519          shared                                          –
//	x25519mlkem768  exchange: clientShare, serverShare, shared;     clientShare (exchange, finish)
//	                respond: serverShare, shared;
//	                finish: clientShare, shared
//	ed25519         –                                               –
//	credential      serverKey                                       –
//	token           subject, device, tokenId, notAfter              –
//	merkle          –                                               –
//	replay          steps: [{result}]                               steps
//	record          steps: [{result, messages}]                     steps
//	batch           messages: [{messageId, payload, status}]        –
//	handshake       role both: frames, messages, secrets,           frames (roles client and server)
//	                clientId, ticket, nextServerKey; client or server: frames
//	session         steps: [{result, messages, answers}]            steps
//	decode          –                                               –
//	webhook         signatureBase                                   –
//
// A steps output has one element per step of the test, in order, with that
// step's output fields only (a step's result is "accept" or an alert name);
// the stripped test's steps keep their input fields. In these step areas
// (replay, record, session) the test's result and alert are those of its
// last step; a protected Alert makes a session step's result the peer's
// code (POST-015). Handshake frames are
// every frame of the handshake, in order, as {"from", "frame"}: with role
// both the stripped test has no frames; with role client or server it has
// the other side's frames as given and {"from": role} in the places of the
// frames the side under test must produce, and the answer is the whole
// list.
//
// # Judgement
//
// A valid test passes if the result is "valid" and every expected output
// is present and equal to the vector's value as a JSON value: object fields
// in any order, but strings (hex included, so lower case), numbers and
// lists exactly. An invalid test passes if the result is "invalid", the
// alert is exactly the vector's (no loose matching) and the outputs judged
// on invalid tests are equal. Outputs not expected are ignored.
// "unimplemented" is a skip. Anything else fails with a message of the form
// "what: got X, want Y", and the result carries the request and answer
// lines.
//
// A test also fails when the shim gives no answer within the per-request
// timeout (counted from when the request was written), when its answer is
// malformed (not JSON, no id, a result that is none of the three), when the
// shim exits or closes its output before answering (the message gives the
// exit status and the end of its standard error), or when the context ends.
// A line that cannot be attributed to a pending request (not JSON and no
// recognisable id, or an id the runner never sent) ends the run: the shim is
// stopped and every unanswered test fails with the line quoted. When no
// line at all arrives for twice the timeout while requests are waiting, the
// shim is considered hung: it is stopped and every unanswered test fails. A
// second answer to a test fails it.
package vectormode

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/judge"
)

// Version is the protocol version of the hello line.
const Version = "sealfeed-conformance/1"

// Test is one test vector.
type Test struct {
	// ID is the stable ID vector/<area>/<tcId>, e.g. vector/batch/17.
	ID   string
	Area string
	TcID int
	// Requirement is the spec requirement ID the test exercises.
	Requirement string
	// Result is the expected result, "valid" or "invalid"; Alert the
	// expected alert of an invalid test.
	Result  string
	Alert   string
	Comment string
	// Group is the test's group without its tests; Case the test object
	// as in the vector file, expected values included.
	Group, Case json.RawMessage
}

// Tests returns every test of every vector file (vectors.Files, in that
// order; within a file, in file order).
func Tests() ([]Test, error) {
	var out []Test
	seen := map[string]bool{}
	for _, file := range vectors.Files() {
		b, err := vectors.FS.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var f struct {
			Area       string                       `json:"area"`
			TestGroups []map[string]json.RawMessage `json:"testGroups"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("vectormode: %s: %w", file, err)
		}
		if f.Area == "" {
			return nil, fmt.Errorf("vectormode: %s: no area", file)
		}
		for gi, g := range f.TestGroups {
			var tests []json.RawMessage
			if err := json.Unmarshal(g["tests"], &tests); err != nil {
				return nil, fmt.Errorf("vectormode: %s: group %d: %w", file, gi, err)
			}
			delete(g, "tests")
			group, err := json.Marshal(g)
			if err != nil {
				return nil, fmt.Errorf("vectormode: %s: group %d: %w", file, gi, err)
			}
			for _, tb := range tests {
				var c vectors.Test
				if err := json.Unmarshal(tb, &c); err != nil {
					return nil, fmt.Errorf("vectormode: %s: %w", file, err)
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, tb); err != nil {
					return nil, err
				}
				t := Test{
					ID: fmt.Sprintf("vector/%s/%d", f.Area, c.TcID), Area: f.Area, TcID: c.TcID,
					Requirement: c.Requirement, Result: string(c.Result), Alert: c.Alert, Comment: c.Comment,
					Group: group, Case: compact.Bytes(),
				}
				if seen[t.ID] {
					return nil, fmt.Errorf("vectormode: %s: test ID %s twice", file, t.ID)
				}
				seen[t.ID] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// Strip returns the test as a shim receives it: without result, alert and
// comment, and without every expected output of its area (vectors/judge.Strip),
// nested per-step and per-frame outputs included. It returns nil if the
// test's JSON is malformed.
func Strip(t Test) json.RawMessage {
	s, err := judge.Strip(t.Area, t.Case)
	if err != nil {
		return nil
	}
	return s
}
