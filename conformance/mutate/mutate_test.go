package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const root = "../.."

func catalogue(t *testing.T) []*Mutant {
	t.Helper()
	all, err := loadCatalogue("catalogue")
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// CONF-045, CONF-046: the catalogue parses, holds at least 60 mutants over
// every side, names a requirement the spec defines for each, and every
// find text occurs exactly once in the file it names — a stale entry fails
// here, in the default test run, not only when the harness runs.
func TestCatalogueIsCurrent(t *testing.T) {
	all := catalogue(t)
	if len(all) < 60 {
		t.Errorf("%d mutants, want at least 60", len(all))
	}
	defined := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(root, "spec", "*.md"))
	re := regexp.MustCompile(`\*\*([A-Z]+-[0-9]{3})\*\*`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
	}
	perSide := map[string]int{}
	for _, m := range all {
		perSide[m.Side]++
		if !defined[m.Req] {
			t.Errorf("%s (%s): requirement %s is not defined in spec/", m.ID, m.Source, m.Req)
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(m.File)))
		if err != nil {
			t.Errorf("%s (%s): %v", m.ID, m.Source, err)
			continue
		}
		if _, err := m.apply(string(src)); err != nil {
			t.Errorf("%s (%s) is stale: %v", m.ID, m.Source, err)
		}
		if m.Expect == "" {
			t.Errorf("%s (%s): no expect: (killed or survived, from the last full run)", m.ID, m.Source)
		}
		if strings.HasPrefix(m.File, "conformance/") && !strings.HasPrefix(m.File, "conformance/shims/") && !strings.HasPrefix(m.File, "conformance/vectormode/serve.go") {
			t.Errorf("%s mutates the runner (%s): only implementation code may be mutated", m.ID, m.File)
		}
	}
	for _, s := range sides {
		if perSide[s] == 0 {
			t.Errorf("no mutant on side %s", s)
		}
	}
}

