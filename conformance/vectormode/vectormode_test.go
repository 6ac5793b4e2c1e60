package vectormode

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/vectors"
	"github.com/sealfeed/sealfeed/vectors/judge"
	"github.com/sealfeed/sealfeed/vectors/run"
)

// shimEnv makes the test binary a shim (TestMain): "reference" serves
// run.Case, "crash" answers one request and exits with status 3, "hang"
// answers the hello and nothing else, "exit1" serves run.Case and exits
// with status 1.
const shimEnv = "SEALFEED_VECTORMODE_TEST_SHIM"

func reference(area string, group, test json.RawMessage) (string, string, map[string]any) {
	a := run.Case(area, group, test)
	return a.Result, a.Alert, a.Outputs
}

func TestMain(m *testing.M) {
	mode := os.Getenv(shimEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	switch mode {
	case "reference", "exit1":
		if err := Serve(os.Stdin, os.Stdout, "sealfeed-reference", reference); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if mode == "exit1" {
			fmt.Fprintln(os.Stderr, "exit1 mode")
			os.Exit(1)
		}
		os.Exit(0)
	case "crash":
		var answered atomic.Int32
		Serve(os.Stdin, os.Stdout, "crasher", func(area string, group, test json.RawMessage) (string, string, map[string]any) {
			if answered.Add(1) > 1 {
				fmt.Fprintln(os.Stderr, "shim: boom")
				os.Exit(3)
			}
			return reference(area, group, test)
		})
		os.Exit(0)
	case "hang":
		br := bufio.NewReader(os.Stdin)
		br.ReadString('\n')
		fmt.Printf(`{"hello":%q,"implementation":"hanger"}`+"\n", Version)
		io.Copy(io.Discard, br)
		time.Sleep(time.Hour)
	}
	fmt.Fprintf(os.Stderr, "unknown %s %q\n", shimEnv, mode)
	os.Exit(2)
}

func allTests(t *testing.T) []Test {
	t.Helper()
	tests, err := Tests()
	if err != nil {
		t.Fatal(err)
	}
	return tests
}

// TestTests checks the enumeration: every vector once, with its stable ID
// and expected values, and groups without their tests.
func TestTests(t *testing.T) {
	tests := allTests(t)
	want := 0
	for _, file := range vectors.Files() {
		f, err := vectors.Load[json.RawMessage](file)
		if err != nil {
			t.Fatal(err)
		}
		want += f.NumberOfTests
	}
	if len(tests) != want || want < 300 {
		t.Fatalf("%d tests, the files have %d", len(tests), want)
	}
	ids := map[string]bool{}
	for _, tc := range tests {
		if ids[tc.ID] {
			t.Errorf("%s twice", tc.ID)
		}
		ids[tc.ID] = true
		if tc.ID != fmt.Sprintf("vector/%s/%d", tc.Area, tc.TcID) {
			t.Errorf("ID %s for %s tcId %d", tc.ID, tc.Area, tc.TcID)
		}
		var g map[string]json.RawMessage
		if err := json.Unmarshal(tc.Group, &g); err != nil || g["tests"] != nil || g["type"] == nil {
			t.Errorf("%s: group %.100s", tc.ID, tc.Group)
		}
		var c vectors.Test
		if err := json.Unmarshal(tc.Case, &c); err != nil || c.TcID != tc.TcID || string(c.Result) != tc.Result || c.Alert != tc.Alert {
			t.Errorf("%s: case does not match its fields", tc.ID)
		}
		if (tc.Result == "invalid") != (tc.Alert != "") {
			t.Errorf("%s: result %s alert %q", tc.ID, tc.Result, tc.Alert)
		}
	}
	if !ids["vector/batch/5"] || !ids["vector/handshake/1"] {
		t.Error("known IDs missing")
	}
	t.Logf("%d vector tests", len(tests))
}

// leaves collects the strings of a JSON value.
func leaves(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			leaves(e, out)
		}
	case map[string]any:
		for _, e := range x {
			leaves(e, out)
		}
	}
}

