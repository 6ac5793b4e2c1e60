package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/internal/testclock"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
)

// The fault-injection suite (issue #15 item 6, docs/scale-out.md "Fault
// injection"). It is not part of the default `go test ./...`:
//
//	SEALFEED_FAULTS=short go test -run '^TestFaults$' -count=1 ./cmd/sealfeed/   # CI, ./scripts/test
//	SEALFEED_FAULTS=full  go test -run '^TestFaults$' -count=1 -timeout 60m ./cmd/sealfeed/ \
//	    -faults.out "$PWD/bench/results/faults.md"
//
// SEALFEED_FAULTS_RUNS sets the runs per fault (full: 3, short: 1);
// SEALFEED_FAULTS_ONLY a substring of the fault names to run;
// SEALFEED_FAULTS_STRICT=1 fails the known gaps too (knownGaps).
var faultsOut = flag.String("faults.out", "", "with SEALFEED_FAULTS: write the results table (Markdown) to this file")

// Bounds. Each target is what docs/scale-out.md promises; the test
// asserts the target plus a margin for a slow, shared machine (two cores
// running three NATS servers, three nodes, the clients and the load).
const (
	failoverTarget = 15 * time.Second // clients off a paused or cut-off node
	failoverLimit  = 20 * time.Second
	publishTarget  = 6 * time.Second // a publish to a node that runs is answered (2xx or 503)
	publishLimit   = 8 * time.Second
	// stallMargin is added to the fault's own length (a paused node
	// delivers nothing while paused) or to failoverLimit where clients
	// must leave the node.
	stallMargin = 5 * time.Second
	// loadAttemptTimeout is the back end's timeout of one publish attempt
	// before it retries on another node with the same Idempotency-Key.
	loadAttemptTimeout = 5 * time.Second
	// probeTimeout is long enough to measure a publish that hangs.
	probeTimeout = 40 * time.Second
)

// knownGaps lists bounds the code does not meet yet, with the item of
// issue #15 that fixes them: a violation listed here is written to the
// table and logged, not failed (unless SEALFEED_FAULTS_STRICT=1). Remove
// an entry when its item has landed.
var knownGaps = map[string]string{}

// faultCase is one fault, injected into a fresh cluster under load.
type faultCase struct {
	name  string
	short bool // part of the CI version
	// node is the SealFeed node whose clients the fault hits; -1: all of
	// them (a NATS server fault).
	node int
	// length is how long the fault lasts, for the stall bound.
	length time.Duration
	// mustLeave: the clients of node must leave it (failover bound).
	mustLeave bool
	// pauses: the node cannot answer publishes while stopped, so the
	// publish bound applies to the other nodes only.
	pauses bool
	// diskFull: NATS server 2 keeps its JetStream files on a small tmpfs.
	diskFull bool
	// clockSkew: the nodes get test clock files (fc.setClock), and the
	// load publishes with faultSkewTTL.
	clockSkew bool
	// skip, if set, is why the case cannot run.
	skip string
	// inject applies the fault and returns when it is healed.
	inject func(t *testing.T, fc *faultCluster)
}

