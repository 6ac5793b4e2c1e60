// Package system is the system benchmark of issue #16: in one run on one
// machine it measures a bare WebSocket push server (package floor), then
// SealFeed on SQLite with -sync FULL, then SealFeed in cluster mode on a
// one-server JetStream, with the same clients, payloads, requests and
// offered rate, and reports server CPU per delivered message and its
// ratio to the floor; then the highest sustained rate and the latency at
// 80% of it, memory per idle connection at the largest connection count
// the machine allows, and a CPU profile of the server. Every server, the
// NATS server and the idle-connection holders are child processes, so
// each one's CPU is read from /proc/PID/stat. Bounded: every phase stops
// by itself, everything is on loopback.
package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/internal/loadtest"
	"github.com/sealfeed/sealfeed/internal/loadtest/floor"
)

// Targets of issue #16, printed as pass/fail; the benchmark never fails on
// them.
const (
	TargetSealFeedRatio = 3.0                   // SealFeed CPU per message / floor's
	TargetClusterRatio  = 5.0                   // cluster node's CPU per message / floor's
	TargetLatencyMargin = 25 * time.Millisecond // p99 ≤ tick + this
	TargetRSSPerConn    = 20 * 1024             // bytes
)

// Config describes a system run.
type Config struct {
	// Exe is the harness binary its children run (floor, nats, holder),
	// with ChildEnv set; SealFeed is the sealfeed binary for serve; empty:
	// the run measures the floor only.
	Exe, SealFeed string
	Clients       int
	Publishers    int
	// RatePublishers publish in the sustained-rate and latency phases:
	// more requests in flight than Publishers, so that the server, not
	// the load generator's waiting, sets the highest rate.
	RatePublishers int
	Rate           int // the fixed offered rate of the comparison, messages/s
	PayloadSize    int
	Bulk           int
	Duration       time.Duration
	Tick           time.Duration // the floor's tick: serve's default
	// IdleWindow: how long each phase reads the server's CPU with its
	// clients connected and idle (loadtest.Config.IdleWindow).
	IdleWindow time.Duration
	// MemoryConns is the idle connection count of the memory phase over
	// Holders processes (at least 2); 0 skips it.
	MemoryConns, Holders int
	// LocalAddrs are the clients' source addresses (127.0.0.x).
	LocalAddrs []string
	// Skip phases.
	NoCluster, NoLatency, NoProfile bool
	// TmpDir holds data directories; empty: os.TempDir().
	TmpDir string
	// ProfileOut, if set, is where the raw CPU profile is written.
	ProfileOut string
	Progress   io.Writer // live progress; nil: none
	Log        io.Writer // a line per phase; nil: none
}

// Result is what a run measured.
type Result struct {
	Config   Config
	Floor    *loadtest.Report
	SealFeed *loadtest.Report
	Cluster  *loadtest.Report
	// NATSCPUSeconds is the nats-server's CPU during the cluster phase's
	// publish and drain, beside the node's, not counted in it.
	NATSCPUSeconds float64
	// Unlimited is SealFeed publishing as fast as it accepts; Sustained
	// is the rate it sustained, AtEighty the run at 80% of it.
	Unlimited *loadtest.Report
	Sustained float64
	AtEighty  *loadtest.Report
	Memory    *Memory
	Profile   *Profile
	// Errors are the phases that failed; the others still ran.
	Errors []string
}

// Memory is the idle-connection phase.
type Memory struct {
	Conns, Processes, SourceAddrs int
	RSSPerConn, HeapStackPerConn  float64
	ServerRSSBefore, ServerRSS    float64
	ConnectSeconds                float64
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", a...)
	}
}

