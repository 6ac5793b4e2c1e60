package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testHookPackages are the packages whose code a production build must not
// link: the conformance shims' defect switches, the derandomized ML-KEM
// encapsulation of the test vectors, and the vector runner that uses it.
var testHookPackages = []string{
	"github.com/sealfeed/sealfeed/internal/bugs.",
	"github.com/sealfeed/sealfeed/internal/detrand.",
	"crypto/mlkem/mlkemtest.",
	"github.com/sealfeed/sealfeed/vectors/run.",
	// The test clock's code (a normal build has only a FromEnv that
	// returns nil).
	"github.com/sealfeed/sealfeed/internal/testclock.(*fileClock)",
	"github.com/sealfeed/sealfeed/internal/testclock.readOffset",
	"github.com/sealfeed/sealfeed/internal/testclock.fromEnv",
}

// linkedTestHooks builds pkg with the extra go build arguments and returns
// the symbols of testHookPackages that `go tool nm` finds in the binary.
func linkedTestHooks(t *testing.T, pkg string, args ...string) []string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	build := exec.Command("go", append(append([]string{"build"}, args...), "-o", bin, pkg)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		sym := f[len(f)-1]
		for _, p := range testHookPackages {
			if strings.HasPrefix(sym, p) {
				found = append(found, sym)
			}
		}
	}
	return found
}

// The sealfeed binary, built as a user builds it, links no test hook: the
// internal/bugs switches are constants there and the derandomized ML-KEM
// encapsulation lives only in packages that test tooling imports. The check
// is shown able to fail: built with -tags sealfeed_testhooks the binary
// links the switches, and the conformance shim links the derandomized
// encapsulation.
func TestBinaryLinksNoTestHooks(t *testing.T) {
	if found := linkedTestHooks(t, "github.com/sealfeed/sealfeed/cmd/sealfeed"); len(found) > 0 {
		t.Errorf("the sealfeed binary links test hooks: %s", strings.Join(found, ", "))
	}
	tagged := strings.Join(linkedTestHooks(t, "github.com/sealfeed/sealfeed/cmd/sealfeed", "-tags", "sealfeed_testhooks"), " ")
	if !strings.Contains(tagged, "internal/bugs.AcceptUnimplementedVersion") {
		t.Errorf("the check does not see the internal/bugs switches of a sealfeed_testhooks build (found %q)", tagged)
	}
	if !strings.Contains(tagged, "internal/testclock.(*fileClock).now") {
		t.Errorf("the check does not see the test clock of a sealfeed_testhooks build (found %q)", tagged)
	}
	shim := strings.Join(linkedTestHooks(t, "github.com/sealfeed/sealfeed/conformance/shims/goshim"), " ")
	if !strings.Contains(shim, "crypto/mlkem/mlkemtest.Encapsulate768") || !strings.Contains(shim, "internal/detrand.") {
		t.Errorf("the check does not see the derandomized encapsulation in the conformance shim (found %q)", shim)
	}
}
