package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Precedence: command line, then SEALFEED_<FLAG>, then the config file, then
// the default; repeatable flags take arrays; unknown config keys are errors.
func TestSettlePrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sealfeed.json")
	os.WriteFile(cfg, []byte(`{"listen": "127.0.0.1:1", "tick": "7ms", "max-payload": 1000, "publisher": ["a.pub", "b.pub"], "log-level": "debug"}`), 0o644)
	t.Setenv("SEALFEED_TICK", "9ms")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "default", "")
	tick := fs.Duration("tick", time.Millisecond, "")
	maxPayload := fs.Int("max-payload", 1, "")
	logLevel := fs.String("log-level", "info", "")
	var pubs listFlag
	fs.Var(&pubs, "publisher", "")
	if err := fs.Parse([]string{"-log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if err := settle(fs, cfg); err != nil {
		t.Fatal(err)
	}
	if *listen != "127.0.0.1:1" || *tick != 9*time.Millisecond || *maxPayload != 1000 || *logLevel != "warn" ||
		strings.Join(pubs, ",") != "a.pub,b.pub" {
		t.Fatalf("listen %q tick %v max-payload %d log-level %q publishers %v", *listen, *tick, *maxPayload, *logLevel, pubs)
	}
	os.WriteFile(cfg, []byte(`{"listne": "typo"}`), 0o644)
	if err := settle(flag.NewFlagSet("y", flag.ContinueOnError), cfg); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Fatalf("unknown key: %v", err)
	}
}

// parseFlags: the config file comes from -config, else SEALFEED_CONFIG
// (as for every other flag); a positional argument is refused.
func TestParseFlagsConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	fromEnv, fromFlag := filepath.Join(dir, "env.json"), filepath.Join(dir, "flag.json")
	os.WriteFile(fromEnv, []byte(`{"tick": "7ms"}`), 0o644)
	os.WriteFile(fromFlag, []byte(`{"tick": "8ms"}`), 0o644)
	t.Setenv("SEALFEED_CONFIG", fromEnv)
	parse := func(args ...string) (time.Duration, error) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		tick := fs.Duration("tick", time.Millisecond, "")
		config := fs.String("config", "", "")
		err := parseFlags(fs, args, config)
		return *tick, err
	}
	if tick, err := parse(); err != nil || tick != 7*time.Millisecond {
		t.Fatalf("SEALFEED_CONFIG: tick %v, %v", tick, err)
	}
	if tick, err := parse("-config", fromFlag); err != nil || tick != 8*time.Millisecond {
		t.Fatalf("-config over SEALFEED_CONFIG: tick %v, %v", tick, err)
	}
	if _, err := parse("extra"); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Fatalf("positional argument: %v", err)
	}
}

// Every command answers --help with its usage and exit status 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range []string{"serve", "publish", "listen", "keygen", "credential", "token", "loadtest", "conformance", "demo"} {
		var out, errb strings.Builder
		if code := run([]string{c, "--help"}, &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d: %s", c, code, errb.String())
		}
		if !strings.Contains(errb.String()+out.String(), "usage: sealfeed "+c) {
			t.Errorf("%s --help prints no usage line: %q", c, errb.String())
		}
	}
}

// An unknown or repeated AEAD in -aeads stops serve before it opens
// anything, naming the flag and the value.
func TestServeRejectsBadAEADs(t *testing.T) {
	for in, want := range map[string]string{
		"rot13":                   `-aeads: unknown AEAD "rot13"`,
		"aes-256-gcm,aes-256-gcm": `-aeads: AEAD "aes-256-gcm" listed twice`,
	} {
		var out, errb bytes.Buffer
		dir := t.TempDir()
		code := run([]string{"serve", "-listen", "127.0.0.1:0", "-data", dir, "-aeads", in}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), want) {
			t.Errorf("-aeads %q: exit %d, stderr %q, want %q", in, code, errb.String(), want)
		}
	}
}

// -presence-publishers names registered publisher key IDs only (API-040);
// like every flag it can come from the environment, here
// SEALFEED_PRESENCE_PUBLISHERS.
func TestServeRejectsUnknownPresencePublisher(t *testing.T) {
	t.Setenv("SEALFEED_PRESENCE_PUBLISHERS", "not-a-key-id")
	var out, errb bytes.Buffer
	code := run([]string{"serve", "-listen", "127.0.0.1:0", "-data", t.TempDir(), "-authority", "push.example"}, &out, &errb)
	if want := "-presence-publishers not-a-key-id: not the key ID of a -publisher key"; code == 0 || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, stderr %q, want %q", code, errb.String(), want)
	}
}
