package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/examples/slowbusiness"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// timelineHandler turns the server's debug records about handshakes and
// batches into timeline lines.
type timelineHandler struct{ tl *timeline }

func (h timelineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h timelineHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h timelineHandler) WithGroup(string) slog.Handler            { return h }
func (h timelineHandler) Handle(_ context.Context, r slog.Record) error {
	a := map[string]string{}
	r.Attrs(func(at slog.Attr) bool { a[at.Key] = at.Value.String(); return true })
	switch r.Message {
	case "handshake complete":
		kind := "anonymous, resumable by ticket"
		if a["key_identified"] == "true" {
			kind = "key-identified"
		}
		h.tl.say("server", "handshake complete: client %s… (%s)", a["client"][:12], kind)
	case "batch sent":
		h.tl.say("server", "batch seq %s signed once: %s recipient(s), %s leaves, %s message(s), built in %s",
			a["seq"], a["recipients"], a["leaves"], a["messages"], a["build"])
	default:
		if r.Level >= slog.LevelWarn {
			h.tl.say("server", "%s: %s", r.Level, r.Message)
		}
	}
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// runFlowDemo runs examples/slowbusiness end to end on loopback.
func runFlowDemo(out io.Writer, work time.Duration) error {
	tl := &timeline{w: &syncWriter{w: out}, start: time.Now()}
	dir, err := os.MkdirTemp("", "sealfeed-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	pubKey, err := keyfile.Generate()
	if err != nil {
		return err
	}
	pubID := sig.Fingerprint(pubKey.Public().(ed25519.PublicKey))
	node, err := server.New(server.Config{DataDir: dir, Logger: slog.New(timelineHandler{tl}),
		Publishers: map[string]ed25519.PublicKey{pubID: pubKey.Public().(ed25519.PublicKey)}})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		node.Close()
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- node.Serve(ctx, l) }()
	defer func() { stop(); <-served }()
	base := "http://" + l.Addr().String()
	tl.say("server", "serving on %s with an embedded store in %s", base, dir)
	tl.say("server", "identity key fingerprint %s (clients pin it)", node.Fingerprint())

	svc := &slowbusiness.Service{Publisher: publisher.New(base, pubKey), Work: work,
		OnEvent: func(f string, a ...any) { tl.say("service", f, a...) }}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: svc}
	go hs.Serve(sl)
	defer hs.Close()
	serviceURL := "http://" + sl.Addr().String()
	tl.say("service", "slow HTTP service on %s, publisher key ID %s…", serviceURL, pubID[:16])

	var pin [32]byte
	fp, _ := hex.DecodeString(node.Fingerprint())
	copy(pin[:], fp)
	aliceKey, err := keyfile.Generate()
	if err != nil {
		return err
	}
	type who struct {
		name  string
		c     *client.Client
		jobs  []string
		count int
	}
	people := []*who{{name: "alice", jobs: []string{"quarterly report for ACME", "invoice 1042"}}, {name: "bob", jobs: []string{"render thumbnail 7"}}}
	for i, p := range people {
		cfg := client.Config{URL: "ws" + base[len("http"):] + server.WebSocketPath, PinnedKeyID: &pin}
		if i == 0 {
			cfg.Identity = aliceKey
		}
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.c, err = client.Dial(dctx, cfg)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		defer p.c.Close()
		id := p.c.ClientID()
		tl.say(p.name, "connected, server key verified against the pin; client ID %x…", id[:6])
	}
	for _, p := range people {
		for _, job := range p.jobs {
			n, err := slowbusiness.Submit(context.Background(), serviceURL, p.c.ClientID(), job)
			if err != nil {
				return err
			}
			tl.say(p.name, "→ POST %s/jobs %q with my client ID → 202, job %d; not waiting on the call", serviceURL, job, n)
			p.count++
		}
	}
	bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var all [][32]byte
	for _, p := range people {
		all = append(all, p.c.ClientID())
	}
	if _, err := svc.Publisher.Publish(bctx, publisher.Message{To: all, Payload: []byte("service notice: maintenance tonight 22:00 UTC")}, ""); err != nil {
		return err
	}
	tl.say("service", "published one broadcast to %d clients (stored once, sealed once)", len(all))

	var wg sync.WaitGroup
	errs := make(chan error, len(people))
	for _, p := range people {
		p.count++ // the broadcast
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(work + 10*time.Second)
			for got := 0; got < p.count; got++ {
				select {
				case m := <-p.c.Messages():
					m.Ack() // shown: taken (DLV-016)
					if m.Broadcast {
						tl.say(p.name, "← message %d (broadcast, batch %d) verified and decrypted: %q", m.ID, m.BatchSeq, m.Payload)
						continue
					}
					r, err := slowbusiness.ParseResult(m.Payload)
					if err != nil {
						errs <- err
						return
					}
					tl.say(p.name, "← message %d (batch %d) verified and decrypted: job %d %q: %d words, sha256 %s…", m.ID, m.BatchSeq, r.Job, r.Input, r.Words, r.SHA256)
				case <-deadline:
					errs <- fmt.Errorf("%s: received %d of %d messages", p.name, got, p.count)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	svc.Wait()
	m := &node.Hub.M
	// Acknowledgements travel after the application got the messages.
	for deadline := time.Now().Add(5 * time.Second); m.Acked.Load() < m.Published.Load() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	tl.say("demo", "done: %d handshakes, %d batches, %d messages published, %d delivered and acknowledged once each",
		node.WS.Stats.Handshakes.Load(), m.Batches.Load(), m.Published.Load(), m.Acked.Load())
	if m.Acked.Load() != m.Published.Load() {
		return errors.New("not every message was acknowledged")
	}
	return nil
}