// TestStripRemovesOutputs checks that a stripped test has no result, alert,
// comment or output field, nested ones included, and that no expected
// output value of 8 bytes or more appears anywhere in it (the other side's
// handshake frames, inputs the answer repeats, excepted).
func TestStripRemovesOutputs(t *testing.T) {
	checked := 0
	for _, tc := range allTests(t) {
		s := Strip(tc)
		if s == nil {
			t.Fatalf("%s: Strip failed", tc.ID)
		}
		var m map[string]any
		if err := json.Unmarshal(s, &m); err != nil {
			t.Fatal(err)
		}
		all, _, err := judge.Outputs(tc.Area, tc.Case)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append([]string{"result", "alert", "comment"}, all...) {
			v, ok := m[f]
			switch {
			case !ok:
			case f == "steps":
				for i, st := range v.([]any) {
					for _, k := range []string{"result", "messages", "answers"} {
						if _, ok := st.(map[string]any)[k]; ok {
							t.Errorf("%s: steps[%d] keeps its %s", tc.ID, i, k)
						}
					}
				}
			case f == "frames" && m["role"] != "both":
				for i, fr := range v.([]any) {
					fr := fr.(map[string]any)
					if _, ok := fr["frame"]; ok && fr["from"] == m["role"] {
						t.Errorf("%s: frame %d of the side under test is kept", tc.ID, i)
					}
				}
			default:
				t.Errorf("%s: stripped test keeps %s", tc.ID, f)
			}
		}
		if _, ok := m["tcId"]; !ok {
			t.Errorf("%s: tcId stripped", tc.ID)
		}
		// Every expected output value, by value: it may appear in the
		// stripped test only inside an input value (a credential holds the
		// server key it certifies, a server's randomness the client ID it
		// assigns), inputs taken from the original test.
		var full map[string]any
		if err := json.Unmarshal(tc.Case, &full); err != nil {
			t.Fatal(err)
		}
		var ins, outs []string
		for k, v := range full {
			switch {
			case k == "result" || k == "alert" || k == "comment":
			case k == "steps":
				for _, st := range v.([]any) {
					for sk, sv := range st.(map[string]any) {
						if sk == "result" || sk == "messages" || sk == "answers" {
							leaves(sv, &outs)
						} else {
							leaves(sv, &ins)
						}
					}
				}
			case k == "frames" && full["role"] != "both":
				for _, fr := range v.([]any) {
					if fr := fr.(map[string]any); fr["from"] == full["role"] {
						leaves(fr["frame"], &outs)
					} else {
						leaves(fr["frame"], &ins)
					}
				}
			case slices.Contains(all, k):
				leaves(v, &outs)
			default:
				leaves(v, &ins)
			}
		}
		for _, v := range outs {
			if len(v) < 16 {
				continue
			}
			checked++
			if strings.Contains(string(s), v) && !slices.ContainsFunc(ins, func(in string) bool { return strings.Contains(in, v) }) {
				t.Errorf("%s: the stripped test contains the expected output %.40s…", tc.ID, v)
			}
		}
	}
	if checked < 900 {
		t.Errorf("only %d expected values checked", checked)
	}
	t.Logf("%d expected output values absent from the stripped tests", checked)
}

// pipeShim runs tests through an in-process shim: serve gets the shim's
// ends of two pipes and must close w when done.
func pipeShim(t *testing.T, tests []Test, timeout time.Duration, serve func(r io.Reader, w io.WriteCloser)) ([]Result, error) {
	t.Helper()
	reqR, reqW := io.Pipe()
	ansR, ansW := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(reqR, ansW)
		io.Copy(io.Discard, reqR)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, reqW, ansR, tests, timeout)
	<-done
	if len(res) != len(tests) {
		t.Fatalf("%d results for %d tests", len(res), len(tests))
	}
	for i := range res {
		if res[i].ID != tests[i].ID {
			t.Fatalf("result %d is %s, want %s", i, res[i].ID, tests[i].ID)
		}
	}
	return res, err
}

// serveWith is a pipeShim serve function around Serve.
func serveWith(t *testing.T, exec func(area string, group, test json.RawMessage) (string, string, map[string]any)) func(io.Reader, io.WriteCloser) {
	return func(r io.Reader, w io.WriteCloser) {
		if err := Serve(r, w, "test", exec); err != nil {
			t.Errorf("Serve: %v", err)
		}
		w.Close()
	}
}

// TestPipeReference runs every vector through Serve with run.Case over
// in-process pipes: every test passes.
func TestPipeReference(t *testing.T) {
	tests := allTests(t)
	res, err := pipeShim(t, tests, 30*time.Second, serveWith(t, reference))
	if err != nil {
		t.Fatal(err)
	}
	pass := 0
	for _, r := range res {
		if r.Status != Pass {
			t.Errorf("%s: %s %s %q", r.ID, r.Status, r.Message, r.Transcript)
			continue
		}
		pass++
		if r.Message != "" || r.Transcript != nil {
			t.Errorf("%s passed with a message or transcript", r.ID)
		}
	}
	t.Logf("%d of %d vector tests pass against run.Case over the protocol", pass, len(tests))
}