// Run runs the phases in order. A phase that fails is recorded in
// Result.Errors and the run goes on; Run returns an error only when ctx
// ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = floor.DefaultTick
	}
	if cfg.Holders < 2 {
		cfg.Holders = 2
	}
	if cfg.TmpDir == "" {
		cfg.TmpDir = os.TempDir()
	}
	res := &Result{Config: cfg}
	fail := func(phase string, err error) {
		res.Errors = append(res.Errors, phase+": "+err.Error())
		cfg.logf("%s failed: %v", phase, err)
	}
	lt := func(rate int) loadtest.Config {
		return loadtest.Config{Clients: cfg.Clients, Rate: rate, Duration: cfg.Duration, PayloadSize: cfg.PayloadSize,
			Bulk: cfg.Bulk, PublisherCount: cfg.Publishers, LocalAddrs: cfg.LocalAddrs, Progress: cfg.Progress, IdleWindow: cfg.IdleWindow}
	}

	cfg.logf("floor at %d msg/s", cfg.Rate)
	// A phase that lost or duplicated messages keeps its report, so the
	// table shows the counts, and is listed in Errors.
	r, err := runFloor(ctx, cfg, lt(cfg.Rate))
	res.Floor = r
	if err != nil {
		fail("floor", err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if cfg.SealFeed == "" {
		return res, nil
	}

	cfg.logf("SealFeed (SQLite, -sync FULL) at %d msg/s", cfg.Rate)
	r, p, err := runServe(ctx, cfg, lt(cfg.Rate), "", !cfg.NoProfile)
	res.SealFeed, res.Profile = r, p
	if err != nil {
		fail("sealfeed", err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}

	if !cfg.NoCluster {
		cfg.logf("SealFeed cluster mode (one node, one JetStream server) at %d msg/s", cfg.Rate)
		r, natsCPU, err := runCluster(ctx, cfg, lt(cfg.Rate))
		res.Cluster, res.NATSCPUSeconds = r, natsCPU
		if err != nil {
			fail("cluster", err)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}

	if !cfg.NoLatency {
		cfg.logf("SealFeed unlimited: the highest sustained rate")
		rc := cfg
		rc.Publishers = max(cfg.RatePublishers, cfg.Publishers)
		rlt := func(rate int) loadtest.Config { l := lt(rate); l.PublisherCount = rc.Publishers; return l }
		if r, _, err := runServe(ctx, rc, rlt(0), "", false); err != nil {
			fail("unlimited", err)
		} else {
			res.Unlimited, res.Sustained = r, r.SustainedPerSec()
			rate := int(0.8 * res.Sustained)
			if rate < 1 {
				fail("latency", errors.New("no sustained rate"))
			} else {
				cfg.logf("SealFeed at 80%% of %.0f msg/s = %d msg/s", res.Sustained, rate)
				if r, _, err := runServe(ctx, rc, rlt(rate), "", false); err != nil {
					fail("latency", err)
				} else {
					res.AtEighty = r
				}
			}
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}

	if cfg.MemoryConns > 0 {
		cfg.logf("memory: %d idle connections from %d processes", cfg.MemoryConns, cfg.Holders)
		if m, err := runMemory(ctx, cfg); err != nil {
			fail("memory", err)
		} else {
			res.Memory = m
		}
	}
	return res, ctx.Err()
}

func runFloor(ctx context.Context, cfg Config, lc loadtest.Config) (*loadtest.Report, error) {
	p, err := startChild(ctx, cfg.Exe, "floor", []string{"-tick", cfg.Tick.String()}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	lc.System = loadtest.NewFloor(p.ready)
	lc.Meter = loadtest.ProcMeter{PIDs: []int{p.pid()}, Metrics: []string{p.ready}, Prefix: "floor"}
	return checked(loadtest.Run(ctx, lc))
}

// checked turns a run that lost or duplicated messages into an error
// beside its report.
func checked(r *loadtest.Report, err error) (*loadtest.Report, error) {
	if err != nil {
		return nil, err
	}
	if r.Lost != 0 || r.Duplicates != 0 {
		return r, fmt.Errorf("%d lost, %d duplicated", r.Lost, r.Duplicates)
	}
	return r, nil
}

// runServe runs one phase against a fresh `sealfeed serve`, with a CPU
// profile of the publish phase if asked.
func runServe(ctx context.Context, cfg Config, lc loadtest.Config, nats string, profile bool) (*loadtest.Report, *Profile, error) {
	dir, err := os.MkdirTemp(cfg.TmpDir, "sealfeed-system-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	n, err := loadtest.StartServe(ctx, loadtest.ServeOptions{Exe: cfg.SealFeed, Dir: dir, Publishers: cfg.Publishers,
		MaxConnsPerIP: cfg.Clients + 16, Sync: "FULL", NATS: nats, PProf: profile})
	if err != nil {
		return nil, nil, err
	}
	defer n.Stop()
	lc.Targets = []loadtest.Target{{BaseURL: n.BaseURL, Fingerprint: n.Fingerprint}}
	lc.Publishers, lc.PublisherCount = n.Keys, 0
	lc.Meter = n.Meter()
	var prof chan profileResult
	if profile {
		prof = make(chan profileResult, 1)
		lc.OnLoad = func() { go func() { prof <- fetchProfile(ctx, n.PProfAddr, cfg.Duration) }() }
	}
	r, err := checked(loadtest.Run(ctx, lc))
	if err != nil {
		return r, nil, err
	}
	if prof == nil {
		return r, nil, nil
	}
	pr := <-prof
	if pr.err != nil {
		cfg.logf("profile: %v", pr.err)
		return r, nil, nil
	}
	if cfg.ProfileOut != "" {
		if err := os.WriteFile(cfg.ProfileOut, pr.data, 0o644); err != nil {
			cfg.logf("profile: %v", err)
		}
	}
	p, err := breakdown(pr.data, cfg.TmpDir)
	if err != nil {
		cfg.logf("profile: %v", err)
		return r, nil, nil
	}
	return r, p, nil
}

// pidMeter adds another process's CPU to each sample's record without
// counting it.
type pidMeter struct {
	loadtest.Meter
	pid  int
	cpus []float64
}

func (m *pidMeter) Sample(ctx context.Context) (loadtest.Sample, error) {
	s, err := m.Meter.Sample(ctx)
	if err != nil {
		return s, err
	}
	c, err := loadtest.ProcCPU(m.pid)
	m.cpus = append(m.cpus, c)
	return s, err
}

func runCluster(ctx context.Context, cfg Config, lc loadtest.Config) (*loadtest.Report, float64, error) {
	dir, err := os.MkdirTemp(cfg.TmpDir, "sealfeed-system-nats-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	nats, err := startChild(ctx, cfg.Exe, "nats", []string{"-dir", dir}, 60*time.Second)
	if err != nil {
		return nil, 0, err
	}
	defer nats.stop()
	sdir, err := os.MkdirTemp(cfg.TmpDir, "sealfeed-system-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(sdir)
	n, err := loadtest.StartServe(ctx, loadtest.ServeOptions{Exe: cfg.SealFeed, Dir: sdir, Publishers: cfg.Publishers,
		MaxConnsPerIP: cfg.Clients + 16, Sync: "FULL", NATS: nats.ready})
	if err != nil {
		return nil, 0, err
	}
	defer n.Stop()
	lc.Targets = []loadtest.Target{{BaseURL: n.BaseURL, Fingerprint: n.Fingerprint}}
	lc.Publishers, lc.PublisherCount = n.Keys, 0
	m := &pidMeter{Meter: n.Meter(), pid: nats.pid()}
	lc.Meter = m
	r, err := checked(loadtest.Run(ctx, lc))
	if r == nil {
		return nil, 0, err
	}
	// Samples: before connecting, idle (and after the idle window), after
	// the drain.
	return r, m.cpus[len(m.cpus)-1] - m.cpus[len(m.cpus)-2], err
}

// runMemory connects MemoryConns idle SealFeed clients from Holders
// processes, each over every source address, to a fresh serve and reads
// the server's RSS and Go heap + stacks before and after.
func runMemory(ctx context.Context, cfg Config) (*Memory, error) {
	dir, err := os.MkdirTemp(cfg.TmpDir, "sealfeed-system-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	n, err := loadtest.StartServe(ctx, loadtest.ServeOptions{Exe: cfg.SealFeed, Dir: dir, Publishers: 1,
		MaxConnsPerIP: cfg.MemoryConns + 16, Sync: "FULL"})
	if err != nil {
		return nil, err
	}
	defer n.Stop()
	meter := n.Meter()
	time.Sleep(time.Second)
	before, err := meter.Sample(ctx)
	if err != nil {
		return nil, err
	}
	addrs := cfg.LocalAddrs
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	ws := "ws" + strings.TrimPrefix(n.BaseURL, "http") + "/v1/ws"
	start := time.Now()
	var holders []*proc
	defer func() {
		for _, h := range holders {
			h.stop()
		}
	}()
	type started struct {
		p   *proc
		err error
	}
	ch := make(chan started, cfg.Holders)
	for i := 0; i < cfg.Holders; i++ {
		count := cfg.MemoryConns / cfg.Holders
		if i < cfg.MemoryConns%cfg.Holders {
			count++
		}
		go func() {
			p, err := startChild(ctx, cfg.Exe, "holder", []string{"-url", ws, "-pin", n.Fingerprint, "-n", strconv.Itoa(count),
				"-local", strings.Join(addrs, ",")}, 10*time.Minute)
			ch <- started{p, err}
		}()
	}
	var errs error
	for i := 0; i < cfg.Holders; i++ {
		s := <-ch
		if s.err != nil {
			errs = errors.Join(errs, s.err)
			continue
		}
		holders = append(holders, s.p)
	}
	if errs != nil {
		return nil, errs
	}
	m := &Memory{Conns: cfg.MemoryConns, Processes: cfg.Holders, SourceAddrs: len(addrs), ConnectSeconds: time.Since(start).Seconds()}
	time.Sleep(2 * time.Second) // let buffers settle
	idle, err := meter.Sample(ctx)
	if err != nil {
		return nil, err
	}
	if v, err := loadtest.Metrics(ctx, n.BaseURL); err == nil {
		if c, ok := v["sealfeed_connections"]; ok && int(c) != cfg.MemoryConns {
			return nil, fmt.Errorf("server counts %v connections, want %d", c, cfg.MemoryConns)
		}
	}
	m.ServerRSSBefore, m.ServerRSS = before.RSSBytes, idle.RSSBytes
	m.RSSPerConn = (idle.RSSBytes - before.RSSBytes) / float64(cfg.MemoryConns)
	m.HeapStackPerConn = (idle.HeapStackBytes - before.HeapStackBytes) / float64(cfg.MemoryConns)
	return m, nil
}

type profileResult struct {
	data []byte
	err  error
}

// fetchProfile takes a CPU profile of d from a server's pprof address.
func fetchProfile(ctx context.Context, addr string, d time.Duration) profileResult {
	secs := max(1, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return profileResult{err: err}
	}
	resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
	if err != nil {
		return profileResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("pprof: %s", resp.Status)
	}
	return profileResult{b, err}
}
