package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/conformance"
)

// CONF-057: README.md's conformance counts are those of `sealfeed
// conformance -list`, so the two cannot drift: a change that adds or
// retires tests updates the README in the same commit.
func TestREADMECountsComeFromList(t *testing.T) {
	var out, counts bytes.Buffer
	if err := conformanceCommand([]string{"-list"}, &out, &counts); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		kind, _, _ := strings.Cut(strings.Fields(line)[0], "/")
		n[kind]++
	}
	want := regexp.MustCompile(`^(\d+) vector tests, (\d+) client tests, (\d+) server tests\n$`).FindStringSubmatch(counts.String())
	if want == nil {
		t.Fatalf("-list counts %q", counts.String())
	}
	for i, k := range []string{"vector", "client", "server"} {
		if strconv.Itoa(n[k]) != want[i+1] {
			t.Errorf("-list prints %d %s tests and counts %s", n[k], k, want[i+1])
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(\d+) vector tests through a JSON-lines shim protocol, (\d+) live client tests against an adversarial server, (\d+) server tests`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no conformance counts line")
	}
	for i, k := range []string{"vector", "client", "server"} {
		if got := string(m[i+1]); got != strconv.Itoa(n[k]) {
			t.Errorf("README.md says %s %s tests, `sealfeed conformance -list` lists %d", got, k, n[k])
		}
	}
}

// CONF-056: off a terminal the progress lines carry no carriage return or
// escape code and name only failures and the end of a batch; on a terminal
// one line is rewritten with \r.
func TestProgressUsesCarriageReturnOnlyOnATerminal(t *testing.T) {
	results := []*conformance.Result{{ID: "client/a/pass", Status: conformance.Pass}, {ID: "client/a/fail", Status: conformance.Fail},
		{ID: "client/a/last", Status: conformance.Pass}}
	var plain, tty bytes.Buffer
	p, q := progressPrinter(&plain, false), progressPrinter(&tty, true)
	for i, r := range results {
		p(i+1, len(results), r)
		q(i+1, len(results), r)
	}
	if s := plain.String(); strings.ContainsAny(s, "\r\033") || s != "[2/3] fail client/a/fail\n[3/3] pass client/a/last\n" {
		t.Errorf("progress off a terminal: %q", s)
	}
	if s := tty.String(); strings.Count(s, "\r") != 3 || strings.Contains(s, "\n") {
		t.Errorf("progress on a terminal: %q", s)
	}
	if isTerminal(&plain) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a file is a terminal")
	}
}

// CONF-060: -server and -server-cmd exclude each other, and a -server-cmd
// whose command never serves fails the run with the command's own words
// before any test.
func TestServerCmdFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	err := conformanceCommand([]string{"-server", "http://127.0.0.1:1", "-server-cmd", "true"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("-server with -server-cmd: %v", err)
	}
	err = conformanceCommand([]string{"-server-cmd", "echo cannot open the data directory >&2; exit 1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "cannot open the data directory") {
		t.Errorf("a -server-cmd that exits: %v", err)
	}
}
