package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ServerProcess is a server under test that the runner starts and restarts
// itself (CONF-060): the command runs under sh -c, keeps its state (data
// directory, keys) across starts, and prints a line "listening on URL …"
// on standard output once it serves; the runner then waits for URL/readyz
// to answer 200. A restart stops it with SIGTERM (or SIGKILL, a crash) and
// runs the same command again; the URL may change between starts.
type ServerProcess struct {
	Command string // run with sh -c
	// Ready is how long a start may take until /readyz answers 200; 0: 30 s.
	Ready time.Duration

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	url    string
	stderr *tail
}

// tail keeps the last bytes written to it, for the error of a failed start.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// URL is the base URL of the running server.
func (p *ServerProcess) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url
}

// Start runs the command and returns once it is ready (CONF-060).
func (p *ServerProcess) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("conformance: the server is already running")
	}
	cmd := exec.Command("sh", "-c", p.Command)
	newGroup(cmd) // a signal reaches the shell's children too
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	p.stderr = &tail{}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan struct{})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok && len(strings.Fields(u)) > 0 {
				urlc <- strings.Fields(u)[0]
				break
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(p.done)
	}()
	limit := p.Ready
	if limit == 0 {
		limit = 30 * time.Second
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	fail := func(why string) error {
		p.stopLocked(true)
		return fmt.Errorf("conformance: the server did not start (%s): %s", why, p.stderr.String())
	}
	select {
	case p.url = <-urlc:
	case <-p.done:
		return fail("it exited")
	case <-deadline.C:
		return fail("no \"listening on\" line")
	case <-ctx.Done():
		return fail(ctx.Err().Error())
	}
	for {
		resp, err := http.Get(strings.TrimRight(p.url, "/") + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-p.done:
			return fail("it exited")
		case <-deadline.C:
			return fail("/readyz did not answer 200")
		case <-ctx.Done():
			return fail(ctx.Err().Error())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Restart stops the server, with SIGKILL when crash is set and SIGTERM
// otherwise, and starts it again.
func (p *ServerProcess) Restart(ctx context.Context, crash bool) error {
	p.mu.Lock()
	p.stopLocked(crash)
	p.mu.Unlock()
	return p.Start(ctx)
}

// Stop ends the server with SIGTERM (SIGKILL after 10 s).
func (p *ServerProcess) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked(false)
}

func (p *ServerProcess) stopLocked(kill bool) {
	if p.cmd == nil {
		return
	}
	signalGroup(p.cmd, kill)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		signalGroup(p.cmd, true)
		<-p.done
	}
	p.cmd, p.url = nil, ""
}
