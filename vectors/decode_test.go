package vectors_test

import (
	"testing"

	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// decode.json: run.Case decodes each input with the reference decoder of
// the group's structure and requires that what decodes re-encodes to the
// same bytes; the result and alert are the whole answer.

func init() { checks["decode"] = checkDecoders }

// checkDecoders requires a reference decoder for every structure of
// decode.json (run.Case answers "unimplemented" for a structure it has no
// decoder for).
func checkDecoders(t *testing.T, file string, _ []vcase, answers []run.Answer) {
	f := load[vectors.DecodeGroup](t, file)
	k := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			if answers[k].Result == run.Unimplemented {
				t.Errorf("tcId %d: no reference decoder for structure %q", tc.TcID, g.Structure)
			}
			k++
		}
	}
}
