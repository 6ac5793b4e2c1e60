package conformance

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

// Summary counts results by status and kind.
type Summary struct {
	Implementation string         `json:"implementation"`
	Started        time.Time      `json:"started"`
	Duration       time.Duration  `json:"duration_ns"`
	Total          int            `json:"total"`
	Passed         int            `json:"passed"`
	Failed         int            `json:"failed"`
	Skipped        int            `json:"skipped"`
	Required       int            `json:"required"` // tests the run had to run (CONF-055)
	Ran            int            `json:"ran"`      // required tests that ran: passed or failed
	ByKind         map[string]int `json:"by_kind"`
}

// Report is the machine-readable outcome of a run.
type Report struct {
	Summary Summary   `json:"summary"`
	Results []*Result `json:"results"`
}

// NewReport summarises results.
func NewReport(impl string, started time.Time, results []*Result) *Report {
	r := &Report{Results: results, Summary: Summary{Implementation: impl, Started: started, Duration: time.Since(started), ByKind: map[string]int{}}}
	for _, x := range results {
		r.Summary.Total++
		r.Summary.ByKind[x.Kind]++
		switch x.Status {
		case Pass:
			r.Summary.Passed++
		case Fail:
			r.Summary.Failed++
		case Skip:
			r.Summary.Skipped++
		}
		if x.Required {
			r.Summary.Required++
			if x.Status != Skip {
				r.Summary.Ran++
			}
		}
	}
	return r
}

// RequiredRan returns an error when a required test did not run: the
// shim answered unimplemented where no configuration excused it. With
// -fail-on-skip such a run fails, so a shim that implements nothing
// cannot pass (CONF-055).
func (r *Report) RequiredRan() error {
	if s := r.Summary; s.Ran < s.Required {
		return fmt.Errorf("%d of %d required tests ran: %d skipped by the shim (unimplemented)", s.Ran, s.Required, s.Required-s.Ran)
	}
	return nil
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteTable writes a summary table per test area, then every failure.
func (r *Report) WriteTable(w io.Writer) {
	type row struct{ pass, fail, skip int }
	areas := map[string]*row{}
	for _, x := range r.Results {
		a := area(x.ID)
		if areas[a] == nil {
			areas[a] = &row{}
		}
		switch x.Status {
		case Pass:
			areas[a].pass++
		case Fail:
			areas[a].fail++
		case Skip:
			areas[a].skip++
		}
	}
	names := make([]string, 0, len(areas))
	for a := range areas {
		names = append(names, a)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-28s %6s %6s %6s\n", "area", "pass", "fail", "skip")
	for _, a := range names {
		x := areas[a]
		fmt.Fprintf(w, "%-28s %6d %6d %6d\n", a, x.pass, x.fail, x.skip)
	}
	s := r.Summary
	fmt.Fprintf(w, "%-28s %6d %6d %6d   (%d tests, %s)\n", "total", s.Passed, s.Failed, s.Skipped, s.Total, s.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "%d of %d required tests ran\n", s.Ran, s.Required)
	for _, x := range r.Results {
		if x.Status == Fail {
			fmt.Fprintf(w, "FAIL %s [%s]: %s\n", x.ID, strings.Join(x.Requirements, " "), x.Message)
		}
	}
}

// area is the test ID without its last element: client/batch, vector/merkle.
func area(id string) string {
	if i := strings.LastIndexByte(id, '/'); i > 0 {
		return id[:i]
	}
	return id
}

var htmlReport = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SealFeed conformance: {{.Summary.Implementation}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1f23}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
.pass{color:#137333}.fail{color:#b3261e;font-weight:600}.skip{color:#7a6f00}
details pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em;font-size:12px}
.sum span{margin-right:1.5em}
</style></head><body>
<h1>SealFeed conformance — {{.Summary.Implementation}}</h1>
<p class="sum"><span>{{.Summary.Total}} tests</span><span class="pass">{{.Summary.Passed}} passed</span>
<span class="fail">{{.Summary.Failed}} failed</span><span class="skip">{{.Summary.Skipped}} skipped</span>
<span>{{.Summary.Ran}} of {{.Summary.Required}} required tests ran</span>
<span>started {{.Summary.Started.UTC.Format "2006-01-02 15:04:05 UTC"}}</span></p>
<table><tr><th>test</th><th>requirements</th><th>status</th><th>detail</th></tr>
{{range .Results}}<tr><td><code>{{.ID}}</code></td><td>{{range .Requirements}}{{.}} {{end}}</td>
<td class="{{.Status}}">{{.Status}}</td><td>{{.Message}}{{if .Transcript}}<details><summary>transcript</summary><pre>{{range .Transcript}}{{.}}
{{end}}</pre></details>{{end}}</td></tr>
{{end}}</table></body></html>
`))

// WriteHTML writes a self-contained HTML report; failing tests keep their
// transcript.
func (r *Report) WriteHTML(w io.Writer) error { return htmlReport.Execute(w, r) }
