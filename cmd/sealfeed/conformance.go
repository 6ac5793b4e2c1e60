package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/sealfeed/sealfeed/conformance"
	"github.com/sealfeed/sealfeed/internal/keyfile"
)

// implConfig is the per-implementation configuration file.
type implConfig struct {
	Implementation string            `json:"implementation"`
	Disabled       map[string]string `json:"disabled"` // test ID, or prefix ending in "/" → reason
	Without        []string          `json:"without"`  // capabilities: mlkem, aes, credential, identity, resumption
	Parallel       int               `json:"parallel"`
}

func conformanceCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("conformance", "[flags] -- SHIM [SHIM ARGS...]",
		"Runs the conformance suite (spec/conformance.md) against an implementation's shim: every\n"+
			"vector operation (vector mode) and scripted connections with an adversarial server (live\n"+
			"mode). Each test has a stable ID and the requirement IDs it covers; outcomes are judged\n"+
			"strictly (exact messages, exact alert). Exit status 1 when any test fails.", stderr)
	var run, skip, config, jsonOut, htmlOut, mode, serverURL, serverFP, pubKey string
	var serverHS time.Duration
	var serverCmd, otherPubKey string
	var serverMaxPending int
	var parallel int
	var timeout time.Duration
	var list, failOnSkip bool
	fs.StringVar(&run, "run", "", "run only tests whose ID matches this regular expression")
	fs.StringVar(&skip, "skip", "", "skip tests whose ID matches this regular expression")
	fs.StringVar(&config, "config", "", "per-implementation JSON config: implementation, disabled (ID → reason), without (capabilities), parallel")
	fs.StringVar(&mode, "mode", "all", "all, live or vectors")
	fs.IntVar(&parallel, "parallel", 4, "tests run at once")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "time limit per live test")
	fs.StringVar(&jsonOut, "json", "", "write the full report as JSON to this file")
	fs.StringVar(&htmlOut, "html", "", "write a self-contained HTML report to this file")
	fs.BoolVar(&list, "list", false, "list every test (vector, client and server) with its requirement IDs, count them on stderr, and exit")
	fs.BoolVar(&failOnSkip, "fail-on-skip", false, "fail the run when a required test did not run (the shim answered unimplemented);\ntests disabled by -config or needing a capability it lacks are not required")
	fs.StringVar(&serverURL, "server", "", "test this server instead of a client shim (with -fingerprint and -publisher-key; see also -server-cmd)")
	fs.StringVar(&serverFP, "fingerprint", "", "the server's key fingerprint (with -server)")
	fs.StringVar(&pubKey, "publisher-key", "", "a publisher private key the server has registered (with -server)")
	fs.DurationVar(&serverHS, "server-handshake-timeout", 10*time.Second, "the server's handshake timeout (the slow-loris test waits for it)")
	fs.StringVar(&serverCmd, "server-cmd", "", "start the server under test with this shell command instead of -server, and restart it for the\n"+
		"restart tests: it keeps its data across starts and prints \"listening on URL\" when it serves (CONF-060)")
	fs.StringVar(&otherPubKey, "other-publisher-key", "", "a second publisher private key the server has registered (API-031's test; optional)")
	fs.IntVar(&serverMaxPending, "server-max-pending", 0, "the server's pending limit per client (API-028's test; 0: unknown, skipped)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if list {
		return listTests(stdout, stderr)
	}
	shim := fs.Args()
	var target *conformance.ServerTarget
	var proc *conformance.ServerProcess
	if serverCmd != "" {
		if serverURL != "" {
			return errors.New("give -server or -server-cmd, not both")
		}
		proc = &conformance.ServerProcess{Command: serverCmd}
		if err := proc.Start(context.Background()); err != nil {
			return err
		}
		defer proc.Stop()
		serverURL = proc.URL()
	}
	if serverURL != "" {
		fp, err := hex.DecodeString(serverFP)
		if err != nil || len(fp) != 32 {
			return errors.New("-fingerprint: want the server key's 64-hex-digit fingerprint")
		}
		k, err := keyfile.LoadPrivate(pubKey)
		if err != nil {
			return fmt.Errorf("-publisher-key: %w", err)
		}
		target = &conformance.ServerTarget{BaseURL: serverURL, Publisher: k, HandshakeTimeout: serverHS, Process: proc, MaxPending: serverMaxPending}
		if otherPubKey != "" {
			if target.OtherPublisher, err = keyfile.LoadPrivate(otherPubKey); err != nil {
				return fmt.Errorf("-other-publisher-key: %w", err)
			}
		}
		copy(target.Fingerprint[:], fp)
		if len(shim) == 0 {
			shim = []string{"(server " + serverURL + ")"}
			mode = "server"
		}
	} else if len(shim) == 0 {
		return errors.New("give the shim command after --, e.g. sealfeed conformance -- go run ./conformance/shims/goshim; or -server URL, or -server-cmd COMMAND")
	}
	var ic implConfig
	if config != "" {
		b, err := os.ReadFile(config)
		if err != nil {
			return err
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.DisallowUnknownFields()
		if err := d.Decode(&ic); err != nil {
			return fmt.Errorf("%s: %w", config, err)
		}
	}
	if ic.Implementation == "" {
		ic.Implementation = strings.Join(shim, " ")
	}
	cfg := &conformance.Config{Shim: shim, Disabled: ic.Disabled, Without: map[string]bool{}, Parallel: parallel, Timeout: timeout,
		Live: mode == "all" || mode == "live", Vectors: mode == "all" || mode == "vectors", Server: target}
	if mode != "all" && mode != "live" && mode != "vectors" && mode != "server" {
		return fmt.Errorf("-mode %q: want all, live or vectors", mode)
	}
	if ic.Parallel > 0 && !flagSet(fs, "parallel") {
		cfg.Parallel = ic.Parallel
	}
	for _, c := range ic.Without {
		cfg.Without[c] = true
	}
	var err error
	if run != "" {
		if cfg.Run, err = regexp.Compile(run); err != nil {
			return fmt.Errorf("-run: %w", err)
		}
	}
	if skip != "" {
		if cfg.Skip, err = regexp.Compile(skip); err != nil {
			return fmt.Errorf("-skip: %w", err)
		}
	}
	tty := isTerminal(stderr)
	cfg.Progress = progressPrinter(stderr, tty)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	results, err := conformance.Run(ctx, cfg)
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	rep := conformance.NewReport(ic.Implementation, started, results)
	rep.WriteTable(stdout)
	if jsonOut != "" {
		if err := writeWith(jsonOut, rep.WriteJSON); err != nil {
			return err
		}
	}
	if htmlOut != "" {
		if err := writeWith(htmlOut, rep.WriteHTML); err != nil {
			return err
		}
	}
	if rep.Summary.Failed > 0 {
		return fmt.Errorf("%d of %d tests failed", rep.Summary.Failed, rep.Summary.Total)
	}
	if failOnSkip {
		if err := rep.RequiredRan(); err != nil {
			return fmt.Errorf("-fail-on-skip: %w", err)
		}
	}
	return nil
}

