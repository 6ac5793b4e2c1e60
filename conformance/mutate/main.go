// Command mutate measures the conformance suite by mutation testing
// (spec/conformance.md, "Mutation testing"): it applies each mutant of the
// catalogue (conformance/mutate/catalogue/*.txt) to a scratch copy of the
// file it names, builds the Go shim and the server from the mutated tree,
// runs the conformance suite in the modes the mutant names, and reports
// which mutants the suite killed, by which tests, and which survived.
//
//	go run ./conformance/mutate                     # the whole catalogue
//	go run ./conformance/mutate -only ID,ID         # some mutants
//	go run ./conformance/mutate -sample 6 -seed 19  # a deterministic sample
//	go run ./conformance/mutate -md -json report.json
//	go run ./conformance/mutate -check -sample 6 -seed 19   # CI: expected kills still killed
//	go run ./conformance/mutate -md -update-expect          # after a full run: record the outcomes
//
// Only conformance tests kill a mutant; Go unit tests are never run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

type options struct {
	root, catalogue   string
	jobs              int
	only              string
	sample            int
	seed              uint64
	timeout           time.Duration
	md                bool
	mdPath, jsonPath  string
	check, list, keep bool
	updateExpect      bool
	reportFrom        string
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.root, "root", "", "repository root (default: the module root of the working directory)")
	fs.StringVar(&o.catalogue, "catalogue", "", "catalogue directory (default: conformance/mutate/catalogue under -root)")
	fs.IntVar(&o.jobs, "j", 2, "mutants run at once")
	fs.StringVar(&o.only, "only", "", "run only these mutants (comma-separated IDs)")
	fs.IntVar(&o.sample, "sample", 0, "run a deterministic sample of N mutants (with -seed)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of -sample")
	fs.DurationVar(&o.timeout, "timeout", 4*time.Minute, "time limit per mutant for the conformance runs (a mutant that runs out is a timeout, counted as killed)")
	fs.BoolVar(&o.md, "md", false, "write the Markdown report to conformance/mutate/report.md (or -md-out)")
	fs.StringVar(&o.mdPath, "md-out", "", "write the Markdown report to this file")
	fs.StringVar(&o.jsonPath, "json", "", "write the JSON report to this file")
	fs.BoolVar(&o.check, "check", false, "CI: sample only among mutants the catalogue expects killed, and fail if one survives or any is stale or invalid")
	fs.BoolVar(&o.list, "list", false, "list the selected mutants (all, or as -only, -sample and -check select them) and exit")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	fs.BoolVar(&o.updateExpect, "update-expect", false, "rewrite the expect: lines of the catalogue to this run's outcomes")
	fs.StringVar(&o.reportFrom, "report-from", "", "run nothing: write the reports (-md, -json, -update-expect) from this earlier -json report,\nwith the catalogue's current equivalent: arguments")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if o.root == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			return fmt.Errorf("not inside the module: give -root")
		}
		o.root = filepath.Dir(gomod)
	}
	if o.catalogue == "" {
		o.catalogue = filepath.Join(o.root, "conformance", "mutate", "catalogue")
	}
	all, err := loadCatalogue(o.catalogue)
	if err != nil {
		return err
	}
	if o.reportFrom != "" {
		rep, err := loadReport(o.reportFrom, all)
		if err != nil {
			return err
		}
		return writeReports(rep, o, stdout)
	}
	sel, err := selectMutants(all, o.only, o.sample, o.seed, o.check)
	if err != nil {
		return err
	}
	if o.list {
		for _, m := range sel {
			fmt.Fprintf(stdout, "%-44s %-9s %-10s %-8s %-20s %s\n", m.ID, m.Side, m.Req, m.Expect, strings.Join(m.Modes, ","), m.File)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "sealfeed-mutate-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "scratch directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	h := &harness{root: o.root, work: work, timeout: o.timeout, log: stderr}
	started := time.Now()
	fmt.Fprintf(stderr, "baseline: building and running every mode on the unmutated tree\n")
	if err := h.runBaseline(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "baseline done in %s; %d mutants, -j %d\n", time.Since(started).Round(time.Second), len(sel), o.jobs)
	outs := make([]*Outcome, len(sel))
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	sem := make(chan struct{}, max(o.jobs, 1))
	for i, m := range sel {
		wg.Add(1)
		sem <- struct{}{} // in catalogue order, -j at a time
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out := h.runMutant(ctx, m)
			mu.Lock()
			outs[i] = out
			done++
			fmt.Fprintf(stderr, "[%d/%d] %-9s %s (%s)%s\n", done, len(sel), out.Status, m.ID, out.Duration.Round(time.Second), briefKills(out))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep := newReport(outs, h.baseline, started, o)
	if o.check {
		if err := writeReports(rep, o, stdout); err != nil {
			return err
		}
		return checkExpected(outs, h.baseline)
	}
	return writeReports(rep, o, stdout)
}

// writeReports prints the summary and writes the reports the options ask
// for.
func writeReports(rep *report, o options, stdout io.Writer) error {
	rep.writeSummary(stdout)
	if o.jsonPath != "" {
		if err := writeFile(o.jsonPath, rep.writeJSON); err != nil {
			return err
		}
	}
	if o.md || o.mdPath != "" {
		p := o.mdPath
		if p == "" {
			p = filepath.Join(o.root, "conformance", "mutate", "report.md")
		}
		if err := writeFile(p, rep.writeMarkdown); err != nil {
			return err
		}
	}
	if o.updateExpect {
		if err := updateExpect(o.catalogue, rep.Outcomes); err != nil {
			return err
		}
	}
	return nil
}

func briefKills(o *Outcome) string {
	var parts []string
	for _, mode := range modes {
		if ids := o.KilledBy[mode]; len(ids) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s", mode, firstIDs(ids, 2)))
		}
	}
	if o.Detail != "" && o.Status != Killed {
		d, _, _ := strings.Cut(o.Detail, "\n")
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, "; ")
}

func firstIDs(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, " ")
	}
	return fmt.Sprintf("%s +%d", strings.Join(ids[:n], " "), len(ids)-n)
}

