// Package run executes SealFeed test vectors (vectors/v1/*.json) with the
// reference implementation under protocol/, one test at a time, and judges
// answers against the vectors.
//
// Case runs one test of one area. It computes the test's result, alert and
// outputs from the test's inputs alone: before decoding, it removes the
// test's result, alert, comment and every expected output (Strip), so the
// answer cannot copy them. Judge compares an answer — from Case or from
// another implementation — with what the vector expects. The tests of
// package vectors run every vector through Case and Judge, and the
// conformance suite's vector mode (conformance/vectormode) sends the same
// stripped tests to an implementation under test and judges its answers
// with Judge.
//
// # Outputs
//
// An output is a value the implementation computes. Each is named exactly
// like the field of the vector that holds the expected value, and encoded as
// the vector encodes it (lower-case hex byte strings, decimal-string
// uint64s, the same object fields). Steps and frames are lists with one
// element per step or frame of the test, each element holding that step's
// or frame's output fields.
//
//	area            outputs (valid tests)                           also judged on invalid tests
//	expand_label    info, output                                    –
//	keyschedule     secrets                                         –
//	x25519          shared                                          –
//	x25519mlkem768  operation exchange: clientShare, serverShare,   clientShare (exchange, finish)
//	                shared; respond: serverShare, shared;
//	                finish: clientShare, shared
//	ed25519         –                                               –
//	credential      serverKey                                       –
//	merkle          –                                               –
//	replay          steps: [{result}]                               steps
//	record          steps: [{result, messages}]                     steps
//	batch           messages: [{messageId, payload, status}]        –
//	handshake       role both: frames: [{from, frame}], messages,   frames (roles client and server)
//	                secrets, clientId, ticket;
//	                role client or server: frames: [{from, frame}]
//	session         steps: [{result, messages, answers}]            steps
//	decode          –                                               –
//
// A step's result is "accept" or the name of the alert the step fails with;
// a failed step has no messages and no answers ([]). In record tests the
// steps stop at the first failure; a session is closed by a failed step but
// every later step is still presented (and fails).
//
// Handshake frames are every frame of the handshake in order, each
// {"from": "client"|"server", "frame": hex}. With role both the side under
// test is both sides, so Strip removes the whole list; with role client or
// server, Strip removes only the "frame" field of the side under test's own
// frames, leaving {"from": role} in their place: the side produces those
// frames, consumes the other side's frames as given, and answers the whole
// list, the other side's frames copied. secrets includes the transcript
// hashes th_* (TH(…) of spec §6.1) and the envelope keys env_key, env_iv and
// tag_key; messages has every handshake message, with its 4-byte header.
//
// For an invalid test, only the outputs of the last column are judged: the
// work done before the failure (the steps before the failing one, the frames
// the side produced before it rejected the last input, the client share
// computed before the server share is rejected). Outputs a vector file has
// for an invalid test outside that column are empty placeholders and are not
// judged. Outputs not in the table are ignored.
//
// Ed25519, merkle and decode tests have no outputs: the result and alert are
// the whole answer.
package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// Results of an Answer.
const (
	// Valid: the operation succeeded; Outputs holds what it computed.
	Valid = "valid"
	// Invalid: the operation failed with Alert.
	Invalid = "invalid"
	// Unimplemented: the area (or operation) is not supported.
	Unimplemented = "unimplemented"
)

// Answer is the outcome of one test as an implementation computed it.
type Answer struct {
	// Result is Valid, Invalid or Unimplemented (an area, operation, group
	// type or structure the reference does not have).
	Result string
	// Alert is the name of the alert (protocol/alert) when Result is
	// Invalid; empty otherwise. When the reference cannot run a test at all
	// (malformed input JSON, or a check of the reference against itself
	// failed, such as a client and server that disagree) the answer is
	// Invalid with alert internal_error and Err says why.
	Alert string
	// Outputs are the computed outputs, keyed by the names of the package
	// documentation's table; each value marshals to the JSON the vector
	// uses.
	Outputs map[string]any

	// The remaining fields are diagnostics for the tests of package
	// vectors; they are not part of any wire protocol.

	// Err is the error behind an Invalid result.
	Err error
	// Held maps names to secret or private values the side under test held
	// while it ran (handshake: every traced message and secret; record and
	// session: traffic secrets and keys; batch: envelope keys, contents and
	// blob keys), so that a test can check that Err contains none of them
	// (ALERT-003).
	Held map[string][]byte
	// Drawn is, for handshake tests, the number of bytes each side
	// ("client", "server") read from its randomness source.
	Drawn map[string]int
}

// area is one vector area: how to run a test, and which fields of a test
// are outputs.
type area struct {
	run func(group, test json.RawMessage) Answer
	// outputs returns the output fields of test t (decoded as an object):
	// all of them, and those judged when the test is invalid.
	outputs func(t map[string]json.RawMessage) (all, onInvalid []string)
	// stepFields, for an area whose "steps" output is a list of per-step
	// outputs, are the output fields of a step; the other fields of a step
	// are its inputs.
	stepFields []string
}

