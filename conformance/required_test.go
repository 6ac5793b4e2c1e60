package conformance

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/conformance/vectormode"
)

// TestMain lets the test binary be a tiny fake shim: with
// SEALFEED_FAKE_SHIM=unimplemented it answers unimplemented to every live
// test and every vector, as a shim that implements nothing would.
func TestMain(m *testing.M) {
	if os.Getenv("SEALFEED_FAKE_SHIM") == "unimplemented" {
		os.Exit(fakeShim(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeShim(args []string) int {
	fs := flag.NewFlagSet("fakeshim", flag.ContinueOnError)
	mode := fs.String("mode", "live", "")
	fs.String("url", "", "")
	fs.String("pin", "", "")
	fs.String("authority", "", "")
	fs.String("realm", "", "")
	fs.String("identity-seed", "", "")
	fs.String("token", "", "")
	fs.String("groups", "", "")
	fs.String("aeads", "", "")
	fs.Int("connections", 1, "")
	fs.Duration("handshake-timeout", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *mode == "vectors" {
		err := vectormode.Serve(os.Stdin, os.Stdout, "fake (unimplemented)", func(string, json.RawMessage, json.RawMessage) (string, string, map[string]any) {
			return "unimplemented", "", nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Println("result unimplemented everything")
	return 1
}

// CONF-055: a shim that answers unimplemented to everything passes no test
// and fails no test, but the summary says that none of the required tests
// ran, and RequiredRan (-fail-on-skip) fails the run. Tests excused by the
// configuration (disabled, a missing capability) are not required.
func TestUnimplementedShimFailsOnSkip(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEALFEED_FAKE_SHIM", "unimplemented")
	cfg := &Config{Shim: []string{self}, Live: true, Vectors: true, Parallel: 4, Timeout: 30 * time.Second,
		Run:      regexp.MustCompile(`^(client/happy/|client/batch/|vector/replay/)`),
		Disabled: map[string]string{"client/batch/": "excused by the configuration"}}
	started := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep := NewReport("fake", started, res)
	s := rep.Summary
	if s.Passed != 0 || s.Failed != 0 || s.Skipped != s.Total || s.Total == 0 {
		t.Fatalf("summary %+v: want every test skipped", s)
	}
	excused := 0
	for _, r := range res {
		if strings.HasPrefix(r.ID, "client/batch/") {
			excused++
			if r.Required {
				t.Errorf("%s is disabled by the configuration but required", r.ID)
			}
		}
	}
	if excused == 0 || s.Required != s.Total-excused || s.Ran != 0 {
		t.Fatalf("required %d, ran %d of %d tests (%d excused)", s.Required, s.Ran, s.Total, excused)
	}
	err = rep.RequiredRan()
	if err == nil {
		t.Fatal("a shim that implements nothing passed -fail-on-skip")
	}
	if want := fmt.Sprintf("0 of %d required tests ran", s.Required); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to say %q", err, want)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), fmt.Sprintf("0 of %d required tests ran\n", s.Required)) {
		t.Errorf("the table does not say how many required tests ran:\n%s", table.String())
	}

	// The reference shim runs every required test.
	cfg = &Config{Shim: []string{buildShim(t)}, Vectors: true, Run: regexp.MustCompile(`^vector/replay/`), Timeout: 30 * time.Second}
	t.Setenv("SEALFEED_FAKE_SHIM", "")
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep := NewReport("goshim", started, res); rep.RequiredRan() != nil || rep.Summary.Ran == 0 {
		t.Errorf("the reference shim: %v (%d ran)", rep.RequiredRan(), rep.Summary.Ran)
	}
}
