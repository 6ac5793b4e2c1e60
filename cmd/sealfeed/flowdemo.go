package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/examples/slowbusiness"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/demopage"
	"github.com/sealfeed/sealfeed/server/store"
	"github.com/sealfeed/sealfeed/server/webhook"
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
	case "access token":
		h.tl.say("server", "access token %s… verified in the handshake (signed by a registered publisher key, for this server, bound to the key the client proved): client %s…",
			a["token_id"][:8], a["client"][:12])
	case "access token refreshed":
		h.tl.say("server", "access token %s… verified and accepted on the open connection (TokenRefresh): client %s…", a["token_id"][:8], a["client"][:12])
	case "handshake failed":
		h.tl.say("server", "handshake refused: %s", a["err"])
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

// demoStack is what both demos run: a node on a temporary embedded store
// that requires connect tokens, and examples/slowbusiness as the app's back
// end, which logs its users in and issues their tokens with its publisher
// key.
type demoStack struct {
	node       *server.Node
	svc        *slowbusiness.Service
	base       string // the node's HTTP URL
	wsURL      string
	pin        [32]byte
	serviceURL string // where svc answers (its API root)
	close      func()
}

// startDemoStack starts the node and the service. The service listens on
// serviceAddr ("": a free loopback port) and answers its API under
// apiPrefix; page, if set, is mounted at "/" beside it.
func startDemoStack(tl *timeline, work, tokenLifetime time.Duration, serviceAddr, apiPrefix string, page func(nodeWS string) http.Handler) (_ *demoStack, err error) {
	var undo []func()
	st := &demoStack{close: func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	dir, err := os.MkdirTemp("", "sealfeed-demo-")
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(dir) })

	pubKey, err := keyfile.Generate()
	if err != nil {
		return nil, err
	}
	pubID := sig.Fingerprint(pubKey.Public().(ed25519.PublicKey))
	hookKey, err := keyfile.Generate()
	if err != nil {
		return nil, err
	}
	// The service listens first: the operator configures its webhook URL
	// for the publisher key when the node starts (API-108).
	if serviceAddr == "" {
		serviceAddr = "127.0.0.1:0"
	}
	sl, err := net.Listen("tcp", serviceAddr)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { sl.Close() })
	st.serviceURL = "http://" + sl.Addr().String() + apiPrefix
	hookURL := st.serviceURL + "/webhook"

	node, err := server.New(server.Config{DataDir: dir, Logger: slog.New(timelineHandler{tl}), RequireToken: true,
		Publishers: map[string]ed25519.PublicKey{pubID: pubKey.Public().(ed25519.PublicKey)},
		WebhookKey: hookKey, Webhooks: map[string]string{pubID: hookURL},
		Webhook: webhook.Config{Interval: 50 * time.Millisecond, MinBackoff: 200 * time.Millisecond}})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		node.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- node.Serve(ctx, l) }()
	undo = append(undo, func() { stop(); <-served })
	st.node = node
	st.base = "http://" + l.Addr().String()
	st.wsURL = "ws" + st.base[len("http"):] + server.WebSocketPath
	fp, _ := hex.DecodeString(node.Fingerprint())
	copy(st.pin[:], fp)
	tl.say("server", "serving on %s with an embedded store in %s; connect tokens required: a client without one is refused", st.base, dir)
	tl.say("server", "identity key fingerprint %s (clients pin it)", node.Fingerprint())
	tl.say("server", "delivery webhooks of publisher %s… go to %s, signed with the deployment webhook key %s…", pubID[:16], hookURL, sig.Fingerprint(hookKey.Public().(ed25519.PublicKey))[:16])

	st.svc = &slowbusiness.Service{Publisher: publisher.New(st.base, pubKey), Work: work,
		ServerKeyID: st.pin, WebSocketURL: st.wsURL, TokenLifetime: tokenLifetime,
		OnEvent: func(f string, a ...any) { tl.say("service", f, a...) }}
	// The service reads the webhook key once from the node it trusts and
	// verifies every callback offline with it (API-107).
	kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	st.svc.WebhookKey, err = st.svc.Publisher.WebhookKey(kctx)
	cancel()
	if err != nil {
		return nil, err
	}
	tl.say("service", "webhook key %s… read from GET %s/v1/server", st.svc.WebhookKey.KeyID[:16], st.base)
	mux := http.NewServeMux()
	mux.Handle(apiPrefix+"/", http.StripPrefix(apiPrefix, st.svc))
	mux.Handle("GET "+apiPrefix+"/directory", st.directoryHandler())
	mux.Handle(apiPrefix+"/webhook", st.svc.WebhookHandler()) // unstripped: the signature covers the path
	if page != nil {
		mux.Handle("/", page(st.wsURL))
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(sl)
	undo = append(undo, func() { hs.Close(); st.svc.Wait() })
	tl.say("service", "app back end on %s: demo login issues connect tokens signed with publisher key %s…", st.serviceURL, pubID[:16])
	return st, nil
}

