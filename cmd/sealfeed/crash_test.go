package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
)

// TestMain lets a test run this binary as the sealfeed command: with
// SEALFEED_TEST_MAIN set, the test binary is `sealfeed` with the arguments
// in that variable (separated by 0x1f, the unit separator).
func TestMain(m *testing.M) {
	if args := os.Getenv("SEALFEED_TEST_MAIN"); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// subprocess is a sealfeed child process: the test binary run as the
// sealfeed command (TestMain).
type subprocess struct {
	cmd  *exec.Cmd
	base string // the server's http:// base URL, for `sealfeed serve`
	out  *strings.Builder
	mu   *sync.Mutex // guards out
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess starts `sealfeed args...` as a child process, recording
// its stdout and stderr together; the test's cleanup kills it.
func startProcess(t testing.TB, args ...string) *subprocess {
	t.Helper()
	return startProcessEnv(t, nil, args...)
}

// startProcessEnv is startProcess with variables added to the child's
// environment (a node's test clock file, for one).
func startProcessEnv(t testing.TB, env []string, args ...string) *subprocess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), "SEALFEED_TEST_MAIN="+strings.Join(args, "\x1f"))
	out := &strings.Builder{}
	var mu sync.Mutex
	cmd.Stdout = lockedWriter{&mu, out}
	cmd.Stderr = lockedWriter{&mu, out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &subprocess{cmd: cmd, out: out, mu: &mu}
}

// startServe starts `sealfeed serve` on addr and waits until it is ready
// (/readyz: its store answers, every key-value bucket of a cluster node
// included, OPS-001).
func startServe(t testing.TB, addr string, args ...string) *subprocess {
	t.Helper()
	return startServeEnv(t, nil, addr, args...)
}

// startServeEnv is startServe with variables added to the environment.
func startServeEnv(t testing.TB, env []string, addr string, args ...string) *subprocess {
	t.Helper()
	p := startProcessEnv(t, env, append([]string{"serve", "-listen", addr}, args...)...)
	p.base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second) // a cluster node waits for its stream leader
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashServer is a single `sealfeed serve` node on loopback with its data
// directory, a publisher key it trusts and the fingerprint clients pin; a
// test kills it and starts it again on the same address and data.
type crashServer struct {
	dir    string
	addr   string
	args   []string // serve flags after -listen
	pubKey ed25519.PrivateKey
	pin    [32]byte
	proc   *subprocess
}

