package vectormode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/vectors/judge"
)

// Statuses of a Result.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Result is the judgement of one test.
type Result struct {
	ID string
	// Status is Pass, Fail or Skip.
	Status string
	// Message says why a test failed or was skipped ("what: got X, want
	// Y"); empty for a pass.
	Message     string
	Requirement string
	// Transcript holds, for a failed test, the request line ("> " and the
	// line) and the answer line ("< " and the line) when there was one.
	Transcript []string
}

const (
	// DefaultTimeout is the per-request timeout when RunShim or Run get
	// none.
	DefaultTimeout = 10 * time.Second
	// MaxInFlight is the most requests the runner leaves unanswered.
	MaxInFlight = 32
)

// RunShim starts the shim argv[0] with arguments argv[1:] and the
// environment of this process, runs tests through it (see the package
// documentation) and returns one Result per test, in the order of tests.
// timeout (DefaultTimeout when 0) bounds the wait for the hello answer, for
// each answer after its request was written, and for the shim to exit after
// its input is closed; ctx bounds the whole run. The shim is killed when
// the run is cut short (hung shim, unattributable line, ctx) or when it does
// not exit in time.
//
// RunShim returns an error, and no results, when the shim cannot be
// started or tests has a duplicate ID. Otherwise every test has a Result,
// and the error reports what no test is blamed for alone: a failed hello, a
// cancelled ctx, an unattributable line, a hung shim, or a shim that did not
// exit with status 0 after answering everything.
func RunShim(ctx context.Context, argv []string, tests []Test, timeout time.Duration) ([]Result, error) {
	if len(argv) == 0 {
		return nil, errors.New("vectormode: no shim command")
	}
	if err := uniqueIDs(tests); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("vectormode: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("vectormode: %w", err)
	}
	stderr := &tail{max: 2048}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	cmd.WaitDelay = timeout
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return nil, fmt.Errorf("vectormode: starting the shim: %w", err)
	}
	inR.Close()
	outW.Close()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	status := func() string {
		if waitErr == nil {
			return "exit status 0"
		}
		return waitErr.Error()
	}
	// ended describes why the shim's output ended: its exit, once it has.
	ended := func(readErr error) string {
		select {
		case <-exited:
			return fmt.Sprintf("the shim exited (%s)%s", status(), stderr.describe())
		case <-time.After(timeout):
			return fmt.Sprintf("the shim closed its output (%v) but did not exit%s", readErr, stderr.describe())
		}
	}
	results, aborted, err := drive(ctx, inW, outR, tests, timeout, ended)
	if !aborted {
		select {
		case <-exited:
		case <-time.After(timeout):
			aborted = true
			if err == nil {
				err = fmt.Errorf("vectormode: the shim did not exit within %v after its input was closed", timeout)
			}
		}
	}
	if aborted {
		cmd.Process.Kill()
		<-exited
		return results, err
	}
	if err == nil && waitErr != nil {
		err = fmt.Errorf("vectormode: the shim ended with %s after answering%s", status(), stderr.describe())
	}
	return results, err
}

// Run is RunShim for a shim already running: it writes requests to w and
// reads answers from r, and closes both before it returns. It returns when
// every test is judged and r has ended (or a timeout after w was closed),
// or earlier when the run is cut short.
func Run(ctx context.Context, w io.WriteCloser, r io.ReadCloser, tests []Test, timeout time.Duration) ([]Result, error) {
	if err := uniqueIDs(tests); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	results, _, err := drive(ctx, w, r, tests, timeout, func(err error) string {
		return fmt.Sprintf("the shim closed its output (%v)", err)
	})
	return results, err
}

