// Package judge compares answers to SealFeed test vectors (vectors/v1/*.json)
// with what the vectors expect: Strip gives the input an implementation
// under test receives, Expected and Outputs name what it must compute, and
// Judge decides whether an answer passes. It runs no protocol code; vectors/run
// computes answers with the reference implementation.
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
//	                secrets, clientId, ticket, nextServerKey;
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
package judge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Expected returns the outputs test expects, by name, as the JSON values of
// the vector: every output of a valid test, and for an invalid test those
// that are judged on invalid tests (package documentation). A "steps" list
// keeps only each step's output fields.
func Expected(areaName string, test json.RawMessage) (map[string]json.RawMessage, error) {
	a, m, err := areaTest(areaName, test)
	if err != nil {
		return nil, err
	}
	all, onInvalid := a.outputs(m)
	names := all
	if str(m, "result") != Valid {
		names = onInvalid
	}
	out := map[string]json.RawMessage{}
	for _, n := range names {
		v, ok := m[n]
		if !ok {
			return nil, fmt.Errorf("judge: %s test: no field %q", areaName, n)
		}
		if n == "steps" && len(a.stepFields) > 0 {
			var steps []map[string]json.RawMessage
			if err := json.Unmarshal(v, &steps); err != nil {
				return nil, fmt.Errorf("judge: %s test: steps: %w", areaName, err)
			}
			keep := make([]map[string]json.RawMessage, len(steps))
			for i, st := range steps {
				keep[i] = map[string]json.RawMessage{}
				for _, f := range a.stepFields {
					if sv, ok := st[f]; ok {
						keep[i][f] = sv
					}
				}
			}
			if v, err = json.Marshal(keep); err != nil {
				return nil, err
			}
		}
		out[n] = v
	}
	return out, nil
}

// maxDiffs bounds the differences one judgement lists.
const maxDiffs = 8

// Judge compares an answer with test, a test object of the vector file of
// area with its expected result, alert and outputs. outputs is the answer's
// outputs object (null or empty when there are none). It returns nil when
// the answer passes:
//
//   - a valid test passes if result is "valid" and every expected output is
//     present in outputs and equal to the vector's value as a JSON value
//     (object fields in any order; strings, numbers and lists exactly);
//   - an invalid test passes if result is "invalid", alert is exactly the
//     vector's alert, and the outputs judged on invalid tests (package
//     documentation) are equal as above.
//
// Outputs that are not expected are ignored. Otherwise the error lists
// every difference found (up to a bound), each as "what: got X, want Y".
func Judge(areaName string, test json.RawMessage, result, alertName string, outputs json.RawMessage) error {
	m, err := object(test)
	if err != nil {
		return fmt.Errorf("judge: test: %w", err)
	}
	want, err := Expected(areaName, test)
	if err != nil {
		return err
	}
	var diffs []string
	switch wr, wa := str(m, "result"), str(m, "alert"); {
	case wr == Valid && result != Valid:
		diffs = append(diffs, fmt.Sprintf("result: got %s, want valid", describe(result, alertName)))
	case wr == Invalid && result != Invalid:
		diffs = append(diffs, fmt.Sprintf("result: got %s, want invalid (alert %s)", describe(result, alertName), wa))
	case wr == Invalid && alertName != wa:
		diffs = append(diffs, fmt.Sprintf("alert: got %q, want %q", alertName, wa))
	case wr != Valid && wr != Invalid:
		return fmt.Errorf("judge: test has result %q", wr)
	}
	got := map[string]any{}
	if t := bytes.TrimSpace(outputs); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		v, err := decodeValue(t)
		if err != nil {
			return fmt.Errorf("outputs: %v", err)
		}
		g, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("outputs: got %s, want a JSON object", show(v))
		}
		got = g
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := decodeValue(want[n])
		if err != nil {
			return fmt.Errorf("judge: expected %s: %w", n, err)
		}
		g, ok := got[n]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("output %s: missing, want %s", n, show(w)))
			continue
		}
		diff("output "+n, g, w, &diffs)
	}
	if len(diffs) == 0 {
		return nil
	}
	if len(diffs) > maxDiffs {
		diffs = append(diffs[:maxDiffs], fmt.Sprintf("and %d more differences", len(diffs)-maxDiffs))
	}
	return errors.New(strings.Join(diffs, "; "))
}

// describe names a result and its alert.
func describe(result, alertName string) string {
	switch result {
	case Invalid:
		return fmt.Sprintf("invalid (alert %q)", alertName)
	case Valid, Unimplemented:
		return result
	}
	return fmt.Sprintf("%q", result)
}

// decodeValue decodes one JSON value, keeping numbers as written.
func decodeValue(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after a JSON value")
	}
	return v, nil
}

// diff appends the differences between got and want, JSON values, to out.
func diff(path string, got, want any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: got %s, want an object", path, show(got)))
			return
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				*out = append(*out, fmt.Sprintf("%s: missing, want %s", p, show(wv)))
			case !wok:
				*out = append(*out, fmt.Sprintf("%s: got %s, want no such field", p, show(gv)))
			default:
				diff(p, gv, wv, out)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: got %s, want a list", path, show(got)))
			return
		}
		if len(g) != len(w) {
			*out = append(*out, fmt.Sprintf("%s: got %d elements, want %d", path, len(g), len(w)))
		}
		for i := range min(len(g), len(w)) {
			diff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], out)
		}
	default:
		if reflect.DeepEqual(got, want) {
			return
		}
		msg := fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))
		if gs, ok := got.(string); ok {
			if ws, ok := want.(string); ok && len(gs) > 32 && len(ws) > 32 {
				i := 0
				for i < len(gs) && i < len(ws) && gs[i] == ws[i] {
					i++
				}
				msg += fmt.Sprintf(" (lengths %d and %d, first difference at character %d)", len(gs), len(ws), i)
			}
		}
		*out = append(*out, msg)
	}
}

// show encodes a JSON value for a message, shortened if long.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 120
	if len(b) > limit {
		return string(b[:limit]) + fmt.Sprintf("…(%d bytes of JSON)", len(b))
	}
	return string(b)
}
