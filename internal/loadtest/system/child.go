package system

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/loadtest/floor"
)

// ChildEnv names the environment variable that makes the harness binary
// (or a test binary, through TestMain) run one of its child processes:
// "floor", "nats" or "holder", with the child's flags as its arguments.
const ChildEnv = "SEALFEED_SYSTEM_CHILD"

// Child runs the child process named by $SEALFEED_SYSTEM_CHILD with args
// and returns its exit code. Every child answers "ready …" on stdout once
// it serves, and stops when its stdin closes, so it never outlives the
// harness.
func Child(args []string) int {
	raiseFDLimit()
	var err error
	switch os.Getenv(ChildEnv) {
	case "floor":
		err = floorChild(args)
	case "nats":
		err = natsChild(args)
	case "holder":
		err = holderChild(args)
	default:
		err = fmt.Errorf("unknown child %q", os.Getenv(ChildEnv))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "system child:", err)
		return 1
	}
	return 0
}

// raiseFDLimit sets the soft limit of open files to the hard one (Go does
// this at start-up too; done here so that it does not depend on it).
func raiseFDLimit() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

// waitStdin blocks until the parent closes the child's stdin (or dies).
func waitStdin() { io.Copy(io.Discard, os.Stdin) }

func floorChild(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	tick := fs.Duration("tick", floor.DefaultTick, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	s := floor.New(*tick, 0)
	defer s.Close()
	go http.Serve(l, s)
	fmt.Printf("ready http://%s\n", l.Addr())
	waitStdin()
	return nil
}

func natsChild(args []string) error {
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	dir := fs.String("dir", "", "JetStream store directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := &natsserver.Options{ServerName: "system-nats", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: *dir, NoLog: true, NoSigs: true}
	s, err := natsserver.NewServer(o)
	if err != nil {
		return err
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(30 * time.Second) {
		return errors.New("nats-server not ready")
	}
	fmt.Printf("ready %s\n", s.ClientURL())
	waitStdin()
	return nil
}

// holderChild connects -n SealFeed clients (the client library) from the
// -local source addresses in turn and holds them idle until stdin closes.
func holderChild(args []string) error {
	fs := flag.NewFlagSet("holder", flag.ContinueOnError)
	url := fs.String("url", "", "ws://host:port/v1/ws")
	pin := fs.String("pin", "", "server fingerprint")
	n := fs.Int("n", 0, "clients")
	local := fs.String("local", "", "source addresses, comma-separated")
	conc := fs.Int("dial-concurrency", 32, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fp, err := hex.DecodeString(*pin)
	if err != nil || len(fp) != 32 {
		return errors.New("-pin: 64 hex digits")
	}
	pinned := [32]byte(fp)
	addrs := strings.Split(*local, ",")
	clients := make([]*client.Client, *n)
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := range clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addrs[i%len(addrs)])}}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, client.Config{URL: *url, PinnedKeyID: &pinned, Buffer: 4, NetDial: d.DialContext})
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Printf("failed %d of %d: %v\n", f, *n, firstErr.Load())
	} else {
		fmt.Printf("ready %d\n", *n)
	}
	waitStdin()
	for _, c := range clients {
		if c != nil {
			go c.Close()
		}
	}
	return nil
}

// proc is a child process of the harness.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready string // what followed "ready " on its first line
}

// startChild runs exe with env ChildEnv=kind and args, and waits for its
// ready line.
func startChild(ctx context.Context, exe, kind string, args []string, timeout time.Duration) (*proc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), ChildEnv+"="+kind)
	cmd.Stderr = os.Stderr
	return startWithReadyLine(ctx, cmd, kind, timeout)
}

func startWithReadyLine(ctx context.Context, cmd *exec.Cmd, kind string, timeout time.Duration) (*proc, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: in}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first {
				line <- sc.Text()
				first = false
			}
		}
		if first {
			close(line)
		}
	}()
	select {
	case l, ok := <-line:
		if r, found := strings.CutPrefix(l, "ready "); ok && found {
			p.ready = r
			return p, nil
		}
		p.stop()
		return nil, fmt.Errorf("%s child: %q", kind, l)
	case <-time.After(timeout):
		p.stop()
		return nil, fmt.Errorf("%s child not ready within %v", kind, timeout)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop closes the child's stdin and waits for it, killing it after 20 s.
func (p *proc) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}
