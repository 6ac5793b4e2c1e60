package loadtest

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// ServeOptions describe a `sealfeed serve` child process for a run.
type ServeOptions struct {
	Exe           string // the sealfeed binary
	Dir           string // for its data directory and publisher keys
	Publishers    int    // fresh publisher keys registered with it
	MaxConnsPerIP int
	Sync          string // -sync; empty: FULL
	// NATS, if set, runs it in cluster mode on these JetStream servers
	// with a fresh storage key and -replicas 1.
	NATS  string
	PProf bool // serve -pprof on a free loopback port
	// Command, if set, makes the command from serve's arguments (a test
	// binary that runs main through TestMain); nil: Exe with them.
	Command func(args []string) *exec.Cmd
	Stderr  io.Writer // the child's; nil: os.Stderr
}

// Serve is a running `sealfeed serve` child.
type Serve struct {
	Cmd         *exec.Cmd
	BaseURL     string
	Fingerprint string
	Keys        []ed25519.PrivateKey // the registered publishers' keys
	PProfAddr   string               // host:port, with PProf
}

// FreeAddr returns a loopback address with a port free at the moment.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartServe runs `sealfeed serve` on a free loopback port with fresh
// publisher keys and limits sized for a load test, and waits until its
// /readyz answers 200.
func StartServe(ctx context.Context, o ServeOptions) (*Serve, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	if o.Sync == "" {
		o.Sync = "FULL"
	}
	data := filepath.Join(o.Dir, "data")
	args := []string{"serve", "-listen", addr, "-data", data, "-log-level", "warn", "-sync", o.Sync,
		"-max-conns-per-ip", strconv.Itoa(o.MaxConnsPerIP), "-max-handshakes-per-ip", "1024", "-max-pending", "1000000",
		"-demo-page=false"}
	s := &Serve{BaseURL: "http://" + addr}
	for i := 0; i < o.Publishers; i++ {
		k, err := keyfile.Generate()
		if err != nil {
			return nil, err
		}
		s.Keys = append(s.Keys, k)
		p := filepath.Join(o.Dir, fmt.Sprintf("publisher%d.pub", i))
		pem, _ := keyfile.MarshalPublic(k.Public().(ed25519.PublicKey))
		if err := os.WriteFile(p, pem, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "-publisher", p)
	}
	if o.NATS != "" {
		sk := filepath.Join(o.Dir, "storage.key")
		k := make([]byte, 32)
		if _, err := crand.Read(k); err != nil {
			return nil, err
		}
		if err := os.WriteFile(sk, []byte(hex.EncodeToString(k)), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "-nats", o.NATS, "-storage-key", sk, "-replicas", "1")
	}
	if o.PProf {
		if s.PProfAddr, err = FreeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "-pprof", s.PProfAddr)
	}
	if o.Command != nil {
		s.Cmd = o.Command(args)
	} else {
		s.Cmd = exec.Command(o.Exe, args...)
	}
	s.Cmd.Stderr = o.Stderr
	if s.Cmd.Stderr == nil {
		s.Cmd.Stderr = os.Stderr
	}
	if err := s.Cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, e := http.Get(s.BaseURL + "/readyz")
		if e == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("sealfeed serve did not become ready: %v", e)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sk, err := keyfile.LoadPrivate(filepath.Join(data, "server.key"))
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Fingerprint = sig.Fingerprint(sk.Public().(ed25519.PublicKey))
	return s, nil
}

// PID is the child's process ID.
func (s *Serve) PID() int { return s.Cmd.Process.Pid }

// Meter samples the child: CPU and RSS from /proc, heap from /metrics.
func (s *Serve) Meter() ProcMeter {
	return ProcMeter{PIDs: []int{s.PID()}, Metrics: []string{s.BaseURL}, Prefix: "sealfeed"}
}

// Stop ends the child with SIGTERM (a graceful shutdown) and kills it if
// it has not ended within 30 s.
func (s *Serve) Stop() {
	s.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.Cmd.Process.Kill()
		<-done
	}
}