// newCrashServer starts a server with extra serve flags.
func newCrashServer(t testing.TB, extra ...string) *crashServer {
	t.Helper()
	s := &crashServer{dir: t.TempDir(), addr: freeAddr(t)}
	s.pubKey, _ = keyfile.Generate()
	pubFile := filepath.Join(s.dir, "publisher.pub")
	pem, _ := keyfile.MarshalPublic(s.pubKey.Public().(ed25519.PublicKey))
	if err := os.WriteFile(pubFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	s.args = append([]string{"-data", filepath.Join(s.dir, "data"), "-publisher", pubFile, "-log-level", "warn"}, extra...)
	s.start(t)
	k, err := keyfile.LoadPrivate(filepath.Join(s.dir, "data", "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := hex.DecodeString(sig.Fingerprint(k.Public().(ed25519.PublicKey)))
	copy(s.pin[:], fp)
	return s
}

// start starts the server process (again) and waits until it is up.
func (s *crashServer) start(t testing.TB) { s.proc = startServe(t, s.addr, s.args...) }

func (s *crashServer) base() string { return "http://" + s.addr }

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// output returns what the process printed so far.
func (p *subprocess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *subprocess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// TestCrashLosesNothing runs the server as a child process, kills it with
// SIGKILL in the middle of publish load, restarts it, and repeats. Each
// publisher retries a request that got no answer with the same
// Idempotency-Key once the server is back, as a real back end does. At the
// end every published message has reached its client's application
// exactly once, in message-ID order, and nothing else has (API-025,
// API-026, DLV-002, DLV-004, BATCH-020, REPLAY-013).
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs server processes")
	}
	node := newCrashServer(t)
	srv, addr, pin := node.proc, node.addr, node.pin
	dir := t.TempDir()

	const nClients = 4
	var ids [][32]byte
	rxs := make([]*receiver, nClients)
	var cs []*client.Client
	for i := 0; i < nClients; i++ {
		k, _ := keyfile.Generate()
		ids = append(ids, handshake.ClientID(k.Public().(ed25519.PublicKey)))
		c, err := client.Dial(context.Background(), client.Config{URL: "ws://" + addr + "/v1/ws", PinnedKeyID: &pin, Identity: k,
			StatePath: filepath.Join(dir, fmt.Sprintf("client%d.state", i)), MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		rxs[i] = watch(c)
	}
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()

	p := publisher.New(srv.base, node.pubKey)
	p.Retries = -1 // this test does the retrying itself, across restarts
	type attempt struct {
		key     string
		msg     publisher.Message
		payload string
	}
	var (
		mu      sync.Mutex
		ok      = map[string]bool{} // payloads that got a 2xx
		unknown []attempt           // requests without an answer
		seq     int
		retried int
	)
	publishLoad := func(d time.Duration, kill func()) {
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					mu.Lock()
					seq++
					n := seq
					mu.Unlock()
					payload := fmt.Sprintf("msg-%06d", n)
					a := attempt{key: publisher.NewIdempotencyKey(), payload: payload,
						msg: publisher.Message{To: [][32]byte{ids[n%nClients]}, Payload: []byte(payload)}}
					if n%7 == 0 { // a broadcast to every client
						a.msg.To = ids
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := p.Publish(ctx, a.msg, a.key)
					cancel()
					mu.Lock()
					if err == nil {
						ok[payload] = true
					} else {
						unknown = append(unknown, a)
					}
					mu.Unlock()
					if err != nil {
						return // the server is gone
					}
				}
			}()
		}
		if kill != nil {
			time.Sleep(d / 2)
			kill()
		}
		wg.Wait()
	}
	const rounds = 3
	for r := 0; r < rounds; r++ {
		publishLoad(600*time.Millisecond, srv.kill)
		node.start(t)
		srv = node.proc
		// Retry what got no answer, with the same key: stored exactly once.
		mu.Lock()
		retry := unknown
		unknown = nil
		mu.Unlock()
		for _, a := range retry {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := p.Publish(ctx, a.msg, a.key)
			cancel()
			if err != nil {
				t.Fatalf("retry of %s after restart: %v", a.payload, err)
			}
			ok[a.payload] = true
			retried++
		}
	}
	publishLoad(200*time.Millisecond, nil)
	if len(unknown) != 0 {
		t.Fatalf("%d publishes failed without a crash", len(unknown))
	}
	t.Logf("%d messages acknowledged by the server over %d SIGKILLs, %d of them after a retry with the same Idempotency-Key", len(ok), rounds, retried)

	// Expected per client.
	want := make([]map[string]bool, nClients)
	total := 0
	for i := range want {
		want[i] = map[string]bool{}
	}
	for payload := range ok {
		var n int
		fmt.Sscanf(payload, "msg-%d", &n)
		for i := range ids {
			if n%7 == 0 || n%nClients == i {
				want[i][payload] = true
				total++
			}
		}
	}
	checkDelivered(t, rxs, want, 30*time.Second)
	if t.Failed() {
		t.Logf("server output:\n%s", srv.output())
	}
}

// receiver records what one client's application receives: the payloads in
// order, and the first violation — a message ID not above the previous
// one, or a connection that failed with an alert (a crash or a killed node
// looks like a dropped connection to a client; an alert, e.g.
// replayed_batch after batch sequence numbers were reused, BATCH-020, is a
// failure, except overloaded: a node sheds a resumption it cannot record
// while its store elects a leader, and the client retries; and except
// going_away, an orderly close (POST-022) that a node whose store stopped
// answering sends its clients (OPS-003)).
type receiver struct {
	mu   sync.Mutex
	got  []string
	last uint64
	bad  error
}

func watch(c *client.Client) *receiver {
	r := &receiver{}
	go func() {
		for e := range c.Events() {
			if code, ok := alert.Find(e.Err); ok && code != alert.Overloaded && !e.GoingAway {
				r.mu.Lock()
				if r.bad == nil {
					r.bad = fmt.Errorf("connection failed with alert %v: %v", code, e.Err)
				}
				r.mu.Unlock()
			}
		}
	}()
	go func() {
		for m := range c.Messages() {
			m.Ack()
			r.mu.Lock()
			if m.ID <= r.last && r.bad == nil {
				r.bad = fmt.Errorf("message ID %d after %d", m.ID, r.last)
			}
			r.last = m.ID
			r.got = append(r.got, string(m.Payload))
			r.mu.Unlock()
		}
	}()
	return r
}

// checkDelivered waits up to wait for every client to have received what
// want lists for it, lets anything extra arrive, then fails the test for a
// receiver's violation, a message delivered twice, one that no publisher
// got a 2xx for, or one lost.
func checkDelivered(t testing.TB, rxs []*receiver, want []map[string]bool, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		done := true
		for i, r := range rxs {
			r.mu.Lock()
			if len(r.got) < len(want[i]) {
				done = false
			}
			r.mu.Unlock()
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything extra would arrive now
	for i, r := range rxs {
		r.mu.Lock()
		if r.bad != nil {
			t.Errorf("client %d: %v", i, r.bad)
		}
		seen := map[string]bool{}
		for _, s := range r.got {
			switch {
			case seen[s]:
				t.Errorf("client %d: %s delivered twice", i, s)
			case !want[i][s]:
				t.Errorf("client %d: %s was never acknowledged to a publisher", i, s)
			}
			seen[s] = true
		}
		missing := 0
		for s := range want[i] {
			if !seen[s] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("client %d: %d of %d messages lost", i, missing, len(want[i]))
		}
		r.mu.Unlock()
	}
}
