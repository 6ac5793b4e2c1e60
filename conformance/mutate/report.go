package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"
)

// report is the outcome of a harness run (CONF-054).
type report struct {
	Started    time.Time           `json:"started"`
	Duration   time.Duration       `json:"duration_ns"`
	Commit     string              `json:"commit,omitempty"`
	Jobs       int                 `json:"jobs"`
	Sample     string              `json:"sample,omitempty"`
	Baseline   map[string][]string `json:"baseline_failures,omitempty"`
	Overall    rate                `json:"overall"`
	BySide     map[string]rate     `json:"by_side"`
	ByMode     map[string]rate     `json:"by_mode"`
	Counts     map[string]int      `json:"counts"`
	Outcomes   []*Outcome          `json:"mutants"`
	Rendered   string              `json:"rendered,omitempty"` // -report-from: when the report was rendered again
	bySideMode map[string]map[string]rate
}

// rate is killed of judged: judged mutants are killed, survived or timed
// out; equivalent, stale and invalid ones are not judged.
type rate struct {
	Killed int `json:"killed"`
	Judged int `json:"judged"`
}

func (r rate) String() string {
	if r.Judged == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%% (%d of %d)", 100*float64(r.Killed)/float64(r.Judged), r.Killed, r.Judged)
}

func judged(o *Outcome) bool {
	return o.Status == Killed || o.Status == Survived || o.Status == Timeout
}

func newReport(outs []*Outcome, baseline map[string]map[string]bool, started time.Time, opt options) *report {
	r := &report{Started: started.UTC(), Duration: time.Since(started), Jobs: opt.jobs, Outcomes: outs,
		BySide: map[string]rate{}, ByMode: map[string]rate{}, Counts: map[string]int{}, Baseline: map[string][]string{},
		bySideMode: map[string]map[string]rate{}}
	if opt.root != "" {
		if b, err := exec.Command("git", "-C", opt.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
			r.Commit = strings.TrimSpace(string(b))
		}
	}
	if opt.sample > 0 {
		r.Sample = fmt.Sprintf("%d, seed %d", opt.sample, opt.seed)
	}
	for mode, ids := range baseline {
		for id := range ids {
			r.Baseline[mode] = append(r.Baseline[mode], id)
		}
		sort.Strings(r.Baseline[mode])
	}
	for _, o := range outs {
		r.Counts[o.Status]++
		if !judged(o) {
			continue
		}
		k := 0
		if o.Status != Survived {
			k = 1
		}
		r.Overall.Killed += k
		r.Overall.Judged++
		s := r.BySide[o.Side]
		s.Killed += k
		s.Judged++
		r.BySide[o.Side] = s
		if r.bySideMode[o.Side] == nil {
			r.bySideMode[o.Side] = map[string]rate{}
		}
		for _, mode := range o.Modes {
			km := 0
			if o.killedIn(mode) {
				km = 1
			}
			m := r.ByMode[mode]
			m.Killed += km
			m.Judged++
			r.ByMode[mode] = m
			sm := r.bySideMode[o.Side][mode]
			sm.Killed += km
			sm.Judged++
			r.bySideMode[o.Side][mode] = sm
		}
	}
	return r
}

// loadReport reads an earlier -json report. Each outcome takes the
// catalogue's current entry of its ID (a survivor whose entry now argues
// equivalence is equivalent); the run's facts (kills, times) are kept.
func loadReport(path string, catalogue []*Mutant) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var old report
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	byID := map[string]*Mutant{}
	for _, m := range catalogue {
		byID[m.ID] = m
	}
	for _, o := range old.Outcomes {
		if o.Mutant == nil {
			return nil, fmt.Errorf("%s: an outcome without a mutant", path)
		}
		if m := byID[o.ID]; m != nil {
			o.Mutant = m
		}
		if o.Status == Survived || o.Status == Equivalent {
			o.decide(false)
		}
	}
	baseline := map[string]map[string]bool{}
	for mode, ids := range old.Baseline {
		baseline[mode] = map[string]bool{}
		for _, id := range ids {
			baseline[mode][id] = true
		}
	}
	r := newReport(old.Outcomes, baseline, old.Started, options{jobs: old.Jobs})
	r.Started, r.Duration, r.Commit, r.Sample = old.Started, old.Duration, old.Commit, old.Sample
	r.Rendered = time.Now().UTC().Format("2006-01-02 15:04 UTC")
	return r, nil
}

func (r *report) writeJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