// devices returns the devices of user that the node's directory lists
// (TOK-020), by label.
func (st *demoStack) devices(ctx context.Context, user string) ([]store.Device, error) {
	dir, ok := st.node.Store.(store.Directory)
	if !ok {
		return nil, errors.New("the node's store keeps no device directory")
	}
	ds, err := dir.Devices(ctx, user)
	slices.SortFunc(ds, func(a, b store.Device) int { return strings.Compare(a.Device, b.Device) })
	return ds, err
}

// waitForDevices waits until the node's directory lists the client IDs
// of want as devices of user. The hub records a device from its verified
// token off the delivery path (TOK-020), so a publication to the user
// right after the connection may not reach it yet.
func (st *demoStack) waitForDevices(user string, want ...[32]byte) ([]store.Device, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ds, err := st.devices(ctx, user)
		if err == nil && len(want) == len(ds) && !slices.ContainsFunc(want, func(id [32]byte) bool {
			return !slices.ContainsFunc(ds, func(d store.Device) bool { return d.ClientID == id })
		}) {
			return ds, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the node's directory lists %d devices of %s, want %d (%v)", len(ds), user, len(want), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// directoryDevice is one entry of GET /api/directory.
type directoryDevice struct {
	Device   string `json:"device"`
	ClientID string `json:"client_id"`
	LastSeen string `json:"last_seen"`
}

// directoryHandler answers GET /api/directory?user=U with the devices of
// U in the node's directory. DEMO ONLY: it reads the node's store in
// process, to show what to_user will resolve to; an app has no such view.
func (st *demoStack) directoryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds, err := st.devices(r.Context(), r.URL.Query().Get("user"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		out := []directoryDevice{}
		for _, d := range ds {
			out = append(out, directoryDevice{Device: d.Device, ClientID: hex.EncodeToString(d.ClientID[:]),
				LastSeen: d.LastSeen.UTC().Format(time.RFC3339)})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(out)
	})
}

// demoDevice is one device of a user in the flow demo.
type demoDevice struct {
	user, device string
	jobs         []string
	c            *client.Client
	count        int // messages it is to receive
}

func (d *demoDevice) label() string { return d.user + "/" + d.device }

// flowReport is what the flow demo observed, for its test.
type flowReport struct {
	anonymous error             // the refusal of a client without a token
	users     map[string]string // device label → the user/device the node recorded for its connection
	received  map[string][]client.Message
	notify    *slowbusiness.NotifyAnswer
	notice    string                      // the text published to alice
	webhooks  []slowbusiness.WebhookEvent // the verified webhook events the service received
}

// runFlowDemo runs examples/slowbusiness end to end on loopback.
func runFlowDemo(out io.Writer, work time.Duration) error {
	_, err := flowDemo(out, work)
	return err
}

func flowDemo(out io.Writer, work time.Duration) (*flowReport, error) {
	tl := &timeline{w: &syncWriter{w: out}, start: time.Now()}
	st, err := startDemoStack(tl, work, 0, "", "", nil)
	if err != nil {
		return nil, err
	}
	defer st.close()
	node, svc := st.node, st.svc
	rep := &flowReport{users: map[string]string{}, received: map[string][]client.Message{}}

	// Tokens are required: a client without one gets nothing (HS-062).
	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	anon, err := client.Dial(actx, client.Config{URL: st.wsURL, PinnedKeyID: &st.pin})
	cancel()
	if err == nil {
		anon.Close()
		return nil, errors.New("an anonymous client connected to a node that requires tokens")
	}
	rep.anonymous = err
	tl.say("mallory", "connects without a token: refused (%s)", alertName(err))

	devices := []*demoDevice{
		{user: "alice", device: "phone", jobs: []string{"quarterly report for ACME"}},
		{user: "alice", device: "laptop", jobs: []string{"invoice 1042"}},
		{user: "bob", device: "laptop", jobs: []string{"render thumbnail 7"}},
	}
	for _, d := range devices {
		key, err := keyfile.Generate()
		if err != nil {
			return nil, err
		}
		tl.say(d.label(), "identity key generated; logs in to the service with its public key for a connect token")
		cfg := client.Config{URL: st.wsURL, PinnedKeyID: &st.pin, Identity: key,
			TokenSource: slowbusiness.TokenSource(st.serviceURL, d.user, d.device, key.Public().(ed25519.PublicKey))}
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d.c, err = client.Dial(dctx, cfg)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.label(), err)
		}
		defer d.c.Close()
		id := d.c.ClientID()
		// The node records the connection's user once it is attached,
		// just after the client saw Welcome.
		u, ok := node.Hub.User(id)
		for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); u, ok = node.Hub.User(id) {
			time.Sleep(5 * time.Millisecond)
		}
		if !ok {
			return nil, fmt.Errorf("%s: the node recorded no user for client %x", d.label(), id[:6])
		}
		rep.users[d.label()] = u.Subject + "/" + u.Device
		tl.say(d.label(), "connected, server key verified against the pin; the node knows client %x… as %s/%s (token %x…, until %s)",
			id[:6], u.Subject, u.Device, u.TokenID[:4], u.Expires.UTC().Format(time.TimeOnly))
	}
	var alice [][32]byte
	for _, d := range devices {
		if d.user == "alice" {
			alice = append(alice, d.c.ClientID())
		}
	}
	ds, err := st.waitForDevices("alice", alice...)
	if err != nil {
		return nil, err
	}
	var labels []string
	for _, d := range ds {
		labels = append(labels, fmt.Sprintf("%s (client %x…)", d.Device, d.ClientID[:6]))
	}
	tl.say("server", "directory: alice's devices are %s, recorded from their verified tokens", strings.Join(labels, ", "))
	for _, d := range devices {
		for _, job := range d.jobs {
			n, err := slowbusiness.Submit(context.Background(), st.serviceURL, d.c.ClientID(), job)
			if err != nil {
				return nil, err
			}
			tl.say(d.label(), "→ POST %s/jobs %q with my client ID → 202, job %d; not waiting on the call", st.serviceURL, job, n)
			d.count++
		}
	}
	bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep.notice = "alice: invoice 1042 was paid"
	if rep.notify, err = slowbusiness.Notify(bctx, st.serviceURL, "alice", rep.notice); err != nil {
		return nil, err
	}
	for _, d := range devices {
		if d.user == "alice" {
			d.count++
		}
	}
	var all [][32]byte
	for _, d := range devices {
		all = append(all, d.c.ClientID())
		d.count++ // the broadcast
	}
	if _, err := svc.Publisher.Publish(bctx, publisher.Message{To: all, Payload: []byte("service notice: maintenance tonight 22:00 UTC")}, ""); err != nil {
		return nil, err
	}
	tl.say("service", "published one broadcast to %d clients (stored once, sealed once)", len(all))

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs = make(chan error, len(devices))
	)
	for _, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(work + 10*time.Second)
			for got := 0; got < d.count; got++ {
				select {
				case m := <-d.c.Messages():
					m.Ack() // shown: taken (DLV-016)
					mu.Lock()
					rep.received[d.label()] = append(rep.received[d.label()], m)
					mu.Unlock()
					if string(m.Payload) == rep.notice {
						tl.say(d.label(), "← message %d (published to %s, batch %d) verified and decrypted: %q", m.ID, d.user, m.BatchSeq, m.Payload)
						continue
					}
					if m.Broadcast {
						tl.say(d.label(), "← message %d (broadcast, batch %d) verified and decrypted: %q", m.ID, m.BatchSeq, m.Payload)
						continue
					}
					r, err := slowbusiness.ParseResult(m.Payload)
					if err != nil {
						errs <- err
						return
					}
					tl.say(d.label(), "← message %d (batch %d) verified and decrypted: job %d %q: %d words, sha256 %s…", m.ID, m.BatchSeq, r.Job, r.Input, r.Words, r.SHA256)
				case <-deadline:
					errs <- fmt.Errorf("%s: received %d of %d messages", d.label(), got, d.count)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	svc.Wait()
	m := &node.Hub.M
	// Acknowledgements travel after the application got the messages.
	for deadline := time.Now().Add(5 * time.Second); m.Acked.Load() < m.Published.Load() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	// The node tells the service of each acknowledgement with a signed
	// webhook, batched and sent within its interval (API-100).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rep.webhooks = rep.webhooks[:0]
		for _, e := range svc.Events(0) {
			if e.Webhook != nil {
				rep.webhooks = append(rep.webhooks, *e.Webhook)
			}
		}
		if uint64(len(rep.webhooks)) >= m.Published.Load() || time.Now().After(deadline) {
			break
		}
	}
	tl.say("demo", "%d webhook event(s) received and verified for %d messages published", len(rep.webhooks), m.Published.Load())
	if uint64(len(rep.webhooks)) != m.Published.Load() {
		return nil, fmt.Errorf("%d webhook events for %d messages", len(rep.webhooks), m.Published.Load())
	}
	var both []string
	for _, d := range devices {
		for _, msg := range rep.received[d.label()] {
			if string(msg.Payload) == rep.notice {
				both = append(both, fmt.Sprintf("%s (message %d)", d.label(), msg.ID))
			}
		}
	}
	tl.say("demo", "%q reached %d device(s) of alice: %s", rep.notice, len(both), strings.Join(both, ", "))
	tl.say("demo", "done: %d handshakes, %d batches, %d messages published, %d delivered and acknowledged once each",
		node.WS.Stats.Handshakes.Load(), m.Batches.Load(), m.Published.Load(), m.Acked.Load())
	if m.Acked.Load() != m.Published.Load() {
		return nil, errors.New("not every message was acknowledged")
	}
	return rep, nil
}

// runBrowserDemo serves the node, the service and its page
// (demopage.AppHandler) until ctx ends. tokenLifetime is that of the
// tokens the service issues (0: 15 min); the page refreshes them two
// thirds into their life.
func runBrowserDemo(ctx context.Context, out io.Writer, work, tokenLifetime time.Duration, listen string) error {
	tl := &timeline{w: &syncWriter{w: out}, start: time.Now()}
	st, err := startDemoStack(tl, work, tokenLifetime, listen, "/api", demopage.AppHandler)
	if err != nil {
		return err
	}
	defer st.close()
	page := strings.TrimSuffix(st.serviceURL, "/api") + "/"
	tl.say("demo", "open %s in a browser: alice with two devices (Ctrl-C stops)", page)
	<-ctx.Done()
	return nil
}
