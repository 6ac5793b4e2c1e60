package main

import (
	"bytes"
	"strings"
	"testing"
)

// The demo is README's first command; it must complete and show every step
// of the slow-business flow over real sockets.
func TestDemoRunsTheFlowEndToEnd(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "-work", "50ms"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"handshake complete: client",
		"(key-identified)",
		"(anonymous, resumable by ticket)",
		`job 1 "quarterly report for ACME": 4 words`,
		`job 3 "render thumbnail 7": 3 words`,
		"5 messages published, 5 delivered and acknowledged once each",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q\n%s", want, text)
		}
	}
	if n := strings.Count(text, "(broadcast, batch"); n != 2 {
		t.Errorf("broadcast delivered %d times, want 2 (once per client)", n)
	}
}

// The protocol demo shows every handshake kind and both replay refusals.
func TestProtocolDemoRunsEndToEnd(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "-protocol"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"connected: anonymous client ID",
		"connected: key-identified client ID",
		"group X25519MLKEM768",
		"AEAD AES-256-GCM",
		`message 1 (unicast): "order 1042 shipped"`,
		`(broadcast): "maintenance window tonight 22:00 UTC"`,
		"replayed record rejected: bad_record_mac",
		"re-sent batch seq 1 rejected: replayed_batch",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q\n%s", want, text)
		}
	}
	if n := strings.Count(text, "(broadcast)"); n != 3 {
		t.Errorf("broadcast delivered %d times, want 3 (once per client)", n)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if code := run([]string{"demo", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("demo --help exit %d", code)
	}
}
