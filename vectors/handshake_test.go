package vectors_test

import (
	"testing"

	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// handshake.json: run.Case runs role both as client against server and a
// single side against the vector's frames; frames, messages, secrets
// (transcript hashes included), client ID and ticket are its outputs, and it
// fails a test itself when the two sides trace different values, disagree
// on the client ID or leave randomness unread. TestVectors checks that no
// rejection names a traced value (ALERT-003).

func init() { checks["handshake"] = checkHandshakeRandomness }

// checkHandshakeRandomness checks LIM-002: a ClientHello that does not
// decode costs the server no asymmetric work, so it draws no randomness
// (no ephemeral key).
func checkHandshakeRandomness(t *testing.T, file string, _ []vcase, answers []run.Answer) {
	f := load[vectors.HandshakeGroup](t, file)
	k := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			a := answers[k]
			k++
			if tc.Role != "server" || len(tc.Frames) != 1 {
				continue
			}
			if a.Alert == "decode_error" || a.Alert == "illegal_parameter" && tc.Requirement != "SUITE-002" && tc.Requirement != "SUITE-003" && tc.Requirement != "HS-003" {
				if a.Drawn["server"] != 0 {
					t.Errorf("tcId %d: the server drew %d bytes of randomness for a ClientHello it rejects as malformed (LIM-002)", tc.TcID, a.Drawn["server"])
				}
			}
		}
	}
}
