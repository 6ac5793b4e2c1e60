package main

// Client crash tests (issue 14 item 3). `sealfeed listen -out` runs as a
// child process (TestMain), is killed with SIGKILL under publish load and
// started again with the same identity and state file, in auto and in
// ManualAck mode; the same with the server killed at the same moment; and
// with the state file deleted between runs. Every process run writes its
// own output file, so each line tells which run handed its message to the
// application. What they check is the delivery guarantee: every message
// the server accepted with a 2xx reaches the application at least once; a
// run never hands a message over twice; a message handed over again by a
// later run is marked as a redelivery; nothing that was not published
// appears.

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
)

// listener is one client, `sealfeed listen -out`, that a test kills and
// starts again. Run n of the process appends to its own file.
type listener struct {
	name  string
	dir   string
	args  []string // listen flags but -out
	state string   // the state file
	id    [32]byte // client ID of the current run
	idRun int      // the first run with this client ID
	runs  []string // output files, one per process run, oldest first
	procs []*subprocess
	proc  *subprocess // the current run
	kills int
}

// newKeyListener returns a key-identified listener (its client ID derives
// from its key, HS-030) that trusts srv's pinned key; flags are added to
// the listen command line (-manual-ack).
func newKeyListener(t *testing.T, srv *crashServer, name string, flags ...string) *listener {
	t.Helper()
	l := newListener(t, srv, name, flags...)
	k, _ := keyfile.Generate()
	path := filepath.Join(l.dir, "identity.key")
	if err := keyfile.SavePrivate(path, k); err != nil {
		t.Fatal(err)
	}
	l.args = append(l.args, "-identity", path)
	l.id = handshake.ClientID(k.Public().(ed25519.PublicKey))
	return l
}

// newAnonymousListener returns an anonymous listener: it keeps its client
// ID by resumption tickets in its state file (HS-040).
func newAnonymousListener(t *testing.T, srv *crashServer, name string, flags ...string) *listener {
	t.Helper()
	l := newListener(t, srv, name, flags...)
	l.args = append(l.args, "-anonymous")
	return l
}

func newListener(t *testing.T, srv *crashServer, name string, flags ...string) *listener {
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l := &listener{name: name, dir: dir, state: filepath.Join(dir, "client.state")}
	l.args = append([]string{"listen", "-server", srv.base(), "-pin", hex.EncodeToString(srv.pin[:]),
		"-state", l.state}, flags...)
	return l
}

// start starts a new process run, writing to a new output file.
func (l *listener) start(t *testing.T) {
	t.Helper()
	out := filepath.Join(l.dir, fmt.Sprintf("run-%02d.out", len(l.runs)))
	l.runs = append(l.runs, out)
	l.proc = startProcess(t, append(slices.Clip(l.args), "-out", out)...)
	l.procs = append(l.procs, l.proc)
}

// logDiagnostics logs what each run printed besides message lines (its
// errors), and the server's output.
func logDiagnostics(t *testing.T, srv *crashServer, ls []*listener) {
	t.Helper()
	for _, l := range ls {
		for run, p := range l.procs {
			var other []string
			for _, line := range strings.Split(p.output(), "\n") {
				if f := strings.Fields(line); line != "" && (len(f) < 3 || (f[1] != "unicast" && f[1] != "broadcast")) {
					other = append(other, line)
				}
			}
			if len(other) > 20 {
				other = append(other[:10], other[len(other)-10:]...)
			}
			t.Logf("%s run %d printed:\n%s", l.name, run, strings.Join(other, "\n"))
		}
	}
	out := srv.proc.output()
	t.Logf("server output (last 4 KiB):\n%s", out[max(0, len(out)-4096):])
}

// kill ends the current run with SIGKILL.
func (l *listener) kill() {
	l.proc.kill()
	l.kills++
}

// signal sends sig to the current run.
func (l *listener) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := l.proc.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v: %v", l.name, sig, err)
	}
}