func uniqueIDs(tests []Test) error {
	seen := make(map[string]bool, len(tests))
	for _, t := range tests {
		if seen[t.ID] {
			return fmt.Errorf("vectormode: test ID %s twice", t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

// describe is "; stderr: …" with the kept bytes, or "" when there are none.
func (t *tail) describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	if t.cut {
		s = "…" + s
	}
	return "; stderr: " + s
}

// Test states in a run.
const (
	unsent = iota
	pending
	done
)

// line is one line the shim wrote, or the error that ended its output.
type line struct {
	b   []byte
	err error
}

// driver is one run over a pair of streams.
type driver struct {
	tests   []Test
	timeout time.Duration
	byID    map[string]int
	reqs    [][]byte // request lines, with "\n"; nil when the test could not be stripped
	slots   chan struct{}

	mu       sync.Mutex // guards state and sent, shared with the writer
	state    []int
	sent     []time.Time
	timedOut []bool
	results  []Result
	left     int // tests not done
	lastLine time.Time
}

// finish records the judgement of test i, releasing its slot when it was
// pending. Callers hold d.mu.
func (d *driver) finish(i int, status, msg string, answer []byte) {
	if d.state[i] == done {
		return
	}
	if d.state[i] == pending {
		<-d.slots
	}
	d.state[i] = done
	d.left--
	r := Result{ID: d.tests[i].ID, Status: status, Message: msg, Requirement: d.tests[i].Requirement}
	if status == Fail {
		if d.reqs[i] != nil && !d.neverSent(i) {
			r.Transcript = append(r.Transcript, "> "+strings.TrimSuffix(string(d.reqs[i]), "\n"))
		}
		if answer != nil {
			r.Transcript = append(r.Transcript, "< "+string(answer))
		}
	}
	d.results[i] = r
}

// neverSent reports whether test i was never written to the shim.
func (d *driver) neverSent(i int) bool { return d.sent[i].IsZero() }

// failAll fails every test that is not done: pendingMsg for those waiting
// for an answer, unsentMsg for those never written.
func (d *driver) failAll(pendingMsg, unsentMsg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.tests {
		switch d.state[i] {
		case pending:
			d.finish(i, Fail, pendingMsg, nil)
		case unsent:
			d.finish(i, Fail, unsentMsg, nil)
		}
	}
}

// idPattern finds an id in a line that is not valid JSON.
var idPattern = regexp.MustCompile(`"id"\s*:\s*"([^"\\]*)"`)

// quote shortens a line for a message.
func quote(b []byte) string {
	const limit = 300
	if len(b) > limit {
		return fmt.Sprintf("%q…(%d bytes)", b[:limit], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// handle judges one answer line. It returns a non-empty description when
// the line cannot be attributed to a test: the run must then end.
func (d *driver) handle(b []byte) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastLine = time.Now()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		if m := idPattern.FindSubmatch(b); m != nil {
			if i, ok := d.byID[string(m[1])]; ok && d.state[i] != done {
				d.finish(i, Fail, fmt.Sprintf("malformed answer line (%v)", err), b)
				return ""
			}
		}
		return fmt.Sprintf("malformed answer line from the shim (%v): %s", err, quote(b))
	}
	var id string
	if err := json.Unmarshal(fields["id"], &id); err != nil || id == "" {
		return fmt.Sprintf("answer line without an id from the shim: %s", quote(b))
	}
	i, ok := d.byID[id]
	if !ok {
		return fmt.Sprintf("answer for unknown test %q from the shim: %s", id, quote(b))
	}
	switch d.state[i] {
	case unsent:
		d.finish(i, Fail, "answered before the request was sent", b)
		return ""
	case done:
		if d.timedOut[i] {
			return "" // a late answer: the test already failed
		}
		if d.results[i].Status != Fail {
			r := &d.results[i]
			r.Status, r.Message = Fail, "answered twice"
			r.Transcript = []string{"> " + strings.TrimSuffix(string(d.reqs[i]), "\n"), "< " + string(b)}
		}
		return ""
	}
	status, msg := d.judge(i, fields)
	d.finish(i, status, msg, b)
	return ""
}

// judge decides test i from its answer's fields.
func (d *driver) judge(i int, f map[string]json.RawMessage) (status, msg string) {
	var result, alertName string
	if err := json.Unmarshal(f["result"], &result); err != nil {
		return Fail, "malformed answer: result is not a string"
	}
	if a, ok := f["alert"]; ok && !bytes.Equal(a, []byte("null")) {
		if err := json.Unmarshal(a, &alertName); err != nil {
			return Fail, "malformed answer: alert is not a string"
		}
	}
	outputs := f["outputs"]
	if t := bytes.TrimSpace(outputs); len(t) > 0 && t[0] != '{' && !bytes.Equal(t, []byte("null")) {
		return Fail, "malformed answer: outputs is not an object"
	}
	switch result {
	case judge.Unimplemented:
		return Skip, "unimplemented by the shim"
	case judge.Valid, judge.Invalid:
	default:
		return Fail, fmt.Sprintf("malformed answer: result %q, want valid, invalid or unimplemented", result)
	}
	t := d.tests[i]
	if err := judge.Judge(t.Area, t.Case, result, alertName, outputs); err != nil {
		return Fail, err.Error()
	}
	return Pass, ""
}

// checkTimeouts fails the requests that waited longer than the timeout.
// If the shim has written nothing for twice the timeout while requests
// wait, it is hung: the result is true and every test not done has failed.
// (A single timeout is not enough: a shim that never answers the last
// request while it answered all the others is silent for about one timeout
// when that request expires.)
func (d *driver) checkTimeouts(now time.Time) (hung bool) {
	d.mu.Lock()
	var waiting, expired []int
	for i, s := range d.state {
		if s == pending {
			waiting = append(waiting, i)
			if now.Sub(d.sent[i]) > d.timeout {
				expired = append(expired, i)
			}
		}
	}
	silent := now.Sub(d.lastLine)
	if len(waiting) > 0 && silent > 2*d.timeout {
		d.mu.Unlock()
		d.failAll(fmt.Sprintf("no answer: the shim wrote nothing for %v and was stopped", silent.Round(time.Millisecond)),
			"not sent: the shim stopped answering")
		return true
	}
	for _, i := range expired {
		d.timedOut[i] = true
		d.finish(i, Fail, fmt.Sprintf("no answer within %v", d.timeout), nil)
	}
	d.mu.Unlock()
	return false
}

// drive runs tests over w and r. ended describes why r ended early. aborted
// reports a run cut short, whose shim must be stopped. It closes w and r.
func drive(ctx context.Context, w io.WriteCloser, r io.ReadCloser, tests []Test, timeout time.Duration, ended func(error) string) (results []Result, aborted bool, err error) {
	d := &driver{
		tests: tests, timeout: timeout, byID: make(map[string]int, len(tests)),
		reqs: make([][]byte, len(tests)), slots: make(chan struct{}, MaxInFlight),
		state: make([]int, len(tests)), sent: make([]time.Time, len(tests)), timedOut: make([]bool, len(tests)),
		results: make([]Result, len(tests)), left: len(tests),
	}
	for i, t := range tests {
		d.byID[t.ID] = i
		stripped, serr := judge.Strip(t.Area, t.Case)
		if serr == nil {
			var b []byte
			if b, serr = json.Marshal(request{ID: t.ID, Area: t.Area, Group: t.Group, Test: stripped}); serr == nil {
				d.reqs[i] = append(b, '\n')
			}
		}
		if serr != nil {
			d.finish(i, Fail, fmt.Sprintf("the runner cannot encode the request: %v", serr), nil)
		}
	}

	// quit stops the reader, stopWriter the writer.
	quit, stopWriter := make(chan struct{}), make(chan struct{})
	var quitOnce, writerOnce sync.Once
	endWriter := func() {
		writerOnce.Do(func() {
			close(stopWriter)
			w.Close()
		})
	}
	lines := make(chan line)
	var wg sync.WaitGroup
	wg.Go(func() { // reader
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			b, err := readLine(br, maxLine)
			if err == nil && len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			select {
			case lines <- line{b, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer func() {
		endWriter()
		quitOnce.Do(func() {
			close(quit)
			r.Close()
		})
		wg.Wait()
		results = d.results
	}()

	// Hello.
	helloFail := func(msg string) ([]Result, bool, error) {
		d.failAll("shim hello failed: "+msg, "shim hello failed: "+msg)
		return nil, true, fmt.Errorf("vectormode: shim hello failed: %s", msg)
	}
	if err := ctx.Err(); err != nil {
		return helloFail(err.Error())
	}
	if _, err := io.WriteString(w, `{"hello":"`+Version+`"}`+"\n"); err != nil {
		return helloFail(fmt.Sprintf("writing the hello line: %v", err))
	}
	timer := time.NewTimer(timeout)
	select {
	case <-ctx.Done():
		timer.Stop()
		return helloFail(ctx.Err().Error())
	case <-timer.C:
		return helloFail(fmt.Sprintf("no hello answer within %v", timeout))
	case l := <-lines:
		timer.Stop()
		if l.err != nil {
			return helloFail("no hello answer: " + ended(l.err))
		}
		var h hello
		if err := json.Unmarshal(l.b, &h); err != nil || h.Hello == nil {
			return helloFail("the first line is not a hello answer: " + quote(l.b))
		}
		if *h.Hello != Version {
			return helloFail(fmt.Sprintf("the shim speaks %q, the runner %q", *h.Hello, Version))
		}
		if h.Implementation == nil || *h.Implementation == "" {
			return helloFail("the hello answer names no implementation: " + quote(l.b))
		}
	}
	d.mu.Lock()
	d.lastLine = time.Now()
	d.mu.Unlock()

	writeErr := make(chan error, 1)
	wg.Go(func() { // writer
		for i := range tests {
			select {
			case d.slots <- struct{}{}:
			case <-stopWriter:
				return
			}
			d.mu.Lock()
			if d.state[i] != unsent {
				<-d.slots
				d.mu.Unlock()
				continue
			}
			d.state[i], d.sent[i] = pending, time.Now()
			d.mu.Unlock()
			if _, err := w.Write(d.reqs[i]); err != nil {
				writeErr <- err
				return
			}
		}
	})

	tick := min(max(timeout/8, 5*time.Millisecond), time.Second)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	left := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.left
	}
	var (
		werr   error
		werrAt time.Time
	)
	cancelled := func() ([]Result, bool, error) {
		msg := "cancelled: " + ctx.Err().Error()
		d.failAll(msg, msg)
		return nil, true, fmt.Errorf("vectormode: %w", ctx.Err())
	}
	for left() > 0 {
		if ctx.Err() != nil {
			return cancelled()
		}
		select {
		case <-ctx.Done():
			return cancelled()
		case l := <-lines:
			if l.err != nil {
				n := left()
				msg := ended(l.err)
				d.failAll("no answer: "+msg, "not sent: "+msg)
				return nil, false, fmt.Errorf("vectormode: %d tests unanswered: %s", n, msg)
			}
			if bad := d.handle(l.b); bad != "" {
				d.failAll("no answer: "+bad+"; the runner stopped", "not sent: "+bad+"; the runner stopped")
				return nil, true, fmt.Errorf("vectormode: %s", bad)
			}
		case err := <-writeErr:
			// The shim closed its input, probably exiting: the end of its
			// output will say why. Tests not sent fail then, or after a
			// timeout if it keeps running.
			werr, werrAt = err, time.Now()
		case now := <-ticker.C:
			if d.checkTimeouts(now) {
				return nil, true, fmt.Errorf("vectormode: the shim stopped answering (no line for %v)", 2*timeout)
			}
			if werr != nil && now.Sub(werrAt) > timeout {
				msg := fmt.Sprintf("not sent: writing to the shim failed (%v)", werr)
				d.mu.Lock()
				for i, s := range d.state {
					if s == unsent {
						d.finish(i, Fail, msg, nil)
					}
				}
				d.mu.Unlock()
			}
		}
	}

	// Every test is judged: close the shim's input and wait for the end of
	// its output, judging late lines (a second answer fails its test).
	endWriter()
	timer = time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case l := <-lines:
			if l.err != nil {
				return nil, false, nil
			}
			if bad := d.handle(l.b); bad != "" {
				return nil, true, fmt.Errorf("vectormode: after the last answer: %s", bad)
			}
		case <-timer.C:
			return nil, true, fmt.Errorf("vectormode: the shim did not close its output within %v after its input was closed", timeout)
		case <-ctx.Done():
			return nil, true, fmt.Errorf("vectormode: %w", ctx.Err())
		}
	}
}
