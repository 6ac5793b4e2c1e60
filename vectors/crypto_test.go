package vectors_test

import (
	"crypto/ed25519"
	"slices"
	"testing"

	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// expand_label, keyschedule, x25519 and x25519mlkem768 have no checks
// beyond their outputs: run.Case computes every value of the vectors (the
// HkdfLabel encoding by hand from spec §7, every secret of the schedule,
// X25519 as server and client, which must agree).

func init() { checks["ed25519"] = checkEd25519AgainstStandard }

// checkEd25519AgainstStandard holds the pinned rule to RFC 8032 as
// crypto/ed25519 implements it (spec §4.2): every signature the rule
// accepts, batch signatures included (§10.4), crypto/ed25519.Verify accepts
// too, and a test the rule rejects but crypto/ed25519 accepts is flagged
// GoVerifyAccepts, so that implementers see which checks go beyond it.
func checkEd25519AgainstStandard(t *testing.T, file string, _ []vcase, answers []run.Answer) {
	f := load[vectors.Ed25519Group](t, file)
	k := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			a := answers[k]
			k++
			std := len(tc.PublicKey) == ed25519.PublicKeySize && len(tc.Sig) == ed25519.SignatureSize &&
				ed25519.Verify(ed25519.PublicKey(tc.PublicKey), append(append([]byte(g.Label), 0), tc.Msg...), tc.Sig)
			switch {
			case a.Result == run.Valid && !std:
				t.Errorf("tcId %d (%s): valid, but crypto/ed25519 rejects it", tc.TcID, tc.Comment)
			case a.Result != run.Valid && std && !slices.Contains(tc.Flags, "GoVerifyAccepts"):
				t.Errorf("tcId %d (%s): crypto/ed25519 accepts it; flag GoVerifyAccepts missing", tc.TcID, tc.Comment)
			}
		}
	}
	if k != len(answers) {
		t.Fatalf("%d tests, %d answers", k, len(answers))
	}
}
