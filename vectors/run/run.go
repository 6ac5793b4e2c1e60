// Package run executes SealFeed test vectors (vectors/v1/*.json) with the
// reference implementation under protocol/, one test at a time.
//
// Case runs one test of one area. It computes the test's result, alert and
// outputs from the test's inputs alone: before decoding, it removes the
// test's result, alert, comment and every expected output (judge.Strip), so
// the answer cannot copy them. vectors/judge compares an answer — from Case
// or from another implementation — with what the vector expects. The tests
// of package vectors run every vector through Case and judge.Judge, and the
// conformance suite's vector mode (conformance/vectormode) sends the same
// stripped tests to an implementation under test and judges its answers
// with judge.Judge.
//
// The outputs Case computes are those of vectors/judge's table. Case runs
// the server's ML-KEM encapsulation derandomized (internal/detrand), so
// only test tooling links this package: the sealfeed binary's conformance
// runner links vectors/judge alone.
package run

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/vectors/judge"
)

// Results of an Answer (vectors/judge).
const (
	Valid         = judge.Valid
	Invalid       = judge.Invalid
	Unimplemented = judge.Unimplemented
)

// runs holds, per area, how to run a test.
var runs = map[string]func(group, test json.RawMessage) Answer{}

// Areas returns the areas Case runs, sorted.
func Areas() []string {
	var out []string
	for a := range runs {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

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

// Case runs one test of area with the reference implementation. group is
// the test's group (its "tests" field, if any, is ignored) and test the test
// object as it appears in the vector file or as Strip returns it: the
// expected result, alert and outputs are removed before the test is read,
// so they play no part. An unknown area gives an Unimplemented answer.
// Case is safe for concurrent use.
func Case(areaName string, group, test json.RawMessage) Answer {
	run, ok := runs[areaName]
	if !ok {
		return Answer{Result: Unimplemented, Err: fmt.Errorf("run: unknown area %q", areaName)}
	}
	stripped, err := judge.Strip(areaName, test)
	if err != nil {
		return internal(err)
	}
	return run(group, stripped)
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