func faultCases() []faultCase {
	pause := func(d time.Duration) func(*testing.T, *faultCluster) {
		return func(t *testing.T, fc *faultCluster) { fc.nodes[0].pause(d) }
	}
	return []faultCase{
		{name: "pause-1s", node: 0, length: time.Second, pauses: true, inject: pause(time.Second)},
		{name: "pause-5s", short: true, node: 0, length: 5 * time.Second, pauses: true, inject: pause(5 * time.Second)},
		{name: "pause-20s", short: true, node: 0, length: 20 * time.Second, pauses: true, mustLeave: true, inject: pause(20 * time.Second)},
		{name: "pause-1s-on-1s-off-x5", node: 0, length: time.Second, pauses: true, inject: func(t *testing.T, fc *faultCluster) {
			for i := 0; i < 5; i++ {
				fc.nodes[0].pause(time.Second)
				time.Sleep(time.Second)
			}
		}},
		{name: "cut-off-from-nats-20s", short: true, node: 0, length: 20 * time.Second, mustLeave: true, inject: func(t *testing.T, fc *faultCluster) {
			for _, p := range fc.nodes[0].proxies {
				p.cut()
			}
			time.Sleep(20 * time.Second)
			for _, p := range fc.nodes[0].proxies {
				p.heal()
			}
		}},
		{name: "nats-server-killed-restarted", short: true, node: -1, length: 10 * time.Second, inject: func(t *testing.T, fc *faultCluster) {
			fc.nats.Kill(0)
			time.Sleep(10 * time.Second)
			fc.nats.Restart(t, 0)
		}},
		// One node's clock jumps ahead by more than the messages' TTL for
		// 10 s (a test-build clock file, internal/testclock): the store's
		// clock decides expiry (DLV-040), so that node still delivers
		// every message, and accepts publishes (the skew is inside the
		// publisher window, API-017).
		// length 0: delivery must not stall for the skew (with expiry by
		// the node's own clock it stalled for the whole 10 s).
		{name: "clock-skew-150s-ttl-90s", short: true, node: 0, length: 0, clockSkew: true,
			inject: func(t *testing.T, fc *faultCluster) {
				fc.setClock(t, 0, "150s")
				time.Sleep(10 * time.Second)
				fc.setClock(t, 0, "0s")
			}},
		{name: "disk-full-nats-server-10s", node: -1, length: 10 * time.Second, diskFull: true, inject: func(t *testing.T, fc *faultCluster) {
			fill := filepath.Join(fc.diskDir, "filler")
			if err := fillDisk(fill); err != nil {
				t.Errorf("filling the tmpfs: %v", err)
			}
			time.Sleep(10 * time.Second)
			os.Remove(fill)
		}},
	}
}