// listTests prints every test with its requirement IDs on stdout and the
// count per kind on stderr, the numbers README.md quotes (CONF-057).
func listTests(stdout, stderr io.Writer) error {
	vs, err := conformance.ListVectors()
	if err != nil {
		return err
	}
	n := map[string]int{}
	for _, t := range append(vs, conformance.List()...) {
		fmt.Fprintf(stdout, "%-60s %s\n", t.ID, strings.Join(t.Requirements, " "))
		kind, _, _ := strings.Cut(t.ID, "/")
		n[kind]++
	}
	fmt.Fprintf(stderr, "%d vector tests, %d client tests, %d server tests\n", n["vector"], n["client"], n["server"])
	return nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressPrinter returns the runner's progress callback. On a terminal it
// rewrites one line with \r; elsewhere (a CI log, a file) it never writes
// \r or escape codes: one line per failed test and one when a batch of
// tests ends (CONF-056).
func progressPrinter(w io.Writer, tty bool) func(done, total int, last *conformance.Result) {
	if tty {
		return func(done, total int, last *conformance.Result) {
			fmt.Fprintf(w, "\r\033[K[%d/%d] %s %s", done, total, last.Status, last.ID)
		}
	}
	return func(done, total int, last *conformance.Result) {
		if last.Status == conformance.Fail || done == total {
			fmt.Fprintf(w, "[%d/%d] %s %s\n", done, total, last.Status, last.ID)
		}
	}
}

func writeWith(path string, f func(io.Writer) error) error {
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
