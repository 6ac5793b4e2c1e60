package vectors_test

import (
	"testing"

	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// session.json: run.Case feeds every step to a fresh session and answers
// each step's result, messages and answers; the vector's steps are the
// expected outputs.

func init() { checks["session"] = checkSessionClosed }

// checkSessionClosed checks HS-050 on the answers themselves: once a step
// fails, the session is closed and no later step is accepted.
func checkSessionClosed(t *testing.T, file string, cs []vcase, answers []run.Answer) {
	f := load[vectors.SessionGroup](t, file)
	k := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			steps, ok := answers[k].Outputs["steps"].([]run.SessionStep)
			k++
			if !ok {
				t.Errorf("tcId %d: no steps answered", tc.TcID)
				continue
			}
			failed := false
			for i, st := range steps {
				if failed && st.Result == "accept" {
					t.Errorf("tcId %d: step %d accepted after a failed step (HS-050)", tc.TcID, i)
				}
				failed = failed || st.Result != "accept"
			}
		}
	}
}
