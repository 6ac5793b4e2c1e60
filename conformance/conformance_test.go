package conformance

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/servertest"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/server"
)

var (
	shimOnce sync.Once
	shimPath string
	shimErr  error
)

// buildShim builds the reference shim once per test binary.
func buildShim(t *testing.T) string {
	t.Helper()
	shimOnce.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			shimErr = err
			return
		}
		shimPath = filepath.Join(dir, "goshim")
		out, err := exec.Command("go", "build", "-tags", "sealfeed_testhooks", "-o", shimPath, "github.com/sealfeed/sealfeed/conformance/shims/goshim").CombinedOutput()
		if err != nil {
			shimErr = &buildError{out: string(out), err: err}
		}
	})
	if shimErr != nil {
		t.Fatal(shimErr)
	}
	return shimPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func runLive(t *testing.T, args ...string) map[string]*Result {
	t.Helper()
	cfg := &Config{Shim: append([]string{buildShim(t)}, args...), Live: true, Parallel: 4, Timeout: 30 * time.Second}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Result{}
	for _, r := range res {
		out[r.ID] = r
	}
	return out
}

// The reference shim passes every live client test. The tests check the
// shim side of live mode as they run: CONF-010 (trust, offers, identity),
// CONF-011 (connections in turn with state kept), CONF-012 (event lines
// and result), CONF-013 (acknowledgements, read by the runner) and CONF-014
// (client/handshake/stall).
func TestReferenceShimPassesEveryClientTest(t *testing.T) {
	res := runLive(t)
	if len(res) != len(ClientTests()) {
		t.Fatalf("%d results for %d tests", len(res), len(ClientTests()))
	}
	for id, r := range res {
		if r.Status != Pass {
			t.Errorf("%s: %s: %s", id, r.Status, r.Message)
			for _, l := range r.Transcript {
				t.Log("   ", l)
			}
		}
	}
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "sealfeed-shim-") }

// Each deliberately broken shim fails exactly the tests that check the rule
// it breaks, and passes the others: the suite catches the bug and names it.
func TestBrokenShimsFailTheExpectedTests(t *testing.T) {
	cases := map[string][]string{
		"skip-batch-signature":      {"client/batch/bad-signature"},
		"no-replay-window":          {"client/happy/duplicate-id-dropped", "client/happy/going-away-then-reconnect", "client/happy/reconnect-redelivery", "client/happy/stale-id-dropped", "client/storm/close-at-every-point", "client/storm/reconnects"},
		"no-batch-seq-check":        {"client/batch/reordered", "client/batch/replayed", "client/batch/replayed-with-bad-signature", "client/batch/second-delivery-repeats-first-seq"},
		"accept-downgrade":          {"client/handshake/downgrade-version", "client/handshake/grease-version-chosen"},
		"accept-expired-credential": {"client/credential/expired", "client/credential/not-yet-valid"},
		"no-store-epoch":            {"client/delivery/ack-of-a-window-left", "client/epoch/restore-then-replay"},
		"ignore-merkle-proof":       {"client/batch/nothing-delivered-from-failing-batch", "client/batch/record-with-a-failing-second-delivery", "client/batch/tampered-leaf", "client/batch/tampered-proof", "client/batch/wrong-leaf-index", "client/storm/close-at-every-point"},
	}
	for bug, want := range cases {
		t.Run(bug, func(t *testing.T) {
			var failed []string
			res := runLive(t, "-bug", bug)
			for id, r := range res {
				if r.Status == Fail {
					failed = append(failed, id)
				}
			}
			slices.Sort(failed)
			if !slices.Equal(failed, want) {
				t.Errorf("failed %v, want exactly %v", failed, want)
				for _, id := range failed { // what an unexpected failure says
					if !slices.Contains(want, id) {
						t.Logf("%s: %s", id, res[id].Message)
						for _, l := range res[id].Transcript {
							t.Log("   ", l)
						}
					}
				}
			}
		})
	}
}

