// Command system is the system benchmark of issue #16 (package
// internal/loadtest/system): in one run it measures the bare WebSocket
// floor, SealFeed on SQLite -sync FULL and SealFeed in cluster mode at one
// fixed offered rate, then SealFeed's highest sustained rate and its
// latency at 80% of it, memory per idle connection at about 19 000
// connections and a CPU profile of the server, and writes a section of
// bench/results/system.md, replacing the section of that name and keeping
// the others (the Before section was measured on main before #16's
// server work):
//
//	go run ./bench/system -section after -md bench/results/system.md
//
// It builds cmd/sealfeed into a temporary directory (or uses -sealfeed).
// The floor, the NATS server and the idle-connection holders are this
// binary's own child processes (SEALFEED_SYSTEM_CHILD), so the sealfeed
// binary links no nats-server. With the defaults a run takes about 6
// minutes on the 2-core machine (351 s for the Before section, under
// load from other work). It is a benchmark, not a test: it fails only when
// a message is lost or duplicated or a phase cannot run, never on the
// targets it prints.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sealfeed/sealfeed/internal/loadtest/floor"
	"github.com/sealfeed/sealfeed/internal/loadtest/system"
)

func main() {
	if os.Getenv(system.ChildEnv) != "" {
		os.Exit(system.Child(os.Args[1:]))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/system:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg system.Config
	var mdOut, section, sealfeed, local string
	flag.IntVar(&cfg.Clients, "clients", 10000, "concurrent clients of the throughput phases")
	flag.IntVar(&cfg.Publishers, "publishers", 8, "publishing goroutines (each waits for its answer)")
	flag.IntVar(&cfg.RatePublishers, "rate-publishers", 32, "publishers of the sustained-rate and latency phases")
	flag.IntVar(&cfg.Rate, "rate", 1000, "fixed offered rate of the comparison, messages/s over all publishers")
	flag.IntVar(&cfg.PayloadSize, "payload", 256, "payload bytes")
	flag.IntVar(&cfg.Bulk, "bulk", 10, "messages per publish request")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "publish phase of each run")
	flag.DurationVar(&cfg.Tick, "tick", floor.DefaultTick, "the floor's tick; keep serve's default")
	flag.DurationVar(&cfg.IdleWindow, "idle", 3*time.Second, "read each server's CPU this long with its clients idle")
	flag.IntVar(&cfg.MemoryConns, "memory-conns", -1, "idle connections of the memory phase (0: skip it; -1: the open-file limit, at most 20 000, less 1000)")
	flag.IntVar(&cfg.Holders, "memory-procs", 2, "load-generator processes of the memory phase (at least 2)")
	flag.StringVar(&local, "local", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9",
		"clients' source addresses, comma-separated")
	floorOnly := flag.Bool("floor-only", false, "measure the floor alone (no SealFeed phases)")
	flag.BoolVar(&cfg.NoCluster, "no-cluster", false, "skip the cluster phase")
	flag.BoolVar(&cfg.NoLatency, "no-latency", false, "skip the sustained-rate and latency phases")
	flag.BoolVar(&cfg.NoProfile, "no-profile", false, "skip the CPU profile")
	flag.StringVar(&cfg.ProfileOut, "pprof-out", "", "also write the server's raw CPU profile to this file")
	flag.StringVar(&sealfeed, "sealfeed", "", "sealfeed binary (default: go build ./cmd/sealfeed)")
	flag.StringVar(&mdOut, "md", "", "write the section into this Markdown file (e.g. bench/results/system.md)")
	flag.StringVar(&section, "section", "after", "the section's name in -md: before or after")
	flag.Parse()
	if local != "" {
		cfg.LocalAddrs = strings.Split(local, ",")
	}
	if cfg.MemoryConns < 0 {
		// The server holds one descriptor per connection, and a few for its
		// listeners, database and log: leave it 1000.
		var r syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Max < 2000 {
			return fmt.Errorf("open-file limit: %v", err)
		}
		cfg.MemoryConns = int(min(r.Max, 20000)) - 1000
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Exe = exe
	tmp, err := os.MkdirTemp("", "sealfeed-system-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cfg.TmpDir = tmp
	if *floorOnly {
		sealfeed = ""
	} else if sealfeed == "" {
		sealfeed = filepath.Join(tmp, "sealfeed")
		fmt.Fprintln(os.Stderr, "building ./cmd/sealfeed")
		b := exec.CommandContext(ctx, "go", "build", "-o", sealfeed, "./cmd/sealfeed")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/sealfeed: %w", err)
		}
	}
	cfg.SealFeed = sealfeed
	cfg.Progress, cfg.Log = os.Stderr, os.Stderr
	start, load, rev := time.Now(), loadavg(), commit()
	res, err := system.Run(ctx, cfg)
	if err != nil {
		return err
	}
	meta := fmt.Sprintf("Run %s at commit %s; %s/%s, %d CPUs (GOMAXPROCS %d), %s; the whole run took %.0f s; "+
		"load average (1 min) %s at the start, %s at the end (other work on the machine shares its cores).\n\n"+
		"Command: `go run ./bench/system %s`",
		start.UTC().Format("2006-01-02 15:04 MST"), rev, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), time.Since(start).Seconds(), load, loadavg(), strings.Join(os.Args[1:], " "))
	title := map[string]string{"before": "Before", "after": "After"}[section]
	if title == "" {
		title = section
	}
	md := res.Section(title, meta)
	fmt.Print(md)
	if mdOut != "" {
		if err := system.WriteSection(mdOut, section, md); err != nil {
			return err
		}
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d phases failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}

// commit names the checked-out commit, "+dirty" when the tree differs.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

// loadavg is the 1-minute load average of the machine.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
