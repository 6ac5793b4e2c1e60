package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Results of an answer.
const (
	// Valid: the operation succeeded; its outputs hold what it computed.
	Valid = "valid"
	// Invalid: the operation failed with an alert.
	Invalid = "invalid"
	// Unimplemented: the area (or operation) is not supported.
	Unimplemented = "unimplemented"
)

// area is one vector area: which fields of a test are outputs.
type area struct {
	// outputs returns the output fields of test t (decoded as an object):
	// all of them, and those judged when the test is invalid.
	outputs func(t map[string]json.RawMessage) (all, onInvalid []string)
	// stepFields, for an area whose "steps" output is a list of per-step
	// outputs, are the output fields of a step; the other fields of a step
	// are its inputs.
	stepFields []string
}

var steps = []string{"steps"}

// areas is the package documentation's table.
var areas = map[string]*area{
	"expand_label":   {outputs: fixed([]string{"info", "output"})},
	"keyschedule":    {outputs: fixed([]string{"secrets"})},
	"x25519":         {outputs: fixed([]string{"shared"})},
	"x25519mlkem768": {outputs: hybridOutputs},
	"ed25519":        {outputs: fixed(nil)},
	"credential":     {outputs: fixed([]string{"serverKey"})},
	"token":          {outputs: fixed([]string{"subject", "device", "tokenId", "notAfter"})},
	"sealed":         {outputs: sealedOutputs},
	"merkle":         {outputs: fixed(nil)},
	"replay":         {outputs: fixed(steps, steps...), stepFields: []string{"result"}},
	"record":         {outputs: fixed(steps, steps...), stepFields: []string{"result", "messages"}},
	"session":        {outputs: fixed(steps, steps...), stepFields: []string{"result", "messages", "answers"}},
	"batch":          {outputs: fixed([]string{"messages"})},
	"handshake":      {outputs: handshakeOutputs},
	"decode":         {outputs: fixed(nil)},
	"webhook":        {outputs: fixed([]string{"signatureBase"})},
}

// sealedOutputs: a record test (SealKeyRecordVerify) outputs the record's ID,
// public key and not_after; an envelope test (SealedOpen) the payload, the
// publisher's key ID and the time sealed.
func sealedOutputs(t map[string]json.RawMessage) ([]string, []string) {
	if _, ok := t["envelope"]; ok {
		return []string{"payload", "publisherKeyId", "sealedAt"}, nil
	}
	return []string{"recordId", "publicKey", "notAfter"}, nil
}

// fixed returns an outputs function for an area whose output fields do not
// depend on the test.
func fixed(all []string, onInvalid ...string) func(map[string]json.RawMessage) ([]string, []string) {
	return func(map[string]json.RawMessage) ([]string, []string) { return all, onInvalid }
}

// Areas returns the areas of the table, sorted.
func Areas() []string {
	var out []string
	for a := range areas {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// hybridOutputs: the outputs depend on the operation (see HybridTest).
func hybridOutputs(t map[string]json.RawMessage) (all, onInvalid []string) {
	switch str(t, "operation") {
	case "exchange":
		return []string{"clientShare", "serverShare", "shared"}, []string{"clientShare"}
	case "respond":
		return []string{"serverShare", "shared"}, nil
	case "finish":
		return []string{"clientShare", "shared"}, []string{"clientShare"}
	}
	return nil, nil
}

// handshakeOutputs: role both computes the whole transcript; a side alone
// computes its own frames.
func handshakeOutputs(t map[string]json.RawMessage) (all, onInvalid []string) {
	if str(t, "role") == "both" {
		return []string{"frames", "messages", "secrets", "clientId", "ticket", "nextServerKey"}, nil
	}
	return []string{"frames"}, []string{"frames"}
}

// areaTest looks up an area and decodes one of its tests as an object.
func areaTest(areaName string, test json.RawMessage) (*area, map[string]json.RawMessage, error) {
	a, ok := areas[areaName]
	if !ok {
		return nil, nil, fmt.Errorf("judge: unknown area %q", areaName)
	}
	m, err := object(test)
	if err != nil {
		return nil, nil, fmt.Errorf("judge: %s test: %w", areaName, err)
	}
	return a, m, nil
}

// object decodes a JSON object into its fields.
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
			return nil, fmt.Errorf("judge: %s test: %s: %w", areaName, f, err)
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