// The reference server passes every server test, driven over loopback. It
// runs in-process, so the runner cannot restart it: the restart tests are
// skipped with the reason and not required (CONF-061); every other test
// runs and passes.
func TestReferenceServerPassesEveryServerTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server")
	}
	pub, _ := keyfile.Generate()
	other, _ := keyfile.Generate()
	pk, ok := pub.Public().(ed25519.PublicKey), other.Public().(ed25519.PublicKey)
	n, err := servertest.Start(server.Config{DataDir: t.TempDir(), Synchronous: "NORMAL", HandshakeTimeout: time.Second, MaxPendingPerClient: 1500,
		Publishers: map[string]ed25519.PublicKey{sig.Fingerprint(pk): pk, sig.Fingerprint(ok): ok}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	var fp [32]byte
	b, _ := hex.DecodeString(n.Fingerprint())
	copy(fp[:], b)
	target := &ServerTarget{BaseURL: n.Base, Fingerprint: fp, Publisher: pub, HandshakeTimeout: time.Second, MaxPending: 1500, OtherPublisher: other}
	res := RunServer(context.Background(), target, nil)
	if len(res) != len(ServerTests()) {
		t.Fatalf("%d results for %d tests", len(res), len(ServerTests()))
	}
	for _, r := range res {
		restart := strings.HasPrefix(r.ID, "server/restart/")
		switch {
		case restart && (r.Status != Skip || r.Required || !strings.Contains(r.Message, "-server-cmd")):
			t.Errorf("%s without a server process: %s %q required=%v, want skipped, not required, naming -server-cmd (CONF-061)", r.ID, r.Status, r.Message, r.Required)
		case !restart && r.Status != Pass:
			t.Errorf("%s: %s %s", r.ID, r.Status, r.Message)
		}
	}
}

// CONF-060, CONF-064: the runner starts the reference server binary with a
// command line, restarts it (SIGTERM and SIGKILL), and the server passes
// the restart tests; the URL may change between starts.
func TestServerProcessRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sealfeed")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sealfeed/sealfeed/cmd/sealfeed").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sk, _ := keyfile.Generate()
	pub, _ := keyfile.Generate()
	skFile, pubFile := filepath.Join(dir, "server.key"), filepath.Join(dir, "publisher.pub")
	if err := keyfile.SavePrivate(skFile, sk); err != nil {
		t.Fatal(err)
	}
	pb, _ := keyfile.MarshalPublic(pub.Public().(ed25519.PublicKey))
	if err := os.WriteFile(pubFile, pb, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &ServerProcess{Command: "exec " + bin + " serve -data " + filepath.Join(dir, "data") + " -key " + skFile + " -publisher " + pubFile +
		" -listen 127.0.0.1:0 -handshake-timeout 1s -sync NORMAL -log-level error"}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	target := &ServerTarget{BaseURL: p.URL(), Fingerprint: sig.KeyID(sk.Public().(ed25519.PublicKey)), Publisher: pub, HandshakeTimeout: time.Second, Process: p}
	res := RunServer(context.Background(), target, func(id string) bool { return strings.HasPrefix(id, "server/restart/") })
	if len(res) < 3 {
		t.Fatalf("%d restart tests, want at least 3", len(res))
	}
	for _, r := range res {
		if r.Status != Pass || !r.Required {
			t.Errorf("%s: %s %s (required=%v)\n%s", r.ID, r.Status, r.Message, r.Required, strings.Join(r.Transcript, "\n"))
		}
	}
	if target.BaseURL != p.URL() {
		t.Errorf("the target's URL %s does not follow the restarted server at %s", target.BaseURL, p.URL())
	}
	// A command that never serves is reported, with its standard error.
	bad := &ServerProcess{Command: "echo no such server >&2; exit 3", Ready: 5 * time.Second}
	if err := bad.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no such server") {
		t.Errorf("a command that exits at once: %v, want an error with its standard error", err)
	}
}

// CONF-001, CONF-002: IDs are well formed and unique, and every test names
// the requirements it covers, each defined in spec/.
func TestEveryTestHasAStableIDAndRequirements(t *testing.T) {
	defined := map[string]bool{}
	files, _ := filepath.Glob("../spec/*.md")
	re := regexp.MustCompile(`\*\*([A-Z]+-[0-9]{3})\*\*`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
	}
	idRE := regexp.MustCompile(`^(client|server)/[a-z0-9-]+(/[a-z0-9-]+)+$`)
	seen := map[string]bool{}
	for _, ti := range List() {
		if !idRE.MatchString(ti.ID) {
			t.Errorf("malformed test ID %q", ti.ID)
		}
		if seen[ti.ID] {
			t.Errorf("duplicate test ID %q", ti.ID)
		}
		seen[ti.ID] = true
		if len(ti.Requirements) == 0 {
			t.Errorf("%s names no requirement", ti.ID)
		}
		for _, r := range ti.Requirements {
			if !defined[r] {
				t.Errorf("%s names %s, which spec/ does not define", ti.ID, r)
			}
		}
	}
}

// CONF-003, CONF-004: judging is strict and "unimplemented" never passes.
func TestJudgingIsStrict(t *testing.T) {
	ok := &shimOutput{result: "ok", connected: []connLine{{id: "a"}}, messages: []msg{m1}}
	if s, _ := judge(expect{ok: true, messages: []msg{m1}}, ok); s != Pass {
		t.Fatal("exact success not passed")
	}
	if s, _ := judge(expect{ok: true, messages: []msg{m1, m2}}, ok); s != Fail {
		t.Fatal("a missing message passed")
	}
	wrongAlert := &shimOutput{result: "alert", alert: "bad_record_mac"}
	if s, _ := judge(expect{alert: 62}, wrongAlert); s != Fail { // bad_proof
		t.Fatal("a different alert passed")
	}
	if s, _ := judge(expect{loose: "any alert is fine here"}, wrongAlert); s != Pass {
		t.Fatal("loose matching with a reason did not accept an alert")
	}
	if s, _ := judge(expect{ok: true}, &shimOutput{result: "unimplemented", alert: "mlkem"}); s != Skip {
		t.Fatal("unimplemented was not a skip")
	}
	// CONF-082: the ended lines match exactly, and handshakes replaces
	// conns as the count of connected lines.
	kept := &shimOutput{result: "ok", connected: []connLine{{id: "a"}}, ended: []string{"closed"}, messages: []msg{m1}}
	if s, _ := judge(expect{ok: true, conns: 2, handshakes: 1, ended: []string{"closed"}, messages: []msg{m1}}, kept); s != Pass {
		t.Fatal("exact ended lines not passed")
	}
	if s, _ := judge(expect{ok: true, conns: 2, handshakes: 1, ended: []string{"alert bad_proof"}, messages: []msg{m1}}, kept); s != Fail {
		t.Fatal("a different ended line passed")
	}
	if s, _ := judge(expect{ok: true, messages: []msg{m1}}, kept); s != Fail {
		t.Fatal("an ended line nobody expected passed")
	}
}

// The reference shim answers every vector in vector mode, through the
// runner's own process protocol.
func TestReferenceShimPassesEveryVector(t *testing.T) {
	cfg := &Config{Shim: []string{buildShim(t)}, Vectors: true, Timeout: 30 * time.Second}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 840 {
		t.Fatalf("%d vector results", len(res))
	}
	for _, r := range res {
		if r.Status != Pass {
			t.Errorf("%s: %s %s", r.ID, r.Status, r.Message)
		}
	}
}