var areas = map[string]*area{}

// fixed returns an outputs function for an area whose output fields do not
// depend on the test.
func fixed(all []string, onInvalid ...string) func(map[string]json.RawMessage) ([]string, []string) {
	return func(map[string]json.RawMessage) ([]string, []string) { return all, onInvalid }
}

// Areas returns the areas Case runs, sorted.
func Areas() []string {
	var out []string
	for a := range areas {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Case runs one test of area with the reference implementation. group is
// the test's group (its "tests" field, if any, is ignored) and test the test
// object as it appears in the vector file or as Strip returns it: the
// expected result, alert and outputs are removed before the test is read,
// so they play no part. An unknown area gives an Unimplemented answer.
// Case is safe for concurrent use.
func Case(areaName string, group, test json.RawMessage) Answer {
	a, ok := areas[areaName]
	if !ok {
		return Answer{Result: Unimplemented, Err: fmt.Errorf("run: unknown area %q", areaName)}
	}
	stripped, err := Strip(areaName, test)
	if err != nil {
		return internal(err)
	}
	return a.run(group, stripped)
}

// fromErr is the answer of an operation that returned err.
func fromErr(err error) Answer {
	if err == nil {
		return Answer{Result: Valid, Outputs: map[string]any{}}
	}
	code, _ := alert.CodeOf(err)
	return Answer{Result: Invalid, Alert: code.String(), Err: err, Outputs: map[string]any{}}
}

// internal is the answer when the reference cannot run a test.
func internal(err error) Answer {
	return Answer{Result: Invalid, Alert: alert.InternalError.String(), Err: fmt.Errorf("run: %w", err), Outputs: map[string]any{}}
}

// internalf is internal with a formatted error.
func internalf(format string, args ...any) Answer { return internal(fmt.Errorf(format, args...)) }

// decode reads a group and a test of an area's types. Unknown fields are
// allowed: the group may carry its tests, and the test may lack fields
// Strip removed.
func decode[G, T any](group, test json.RawMessage) (*G, *T, error) {
	var g G
	var t T
	if err := json.Unmarshal(group, &g); err != nil {
		return nil, nil, fmt.Errorf("group: %w", err)
	}
	if err := json.Unmarshal(test, &t); err != nil {
		return nil, nil, fmt.Errorf("test: %w", err)
	}
	return &g, &t, nil
}

// object decodes a JSON object into its fields.
// areaTest looks up an area and decodes one of its tests as an object.
func areaTest(areaName string, test json.RawMessage) (*area, map[string]json.RawMessage, error) {
	a, ok := areas[areaName]
	if !ok {
		return nil, nil, fmt.Errorf("run: unknown area %q", areaName)
	}
	m, err := object(test)
	if err != nil {
		return nil, nil, fmt.Errorf("run: %s test: %w", areaName, err)
	}
	return a, m, nil
}

func object(b json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// str decodes a string field of m ("" when absent or not a string).
func str(m map[string]json.RawMessage, field string) string {
	var s string
	json.Unmarshal(m[field], &s)
	return s
}

// Strip returns test without its result, alert and comment and without
// every output field of the area (package documentation), nested ones
// included: the input an implementation under test receives.
func Strip(areaName string, test json.RawMessage) (json.RawMessage, error) {
	a, m, err := areaTest(areaName, test)
	if err != nil {
		return nil, err
	}
	all, _ := a.outputs(m)
	delete(m, "result")
	delete(m, "alert")
	delete(m, "comment")
	for _, f := range all {
		var err error
		switch {
		case f == "steps" && len(a.stepFields) > 0:
			err = editList(m, f, func(e map[string]json.RawMessage) {
				for _, sf := range a.stepFields {
					delete(e, sf)
				}
			})
		case f == "frames" && str(m, "role") != "both":
			// The side under test's own frames lose their bytes; the
			// other side's frames are its input.
			role := str(m, "role")
			err = editList(m, f, func(e map[string]json.RawMessage) {
				if str(e, "from") == role {
					delete(e, "frame")
				}
			})
		default:
			delete(m, f)
		}
		if err != nil {
			return nil, fmt.Errorf("run: %s test: %s: %w", areaName, f, err)
		}
	}
	return json.Marshal(m)
}

// editList applies edit to every element of the list of objects m[field].
func editList(m map[string]json.RawMessage, field string, edit func(map[string]json.RawMessage)) error {
	if _, ok := m[field]; !ok {
		return nil
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(m[field], &list); err != nil {
		return err
	}
	for _, e := range list {
		if e == nil {
			return errors.New("an element is not an object")
		}
		edit(e)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	m[field] = b
	return nil
}

// Outputs returns the names of the output fields of a test of area: all of
// them, and those judged when the test is invalid (package documentation).
func Outputs(areaName string, test json.RawMessage) (all, onInvalid []string, err error) {
	a, m, err := areaTest(areaName, test)
	if err != nil {
		return nil, nil, err
	}
	all, onInvalid = a.outputs(m)
	return all, onInvalid, nil
}