// pick returns the first test of area with the given result whose expected
// outputs are non-empty (or any, when withOutputs is false).
func pick(t *testing.T, tests []Test, area, result string, withOutputs bool) Test {
	t.Helper()
	for _, tc := range tests {
		if tc.Area != area || tc.Result != result {
			continue
		}
		want, err := judge.Expected(tc.Area, tc.Case)
		if err != nil {
			t.Fatal(err)
		}
		if !withOutputs || len(want) > 0 {
			return tc
		}
	}
	t.Fatalf("no %s %s test", result, area)
	return Test{}
}

// TestJudgements checks how answers are judged: a wrong alert, a missing
// output, a wrong output, a wrong nested step output, a flipped result and
// a valid answer to an invalid test fail with a message naming what was
// got and what was wanted; "unimplemented" is a skip; the right answers
// pass.
func TestJudgements(t *testing.T) {
	all := allTests(t)
	var (
		wrongAlert  = pick(t, all, "decode", "invalid", false)
		missing     = pick(t, all, "x25519", "valid", true)
		wrongOutput = pick(t, all, "keyschedule", "valid", true)
		wrongStep   = pick(t, all, "replay", "invalid", true)
		flipped     = pick(t, all, "merkle", "valid", false)
		accepted    = pick(t, all, "ed25519", "invalid", false)
		unimpl      = pick(t, all, "batch", "valid", true)
		good        = pick(t, all, "handshake", "valid", true)
		goodInvalid = pick(t, all, "record", "invalid", true)
	)
	tests := []Test{wrongAlert, missing, wrongOutput, wrongStep, flipped, accepted, unimpl, good, goodInvalid}
	exec := func(area string, group, test json.RawMessage) (string, string, map[string]any) {
		var c struct {
			TcID int `json:"tcId"`
		}
		json.Unmarshal(test, &c)
		id := fmt.Sprintf("vector/%s/%d", area, c.TcID)
		res, al, out := reference(area, group, test)
		switch id {
		case wrongAlert.ID:
			al = "illegal_parameter"
		case missing.ID:
			delete(out, "shared")
		case wrongOutput.ID:
			s := out["secrets"].(map[string]vectors.Hex)
			s["master_secret"] = append(vectors.Hex{0}, s["master_secret"][1:]...)
		case wrongStep.ID:
			steps := out["steps"].([]run.ReplayStep)
			steps[0].Result = "stale_message"
		case flipped.ID:
			res, al = "invalid", "bad_proof"
		case accepted.ID:
			res, al = "valid", ""
		case unimpl.ID:
			res, al, out = "unimplemented", "", nil
		}
		return res, al, out
	}
	res, err := pipeShim(t, tests, 10*time.Second, serveWith(t, exec))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status string
		msg    []string
	}{
		{Fail, []string{`alert: got "illegal_parameter", want "` + wrongAlert.Alert + `"`}},
		{Fail, []string{"output shared: missing, want"}},
		{Fail, []string{"output secrets.master_secret: got \"00"}},
		{Fail, []string{`output steps[0].result: got "stale_message", want "accept"`}},
		{Fail, []string{`result: got invalid (alert "bad_proof"), want valid`}},
		{Fail, []string{"result: got valid, want invalid (alert " + accepted.Alert + ")"}},
		{Skip, []string{"unimplemented"}},
		{Pass, nil},
		{Pass, nil},
	}
	for i, r := range res {
		if r.Status != want[i].status {
			t.Errorf("%s: %s (%s), want %s", r.ID, r.Status, r.Message, want[i].status)
			continue
		}
		for _, m := range want[i].msg {
			if !strings.Contains(r.Message, m) {
				t.Errorf("%s: message %q lacks %q", r.ID, r.Message, m)
			}
		}
		if r.Status == Fail {
			if len(r.Transcript) != 2 || !strings.HasPrefix(r.Transcript[0], `> {"id":"`+r.ID) || !strings.HasPrefix(r.Transcript[1], `< {"id":"`+r.ID) {
				t.Errorf("%s: transcript %.300q", r.ID, r.Transcript)
			}
		} else if r.Transcript != nil {
			t.Errorf("%s: transcript for a %s", r.ID, r.Status)
		}
		if r.Requirement != tests[i].Requirement {
			t.Errorf("%s: requirement %q", r.ID, r.Requirement)
		}
	}
}