func TestParseIsStrict(t *testing.T) {
	good := "# c\n== a\nreq: X-001\nside: server\nfile: f.go\n--- find\n\tif a < b {\n\n--- replace\n\tif a <= b {\n"
	ms, err := parseCatalogue("t", good)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Find != "\tif a < b {" || ms[0].Replace != "\tif a <= b {" || !slices.Equal(ms[0].Modes, []string{"server"}) {
		t.Fatalf("parsed %+v", ms[0])
	}
	for name, bad := range map[string]string{
		"unknown key":  "== a\nreq: X-001\nside: server\nfile: f.go\ncolour: red\n--- find\nx\n--- replace\ny\n",
		"bad side":     "== a\nreq: X-001\nside: router\nfile: f.go\n--- find\nx\n--- replace\ny\n",
		"bad mode":     "== a\nreq: X-001\nside: server\nmodes: fuzz\nfile: f.go\n--- find\nx\n--- replace\ny\n",
		"no find":      "== a\nreq: X-001\nside: server\nfile: f.go\n--- replace\ny\n",
		"no req":       "== a\nside: server\nfile: f.go\n--- find\nx\n--- replace\ny\n",
		"same":         "== a\nreq: X-001\nside: server\nfile: f.go\n--- find\nx\n--- replace\nx\n",
		"outside":      "req: X-001\n",
		"path escapes": "== a\nreq: X-001\nside: server\nfile: ../f.go\n--- find\nx\n--- replace\ny\n",
		"bad expect":   "== a\nreq: X-001\nside: server\nfile: f.go\nexpect: maybe\n--- find\nx\n--- replace\ny\n",
		"bad block":    "== a\nreq: X-001\nside: server\nfile: f.go\n--- diff\nx\n",
	} {
		if _, err := parseCatalogue("t", bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// CONF-046: a find text that does not occur exactly once is stale.
func TestApplyNeedsExactlyOneMatch(t *testing.T) {
	m := &Mutant{ID: "m", File: "f.go", Find: "a < b", Replace: "a <= b"}
	if got, err := m.apply("if a < b {}"); err != nil || got != "if a <= b {}" {
		t.Fatalf("apply: %q, %v", got, err)
	}
	if _, err := m.apply("if a > b {}"); err == nil {
		t.Error("a missing find text applied")
	}
	if _, err := m.apply("a < b; a < b"); err == nil {
		t.Error("an ambiguous find text applied")
	}
}

// CONF-052: a sample is deterministic for a seed, differs between seeds,
// and -check samples only mutants expected killed.
func TestSampleIsDeterministic(t *testing.T) {
	all := catalogue(t)
	a, _ := selectMutants(all, "", 6, 19, false)
	b, _ := selectMutants(all, "", 6, 19, false)
	c, _ := selectMutants(all, "", 6, 20, false)
	ids := func(ms []*Mutant) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if len(a) != 6 || !slices.Equal(ids(a), ids(b)) {
		t.Fatalf("samples %v and %v", ids(a), ids(b))
	}
	if slices.Equal(ids(a), ids(c)) {
		t.Errorf("seeds 19 and 20 give the same sample %v", ids(a))
	}
	k, err := selectMutants(all, "", 1000, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range k {
		if m.Expect != Killed {
			t.Errorf("-check sampled %s, expected %s", m.ID, m.Expect)
		}
	}
	if _, err := selectMutants(all, "no-such-mutant", 0, 1, false); err == nil {
		t.Error("-only with an unknown ID accepted")
	}
}

// CONF-053: the CI check fails on a survivor that was killed before, on a
// stale or invalid mutant and on a baseline failure; an expected survivor
// and a timeout pass.
func TestCheckExpected(t *testing.T) {
	mk := func(expect, status string) *Outcome {
		return &Outcome{Mutant: &Mutant{ID: expect + "-" + status, Expect: expect}, Status: status}
	}
	if err := checkExpected([]*Outcome{mk(Killed, Killed), mk(Killed, Timeout), mk(Survived, Survived)}, nil); err != nil {
		t.Errorf("a passing run failed: %v", err)
	}
	for _, o := range []*Outcome{mk(Killed, Survived), mk(Killed, Equivalent), mk(Survived, Stale), mk(Killed, Invalid)} {
		if err := checkExpected([]*Outcome{o}, nil); err == nil {
			t.Errorf("%s passed the check", o.ID)
		}
	}
	if err := checkExpected(nil, map[string]map[string]bool{"live": {"client/x/y": true}}); err == nil {
		t.Error("a baseline failure passed the check")
	}
}

// CONF-054: kill rates count killed and timed-out mutants of the judged
// ones, per side and per mode.
func TestReportRates(t *testing.T) {
	mk := func(side, status string, modes []string, killedIn ...string) *Outcome {
		o := &Outcome{Mutant: &Mutant{ID: side + status, Side: side, Modes: modes, Req: "X-001"}, Status: status, KilledBy: map[string][]string{}}
		for _, m := range killedIn {
			o.KilledBy[m] = []string{"t"}
		}
		return o
	}
	vl := []string{"vector", "live"}
	outs := []*Outcome{
		mk("client", Killed, vl, "vector"),
		mk("client", Survived, vl),
		mk("client", Equivalent, vl),
		mk("server", Killed, []string{"server"}, "server"),
		{Mutant: &Mutant{ID: "to", Side: "server", Modes: []string{"server"}}, Status: Timeout, TimedOut: []string{"server"}},
		mk("server", Stale, []string{"server"}),
	}
	r := newReport(outs, nil, time.Now(), options{root: t.TempDir(), jobs: 1})
	if r.Overall != (rate{3, 4}) || r.BySide["client"] != (rate{1, 2}) || r.BySide["server"] != (rate{2, 2}) {
		t.Errorf("overall %v, client %v, server %v", r.Overall, r.BySide["client"], r.BySide["server"])
	}
	if r.ByMode["vector"] != (rate{1, 2}) || r.ByMode["live"] != (rate{0, 2}) || r.ByMode["server"] != (rate{2, 2}) {
		t.Errorf("modes %v", r.ByMode)
	}
	var md bytes.Buffer
	if err := r.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| X-001 | `clientsurvived` |") {
		t.Errorf("the survivor is not listed with its requirement:\n%s", md.String())
	}
}

// -update-expect records a run's outcomes in the catalogue, replacing or
// adding the expect: line, and leaves stale mutants alone.
func TestUpdateExpect(t *testing.T) {
	dir := t.TempDir()
	text := "# c\n== a\nreq: X-001\nside: server\nexpect: killed\nfile: f.go\n--- find\nx\n--- replace\ny\n\n== b\nreq: X-002\nside: client\nfile: f.go\n--- find\nx\n--- replace\nz\n\n== c\nreq: X-003\nside: client\nfile: f.go\n--- find\nq\n--- replace\nr\n"
	if err := os.WriteFile(filepath.Join(dir, "t.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := loadCatalogue(dir)
	if err != nil {
		t.Fatal(err)
	}
	outs := []*Outcome{{Mutant: ms[0], Status: Survived}, {Mutant: ms[1], Status: Timeout}, {Mutant: ms[2], Status: Stale}}
	if err := updateExpect(dir, outs); err != nil {
		t.Fatal(err)
	}
	ms2, err := loadCatalogue(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms2[0].Expect != Survived || ms2[1].Expect != Killed || ms2[2].Expect != "" || ms2[1].Replace != "z" {
		t.Errorf("after the update: %+v %+v %+v", ms2[0], ms2[1], ms2[2])
	}
}

// CONF-049, CONF-050, CONF-051: a test that fails unmutated kills nothing;
// a timeout without a kill is a timeout; a survivor is equivalent only with
// an argument.
func TestOutcomeStatus(t *testing.T) {
	h := &harness{baseline: map[string]map[string]bool{"live": {"client/flaky/x": true}}}
	o := &Outcome{Mutant: &Mutant{ID: "m"}, KilledBy: map[string][]string{}}
	h.record(o, "live", []string{"client/flaky/x"})
	o.decide(false)
	if o.Status != Survived || o.KilledBy != nil {
		t.Errorf("a baseline failure killed: %s %v", o.Status, o.KilledBy)
	}
	o = &Outcome{Mutant: &Mutant{ID: "m"}, KilledBy: map[string][]string{}}
	h.record(o, "live", []string{"client/flaky/x", "client/batch/y"})
	o.TimedOut = []string{"vector"}
	o.decide(false)
	if o.Status != Killed || !slices.Equal(o.KilledBy["live"], []string{"client/batch/y"}) {
		t.Errorf("status %s, killed by %v", o.Status, o.KilledBy)
	}
	o = &Outcome{Mutant: &Mutant{ID: "m", Equivalent: "argued"}, KilledBy: map[string][]string{}, TimedOut: []string{"server"}}
	o.decide(false)
	if o.Status != Timeout {
		t.Errorf("a timeout without a kill is %s", o.Status)
	}
	o = &Outcome{Mutant: &Mutant{ID: "m", Equivalent: "argued"}, KilledBy: map[string][]string{}}
	if o.decide(false); o.Status != Equivalent {
		t.Errorf("an argued survivor is %s", o.Status)
	}
	o = &Outcome{Mutant: &Mutant{ID: "m"}, KilledBy: map[string][]string{}}
	if o.decide(false); o.Status != Survived {
		t.Errorf("an unargued survivor is %s", o.Status)
	}
}

// CONF-046, CONF-047: in a scratch module, a stale mutant is reported
// stale and a mutant that breaks the build invalid, with the compiler's
// message; the source tree is left as it was.
func TestStaleAndInvalidMutants(t *testing.T) {
	mod := t.TempDir()
	shim := filepath.Join(mod, "conformance", "shims", "goshim")
	if err := os.MkdirAll(shim, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package main\n\nfunc main() {\n\tx := 1\n\t_ = x\n}\n"
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(shim, "main.go"), []byte(src), 0o644)
	h := &harness{root: mod, work: t.TempDir(), timeout: time.Minute}
	stale := &Mutant{ID: "stale", File: "conformance/shims/goshim/main.go", Modes: []string{"vector"}, Find: "y := 2", Replace: "y := 3"}
	if o := h.runMutant(t.Context(), stale); o.Status != Stale {
		t.Errorf("stale mutant: %s %s", o.Status, o.Detail)
	}
	invalid := &Mutant{ID: "invalid", File: "conformance/shims/goshim/main.go", Modes: []string{"vector"}, Find: "\t_ = x\n", Replace: "\n"}
	o := h.runMutant(t.Context(), invalid)
	if o.Status != Invalid || !strings.Contains(o.Detail, "declared and not used") {
		t.Errorf("invalid mutant: %s %s", o.Status, o.Detail)
	}
	if b, _ := os.ReadFile(filepath.Join(shim, "main.go")); string(b) != src {
		t.Error("the harness wrote the source tree")
	}
}

// CONF-051, CONF-054: -report-from renders a saved run again; a survivor
// whose entry now argues equivalence becomes equivalent and leaves the
// judged mutants, kills are kept.
func TestReportFromSavedRun(t *testing.T) {
	a := &Mutant{ID: "a", Side: "server", Modes: []string{"server"}, Req: "X-001"}
	b := &Mutant{ID: "b", Side: "server", Modes: []string{"server"}, Req: "X-002"}
	outs := []*Outcome{{Mutant: a, Status: Survived}, {Mutant: b, Status: Killed, KilledBy: map[string][]string{"server": {"server/x/y"}}}}
	r := newReport(outs, nil, time.Now(), options{jobs: 2})
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeFile(path, r.writeJSON); err != nil {
		t.Fatal(err)
	}
	argued := *a
	argued.Equivalent = "cannot change behaviour because …"
	r2, err := loadReport(path, []*Mutant{&argued, b})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Counts[Equivalent] != 1 || r2.Counts[Killed] != 1 || r2.Overall != (rate{1, 1}) {
		t.Errorf("counts %v, overall %v", r2.Counts, r2.Overall)
	}
	if !slices.Equal(r2.Outcomes[1].KilledBy["server"], []string{"server/x/y"}) {
		t.Errorf("kills lost: %v", r2.Outcomes[1].KilledBy)
	}
	var md bytes.Buffer
	r2.writeMarkdown(&md)
	if !strings.Contains(md.String(), "`a` equivalent: cannot change behaviour") {
		t.Errorf("the argument is not in the report:\n%s", md.String())
	}
}
