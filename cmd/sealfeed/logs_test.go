package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/restapi"
	"github.com/sealfeed/sealfeed/server/store"
)

// records parses every line a process wrote as a JSON object (OPS-050).
func records(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a line is not JSON: %q (%v)\n%s", line, err, out)
		}
		recs = append(recs, rec)
	}
	return recs
}

// find returns the records whose msg is msg.
func find(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestServeJSONLogs runs serve -log-format json through its first start,
// an accepted publish, two refused ones and SIGTERM: every line it writes
// to stdout and stderr is a JSON object (OPS-050); the start (version,
// address, mode, store), the key's fingerprint, the signal and the
// shutdown are records (OPS-051); each publish has one audit line with its
// key ID, client address, request ID, message count and outcome, and no
// payload (OPS-052, OPS-053).
func TestServeJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	n := newOpsNode(t)
	p := startServe(t, n.addr, "-data", n.data(), "-publisher", n.pubFile, "-log-format", "json", "-trusted-proxies", "127.0.0.1")
	n.loadPin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idKey, _ := keyfile.Generate()
	to := handshake.ClientID(idKey.Public().(ed25519.PublicKey))
	const payload = "audit-must-not-log-this-payload"
	if _, err := publisher.New(p.base, n.pubKey).Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte(payload)}, ""); err != nil {
		t.Fatal(err)
	}
	stranger, _ := keyfile.Generate()
	_, err := publisher.New(p.base, stranger).Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte(payload)}, "")
	pr, ok := err.(*publisher.Problem)
	if !ok || pr.Status != 401 || pr.RequestID == "" {
		t.Fatalf("publish with an unknown key: %v", err)
	}
	req, _ := http.NewRequest("POST", p.base+"/v1/messages", strings.NewReader(`{}`))
	req.Header.Set(restapi.HeaderRequestID, "op-trace-7")
	req.Header.Set("X-Forwarded-For", "198.51.100.7") // from a trusted proxy: the client address (OPS-011)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get(restapi.HeaderRequestID) != "op-trace-7" {
		t.Fatalf("unsigned publish: %d, Request-Id %q", resp.StatusCode, resp.Header.Get(restapi.HeaderRequestID))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", p.output())
	}
	out := p.output()
	recs := records(t, out)
	if strings.Contains(out, payload) {
		t.Error("the log holds a payload")
	}
	check := func(msg string, want map[string]any) {
		t.Helper()
		rs := find(recs, msg)
		if len(rs) != 1 {
			t.Errorf("%d %q records, want 1\n%s", len(rs), msg, out)
			return
		}
		for k, v := range want {
			if v == nil {
				if rs[0][k] == nil || rs[0][k] == "" {
					t.Errorf("%q record lacks %s", msg, k)
				}
			} else if rs[0][k] != v {
				t.Errorf("%q record: %s = %v, want %v", msg, k, rs[0][k], v)
			}
		}
	}
	check("starting", map[string]any{"version": nil, "revision": nil, "listen": n.addr, "mode": "single", "store": "sqlite"})
	check("created identity key", map[string]any{"path": filepath.Join(n.data(), "server.key")})
	check("listening on", map[string]any{"fingerprint": hex.EncodeToString(n.pin[:]), "publisher_keys": 1.0})
	check("signal received: draining", map[string]any{"signal": "SIGTERM"})
	check("shutdown: started", map[string]any{"cause": "signal SIGTERM"})
	check("shutdown: complete", nil)
	audits := find(recs, restapi.AuditMessage)
	if len(audits) != 3 {
		t.Fatalf("%d audit lines, want 3\n%s", len(audits), out)
	}
	want := []map[string]any{
		{"outcome": "accepted", "keyid": sig.Fingerprint(n.pubKey.Public().(ed25519.PublicKey)), "remote": "127.0.0.1", "messages": 1.0, "status": 202.0},
		{"outcome": "refused", "keyid": "", "remote": "127.0.0.1", "status": 401.0, "problem": "unknown-key", "request_id": pr.RequestID},
		{"outcome": "refused", "keyid": "", "remote": "198.51.100.7", "status": 401.0, "problem": "unsigned", "request_id": "op-trace-7"},
	}
	for i, w := range want {
		for k, v := range w {
			if audits[i][k] != v {
				t.Errorf("audit line %d: %s = %v, want %v", i, k, audits[i][k], v)
			}
		}
		if audits[i]["request_id"] == "" || audits[i]["request_id"] == nil {
			t.Errorf("audit line %d has no request_id", i)
		}
	}
}

// TestListenLogsReconnects: when its server goes away, listen writes each
// reconnect to stderr with the reason and the backoff (OPS-055), and its
// stdout stays the client ID and the messages.
func TestListenLogsReconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server and listen processes")
	}
	n := newOpsNode(t)
	srv := startServe(t, n.addr, "-data", n.data(), "-publisher", n.pubFile, "-log-level", "warn")
	n.loadPin(t)
	l := startProcess(t, "listen", "-server", srv.base, "-pin", hex.EncodeToString(n.pin[:]), "-anonymous")
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(l.output()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("listen did not log %s:\n%s", what, l.output())
			}
		}
	}
	waitFor("its client ID", func(s string) bool { return strings.Contains(s, "client-id ") })
	srv.kill()
	waitFor("a reconnect with reason and backoff", func(s string) bool {
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, "msg=reconnecting") && strings.Contains(line, " reason=") && strings.Contains(line, " backoff=") {
				return true
			}
		}
		return false
	})
}

// TestEnumsLogByName: alert codes and message states are logged by name,
// under the JSON handler too, which would write a plain uint8 as a number
// (OPS-054).
func TestEnumsLogByName(t *testing.T) {
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "alert", alert.BadProof, "state", store.Expired)
	var rec map[string]any
	if err := json.Unmarshal([]byte(b.String()), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["alert"] != alert.BadProof.String() || rec["state"] != "expired" {
		t.Errorf("logged alert %v, state %v; want names", rec["alert"], rec["state"])
	}
}

// TestServeJSONFatalError: under -log-format json the error that ends
// serve is a record too, and main does not print it again as plain text
// (OPS-050).
func TestServeJSONFatalError(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"serve", "-data", t.TempDir(), "-log-format", "json", "-aeads", "rot13"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	recs := records(t, stdout.String()+stderr.String())
	if rs := find(recs, "serve failed"); len(rs) != 1 || !strings.Contains(rs[0]["err"].(string), "-aeads") {
		t.Errorf("want one serve failed record naming -aeads:\n%s%s", stdout.String(), stderr.String())
	}
}
