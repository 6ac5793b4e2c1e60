package vectors_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// expand_label, keyschedule, x25519 and x25519mlkem768 have no checks
// beyond their outputs: run.Case computes every value of the vectors (the
// HkdfLabel encoding by hand from spec §7, every secret of the schedule,
// X25519 as server and client, which must agree).

func init() { checks["ed25519"] = checkEd25519Batches }

// checkEd25519Batches runs the batch verifier over the witnessed groups
// (SIG-011): run.Case compares single verification with a batch of one;
// here every test is also verified beside a valid signature and in the
// whole group, shuffled, four times with different random coefficients. The
// batch results must be those of single verification, as run.Case answered.
func checkEd25519Batches(t *testing.T, file string, _ []vcase, answers []run.Answer) {
	f := load[vectors.Ed25519Group](t, file)
	k := 0
	for _, g := range f.TestGroups {
		type queued struct {
			tc  *vectors.Ed25519Test
			key *sig.PublicKey
			a   run.Answer
		}
		var all []queued
		var good *queued
		for i := range g.Tests {
			tc := &g.Tests[i]
			a := answers[k]
			k++
			if !g.Witnessed {
				continue
			}
			key, err := sig.ParsePublicKey(tc.PublicKey)
			if err != nil {
				continue // bad_key: never reaches the batch verifier
			}
			all = append(all, queued{tc, key, a})
			if a.Result == run.Valid && good == nil {
				good = &all[len(all)-1]
			}
		}
		if !g.Witnessed {
			continue
		}
		if good == nil {
			t.Fatal("witnessed group without a valid test")
		}
		same := func(what string, q queued, err error) {
			t.Helper()
			got, want := run.Valid, run.Valid
			if err != nil {
				c, _ := alert.CodeOf(err)
				got = run.Invalid + " " + c.String()
			}
			if q.a.Result != run.Valid {
				want = q.a.Result + " " + q.a.Alert
			}
			if got != want {
				t.Errorf("tcId %d (%s): %s gives %s (%v), single verification %s", q.tc.TcID, q.tc.Comment, what, got, err, want)
			}
		}
		for _, q := range all {
			v := sig.NewBatchVerifier(nil)
			v.Add(good.key, g.Label, good.tc.Msg, good.tc.Sig, good.tc.Witness)
			v.Add(q.key, g.Label, q.tc.Msg, q.tc.Sig, q.tc.Witness)
			ok, errs := v.Verify()
			same("batch with a valid signature", q, errs[1])
			if errs[0] != nil || ok != (q.a.Result == run.Valid) {
				t.Errorf("tcId %d: batch of two: %v, all valid = %v", q.tc.TcID, errs[0], ok)
			}
		}
		// The whole group, in a shuffled order, several times: the random
		// coefficients differ each time.
		for round := 0; round < 4; round++ {
			v := sig.NewBatchVerifier(nil)
			order := rand.New(rand.NewPCG(uint64(round), 7)).Perm(len(all))
			for _, i := range order {
				q := all[i]
				v.Add(q.key, g.Label, q.tc.Msg, q.tc.Sig, q.tc.Witness)
			}
			_, errs := v.Verify()
			for j, i := range order {
				same(fmt.Sprintf("batch of %d (round %d)", len(all), round), all[i], errs[j])
			}
		}
	}
	if k != len(answers) {
		t.Fatalf("%d tests, %d answers", k, len(answers))
	}
}
