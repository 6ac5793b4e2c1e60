package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"

	"github.com/sealfeed/sealfeed/examples/slowbusiness"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/publisher"
)

// The demo is README's first command; it must complete and show every step
// of the slow-business flow over real sockets: a node that requires connect
// tokens, alice with two devices and bob with one, each logged in to the
// service for a token that binds its key, and a notification for alice that
// reaches both of her devices and not bob's.
func TestDemoRunsTheFlowEndToEnd(t *testing.T) {
	var out bytes.Buffer
	rep, err := flowDemo(&out, 50*time.Millisecond)
	text := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	if code, _ := alert.CodeOf(rep.anonymous); code != alert.TokenRequired {
		t.Errorf("a client without a token: %v, want token_required", rep.anonymous)
	}
	// what the node recorded from the verified tokens (core.Hub.User)
	wantUsers := map[string]string{"alice/phone": "alice/phone", "alice/laptop": "alice/laptop", "bob/laptop": "bob/laptop"}
	if !maps.Equal(rep.users, wantUsers) {
		t.Errorf("the node recorded users %v, want %v", rep.users, wantUsers)
	}
	// the notification: one message per device of alice, each received by
	// that device under the message ID the publish answered, once
	byDevice := map[string]uint64{}
	for _, d := range rep.notify.Deliveries {
		byDevice["alice/"+d.Device] = d.MessageID
	}
	if len(byDevice) != 2 || len(rep.notify.Deliveries) != 2 {
		t.Fatalf("notify answered %+v, want one delivery for each of alice's two devices", rep.notify.Deliveries)
	}
	for _, dev := range []string{"alice/phone", "alice/laptop", "bob/laptop"} {
		var got []uint64
		for _, m := range rep.received[dev] {
			if string(m.Payload) == rep.notice {
				got = append(got, m.ID)
			}
		}
		want, isAlice := byDevice[dev]
		switch {
		case isAlice && (len(got) != 1 || got[0] != want):
			t.Errorf("%s received the notification as %v, want once as message %d", dev, got, want)
		case !isAlice && len(got) != 0:
			t.Errorf("%s received alice's notification %v", dev, got)
		}
	}
	// the webhooks: one verified acknowledged event per message, naming
	// the device that received the message under that ID, none twice
	got := map[string]bool{}
	for _, ev := range rep.webhooks {
		dev := ev.User + "/" + ev.Device
		k := fmt.Sprintf("%s#%d", dev, ev.MessageID)
		if !ev.Verified || ev.Type != publisher.EventAcknowledged || got[k] {
			t.Errorf("webhook event %+v: want a verified acknowledged event, once", ev)
		}
		got[k] = true
		if !slices.ContainsFunc(rep.received[dev], func(m client.Message) bool { return m.ID == ev.MessageID }) {
			t.Errorf("webhook event for %s message %d, which %s did not receive", dev, ev.MessageID, dev)
		}
	}
	n := 0
	for _, msgs := range rep.received {
		n += len(msgs)
	}
	if len(got) != n || n != 8 {
		t.Errorf("%d webhook events for %d messages received, want 8 each", len(got), n)
	}
	for dev, id := range byDevice {
		if !got[fmt.Sprintf("%s#%d", dev, id)] {
			t.Errorf("no webhook for alice's notification on %s (message %d)", dev, id)
		}
	}
	// each device got the result of its own job
	for dev, job := range map[string]string{"alice/phone": "quarterly report for ACME", "alice/laptop": "invoice 1042", "bob/laptop": "render thumbnail 7"} {
		n := 0
		for _, m := range rep.received[dev] {
			if r, err := slowbusiness.ParseResult(m.Payload); err == nil && !m.Broadcast && r.Input == job {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s received the result of %q %d times, want once", dev, job, n)
		}
	}
	for _, want := range []string{
		"mallory      connects without a token: refused (token_required)",
		"demo login alice/phone: token",
		"access token",
		"the node knows client",
		"as alice/laptop (token",
		"handshake complete: client",
		"(key-identified)",
		`job 1 "quarterly report for ACME": 4 words`,
		`job 3 "render thumbnail 7": 3 words`,
		`"alice: invoice 1042 was paid" reached 2 device(s) of alice`,
		"8 messages published, 8 delivered and acknowledged once each",
		"8 webhook event(s) received and verified for 8 messages published",
		"webhook: acknowledged message " + fmt.Sprint(byDevice["alice/phone"]) + " for alice/phone — signature verified",
		"(to_user; the push server answered one message per device)",
		"directory: alice's devices are laptop (client",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q\n%s", want, text)
		}
	}
	if n := strings.Count(text, "(broadcast, batch"); n != 3 {
		t.Errorf("broadcast delivered %d times, want 3 (once per device)", n)
	}
}