// waitID waits for the current run's "client-id" line and returns the ID.
func (l *listener) waitID(t *testing.T) [32]byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(l.proc.output(), "\n") {
			if h, ok := strings.CutPrefix(line, "client-id "); ok {
				var id [32]byte
				if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
					t.Fatalf("%s: bad client-id line %q", l.name, line)
				} else {
					copy(id[:], b)
				}
				return id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no client-id line after 30 s; output:\n%s", l.name, l.proc.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// written returns how many complete lines the current run has written.
func (l *listener) written() int {
	b, _ := os.ReadFile(l.runs[len(l.runs)-1])
	return strings.Count(string(b), "\n")
}

// killSoon kills the current run at a random moment: one time in four
// within 200 ms (during the handshake or the first batch), otherwise once
// it has written a random number of lines more, from 1 to 40 (in the
// middle of handing over a batch), or after 1.5 s without them (on a
// loaded machine a run may take that long to connect: then it dies in the
// handshake).
func (l *listener) killSoon(rng *rand.Rand) {
	if rng.IntN(4) == 0 {
		time.Sleep(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
	} else {
		waitLines(rng, 1500*time.Millisecond, l)
	}
	l.kill()
}

// waitLines waits until every listener's current run has written a random
// number of lines more, from 1 to 40, or for at most d.
func waitLines(rng *rand.Rand, d time.Duration, ls ...*listener) {
	n := 1 + rng.IntN(40)
	base := make([]int, len(ls))
	for i, l := range ls {
		base[i] = l.written()
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		done := true
		for i, l := range ls {
			done = done && l.written() >= base[i]+n
		}
		if done {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// outLine is one line of `listen -out`:
// <id> <unicast|broadcast> <redelivery|first> <payload>.
type outLine struct {
	id         uint64
	broadcast  bool
	redelivery bool
	payload    string
}

// readRun parses one run's output file strictly. A run killed in the
// middle of a write may leave a last line without its newline: that line
// was not synced, so its message was not acknowledged, and it is ignored.
func readRun(path string) ([]outLine, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // killed before it opened the file
	}
	if err != nil {
		return nil, err
	}
	text := string(b[:strings.LastIndexByte(string(b), '\n')+1])
	var lines []outLine
	for i, s := range strings.Split(text, "\n") {
		if i == strings.Count(text, "\n") {
			break // after the last newline
		}
		f := strings.Split(s, " ")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s line %d: %q: want 4 fields", path, i+1, s)
		}
		id, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%s line %d: %q: bad message ID", path, i+1, s)
		}
		ln := outLine{id: id, payload: f[3]}
		switch f[1] {
		case "broadcast":
			ln.broadcast = true
		case "unicast":
		default:
			return nil, fmt.Errorf("%s line %d: %q: want unicast or broadcast", path, i+1, s)
		}
		switch f[2] {
		case "redelivery":
			ln.redelivery = true
		case "first":
		default:
			return nil, fmt.Errorf("%s line %d: %q: want redelivery or first", path, i+1, s)
		}
		lines = append(lines, ln)
	}
	return lines, nil
}

// ledger publishes bulk requests and records what the server accepted:
// per client ID, each message ID with its payload. A request without an
// answer (the server was killed) is kept and sent again with the same
// Idempotency-Key once the server is back, as a real back end does
// (API-025, API-026).
type ledger struct {
	p *publisher.Publisher

	mu      sync.Mutex
	next    int // payload counter
	sent    map[[32]byte]map[uint64]sentMsg
	unknown []bulkRequest
	bad     error // an answer that does not match its request
}

// sentMsg is one accepted message for one client.
type sentMsg struct {
	payload   string
	broadcast bool
	handle    string // for the status API
}

type bulkRequest struct {
	key  string
	msgs []publisher.Message
}

func newLedger(srv *crashServer) *ledger {
	p := publisher.New(srv.base(), srv.pubKey)
	p.Retries = -1 // the test retries, across restarts
	return &ledger{p: p, sent: map[[32]byte]map[uint64]sentMsg{}}
}

// request builds a request of n messages with unique payloads, each to one
// of clients or, one time in five, to all of them (a broadcast).
func (l *ledger) request(rng *rand.Rand, clients [][32]byte, n int, ttl time.Duration) bulkRequest {
	r := bulkRequest{key: publisher.NewIdempotencyKey()}
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		l.next++
		m := publisher.Message{Payload: fmt.Appendf(nil, "msg-%06d", l.next), TTL: ttl}
		if len(clients) > 1 && rng.IntN(5) == 0 {
			m.To = clients
		} else {
			m.To = [][32]byte{clients[rng.IntN(len(clients))]}
		}
		r.msgs = append(r.msgs, m)
	}
	return r
}

// send publishes r; a request without a 2xx is kept to retry.
func (l *ledger) send(r bulkRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := l.p.PublishMany(ctx, r.msgs, r.key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.unknown = append(l.unknown, r)
		return err
	}
	// The answer lists the messages in request order, each recipient in
	// order.
	i := 0
	for _, m := range r.msgs {
		for _, to := range m.To {
			if i >= len(res.Messages) || res.Messages[i].ClientID != hex.EncodeToString(to[:]) {
				l.bad = fmt.Errorf("publish answer %+v does not match the request", res.Messages)
				return nil
			}
			a := res.Messages[i]
			if l.sent[to] == nil {
				l.sent[to] = map[uint64]sentMsg{}
			}
			s := sentMsg{payload: string(m.Payload), broadcast: len(m.To) > 1, handle: a.ID}
			if prev, ok := l.sent[to][a.MessageID]; ok && prev.payload != s.payload {
				l.bad = fmt.Errorf("message ID %d assigned to %s and %s", a.MessageID, prev.payload, s.payload)
			}
			l.sent[to][a.MessageID] = s
			i++
		}
	}
	if i != len(res.Messages) {
		l.bad = fmt.Errorf("publish answer lists %d messages, the request %d", len(res.Messages), i)
	}
	return nil
}

// retry sends again, with their keys, the requests that got no answer; each
// must now succeed.
func (l *ledger) retry(t *testing.T) int {
	t.Helper()
	l.mu.Lock()
	rs := l.unknown
	l.unknown = nil
	l.mu.Unlock()
	for _, r := range rs {
		if err := l.send(r); err != nil {
			t.Fatalf("retry with the same Idempotency-Key after the restart: %v", err)
		}
	}
	return len(rs)
}

// accepted returns a copy of what the server accepted for one client.
func (l *ledger) accepted(id [32]byte) map[uint64]sentMsg {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[uint64]sentMsg, len(l.sent[id]))
	for k, v := range l.sent[id] {
		m[k] = v
	}
	return m
}

