package generate

import (
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// The schemas are written out property by property (not derived from the Go
// types by reflection) so that validating a file against its schema is an
// independent check of the generator and of the exported types.

type obj = map[string]any

// SchemaBase is the URL prefix of every schema's $id.
const SchemaBase = "https://github.com/sealfeed/sealfeed/vectors/schema/"

func hexAny() obj { return obj{"$ref": "#/$defs/hex"} }

// hexLen is a byte string of exactly n bytes.
func hexLen(n int) obj {
	return obj{"type": "string", "pattern": fmt.Sprintf("^[0-9a-f]{%d}$", 2*n)}
}

func str() obj              { return obj{"type": "string"} }
func enum(v ...any) obj     { return obj{"enum": v} }
func constant(v any) obj    { return obj{"const": v} }
func arrayOf(items obj) obj { return obj{"type": "array", "items": items} }
func integer(min, max int64) obj {
	return obj{"type": "integer", "minimum": min, "maximum": max}
}

// u64 is a uint64 written as a canonical decimal string (vectors.U64).
func u64() obj { return obj{"type": "string", "pattern": "^(0|[1-9][0-9]{0,19})$"} }

func uint16s() obj { return arrayOf(integer(0, 0xffff)) }

// strict is an object with exactly the given properties, all required
// unless listed in optional.
func strict(props obj, optional ...string) obj {
	opt := map[string]bool{}
	for _, o := range optional {
		opt[o] = true
	}
	req := []string{}
	for _, k := range sortedKeys(props) {
		if !opt[k] {
			req = append(req, k)
		}
	}
	return obj{"type": "object", "additionalProperties": false, "properties": props, "required": req}
}

// fileSchema returns the schema of one area's file: the common envelope, the
// area's group properties (plus "tests") and test properties (plus the
// common test fields). Optional names properties that may be absent.
func fileSchema(area, title string, group obj, groupOptional []string, test obj, testOptional []string) obj {
	testProps := obj{
		"tcId":        integer(1, 1<<31-1),
		"comment":     str(),
		"flags":       arrayOf(obj{"type": "string", "pattern": "^[A-Za-z0-9]+$"}),
		"result":      enum("valid", "invalid"),
		"requirement": obj{"type": "string", "pattern": "^[A-Z]+-[0-9]{3}$"},
		"alert":       obj{"$ref": "#/$defs/alert"},
	}
	for k, v := range test {
		testProps[k] = v
	}
	testSchema := strict(testProps, append([]string{"requirement", "alert"}, testOptional...)...)
	// Invalid tests name the rule and the alert; valid tests name no alert.
	testSchema["if"] = obj{"properties": obj{"result": constant("invalid")}}
	testSchema["then"] = obj{"required": []string{"requirement", "alert"}}
	testSchema["else"] = obj{"not": obj{"required": []string{"alert"}}}

	groupProps := obj{"tests": obj{"type": "array", "minItems": 1, "items": obj{"$ref": "#/$defs/test"}}}
	for k, v := range group {
		groupProps[k] = v
	}

	alerts := []any{}
	for _, c := range alert.Codes() {
		alerts = append(alerts, c.String())
	}
	return obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaBase + area + ".schema.json",
		"title":                title,
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"schema", "version", "area", "header", "numberOfTests", "notes", "testGroups"},
		"properties": obj{
			"schema":        constant(area + ".schema.json"),
			"version":       constant("1"),
			"area":          constant(area),
			"header":        arrayOf(str()),
			"numberOfTests": integer(1, 1<<31-1),
			"notes":         obj{"type": "object", "additionalProperties": obj{"$ref": "#/$defs/note"}},
			"testGroups":    obj{"type": "array", "minItems": 1, "items": obj{"$ref": "#/$defs/testGroup"}},
		},
		"$defs": obj{
			"hex":   obj{"type": "string", "pattern": "^([0-9a-f]{2})*$"},
			"alert": obj{"enum": alerts},
			"note": strict(obj{
				"bugType":     enum(bugTypes()...),
				"description": str(),
				"effect":      str(),
			}, "effect"),
			"testGroup": strict(groupProps, groupOptional...),
			"test":      testSchema,
		},
	}
}
