package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
)

// metricValue reads one counter from a node's /metrics.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestGracefulShutdownLosesNothing sends SIGTERM to `sealfeed serve` right
// after its client acknowledged a batch of messages (DLV-022): the process
// logs each step of the shutdown and exits 0; the client gets going_away
// (POST-022) and reconnects to the restarted server; every message
// acknowledged before the signal is acknowledged in the store, so it is
// never delivered again; and messages for a client that was offline are
// still pending and reach it after the restart. The tick is long, so the
// acknowledgements are stored by the shutdown's flush, not by the
// background writer.
func TestGracefulShutdownLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("shutdown test runs server processes")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	pubKey, _ := keyfile.Generate()
	pubFile := filepath.Join(dir, "publisher.pub")
	pem, _ := keyfile.MarshalPublic(pubKey.Public().(ed25519.PublicKey))
	os.WriteFile(pubFile, pem, 0o644)
	serveArgs := []string{"-data", filepath.Join(dir, "data"), "-publisher", pubFile, "-log-level", "info", "-tick", "300ms"}
	srv := startServe(t, addr, serveArgs...)
	fpKey, err := keyfile.LoadPrivate(filepath.Join(dir, "data", "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	var pin [32]byte
	fp, _ := hex.DecodeString(sig.Fingerprint(fpKey.Public().(ed25519.PublicKey)))
	copy(pin[:], fp)
	dial := func(k ed25519.PrivateKey, state string) *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, client.Config{URL: "ws://" + addr + "/v1/ws", PinnedKeyID: &pin, Identity: k, ManualAck: true,
			StatePath: filepath.Join(dir, state), MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	onlineKey, _ := keyfile.Generate()
	offlineKey, _ := keyfile.Generate()
	offline := handshake.ClientID(offlineKey.Public().(ed25519.PublicKey))
	c := dial(onlineKey, "online.state")
	goingAway, reconnected := make(chan struct{}), make(chan struct{})
	go func() {
		away := false
		for e := range c.Events() {
			switch {
			case e.Err != nil && e.GoingAway && !away:
				away = true
				close(goingAway)
			case e.Connected && away:
				close(reconnected)
				return
			}
		}
	}()

	p := publisher.New(srv.base, pubKey)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 20
	var acked []string // message handles
	for i := 0; i < n; i++ {
		res, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte(fmt.Sprintf("acked %d", i))}, "")
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, res.Messages[0].ID)
		if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{offline}, Payload: []byte(fmt.Sprintf("offline %d", i))}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case m := <-c.Messages():
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatalf("received %d of %d messages", i, n)
		}
	}
	for metricValue(t, srv.base, "sealfeed_messages_acked_total") < n {
		if ctx.Err() != nil {
			t.Fatal("the server did not receive the Acks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("sealfeed serve after SIGTERM: %v\n%s", err, srv.output())
	}
	out := srv.output()
	for _, step := range []string{"shutdown: started", "shutdown: listener closed", "shutdown: sessions closed with going_away",
		"sessions=1", "shutdown: acknowledgements stored", "shutdown: complete"} {
		if !strings.Contains(out, step) {
			t.Errorf("the log has no %q:\n%s", step, out)
		}
	}
	select {
	case <-goingAway:
	case <-ctx.Done():
		t.Fatal("the client did not get going_away")
	}

	srv = startServe(t, addr, serveArgs...)
	p = publisher.New(srv.base, pubKey)
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("the client did not reconnect to the restarted server")
	}
	for _, h := range acked {
		st, err := p.Status(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "acknowledged" {
			t.Errorf("message %d acknowledged before SIGTERM is %s after the restart", st.MessageID, st.State)
		}
	}
	if pr, err := p.Presence(ctx, c.ClientID()); err != nil || pr.Pending != 0 {
		t.Errorf("online client after the restart: %v, %+v; want nothing pending", err, pr)
	}
	o := dial(offlineKey, "offline.state")
	for i := 0; i < n; i++ {
		select {
		case m := <-o.Messages():
			if want := fmt.Sprintf("offline %d", i); string(m.Payload) != want {
				t.Fatalf("offline client got %q, want %q", m.Payload, want)
			}
			m.Ack()
		case <-ctx.Done():
			t.Fatalf("offline client received %d of %d messages after the restart", i, n)
		}
	}
	t.Logf("shutdown log:\n%s", out)
	if t.Failed() {
		t.Logf("server output:\n%s", srv.output())
	}
}