func (r *report) meanPerMutant() time.Duration {
	var sum time.Duration
	n := 0
	for _, o := range r.Outcomes {
		if o.Status != Stale {
			sum += o.Duration
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

func (r *report) writeSummary(w io.Writer) {
	fmt.Fprintf(w, "%d mutants in %s (-j %d, %s per mutant on average)\n", len(r.Outcomes), r.Duration.Round(time.Second), r.Jobs, r.meanPerMutant().Round(100*time.Millisecond))
	var cs []string
	for _, s := range []string{Killed, Timeout, Survived, Equivalent, Stale, Invalid} {
		if r.Counts[s] > 0 {
			cs = append(cs, fmt.Sprintf("%d %s", r.Counts[s], s))
		}
	}
	fmt.Fprintf(w, "%s\n", strings.Join(cs, ", "))
	fmt.Fprintf(w, "kill rate: %s\n", r.Overall)
	for _, s := range sides {
		if x, ok := r.BySide[s]; ok {
			fmt.Fprintf(w, "  side %-9s %s\n", s, x)
		}
	}
	for _, m := range modes {
		if x, ok := r.ByMode[m]; ok {
			fmt.Fprintf(w, "  mode %-9s %s\n", m, x)
		}
	}
	for _, o := range r.Outcomes {
		if o.Status == Survived || o.Status == Stale || o.Status == Invalid {
			d, _, _ := strings.Cut(o.Detail, "\n")
			fmt.Fprintf(w, "%s %s [%s] %s %s\n", strings.ToUpper(o.Status), o.ID, o.Req, o.File, d)
		}
	}
}

func (r *report) writeMarkdown(w io.Writer) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# Mutation testing report\n\n")
	p("Generated by `go run ./conformance/mutate -md` (spec/conformance.md, \"Mutation testing\"); do not edit by hand.\n\n")
	p("- started %s at commit `%s`, %s in all with -j %d (%s per mutant on average, build included)\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.Commit, r.Duration.Round(time.Second), r.Jobs, r.meanPerMutant().Round(100*time.Millisecond))
	if r.Sample != "" {
		p("- a sample: %s\n", r.Sample)
	}
	if r.Rendered != "" {
		p("- rendered again %s with `-report-from` from that run's JSON, with the catalogue's current `equivalent:` arguments\n", r.Rendered)
	}
	var cs []string
	for _, s := range []string{Killed, Timeout, Survived, Equivalent, Stale, Invalid} {
		cs = append(cs, fmt.Sprintf("%d %s", r.Counts[s], s))
	}
	p("- %d mutants: %s\n", len(r.Outcomes), strings.Join(cs, ", "))
	p("- only conformance tests kill a mutant (vector and live mode against the mutated Go shim, server mode against the mutated server); a timeout counts as killed\n")
	if len(r.Baseline) > 0 {
		p("- the unmutated tree failed these tests, which therefore killed nothing:")
		for _, m := range modes {
			if ids := r.Baseline[m]; len(ids) > 0 {
				p(" %s mode: %s;", m, strings.Join(ids, ", "))
			}
		}
		p("\n")
	}
	p("\n## Kill rates\n\nKilled of judged (killed, survived or timed out); per mode, of the mutants that mode ran.\n\n")
	p("| | all modes | vector | live | server |\n|---|---|---|---|---|\n")
	p("| **all sides** | %s | %s | %s | %s |\n", r.Overall, r.ByMode["vector"], r.ByMode["live"], r.ByMode["server"])
	for _, s := range sides {
		if x, ok := r.BySide[s]; ok {
			sm := r.bySideMode[s]
			p("| %s | %s | %s | %s | %s |\n", s, x, sm["vector"], sm["live"], sm["server"])
		}
	}
	var surv []*Outcome
	for _, o := range r.Outcomes {
		if o.Status == Survived {
			surv = append(surv, o)
		}
	}
	p("\n## Survivors\n\n")
	if len(surv) == 0 {
		p("None.\n")
	} else {
		slices.SortFunc(surv, func(a, b *Outcome) int { return strings.Compare(a.Req+a.ID, b.Req+b.ID) })
		p("| requirement | mutant | side | file | the bug |\n|---|---|---|---|---|\n")
		for _, o := range surv {
			p("| %s | `%s` | %s | `%s` | %s |\n", o.Req, o.ID, o.Side, o.File, mdCell(o.Note))
		}
	}
	p("\n## Equivalent, stale, invalid\n\n")
	n := 0
	for _, o := range r.Outcomes {
		switch o.Status {
		case Equivalent:
			p("- `%s` equivalent: %s\n", o.ID, mdCell(o.Equivalent))
		case Stale, Invalid:
			d, _, _ := strings.Cut(o.Detail, "\n")
			p("- `%s` %s: %s\n", o.ID, o.Status, mdCell(d))
		default:
			if o.Equivalent != "" {
				p("- `%s` is argued equivalent but was %s: the argument is wrong\n", o.ID, o.Status)
			} else {
				continue
			}
		}
		n++
	}
	if n == 0 {
		p("None.\n")
	}
	p("\n## Every mutant\n\n| mutant | requirement | side | modes | status | killed by |\n|---|---|---|---|---|---|\n")
	for _, o := range r.Outcomes {
		var kb []string
		for _, m := range modes {
			if ids := o.KilledBy[m]; len(ids) > 0 {
				kb = append(kb, fmt.Sprintf("%s: %s", m, firstIDs(ids, 3)))
			}
		}
		for _, m := range o.TimedOut {
			kb = append(kb, m+": timeout")
		}
		p("| `%s` | %s | %s | %s | %s | %s |\n", o.ID, o.Req, o.Side, strings.Join(o.Modes, " "), o.Status, mdCell(strings.Join(kb, "; ")))
	}
	return nil
}

func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