// The protocol demo shows every handshake kind and both replay refusals.
func TestProtocolDemoRunsEndToEnd(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "-protocol"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"connected: anonymous client ID",
		"connected: key-identified client ID",
		"group X25519MLKEM768",
		"AEAD AES-256-GCM",
		`message 1 (unicast): "order 1042 shipped"`,
		`(broadcast): "maintenance window tonight 22:00 UTC"`,
		"replayed record rejected: bad_record_mac",
		"re-sent batch seq 1 rejected: replayed_batch",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q\n%s", want, text)
		}
	}
	if n := strings.Count(text, "(broadcast)"); n != 3 {
		t.Errorf("broadcast delivered %d times, want 3 (once per client)", n)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if code := run([]string{"demo", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("demo --help exit %d", code)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// demo -browser serves the app page and the service's API on one origin and
// prints the page's URL; a device that logs in there connects to the node
// with its token (the Chromium test in interop/ts drives the page itself).
func TestBrowserDemoServesThePageAndTheAPI(t *testing.T) {
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runBrowserDemo(ctx, &out, 10*time.Millisecond, 0, "127.0.0.1:0") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	re := regexp.MustCompile(`open (http://127\.0\.0\.1:[0-9]+/) in a browser`)
	var page string
	for deadline := time.Now().Add(10 * time.Second); page == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			page = m[1]
		}
	}
	if page == "" {
		t.Fatalf("no page URL printed:\n%s", out.String())
	}
	res, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "connect-src 'self' ws://127.0.0.1:") {
		t.Fatalf("GET %s: %d, CSP %q", page, res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	res, err = http.Get(page + "api/config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg slowbusiness.Config
	err = json.NewDecoder(res.Body).Decode(&cfg)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	pin, err := hex.DecodeString(cfg.ServerKeyID)
	if err != nil || len(pin) != 32 {
		t.Fatalf("config %+v", cfg)
	}
	key, _ := keyfile.Generate()
	c, err := client.Dial(ctx, client.Config{URL: cfg.WebSocketURL, PinnedKeyID: (*[32]byte)(pin), Identity: key,
		TokenSource: slowbusiness.TokenSource(page+"api", "alice", "phone", key.Public().(ed25519.PublicKey))})
	if err != nil {
		t.Fatalf("a device that logged in at the page's API: %v\n%s", err, out.String())
	}
	defer c.Close()
	// the node's directory lists the device once the hub recorded it (TOK-020)
	id := c.ClientID()
	var listed []directoryDevice
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		listed = nil
		if res, err := http.Get(page + "api/directory?user=alice"); err == nil {
			json.NewDecoder(res.Body).Decode(&listed)
			res.Body.Close()
		}
		if len(listed) == 1 {
			break
		}
	}
	if len(listed) != 1 || listed[0].Device != "phone" || listed[0].ClientID != hex.EncodeToString(id[:]) {
		t.Errorf("directory of alice: %+v, want phone with client %x", listed, id)
	}
	if !strings.Contains(out.String(), "demo login alice/phone: token") {
		t.Errorf("no login in the timeline:\n%s", out.String())
	}
}
