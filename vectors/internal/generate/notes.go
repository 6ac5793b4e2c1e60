package generate

import (
	"sort"

	"github.com/sealfeed/sealfeed/vectors"
)

// Bug types say what class of mistake a flag targets.
var bugTypeDescriptions = map[string]string{
	"BASIC":        "the normal, expected use of the protocol",
	"EDGE_CASE":    "a legitimate input at a boundary that implementations often get wrong",
	"MALFORMED":    "an encoding that violates the wire rules (truncated, trailing, wrong length)",
	"MODIFIED":     "a valid structure altered in flight: a bit flip or a changed field",
	"MALLEABILITY": "an alternative encoding of an accepted value that must not be accepted",
	"WEAK_KEY":     "a key or point that removes the honest party's contribution",
	"REPLAY":       "an old message, batch or record presented again",
	"DOWNGRADE":    "a negotiation altered to force a weaker choice",
	"EXPIRY":       "a time or freshness check",
	"REVOCATION":   "a revoked credential or a rolled-back revocation list",
	"RESOURCE":     "a size or count limit that protects the receiver",
	"EXTENSION":    "extension, version and GREASE handling",
	"STATE":        "a message in the wrong place or state",
	"WRONG_KEY":    "material that is valid but bound to another key, realm or recipient",
}

func bugTypes() []any {
	var out []any
	for _, k := range sortedKeys(bugTypeDescriptions) {
		out = append(out, k)
	}
	return out
}

// notes describes every flag a test may carry. A file lists the notes of
// the flags its tests use.
var notes = map[string]vectors.Note{}

func note(flag, bugType, description, effect string) {
	if _, ok := bugTypeDescriptions[bugType]; !ok {
		panic("generate: unknown bug type " + bugType)
	}
	if _, dup := notes[flag]; dup {
		panic("generate: flag noted twice: " + flag)
	}
	notes[flag] = vectors.Note{BugType: bugType, Description: description, Effect: effect}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
