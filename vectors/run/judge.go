package run

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
			return nil, fmt.Errorf("run: %s test: no field %q", areaName, n)
		}
		if n == "steps" && len(a.stepFields) > 0 {
			var steps []map[string]json.RawMessage
			if err := json.Unmarshal(v, &steps); err != nil {
				return nil, fmt.Errorf("run: %s test: steps: %w", areaName, err)
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
		return fmt.Errorf("run: test: %w", err)
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
		return fmt.Errorf("run: test has result %q", wr)
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
			return fmt.Errorf("run: expected %s: %w", n, err)
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
