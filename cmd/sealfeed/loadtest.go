package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/loadtest"
)

func loadtestCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadtest", "[flags]",
		"Connects many WebSocket clients and publishers to a server on loopback — its own `sealfeed serve`\n"+
			"child process by default, or -server with -fingerprint and -key — and reports handshakes/s,\n"+
			"server memory per idle connection, published and delivered messages/s, publish→deliver\n"+
			"latency p50/p99 and server CPU per message. Bounded in clients and time.", stderr)
	var server, fingerprint, jsonOut, mdOut, syncMode, config string
	var keys listFlag
	var clients, publishers, rate, payload, bulk, dial int
	var duration time.Duration
	fs.StringVar(&server, "server", "", "server base URL (default: start a `sealfeed serve` child on loopback)")
	fs.StringVar(&fingerprint, "fingerprint", "", "server key fingerprint (with -server)")
	fs.Var(&keys, "key", "publisher private key file registered at -server; repeatable")
	fs.IntVar(&clients, "clients", 1000, fmt.Sprintf("concurrent clients (at most %d)", loadtest.MaxClients))
	fs.IntVar(&publishers, "publishers", 4, "publishers for the own server")
	fs.IntVar(&rate, "rate", 0, "messages per second over all publishers (0: as fast as accepted)")
	fs.DurationVar(&duration, "duration", 10*time.Second, fmt.Sprintf("publish phase (at most %v)", loadtest.MaxDuration))
	fs.IntVar(&payload, "payload", 256, "payload bytes (at least 16)")
	fs.IntVar(&bulk, "bulk", 10, "messages per publish request")
	fs.IntVar(&dial, "dial-concurrency", 32, "handshakes in flight while connecting")
	fs.StringVar(&syncMode, "sync", "FULL", "SQLite synchronous mode of the own server")
	fs.StringVar(&jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&mdOut, "md", "", "write the report as a Markdown table to this file")
	fs.StringVar(&config, "config", "", "JSON config file keyed by flag name")
	if err := parseFlags(fs, args, &config); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := loadtest.Config{BaseURL: server, Fingerprint: fingerprint, Clients: clients, Rate: rate, Duration: duration,
		PayloadSize: payload, Bulk: bulk, DialConcurrency: dial, Progress: stderr}
	if server == "" {
		dir, err := os.MkdirTemp("", "sealfeed-loadtest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		base, fp, pubs, kill, err := startChildServer(ctx, dir, publishers, clients, syncMode)
		if err != nil {
			return err
		}
		defer kill()
		cfg.BaseURL, cfg.Fingerprint, cfg.Publishers = base, fp, pubs
		fmt.Fprintf(stderr, "started sealfeed serve on %s (data in %s)\n", base, dir)
	} else {
		if fingerprint == "" || len(keys) == 0 {
			return errors.New("-server needs -fingerprint and at least one -key")
		}
		for _, k := range keys {
			pk, err := keyfile.LoadPrivate(k)
			if err != nil {
				return err
			}
			cfg.Publishers = append(cfg.Publishers, pk)
		}
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	md := fmt.Sprintf("Machine: %s/%s, %d CPUs (GOMAXPROCS %d), %s; clients and server on the same machine.\n\n%s",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), rep.Markdown())
	fmt.Fprint(stdout, md)
	if mdOut != "" {
		if err := os.WriteFile(mdOut, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if rep.Lost != 0 || rep.Duplicates != 0 {
		return fmt.Errorf("%d messages lost, %d duplicated", rep.Lost, rep.Duplicates)
	}
	return nil
}

// startChildServer runs this binary's `serve` on a free loopback port with
// fresh publisher keys and limits sized for the run.
func startChildServer(ctx context.Context, dir string, publishers, clients int, syncMode string) (base, fingerprint string, keys []ed25519.PrivateKey, kill func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	o := loadtest.ServeOptions{Exe: exe, Dir: dir, Publishers: publishers, MaxConnsPerIP: clients + 16, Sync: syncMode}
	if os.Getenv("SEALFEED_TEST_MAIN") != "" {
		// Inside the test binary: the child is `sealfeed` through TestMain.
		o.Command = func(args []string) *exec.Cmd {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), "SEALFEED_TEST_MAIN="+joinArgs(args))
			return cmd
		}
	}
	s, err := loadtest.StartServe(ctx, o)
	if err != nil {
		return "", "", nil, nil, fmt.Errorf("own server: %w", err)
	}
	return s.BaseURL, s.Fingerprint, s.Keys, s.Stop, nil
}