// rawShim is a pipeShim serve function that answers the hello and then
// calls answer for each request line, with a function writing raw lines.
func rawShim(answer func(req request, write func(string))) func(io.Reader, io.WriteCloser) {
	return func(r io.Reader, w io.WriteCloser) {
		defer w.Close()
		br := bufio.NewReader(r)
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		write := func(s string) { io.WriteString(w, s+"\n") }
		write(`{"hello":"` + Version + `","implementation":"raw"}`)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			var req request
			json.Unmarshal([]byte(l), &req)
			answer(req, write)
		}
	}
}

// correct is the reference's answer line to req.
func correct(req request) string {
	res, al, out := reference(req.Area, req.Group, req.Test)
	b, _ := json.Marshal(answerLine{ID: req.ID, Result: res, Alert: al, Outputs: out})
	return string(b)
}

// TestMalformedAnswers: a bad result value, a line that is not JSON but
// names its test, and a second answer fail their tests only; a line that
// names no test ends the run and fails every unanswered test.
func TestMalformedAnswers(t *testing.T) {
	tests := allTests(t)[:6]
	res, err := pipeShim(t, tests, 10*time.Second, rawShim(func(req request, write func(string)) {
		switch req.ID {
		case tests[1].ID:
			write(`{"id":"` + req.ID + `","result":"maybe","alert":"","outputs":{}}`)
		case tests[2].ID:
			write(`{"id": "` + req.ID + `", "result": "valid", `)
		case tests[3].ID:
			write(correct(req))
			write(correct(req))
		default:
			write(correct(req))
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "malformed answer: result \"maybe\"", "malformed answer line", "answered twice", "", ""} {
		r := res[i]
		if (want == "") != (r.Status == Pass) || !strings.Contains(r.Message, want) {
			t.Errorf("%s: %s %q, want message %q", r.ID, r.Status, r.Message, want)
		}
	}

	res, err = pipeShim(t, tests, 10*time.Second, rawShim(func(req request, write func(string)) {
		if req.ID == tests[2].ID {
			write("hello world")
			return
		}
		write(correct(req))
	}))
	if err == nil || !strings.Contains(err.Error(), `"hello world"`) {
		t.Errorf("error %v", err)
	}
	failed := 0
	for _, r := range res {
		switch r.Status {
		case Fail:
			failed++
			if !strings.Contains(r.Message, `malformed answer line from the shim`) || !strings.Contains(r.Message, `"hello world"`) {
				t.Errorf("%s: %q", r.ID, r.Message)
			}
		case Pass:
		default:
			t.Errorf("%s: %s", r.ID, r.Status)
		}
	}
	if failed == 0 || res[2].Status != Fail {
		t.Errorf("%d tests failed; test 2 %s", failed, res[2].Status)
	}
}

// TestTimeouts: a request the shim never answers fails after the timeout
// while the others pass; a shim that answers nothing at all is declared
// hung and every test fails, quickly.
func TestTimeouts(t *testing.T) {
	tests := allTests(t)[:5]
	const timeout = 300 * time.Millisecond
	res, err := pipeShim(t, tests, timeout, rawShim(func(req request, write func(string)) {
		if req.ID != tests[1].ID {
			go func() {
				time.Sleep(timeout / 3)
				write(correct(req))
			}()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i == 1 {
			if r.Status != Fail || !strings.Contains(r.Message, "no answer within 300ms") || len(r.Transcript) != 1 {
				t.Errorf("%s: %s %q %q", r.ID, r.Status, r.Message, r.Transcript)
			}
		} else if r.Status != Pass {
			t.Errorf("%s: %s %q", r.ID, r.Status, r.Message)
		}
	}

	start := time.Now()
	all := allTests(t)
	res, err = pipeShim(t, all, timeout, rawShim(func(request, func(string)) {}))
	if err == nil {
		t.Error("no error for a hung shim")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a hung shim took %v", d)
	}
	for _, r := range res {
		if r.Status != Fail || !(strings.Contains(r.Message, "no answer") || strings.Contains(r.Message, "not sent: the shim stopped answering")) {
			t.Fatalf("%s: %s %q", r.ID, r.Status, r.Message)
		}
	}
	// A shim that never says hello.
	res, err = pipeShim(t, tests, timeout, func(r io.Reader, w io.WriteCloser) {
		io.Copy(io.Discard, r)
		w.Close()
	})
	if err == nil || res[0].Status != Fail || !strings.Contains(res[0].Message, "hello") {
		t.Errorf("silent shim: %v, %+v", err, res[0])
	}
}

// TestHello: Serve answers the hello with its name and refuses another
// protocol version; the runner fails every test of a shim with another
// version.
func TestHello(t *testing.T) {
	var out strings.Builder
	err := Serve(strings.NewReader(`{"hello":"`+Version+`"}`+"\n"), &out, "x", reference)
	if err != nil || out.String() != `{"hello":"sealfeed-conformance/1","implementation":"x"}`+"\n" {
		t.Errorf("%v %q", err, out.String())
	}
	out.Reset()
	if err := Serve(strings.NewReader(`{"hello":"sealfeed-conformance/9"}`+"\n"), &out, "x", reference); err == nil {
		t.Error("Serve accepts another version")
	}
	tests := allTests(t)[:3]
	res, err := pipeShim(t, tests, time.Second, func(r io.Reader, w io.WriteCloser) {
		bufio.NewReader(r).ReadString('\n')
		io.WriteString(w, `{"hello":"sealfeed-conformance/2","implementation":"future"}`+"\n")
		w.Close()
	})
	if err == nil || res[0].Status != Fail || !strings.Contains(res[0].Message, `"sealfeed-conformance/2"`) {
		t.Errorf("%v %+v", err, res[0])
	}
}

// TestRunShim runs every vector through this test binary as a shim process
// serving run.Case: every test passes.
func TestRunShim(t *testing.T) {
	t.Setenv(shimEnv, "reference")
	tests := allTests(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunShim(ctx, []string{os.Args[0], "-test.run=^$"}, tests, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res {
		if r.Status != Pass {
			t.Errorf("%s: %s %s", r.ID, r.Status, r.Message)
		} else {
			n++
		}
	}
	t.Logf("%d of %d vector tests pass against the shim process", n, len(tests))
}

// TestRunShimFailures: a shim that crashes fails the unanswered tests with
// its exit status and standard error; a hung shim is killed and its tests
// fail within the timeout; a shim that exits non-zero after answering is an
// error; a command that does not exist is an error.
func TestRunShimFailures(t *testing.T) {
	tests := allTests(t)[:40]
	ctx := context.Background()
	argv := []string{os.Args[0], "-test.run=^$"}

	t.Setenv(shimEnv, "crash")
	res, err := RunShim(ctx, argv, tests, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("crash: error %v", err)
	}
	pass, fail := 0, 0
	for _, r := range res {
		switch r.Status {
		case Pass:
			pass++
		case Fail:
			fail++
			if !strings.Contains(r.Message, "exit status 3") || !strings.Contains(r.Message, "shim: boom") {
				t.Errorf("crash: %s: %q", r.ID, r.Message)
			}
		}
	}
	if pass > 1 || fail < len(tests)-1 {
		t.Errorf("crash: %d passed, %d failed", pass, fail)
	}
	t.Logf("crash: %v; %s: %s", err, res[len(res)-1].ID, res[len(res)-1].Message)

	t.Setenv(shimEnv, "hang")
	start := time.Now()
	res, err = RunShim(ctx, argv, tests, 300*time.Millisecond)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("hang: %v after %v", err, time.Since(start))
	}
	if slices.ContainsFunc(res, func(r Result) bool { return r.Status != Fail }) {
		t.Error("hang: a test did not fail")
	}
	t.Logf("hang: %v after %v; %s: %s", err, time.Since(start).Round(time.Millisecond), res[0].ID, res[0].Message)

	t.Setenv(shimEnv, "exit1")
	res, err = RunShim(ctx, argv, tests[:3], 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "exit1 mode") {
		t.Errorf("exit1: %v", err)
	}
	if slices.ContainsFunc(res, func(r Result) bool { return r.Status != Pass }) {
		t.Errorf("exit1: %+v", res)
	}

	t.Setenv(shimEnv, "reference")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := RunShim(cctx, argv, tests[:3], 5*time.Second); err == nil {
		t.Error("cancelled context: no error")
	}
	if _, err := RunShim(ctx, []string{"/nonexistent/shim"}, tests, time.Second); err == nil {
		t.Error("no error for a missing command")
	}
}