// load publishes from two goroutines, each sending requests of 1 to 20
// messages with a random pause of up to 40 ms between them, until the
// returned stop is called; a goroutine stops at its first failure (the
// server is gone; ledger.retry sends that request again). stop waits for
// them.
func (l *ledger) load(seed uint64, clients [][32]byte) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range uint64(2) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, w))
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Duration(rng.Int64N(int64(40 * time.Millisecond)))):
				}
				if l.send(l.request(rng, clients, 1+rng.IntN(20), 0)) != nil {
					return
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// pending asks the server how many messages of a client are neither
// acknowledged nor expired.
func (l *ledger) pending(id [32]byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := l.p.Presence(ctx, id)
	if err != nil {
		return 0, err
	}
	return p.Pending, nil
}

// waitOnline waits until the server reports every listener connected.
func waitOnline(t *testing.T, led *ledger, ls []*listener) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range ls {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p, err := led.p.Presence(ctx, l.id)
			cancel()
			if err == nil && p.Online {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not reconnect within 30 s (%v)", l.name, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// seen returns the message IDs in the output of the given runs.
func seen(t *testing.T, runs []string) map[uint64]bool {
	t.Helper()
	ids := map[uint64]bool{}
	for _, path := range runs {
		lines, err := readRun(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ln := range lines {
			ids[ln.id] = true
		}
	}
	return ids
}

// waitDelivered waits until every listener's output holds every message
// the server accepted for its client and the server holds none of them
// pending any more (the acknowledgements are stored). When the server holds
// nothing pending but messages are missing from the output, nothing more
// will come: it waits 2 s more for output still being written, then
// returns and the check reports them lost.
func waitDelivered(t *testing.T, led *ledger, ls []*listener, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	var settled time.Time // when the server first held nothing pending
	for {
		complete, drained := true, true
		for _, l := range ls {
			got := seen(t, l.runs[l.idRun:])
			for id := range led.accepted(l.id) {
				if !got[id] {
					complete = false
					break
				}
			}
			n, err := led.pending(l.id)
			if err != nil || n > 0 {
				drained = false
			}
		}
		if drained && settled.IsZero() {
			settled = time.Now()
		}
		if !drained {
			settled = time.Time{}
		}
		switch {
		case complete && drained:
			return
		case drained && time.Since(settled) > 2*time.Second:
			return
		case time.Now().After(deadline):
			t.Logf("delivery did not complete within %v", wait)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRuns checks the output of runs (of l, numbered from first) against
// what the server accepted for one client ID (accepted): every accepted message
// is in the output; every line is an accepted message with its payload and
// kind; a run hands a message over at most once, in increasing message-ID
// order; a message that an earlier run handed over comes again only marked
// as a redelivery. It returns the number of lines and of messages handed
// over again by a later run.
func checkRuns(t *testing.T, l *listener, runs []string, first int, accepted map[uint64]sentMsg) (lines, again int) {
	t.Helper()
	fails := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		if fails++; fails <= 10 {
			t.Errorf("%s: "+format, append([]any{l.name}, args...)...)
		}
	}
	firstRun := map[uint64]int{}
	for i, path := range runs {
		run := first + i
		out, err := readRun(path)
		if err != nil {
			t.Fatal(err)
		}
		lines += len(out)
		inRun := map[uint64]bool{}
		var last uint64
		for _, ln := range out {
			want, ok := accepted[ln.id]
			switch {
			case !ok:
				errorf("run %d: message %d %s was never accepted for this client", run, ln.id, ln.payload)
			case want.payload != ln.payload || want.broadcast != ln.broadcast:
				errorf("run %d: message %d is %s (broadcast %v), want %s (broadcast %v)", run, ln.id, ln.payload, ln.broadcast, want.payload, want.broadcast)
			}
			switch {
			case inRun[ln.id]:
				errorf("run %d handed message %d (%s) over twice without a crash in between", run, ln.id, ln.payload)
			case ln.id <= last:
				errorf("run %d handed message %d over after message %d", run, ln.id, last)
			}
			if r, ok := firstRun[ln.id]; ok && r < run && !inRun[ln.id] {
				again++
				if !ln.redelivery {
					errorf("message %d (%s) handed over by run %d and again by run %d, not marked as a redelivery", ln.id, ln.payload, r, run)
				}
			}
			if _, ok := firstRun[ln.id]; !ok {
				firstRun[ln.id] = run
			}
			inRun[ln.id] = true
			last = max(last, ln.id)
		}
	}
	var lost []uint64
	for id := range accepted {
		if _, ok := firstRun[id]; !ok {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		fails = 0 // always report the loss
		errorf("%d of %d messages accepted with a 2xx never reached the application (IDs %v)", len(lost), len(accepted), lost[:min(len(lost), 12)])
	}
	return lines, again
}

// crashSeed returns the seed of a test's random choices (kill moments,
// recipients, request sizes): SEALFEED_CRASH_SEED to repeat a run, else
// the clock. It is logged.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SEALFEED_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SEALFEED_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (SEALFEED_CRASH_SEED repeats the random choices)", seed)
	return seed
}

// killAll kills the server and the listeners at the same moment.
func killAll(srv *crashServer, ls []*listener) {
	var wg sync.WaitGroup
	wg.Add(1 + len(ls))
	go func() { defer wg.Done(); srv.proc.kill() }()
	for _, l := range ls {
		go func() { defer wg.Done(); l.kill() }()
	}
	wg.Wait()
}

func ids(ls []*listener) [][32]byte {
	var out [][32]byte
	for _, l := range ls {
		out = append(out, l.id)
	}
	return out
}

// finish stops the load, retries unanswered requests, waits for delivery,
// kills the last runs and checks every listener's output.
func finish(t *testing.T, srv *crashServer, led *ledger, ls []*listener, stop func()) {
	t.Helper()
	stop()
	led.retry(t)
	waitDelivered(t, led, ls, 45*time.Second)
	for _, l := range ls {
		l.proc.kill()
	}
	if led.bad != nil {
		t.Fatal(led.bad)
	}
	for _, l := range ls {
		lines, again := checkRuns(t, l, l.runs, 0, led.accepted(l.id))
		t.Logf("%s: %d messages accepted, %d kills, %d lines, %d handed over again after a kill", l.name,
			len(led.accepted(l.id)), l.kills, lines, again)
	}
	if t.Failed() {
		logDiagnostics(t, srv, ls)
	}
}

// TestListenCrashLosesNothing kills `sealfeed listen` with SIGKILL nine
// times at random moments under publish load, in auto mode and in
// ManualAck mode at once, and starts it again each time with the same
// identity and state file. Every message the server accepted reaches the
// application at least once; a run never hands a message over twice; a
// message handed over again after a kill is marked as a redelivery.
func TestListenCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs client processes")
	}
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	srv := newCrashServer(t)
	ls := []*listener{newKeyListener(t, srv, "auto"), newKeyListener(t, srv, "manual-ack", "-manual-ack")}
	for _, l := range ls {
		l.start(t)
	}
	led := newLedger(srv)
	stop := led.load(rng.Uint64(), ids(ls))
	const kills = 9
	for i := range kills * len(ls) {
		l := ls[i%len(ls)]
		l.killSoon(rng)
		l.start(t)
	}
	finish(t, srv, led, ls, stop)
}

// TestListenAndServerCrashLoseNothing kills the server with SIGKILL four
// times under publish load. In rounds 1 and 3 both listeners (auto and
// ManualAck) are killed at the same moment, and all are started again:
// the server first, then the publishers' unanswered requests are retried
// with their Idempotency-Keys, then the listeners. In rounds 2 and 4 the
// listeners live on: after a burst of 150 messages they are stopped
// (SIGSTOP) in the middle of handing it over, the server is killed and
// started again, and the listeners continue (SIGCONT) and reconnect while
// their application still holds messages of the burst that the server
// delivers again; in round 4 they are killed soon after they have
// reconnected, while still handing the burst over (a client that
// acknowledged the held messages on their redelivery would lose them). The
// guarantee is the same as with the client alone killed; across the
// reconnects of one run, no message is handed over twice.
func TestListenAndServerCrashLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs server and client processes")
	}
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	srv := newCrashServer(t)
	ls := []*listener{newKeyListener(t, srv, "auto"), newKeyListener(t, srv, "manual-ack", "-manual-ack")}
	for _, l := range ls {
		l.start(t)
	}
	led := newLedger(srv)
	stop := led.load(rng.Uint64(), ids(ls))
	retried := 0
	for round := range 4 {
		withClients := round%2 == 0
		if withClients {
			waitLines(rng, 2*time.Second, ls...)
			killAll(srv, ls)
		} else {
			if err := led.send(led.request(rng, ids(ls), 150, 0)); err != nil {
				t.Fatal(err)
			}
			waitLines(rng, 2*time.Second, ls...)
			for _, l := range ls {
				l.signal(t, syscall.SIGSTOP)
			}
			srv.proc.kill()
		}
		stop()
		srv.start(t)
		retried += led.retry(t)
		for _, l := range ls {
			if withClients {
				l.start(t)
			} else {
				l.signal(t, syscall.SIGCONT)
			}
		}
		stop = led.load(rng.Uint64(), ids(ls))
		if round == 3 {
			waitOnline(t, led, ls)
			waitLines(rng, 2*time.Second, ls...)
			for _, l := range ls {
				l.kill()
				l.start(t)
			}
		}
	}
	waitLines(rng, 2*time.Second, ls...)
	t.Logf("%d publish requests retried after a server restart", retried)
	finish(t, srv, led, ls, stop)
}

// TestListenStateLostKeyIdentified deletes a key-identified client's state
// file after a crash. The client keeps its client ID (it derives from its
// key); the messages it had handed over whose acknowledgements the server
// had not stored come again, marked as redeliveries, and so does every
// message of its first session after the loss (it has no record of what
// it handed over). The server runs with a 100 ms tick, so that
// acknowledgements are stored in batches and the crash (client and server
// at once) leaves some of them unstored.
func TestListenStateLostKeyIdentified(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs server and client processes")
	}
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	srv := newCrashServer(t, "-tick", "100ms")
	ls := []*listener{newKeyListener(t, srv, "auto"), newKeyListener(t, srv, "manual-ack", "-manual-ack")}
	for _, l := range ls {
		l.start(t)
	}
	led := newLedger(srv)
	stop := led.load(rng.Uint64(), ids(ls))
	// Crash until some message handed over is not acknowledged in the
	// server's store.
	unacked := make([]map[uint64]bool, len(ls))
	top := make([]uint64, len(ls)) // the highest ID accepted before the loss
	for attempt := 1; ; attempt++ {
		waitLines(rng, 5*time.Second, ls...)
		killAll(srv, ls)
		stop()
		srv.start(t)
		led.retry(t)
		n := 0
		for i, l := range ls {
			unacked[i] = map[uint64]bool{}
			out, err := readRun(l.runs[len(l.runs)-1])
			if err != nil {
				t.Fatal(err)
			}
			acc := led.accepted(l.id)
			for _, ln := range out {
				if s, ok := acc[ln.id]; ok && messageState(t, led, s.handle) == "pending" {
					unacked[i][ln.id] = true
				}
			}
			n += len(unacked[i])
			for id := range acc {
				top[i] = max(top[i], id)
			}
		}
		if n > 0 || attempt == 5 {
			t.Logf("attempt %d: %d messages handed over and not acknowledged in the store", attempt, n)
			if n == 0 {
				t.Fatal("five crashes left no message handed over and unacknowledged; the test proves nothing")
			}
			break
		}
		for _, l := range ls {
			l.start(t)
		}
		stop = led.load(rng.Uint64(), ids(ls))
	}
	lost := make([]int, len(ls)) // the first run after the loss
	for i, l := range ls {
		if err := os.Remove(l.state); err != nil {
			t.Fatal(err)
		}
		lost[i] = len(l.runs)
		l.start(t)
		if id := l.waitID(t); id != l.id {
			t.Errorf("%s: client ID %x after the state file was deleted, want %x (derived from the key)", l.name, id[:4], l.id[:4])
		}
	}
	stop = led.load(rng.Uint64(), ids(ls))
	waitLines(rng, 3*time.Second, ls...)
	finish(t, srv, led, ls, stop)
	for i, l := range ls {
		out, err := readRun(l.runs[lost[i]])
		if err != nil {
			t.Fatal(err)
		}
		came, unmarked := map[uint64]bool{}, 0
		for _, ln := range out {
			came[ln.id] = true
			if ln.id <= top[i] && !ln.redelivery {
				if unmarked++; unmarked <= 10 {
					t.Errorf("%s: message %d (%s), pending before the state was lost, handed over by the first session after it not marked as a redelivery", l.name, ln.id, ln.payload)
				}
			}
		}
		if unmarked > 10 {
			t.Errorf("%s: %d such messages in all", l.name, unmarked)
		}
		missing := 0
		for id := range unacked[i] {
			if !came[id] {
				if missing++; missing <= 10 {
					t.Errorf("%s: message %d, handed over and not acknowledged before the state was lost, did not come again", l.name, id)
				}
			}
		}
		t.Logf("%s: %d of %d messages handed over and not acknowledged came again after the state file was deleted", l.name,
			len(unacked[i])-missing, len(unacked[i]))
	}
}

// messageState asks the status API for a message's state.
func messageState(t *testing.T, led *ledger, handle string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := led.p.Status(ctx, handle)
	if err != nil {
		t.Fatalf("status of %s: %v", handle, err)
	}
	return st.State
}

// TestListenStateLostAnonymous deletes an anonymous client's state file.
// Before that, a restart with the state file keeps its client ID (the
// resumption ticket). After it, the client gets a new client ID by a full
// handshake; the messages pending for the old ID are never delivered to
// the new one, and they expire by their TTL: the status API reports them
// "expired".
func TestListenStateLostAnonymous(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs server and client processes")
	}
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	srv := newCrashServer(t)
	l := newAnonymousListener(t, srv, "anonymous")
	led := newLedger(srv)
	l.start(t)
	l.id = l.waitID(t)
	old := l.id
	if err := led.send(led.request(rng, [][32]byte{old}, 5, 0)); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, led, []*listener{l}, 30*time.Second)
	l.kill()
	l.start(t)
	if id := l.waitID(t); id != old {
		t.Fatalf("anonymous client ID %x after a restart with its state file, want %x (resumed by ticket)", id[:4], old[:4])
	}
	if err := led.send(led.request(rng, [][32]byte{old}, 5, 0)); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, led, []*listener{l}, 30*time.Second)
	l.kill()

	// Pending for the old ID while no process runs, with a 1 s TTL.
	before := led.accepted(old)
	if err := led.send(led.request(rng, [][32]byte{old}, 5, time.Second)); err != nil {
		t.Fatal(err)
	}
	var orphans []sentMsg
	for id, s := range led.accepted(old) {
		if _, ok := before[id]; !ok {
			orphans = append(orphans, s)
		}
	}
	if err := os.Remove(l.state); err != nil {
		t.Fatal(err)
	}
	lost := len(l.runs)
	l.start(t)
	l.id, l.idRun = l.waitID(t), lost
	if l.id == old {
		t.Fatalf("anonymous client kept client ID %x without its state file", old[:4])
	}
	// The new ID gets its own messages, so the listener is known to work
	// while the old ID's messages wait.
	if err := led.send(led.request(rng, [][32]byte{l.id}, 5, 0)); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, led, []*listener{l}, 30*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range orphans {
		for st := messageState(t, led, s.handle); st != "expired"; st = messageState(t, led, s.handle) {
			if time.Now().After(deadline) {
				t.Fatalf("message %s for the old client ID is %q after its TTL, want expired", s.payload, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	l.proc.kill()
	// Before the loss: the old ID's messages but the orphans; after it: the
	// new ID's messages only.
	checkRuns(t, l, l.runs[:lost], 0, before)
	lines, _ := checkRuns(t, l, l.runs[lost:], lost, led.accepted(l.id))
	if t.Failed() {
		logDiagnostics(t, srv, []*listener{l})
	}
	t.Logf("%d messages for the old client ID expired undelivered; %d lines after the state file was deleted", len(orphans), lines)
}