// selectMutants applies -only, then -sample. The sample is deterministic:
// the candidates in ID order, shuffled by a PCG seeded with -seed, the first
// n taken, run in ID order (CONF-052). With check, only mutants the
// catalogue expects killed are candidates.
func selectMutants(all []*Mutant, only string, n int, seed uint64, check bool) ([]*Mutant, error) {
	cand := slices.Clone(all)
	if only != "" {
		byID := map[string]*Mutant{}
		for _, m := range all {
			byID[m.ID] = m
		}
		cand = nil
		for _, id := range strings.Split(only, ",") {
			m, ok := byID[strings.TrimSpace(id)]
			if !ok {
				return nil, fmt.Errorf("-only: no mutant %q in the catalogue", id)
			}
			cand = append(cand, m)
		}
	}
	if check {
		cand = slices.DeleteFunc(cand, func(m *Mutant) bool { return m.Expect != Killed })
		if len(cand) == 0 {
			return nil, fmt.Errorf("-check: no selected mutant is expected killed")
		}
	}
	slices.SortFunc(cand, func(a, b *Mutant) int { return strings.Compare(a.ID, b.ID) })
	if n > 0 && n < len(cand) {
		r := rand.New(rand.NewPCG(seed, seed^0x5ea1feed))
		r.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		cand = cand[:n]
		slices.SortFunc(cand, func(a, b *Mutant) int { return strings.Compare(a.ID, b.ID) })
	}
	return cand, nil
}

// checkExpected fails when a mutant the catalogue expects killed survived,
// when any is stale or invalid, or when the unmutated tree fails a test
// (a baseline failure could hide a regression) (CONF-053).
func checkExpected(outs []*Outcome, baseline map[string]map[string]bool) error {
	var bad []string
	for mode, ids := range baseline {
		for id := range ids {
			bad = append(bad, fmt.Sprintf("the unmutated tree fails %s in %s mode", id, mode))
		}
	}
	for _, o := range outs {
		switch {
		case o.Status == Stale || o.Status == Invalid:
			bad = append(bad, fmt.Sprintf("%s is %s: %s", o.ID, o.Status, o.Detail))
		case o.Expect == Killed && o.Status != Killed && o.Status != Timeout:
			bad = append(bad, fmt.Sprintf("%s (%s) was killed before and now %s: the conformance suite no longer catches it", o.ID, o.Req, o.Status))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("check failed:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

func writeFile(path string, f func(io.Writer) error) error {
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(w); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