// TestFaults injects each fault of faultCases, one at a time, into three
// SealFeed nodes (child processes) on a three-server NATS JetStream
// cluster, under publish load, and checks what an operator needs: every
// message answered with a 2xx reaches its client's application exactly
// once and nothing else does (DLV-010, no client crashes here); no honest
// client sees an alert other than going_away (POST-022); clients of a
// paused or cut-off node are off it within failoverLimit (POST-021, the
// node's reconnect-elsewhere signal); publishes to a node that runs are
// answered within publishLimit; deliveries stall no longer than the fault
// allows. Each run starts a fresh cluster, so one fault's after-effects
// (a JetStream server that disabled itself on a full disk) do not leak
// into the next.
func TestFaults(t *testing.T) {
	mode := os.Getenv("SEALFEED_FAULTS")
	if mode != "short" && mode != "full" {
		t.Skip("fault-injection suite: set SEALFEED_FAULTS=short (CI, under 3 minutes) or full")
	}
	runs := 1
	if mode == "full" {
		runs = 3
	}
	if s := os.Getenv("SEALFEED_FAULTS_RUNS"); s != "" {
		fmt.Sscan(s, &runs)
	}
	strict := os.Getenv("SEALFEED_FAULTS_STRICT") == "1"
	only := os.Getenv("SEALFEED_FAULTS_ONLY")
	var results []*faultResult
	for _, fcase := range faultCases() {
		if mode == "short" && !fcase.short || !strings.Contains(fcase.name, only) {
			continue
		}
		agg := &faultResult{name: fcase.name, skipped: fcase.skip}
		results = append(results, agg)
		if fcase.skip != "" {
			t.Run(fcase.name, func(t *testing.T) { t.Skip(fcase.skip) })
			continue
		}
		for r := 0; r < runs; r++ {
			t.Run(fmt.Sprintf("%s/run%d", fcase.name, r+1), func(t *testing.T) {
				res := &faultResult{name: fcase.name, runs: 1}
				defer func() { // also after a t.Fatal in the run
					if res.skipped != "" {
						agg.skipped = res.skipped
						return
					}
					if t.Failed() && len(res.failed) == 0 {
						res.failed = append(res.failed, "setup")
					}
					agg.merge(res)
					t.Logf("%s", res.row())
				}()
				runFault(t, fcase, strict, res)
				if res.skipped != "" {
					t.Skip(res.skipped)
				}
			})
		}
	}
	table := faultsTable(results, mode, runs)
	t.Logf("results:\n%s", table)
	if *faultsOut != "" {
		if err := os.WriteFile(*faultsOut, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// runFault runs one fault on a fresh cluster and checks the bounds.
func runFault(t *testing.T, fcase faultCase, strict bool, res *faultResult) {
	var diskDir string
	if fcase.diskFull {
		diskDir = mountSmallTmpfs(t)
		if diskDir == "" {
			res.skipped = "skipped: mount -t tmpfs failed (needs root)"
			return
		}
	}
	if fcase.clockSkew && !clockHook() {
		res.skipped = "skipped: the nodes' test clock needs go test -tags sealfeed_testhooks"
		return
	}
	fc := startFaultCluster(t, diskDir, fcase.clockSkew)
	defer func() {
		if t.Failed() {
			for i, n := range fc.nodes {
				t.Logf("node %d output:\n%s", i, n.proc.output())
			}
		}
	}()
	ld := startFaultLoad(t, fc)
	time.Sleep(3 * time.Second) // the load runs, every client delivers
	faultStart := time.Now()
	fcase.inject(t, fc)
	healed := time.Now()
	time.Sleep(6 * time.Second) // the load goes on after the heal
	loadEnd := time.Now()
	ld.stop()

	// Who the fault hit.
	var hit []int
	for i := range fc.clients {
		if fcase.node < 0 || i%3 == fcase.node {
			hit = append(hit, i)
		}
	}
	res.lost, res.dup, res.unexpected, res.disorder = fc.settle(t, ld.want(), 60*time.Second)
	res.published = len(ld.ok)
	for _, i := range hit {
		r := fc.clients[i]
		res.stall = max(res.stall, r.maxGap(faultStart, loadEnd))
		off, on, left := r.failover(faultStart)
		if left {
			res.left++
			res.off = max(res.off, off)
			res.failover = max(res.failover, on)
		}
	}
	res.hit = len(hit)
	for _, r := range fc.clients {
		res.alerts = append(res.alerts, r.alertList()...)
	}
	// Publish answer times: the probes to the faulted node (to every node
	// for a NATS fault); where the node is paused, to the others.
	outcomes := ld.probeOutcomes()
	for n, d := range ld.probeTimes() {
		if fcase.node < 0 || n == fcase.node {
			res.pubFaulted = append(res.pubFaulted, d...)
			for a, k := range outcomes[n] {
				if res.answers == nil {
					res.answers = map[string]int{}
				}
				res.answers[a] += k
			}
		}
		if !(fcase.pauses && n == fcase.node) {
			res.pubAsserted = append(res.pubAsserted, d...)
		}
	}
	t.Logf("fault %v, healed after %v; %d messages with a 2xx", fcase.name, healed.Sub(faultStart).Round(time.Millisecond), res.published)

	fail := func(bound, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if gap, ok := knownGaps[fcase.name+"/"+bound]; ok && !strict {
			res.gaps = append(res.gaps, bound)
			t.Logf("KNOWN GAP (%s): %s", gap, msg)
			return
		}
		res.failed = append(res.failed, bound)
		t.Error(msg)
	}
	if res.lost+res.dup+res.unexpected+res.disorder > 0 {
		fail("delivery", "%d lost, %d delivered twice, %d never acknowledged to a publisher, %d out of ID order", res.lost, res.dup, res.unexpected, res.disorder)
	}
	if len(res.alerts) > 0 {
		fail("alerts", "alerts at honest clients: %s", strings.Join(res.alerts, ", "))
	}
	if fcase.mustLeave {
		switch {
		case res.left < len(hit):
			fail("failover", "%d of %d clients left the faulted node (limit %v)", res.left, len(hit), failoverLimit)
		case res.off > failoverLimit:
			fail("failover", "the last client left the faulted node after %v (limit %v)", res.off.Round(time.Millisecond), failoverLimit)
		}
	}
	stallLimit := fcase.length + stallMargin
	if fcase.mustLeave {
		stallLimit = failoverLimit + stallMargin
	}
	if res.stall > stallLimit {
		fail("stall", "deliveries to the clients of the faulted node stalled for %v (limit %v)", res.stall.Round(time.Millisecond), stallLimit)
	}
	if m := slices.Max(append(res.pubAsserted, 0)); m > publishLimit {
		fail("publish", "a publish took %v to answer (limit %v)", m.Round(time.Millisecond), publishLimit)
	}
}

// faultCluster is three SealFeed nodes on a three-server NATS cluster.
// Each node reaches each NATS server through a proxy of its own, which
// the test can cut; the servers advertise no URLs, so a cut-off node
// cannot reconnect around its proxies.
type faultCluster struct {
	nats    *natstest.Cluster
	nodes   []*faultNode
	pubKey  ed25519.PrivateKey
	clients []*faultReceiver
	ids     [][32]byte
	diskDir string
	// clockFiles are the nodes' test clock files (clockSkew cases).
	clockFiles []string
	ttl        time.Duration // of the load's messages; 0: the default
}

// faultSkewTTL is the TTL of the clock-skew case's messages: shorter
// than the skew, long enough that none really expires during the run.
const faultSkewTTL = 90 * time.Second

// clockHook reports whether this test binary's nodes read the test clock
// (a build with -tags sealfeed_testhooks).
func clockHook() bool {
	now, _, _ := testclock.FromEnv(func(k string) string {
		if k == "SEALFEED_TEST_CLOCK_OFFSET" {
			return "1s"
		}
		return ""
	})
	return now != nil
}

// setClock writes offset (a Go duration) to node i's test clock file; the
// node reads it within 100 ms.
func (fc *faultCluster) setClock(t *testing.T, i int, offset string) {
	if err := os.WriteFile(fc.clockFiles[i], []byte(offset), 0o644); err != nil {
		t.Errorf("setting node %d's clock: %v", i, err)
	}
}

type faultNode struct {
	proc    *subprocess
	proxies []*tcpProxy // to NATS server 0, 1, 2
}

// pause stops the node's process for d (SIGSTOP, SIGCONT).
func (n *faultNode) pause(d time.Duration) {
	n.proc.cmd.Process.Signal(syscall.SIGSTOP)
	defer n.proc.cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(d)
}

func startFaultCluster(t *testing.T, diskDir string, clockSkew bool) *faultCluster {
	fc := &faultCluster{diskDir: diskDir}
	env := func(int) []string { return nil }
	if clockSkew {
		dir := t.TempDir()
		for i := 0; i < 3; i++ {
			fc.clockFiles = append(fc.clockFiles, filepath.Join(dir, fmt.Sprintf("clock%d", i)))
		}
		env = func(i int) []string { return []string{"SEALFEED_TEST_CLOCK_FILE=" + fc.clockFiles[i]} }
		fc.ttl = faultSkewTTL
	}
	opt := natstest.Options{NoAdvertise: true}
	if diskDir != "" {
		opt.StoreDirs = []string{"", "", diskDir}
	}
	fc.nats = natstest.StartWith(t, 3, opt)
	proxies := make([][]*tcpProxy, 3)
	cl := startClusterNodesEnv(t, func(i int) string {
		var urls []string
		for j := 0; j < 3; j++ {
			p := startProxy(t, strings.TrimPrefix(fc.nats.ClientURL(j), "nats://"))
			proxies[i] = append(proxies[i], p)
			urls = append(urls, "nats://"+p.addr())
		}
		return strings.Join(urls, ",")
	}, env)
	for i, proc := range cl.nodes {
		fc.nodes = append(fc.nodes, &faultNode{proc: proc, proxies: proxies[i]})
	}
	fc.pubKey = cl.pubKey
	wsURLs := cl.wsURLs
	dir := t.TempDir()
	// Three key-identified clients per node, each with a state file and
	// every node's URL, its own node first: client i starts on node i%3.
	for i := 0; i < 9; i++ {
		id, _ := keyfile.Generate()
		cfg := client.Config{URLs: []string{wsURLs[i%3], wsURLs[(i+1)%3], wsURLs[(i+2)%3]},
			Trust: cl.trust(), Identity: id,
			StatePath: filepath.Join(dir, fmt.Sprintf("client%d.state", i))}
		c, err := client.Dial(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fc.ids = append(fc.ids, handshake.ClientID(id.Public().(ed25519.PublicKey)))
		fc.clients = append(fc.clients, watchFaults(c))
	}
	return fc
}

// settle waits up to wait for every client to have what want lists for
// it, lets anything extra arrive, and counts what went wrong.
func (fc *faultCluster) settle(t *testing.T, want []map[string]bool, wait time.Duration) (lost, dup, unexpected, disorder int) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		done := true
		for i, r := range fc.clients {
			if r.count() < len(want[i]) {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // anything extra would arrive now
	for i, r := range fc.clients {
		r.mu.Lock()
		seen := map[string]bool{}
		for _, d := range r.got {
			switch {
			case seen[d.payload]:
				dup++
				if dup <= 10 {
					t.Logf("client %d: %s delivered twice", i, d.payload)
				}
			case !want[i][d.payload]:
				unexpected++
				if unexpected <= 10 {
					t.Logf("client %d: %s was never acknowledged to a publisher", i, d.payload)
				}
			}
			seen[d.payload] = true
		}
		for p := range want[i] {
			if !seen[p] {
				lost++
			}
		}
		disorder += r.disorder
		r.mu.Unlock()
	}
	return lost, dup, unexpected, disorder
}

// faultReceiver records what one client's application receives, when,
// and the client's connection events.
type faultReceiver struct {
	mu       sync.Mutex
	got      []delivery
	last     uint64
	disorder int
	events   []clientEvent
}

type delivery struct {
	payload string
	at      time.Time
}

type clientEvent struct {
	at        time.Time
	connected bool
	err       error
}

func watchFaults(c *client.Client) *faultReceiver {
	r := &faultReceiver{}
	go func() {
		for e := range c.Events() {
			r.mu.Lock()
			r.events = append(r.events, clientEvent{at: time.Now(), connected: e.Connected, err: e.Err})
			r.mu.Unlock()
		}
	}()
	go func() {
		for m := range c.Messages() {
			m.Ack()
			r.mu.Lock()
			if m.ID <= r.last {
				r.disorder++
			}
			r.last = m.ID
			r.got = append(r.got, delivery{string(m.Payload), time.Now()})
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *faultReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// maxGap is the longest time in [from, to] without a delivery, counting
// from the last delivery before from.
func (r *faultReceiver) maxGap(from, to time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := from
	for _, d := range r.got {
		if !d.at.After(from) {
			prev = d.at
		}
	}
	var gap time.Duration
	for _, d := range r.got {
		if d.at.After(from) && !d.at.After(to) {
			gap = max(gap, d.at.Sub(prev))
			prev = d.at
		}
	}
	return max(gap, to.Sub(prev))
}

// failover returns, for a client whose connection ended after from, how
// long after from it ended and how long until the client was connected
// again (to the next node of its list); left is false if it stayed.
func (r *faultReceiver) failover(from time.Time) (off, on time.Duration, left bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if !e.at.After(from) {
			continue
		}
		if !left && !e.connected {
			off, left = e.at.Sub(from), true
		}
		if left && e.connected {
			return off, e.at.Sub(from), true
		}
	}
	if left {
		on = time.Since(from) // not connected again yet
	}
	return off, on, left
}

// alertList names every alert that ended or refused a connection, other
// than going_away (POST-022, not an error).
func (r *faultReceiver) alertList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if code, ok := alert.Find(e.err); ok && !client.GoingAway(e.err) {
			out = append(out, code.String())
		}
	}
	return out
}

// faultLoad is the publish load: back-end workers that publish to the
// nodes in turn and retry an attempt that got no 2xx within
// loadAttemptTimeout on the next node with the same Idempotency-Key, and
// one probe per node that publishes only to that node and waits up to
// probeTimeout, to measure how long the node takes to answer.
type faultLoad struct {
	fc   *faultCluster
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	seq    int
	ok     map[string][]int        // payload → recipients, for every 2xx
	probes map[int][]time.Duration // node → answer times of its probe
	// outcomes counts, per node, the probe attempts that got no 2xx, by
	// answer: the HTTP status, or "none" (timeout or transport error).
	outcomes map[int]map[string]int
}

func startFaultLoad(t *testing.T, fc *faultCluster) *faultLoad {
	ld := &faultLoad{fc: fc, done: make(chan struct{}), ok: map[string][]int{}, probes: map[int][]time.Duration{},
		outcomes: map[int]map[string]int{}}
	for w := 0; w < 3; w++ {
		ld.wg.Add(1)
		go ld.worker(w)
	}
	for n := range fc.nodes {
		ld.wg.Add(1)
		go ld.probe(n)
	}
	t.Cleanup(ld.stop)
	return ld
}

func (ld *faultLoad) stop() {
	select {
	case <-ld.done:
	default:
		close(ld.done)
	}
	ld.wg.Wait()
}

func (ld *faultLoad) stopped() bool {
	select {
	case <-ld.done:
		return true
	default:
		return false
	}
}

// next returns a new payload and its recipients: one client, or three
// (a broadcast) every fifth message.
func (ld *faultLoad) next() (string, []int) {
	ld.mu.Lock()
	ld.seq++
	n := ld.seq
	ld.mu.Unlock()
	nc := len(ld.fc.ids)
	to := []int{n % nc}
	if n%5 == 0 {
		to = []int{n % nc, (n + 1) % nc, (n + 2) % nc}
	}
	return fmt.Sprintf("msg-%06d", n), to
}

func (ld *faultLoad) message(payload string, to []int) publisher.Message {
	m := publisher.Message{Payload: []byte(payload), TTL: ld.fc.ttl}
	for _, i := range to {
		m.To = append(m.To, ld.fc.ids[i])
	}
	return m
}

// attempt sends one publish to node n and returns when it was answered.
func (ld *faultLoad) attempt(n int, m publisher.Message, key string, timeout time.Duration) error {
	p := publisher.New(ld.fc.nodes[n].proc.base, ld.fc.pubKey)
	p.Retries = -1
	p.HTTP.Timeout = timeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := p.Publish(ctx, m, key)
	return err
}

func (ld *faultLoad) worker(w int) {
	defer ld.wg.Done()
	for n := w; !ld.stopped(); n++ {
		payload, to := ld.next()
		m, key := ld.message(payload, to), publisher.NewIdempotencyKey()
		// Retry on the next node until a 2xx; once the load has stopped,
		// finish what was started (up to a minute), so that nothing sent
		// is left unknown.
		deadline := time.Now().Add(time.Minute)
		for a := 0; time.Now().Before(deadline); a++ {
			if err := ld.attempt((n+a)%3, m, key, loadAttemptTimeout); err == nil {
				ld.mu.Lock()
				ld.ok[payload] = to
				ld.mu.Unlock()
				break
			}
			time.Sleep(min(time.Second, 50*time.Millisecond<<min(a, 5)))
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// probe publishes to node n alone, one message at a time, and records
// how long each attempt took to get an answer (a 2xx, an error status or
// a transport error). A message that got no 2xx is retried with the same
// key, on the same node, until it has one.
func (ld *faultLoad) probe(n int) {
	defer ld.wg.Done()
	for !ld.stopped() {
		payload, to := ld.next()
		m, key := ld.message(payload, to), publisher.NewIdempotencyKey()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			start := time.Now()
			err := ld.attempt(n, m, key, probeTimeout)
			ld.mu.Lock()
			ld.probes[n] = append(ld.probes[n], time.Since(start))
			if err == nil {
				ld.ok[payload] = to
			} else {
				if ld.outcomes[n] == nil {
					ld.outcomes[n] = map[string]int{}
				}
				ld.outcomes[n][answerOf(err)]++
			}
			ld.mu.Unlock()
			if err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// answerOf names a publish error by the answer it got.
func answerOf(err error) string {
	var pr *publisher.Problem
	if errors.As(err, &pr) {
		return fmt.Sprint(pr.Status)
	}
	return "none"
}

// probeOutcomes returns the non-2xx answers of the probes, per node.
func (ld *faultLoad) probeOutcomes() map[int]map[string]int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	out := map[int]map[string]int{}
	for n, m := range ld.outcomes {
		out[n] = maps.Clone(m)
	}
	return out
}

func (ld *faultLoad) probeTimes() map[int][]time.Duration {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	out := map[int][]time.Duration{}
	for n, d := range ld.probes {
		out[n] = slices.Clone(d)
	}
	return out
}

// want returns, per client, the payloads that got a 2xx.
func (ld *faultLoad) want() []map[string]bool {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	want := make([]map[string]bool, len(ld.fc.ids))
	for i := range want {
		want[i] = map[string]bool{}
	}
	for p, to := range ld.ok {
		for _, i := range to {
			want[i][p] = true
		}
	}
	return want
}

// tcpProxy forwards loopback TCP connections to one target. cut closes
// every connection and refuses new ones (accepted and reset at once)
// until heal.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	isCut bool
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	p.mu.Lock()
	cut := p.isCut
	p.mu.Unlock()
	if cut {
		reset(c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.isCut || p.conns == nil {
		p.mu.Unlock()
		reset(c)
		reset(up)
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var once sync.Once
	end := func() {
		once.Do(func() {
			c.Close()
			up.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
	go func() { io.Copy(up, c); end() }()
	io.Copy(c, up)
	end()
}

// reset closes c with a TCP reset, as a refused or broken link looks.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	for c := range p.conns {
		reset(c)
	}
}

func (p *tcpProxy) heal() {
	p.mu.Lock()
	p.isCut = false
	p.mu.Unlock()
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// mountSmallTmpfs mounts a 64 MiB tmpfs for the test and unmounts it at
// the end; it returns "" where mounting is not allowed.
func mountSmallTmpfs(t *testing.T) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Logf("mount -t tmpfs: %v: %s", err, out)
		return ""
	}
	// Registered after TempDir's removal, so it runs before it. The NATS
	// servers stop before this (their cleanup was registered later).
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes zeros to name until the file system is full.
func fillDisk(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// faultResult is what one run (or every run of a fault, merged) measured.
type faultResult struct {
	name, skipped string
	runs          int
	published     int
	lost, dup     int
	unexpected    int
	disorder      int
	alerts        []string
	hit, left     int           // clients of the faulted node, and how many left it
	off           time.Duration // the last of them off the node
	failover      time.Duration // the last of them connected elsewhere
	stall         time.Duration
	pubFaulted    []time.Duration // probe answer times, faulted node
	pubAsserted   []time.Duration // probe answer times the bound applies to
	answers       map[string]int  // probe attempts to the faulted node without a 2xx, by answer
	failed, gaps  []string        // bounds violated, and those listed in knownGaps
}

func (a *faultResult) merge(r *faultResult) {
	a.runs++
	a.published += r.published
	a.lost += r.lost
	a.dup += r.dup
	a.unexpected += r.unexpected
	a.disorder += r.disorder
	a.alerts = append(a.alerts, r.alerts...)
	a.hit += r.hit
	a.left += r.left
	a.off = max(a.off, r.off)
	a.failover = max(a.failover, r.failover)
	a.stall = max(a.stall, r.stall)
	a.pubFaulted = append(a.pubFaulted, r.pubFaulted...)
	a.pubAsserted = append(a.pubAsserted, r.pubAsserted...)
	for k, n := range r.answers {
		if a.answers == nil {
			a.answers = map[string]int{}
		}
		a.answers[k] += n
	}
	a.failed = append(a.failed, r.failed...)
	a.gaps = append(a.gaps, r.gaps...)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (r *faultResult) row() string {
	if r.runs == 0 && r.skipped != "" {
		return fmt.Sprintf("| %s | 0 | | | | | | | | %s |", r.name, r.skipped)
	}
	failover := "stayed"
	if r.left > 0 {
		failover = fmt.Sprintf("%d/%d off ≤ %s, on ≤ %s", r.left, r.hit, seconds(r.off), seconds(r.failover))
	}
	alerts := "0"
	if len(r.alerts) > 0 {
		counts := map[string]int{}
		for _, a := range r.alerts {
			counts[a]++
		}
		var names []string
		for a, n := range counts {
			names = append(names, fmt.Sprintf("%s ×%d", a, n))
		}
		sort.Strings(names)
		alerts = strings.Join(names, ", ")
	}
	pub := seconds(percentile(r.pubFaulted, 99)) + " / " + seconds(slices.Max(append(r.pubFaulted, 0)))
	if len(r.answers) > 0 {
		var names []string
		for a, n := range r.answers {
			names = append(names, fmt.Sprintf("%s ×%d", a, n))
		}
		sort.Strings(names)
		pub += "; not 2xx: " + strings.Join(names, ", ")
	}
	verdict := "pass"
	switch {
	case len(r.failed) > 0:
		verdict = "FAIL: " + strings.Join(dedupe(r.failed), ", ")
	case len(r.gaps) > 0:
		verdict = "known gap: " + strings.Join(dedupe(r.gaps), ", ")
	}
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %d | %d | %s | %d | %s |", r.name, r.runs, seconds(r.stall), failover,
		pub, r.lost, r.dup+r.unexpected+r.disorder, alerts, r.published, verdict)
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func faultsTable(results []*faultResult, mode string, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Fault injection: 3 SealFeed nodes on a 3-server NATS JetStream cluster\n\n")
	fmt.Fprintf(&b, "Generated by `SEALFEED_FAULTS=%s SEALFEED_FAULTS_RUNS=%d go test -run '^TestFaults$' ./cmd/sealfeed/ -faults.out …` on %s, %s.\n",
		mode, runs, time.Now().UTC().Format("2006-01-02"), machine())
	b.WriteString("Nine key-identified clients (three per node, every node's URL, their own first, state files), three back-end\n" +
		"publishers (5 s per attempt, then the next node with the same Idempotency-Key) and one probe publisher per node\n" +
		"(waits up to 40 s). Each run: a fresh cluster, 3 s of load, the fault, 6 s of load after it is healed, then every\n" +
		"client's deliveries are checked. Bounds and their margins: docs/scale-out.md, \"Fault injection\".\n\n")
	b.WriteString("- stall: the longest time without a delivery to a client the fault hit (the faulted node's, or all for a NATS fault), from the fault until the load stopped\n" +
		"- failover: clients of the faulted node that left it / all of them, when the last one's connection ended (off) and when it was connected to another node (on), after the fault began; \"stayed\": none left\n" +
		"- publish p99/max: how long the probe publishes to the faulted node (every node for a NATS fault) took to get any answer; not 2xx: those answered otherwise, by status (none: no answer within 40 s, or the connection failed)\n" +
		"- lost: messages answered 2xx that never reached their client; dup: delivered twice, never answered 2xx, or out of ID order\n" +
		"- alerts: alerts other than going_away that ended or refused an honest client's connection\n\n")
	b.WriteString("| fault | runs | stall | failover | publish p99 / max | lost | dup | alerts | 2xx | result |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		b.WriteString(r.row() + "\n")
	}
	if len(knownGaps) > 0 {
		b.WriteString("\nKnown gaps (reported, not failed, until the item lands; SEALFEED_FAULTS_STRICT=1 fails them):\n\n")
		var keys []string
		for k := range knownGaps {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s\n", k, knownGaps[k])
		}
	}
	return b.String()
}

func machine() string {
	return fmt.Sprintf("%d CPUs", runtime.NumCPU())
}

// The fault suite's cut must really cut: an open connection through the
// proxy breaks, a new one gets nothing through, and after heal a new one
// works again. This runs in the default test run, without the suite.
func TestTCPProxyCutsAndHeals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }() // echo
		}
	}()
	p := startProxy(t, ln.Addr().String())
	echoes := func(c net.Conn) bool {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return false
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err == nil && string(buf) == "ping"
	}
	// echoesNew: a new connection through the proxy echoes (a refused
	// one may fail already in connect, reset by the proxy).
	echoesNew := func() bool {
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			return false
		}
		defer c.Close()
		return echoes(c)
	}
	open, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if !echoes(open) {
		t.Fatal("no echo through the proxy")
	}
	p.cut()
	if echoes(open) {
		t.Error("a connection open before the cut still works")
	}
	if echoesNew() {
		t.Error("a connection made during the cut works")
	}
	p.heal()
	if !echoesNew() {
		t.Error("no echo after heal")
	}
}
