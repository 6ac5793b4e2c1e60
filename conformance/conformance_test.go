package conformance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	shimOnce sync.Once
	shimPath string
	shimErr  error
)

// buildShim builds the reference shim once per test binary.
func buildShim(t *testing.T) string {
	t.Helper()
	shimOnce.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			shimErr = err
			return
		}
		shimPath = filepath.Join(dir, "goshim")
		out, err := exec.Command("go", "build", "-o", shimPath, "github.com/sealfeed/sealfeed/conformance/shims/goshim").CombinedOutput()
		if err != nil {
			shimErr = &buildError{out: string(out), err: err}
		}
	})
	if shimErr != nil {
		t.Fatal(shimErr)
	}
	return shimPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func runLive(t *testing.T, args ...string) map[string]*Result {
	t.Helper()
	cfg := &Config{Shim: append([]string{buildShim(t)}, args...), Live: true, Parallel: 4, Timeout: 30 * time.Second}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Result{}
	for _, r := range res {
		out[r.ID] = r
	}
	return out
}

// The reference shim passes every live client test.
func TestReferenceShimPassesEveryClientTest(t *testing.T) {
	res := runLive(t)
	if len(res) != len(ClientTests()) {
		t.Fatalf("%d results for %d tests", len(res), len(ClientTests()))
	}
	for id, r := range res {
		if r.Status != Pass {
			t.Errorf("%s: %s: %s", id, r.Status, r.Message)
			for _, l := range r.Transcript {
				t.Log("   ", l)
			}
		}
	}
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "sealfeed-shim-") }

// Each deliberately broken shim fails exactly the tests that check the rule
// it breaks, and passes the others: the suite catches the bug and names it.
func TestBrokenShimsFailTheExpectedTests(t *testing.T) {
	cases := map[string][]string{
		"skip-batch-signature":      {"client/batch/bad-signature", "client/batch/bad-witness"},
		"no-replay-window":          {"client/happy/duplicate-id-dropped", "client/happy/reconnect-redelivery", "client/happy/stale-id-dropped"},
		"no-batch-seq-check":        {"client/batch/reordered", "client/batch/replayed", "client/batch/seq-zero"},
		"accept-downgrade":          {"client/handshake/downgrade-version", "client/handshake/grease-version-chosen"},
		"accept-expired-credential": {"client/credential/expired", "client/credential/not-yet-valid"},
		"ignore-merkle-proof":       {"client/batch/tampered-leaf", "client/batch/tampered-proof", "client/batch/wrong-leaf-index"},
	}
	for bug, want := range cases {
		t.Run(bug, func(t *testing.T) {
			var failed []string
			for id, r := range runLive(t, "-bug", bug) {
				if r.Status == Fail {
					failed = append(failed, id)
				}
			}
			slices.Sort(failed)
			if !slices.Equal(failed, want) {
				t.Errorf("failed %v, want exactly %v", failed, want)
			}
		})
	}
}
