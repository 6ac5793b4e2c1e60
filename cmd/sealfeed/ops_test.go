package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sealfeed/sealfeed/client"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/internal/testpki"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/store/jsstore"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
)

// TestVersionCommand: 'sealfeed version' and 'sealfeed --version' print
// the same build description: module version, revision, the Go version,
// the protocol version and the data format (OPS-012).
func TestVersionCommand(t *testing.T) {
	var out, out2, errb strings.Builder
	if code := run([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("version: %d %s", code, errb.String())
	}
	if code := run([]string{"--version"}, &out2, &errb); code != 0 || out2.String() != out.String() {
		t.Fatalf("--version: %d %q, want %q", code, out2.String(), out.String())
	}
	for _, want := range []string{"sealfeed ", "\nrevision: ", "\ngo: " + runtime.Version() + " ", "\nprotocol: 1 (0x0001)\n", fmt.Sprintf("\ndata format: %d\n", sqlitestore.DataFormat)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, out.String())
		}
	}
	if code := run([]string{"version", "extra"}, &out, &errb); code == 0 {
		t.Error("version accepted an argument")
	}
}

// opsNode is a serve process with a publisher key and the pin.
type opsNode struct {
	dir, addr string
	pubKey    ed25519.PrivateKey
	pubFile   string
	pin       [32]byte
	proc      *subprocess
}

func newOpsNode(t *testing.T) *opsNode {
	t.Helper()
	n := &opsNode{dir: t.TempDir(), addr: freeAddr(t)}
	n.pubKey, _ = keyfile.Generate()
	n.pubFile = filepath.Join(n.dir, "publisher.pub")
	pem, _ := keyfile.MarshalPublic(n.pubKey.Public().(ed25519.PublicKey))
	if err := os.WriteFile(n.pubFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *opsNode) data() string { return filepath.Join(n.dir, "data") }

// loadPin reads the fingerprint from the node's data directory.
func (n *opsNode) loadPin(t *testing.T) {
	t.Helper()
	k, err := keyfile.LoadPrivate(filepath.Join(n.data(), "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := hex.DecodeString(sig.Fingerprint(k.Public().(ed25519.PublicKey)))
	copy(n.pin[:], fp)
}

// waitReadyTLS waits for /readyz over HTTPS, trusting pool.
func waitReadyTLS(t *testing.T, p *subprocess, base string, pool *x509.CertPool) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTLSEndToEnd: serve -tls-cert/-tls-key with a leaf signed by a CA
// made in the test: the Go client connects over wss:// and the publisher
// over https://, both trusting only that CA, and a message goes through;
// with another CA both refuse the server's certificate (OPS-010). A
// renewed certificate is served to the next connection while the
// connected client stays connected.
func TestTLSEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	n := newOpsNode(t)
	ca := testpki.NewCA(t, "SealFeed test CA")
	certPath, keyPath, first := ca.WriteLeaf(t, n.dir, "node")
	n.proc = startProcess(t, "serve", "-listen", n.addr, "-data", n.data(), "-publisher", n.pubFile, "-log-level", "warn",
		"-tls-cert", certPath, "-tls-key", keyPath)
	base := "https://" + n.addr
	waitReadyTLS(t, n.proc, base, ca.Pool())
	n.loadPin(t)
	if !strings.Contains(n.proc.output(), "listening on https://"+n.addr+" (clients: wss://") {
		t.Errorf("serve did not announce https and wss:\n%s", n.proc.output())
	}
	idKey, _ := keyfile.Generate()
	to := handshake.ClientID(idKey.Public().(ed25519.PublicKey))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	served := make(chan *x509.Certificate, 4)
	tlsCfg := func(pool *x509.CertPool) *tls.Config {
		return &tls.Config{RootCAs: pool, VerifyConnection: func(cs tls.ConnectionState) error {
			select {
			case served <- cs.PeerCertificates[0]:
			default:
			}
			return nil
		}}
	}
	c, err := client.Dial(ctx, client.Config{URL: "wss://" + n.addr + "/v1/ws", PinnedKeyID: &n.pin, Identity: idKey, TLSConfig: tlsCfg(ca.Pool())})
	if err != nil {
		t.Fatalf("client over wss: %v", err)
	}
	defer c.Close()
	if got := <-served; !got.Equal(first) {
		t.Fatal("the client was not served the configured certificate")
	}
	p := publisher.New(base, n.pubKey)
	p.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: 10 * time.Second}
	if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("over tls")}, ""); err != nil {
		t.Fatalf("publish over https: %v", err)
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "over tls" {
			t.Fatalf("got %q", m.Payload)
		}
		m.Ack()
	case <-ctx.Done():
		t.Fatal("no message over wss")
	}

	// Another CA: the client and the publisher refuse the certificate.
	other := testpki.NewCA(t, "another CA")
	var unknownCA x509.UnknownAuthorityError
	_, err = client.Dial(ctx, client.Config{URL: "wss://" + n.addr + "/v1/ws", PinnedKeyID: &n.pin, TLSConfig: &tls.Config{RootCAs: other.Pool()}})
	if !errors.As(err, &unknownCA) {
		t.Fatalf("client trusting another CA: %v, want an unknown authority error", err)
	}
	wrong := publisher.New(base, n.pubKey)
	wrong.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: other.Pool()}}, Timeout: 10 * time.Second}
	wrong.Retries = -1
	if _, err := wrong.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("x")}, ""); !errors.As(err, &unknownCA) {
		t.Fatalf("publisher trusting another CA: %v, want an unknown authority error", err)
	}

	// A renewal: new files, a later modification time. The next
	// connection gets the new certificate; the connected client stays.
	chain, key, second := ca.Leaf(t, "node")
	os.WriteFile(keyPath, key, 0o600)
	os.WriteFile(certPath, chain, 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(certPath, later, later)
	os.Chtimes(keyPath, later, later)
	time.Sleep(1100 * time.Millisecond) // certfile.CheckInterval
	for len(served) > 0 {
		<-served
	}
	c2, err := client.Dial(ctx, client.Config{URL: "wss://" + n.addr + "/v1/ws", PinnedKeyID: &n.pin, TLSConfig: tlsCfg(ca.Pool())})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := <-served; !got.Equal(second) {
		t.Fatal("after the renewal the old certificate was served")
	}
	if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("after renewal")}, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "after renewal" {
			t.Fatalf("got %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("the client connected before the renewal lost its connection")
	}
	select {
	case e := <-c.Events():
		if !e.Connected {
			t.Fatalf("client event during the renewal: %+v", e)
		}
	default:
	}
}

// TestBackupRestoreServe: 'sealfeed store backup' runs while the node
// serves and publishes go on; after messages acknowledged later, the node
// stops, 'sealfeed store restore' puts the backup back with a new store
// epoch, and the node serves again: an offline client gets the messages
// pending in the backup, and a client whose acknowledged IDs the restore
// rolled back gets new messages under those IDs, marked as possible
// redeliveries, instead of refusing them as replays (ID-004, OPS-013,
// OPS-014, DLV-005).
func TestBackupRestoreServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	n := newOpsNode(t)
	args := []string{"-data", n.data(), "-publisher", n.pubFile, "-log-level", "warn", "-sync", "NORMAL"}
	n.proc = startServe(t, n.addr, args...)
	n.loadPin(t)
	base := "http://" + n.addr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := publisher.New(base, n.pubKey)
	keyA, _ := keyfile.Generate()
	keyB, _ := keyfile.Generate()
	idA, idB := handshake.ClientID(keyA.Public().(ed25519.PublicKey)), handshake.ClientID(keyB.Public().(ed25519.PublicKey))
	stateA := filepath.Join(n.dir, "a.state")
	dialA := func() *client.Client {
		c, err := client.Dial(ctx, client.Config{URL: "ws://" + n.addr + "/v1/ws", PinnedKeyID: &n.pin, Identity: keyA, StatePath: stateA,
			ManualAck: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	publish := func(to [32]byte, text string) string {
		t.Helper()
		r, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte(text)}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r.Messages[0].ID
	}
	receive := func(c *client.Client, want ...string) []client.Message {
		t.Helper()
		var got []client.Message
		for range want {
			select {
			case m := <-c.Messages():
				got = append(got, m)
			case <-ctx.Done():
				t.Fatalf("received %d of %v", len(got), want)
			}
		}
		for i, m := range got {
			if string(m.Payload) != want[i] {
				t.Fatalf("message %d: %q, want %q", i, m.Payload, want[i])
			}
		}
		return got
	}
	waitAcked := func(h string) {
		t.Helper()
		for {
			st, err := p.Status(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if st.State == "acknowledged" {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("message %s is %s", h, st.State)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	a := dialA()
	h := publish(idA, "a1")
	receive(a, "a1")[0].Ack()
	waitAcked(h)
	publish(idB, "b1")
	publish(idB, "b2")

	// The backup, while a publisher keeps publishing to B.
	var (
		mu        sync.Mutex
		published []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			text := "load-" + string(rune('a'+i%26)) + time.Now().Format("150405.000000")
			if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{idB}, Payload: []byte(text)}, ""); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			published = append(published, text)
			mu.Unlock()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	before := len(published)
	mu.Unlock()
	backup := filepath.Join(n.dir, "backup.db")
	var out, errb strings.Builder
	if code := run([]string{"store", "backup", "-data", n.data(), "-out", backup}, &out, &errb); code != 0 {
		t.Fatalf("store backup: %s", errb.String())
	}
	close(stop)
	<-done
	if !strings.Contains(out.String(), fmt.Sprintf("data format %d", sqlitestore.DataFormat)) {
		t.Errorf("store backup printed %q", out.String())
	}

	// After the backup: A acknowledges two more messages, IDs 2 and 3,
	// which the restore rolls back.
	for _, s := range []string{"a2", "a3"} {
		h := publish(idA, s)
		receive(a, s)[0].Ack()
		waitAcked(h)
	}
	a.Close()
	n.proc.cmd.Process.Signal(syscall.SIGTERM)
	n.proc.cmd.Wait()
	epochOf := func() [16]byte {
		key, _ := os.ReadFile(filepath.Join(n.data(), "storage.key"))
		s, err := sqlitestore.Open(filepath.Join(n.data(), "sealfeed.db"), sqlitestore.Options{StorageKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		e, err := s.Epoch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	oldEpoch := epochOf()

	out.Reset()
	errb.Reset()
	if code := run([]string{"store", "restore", "-in", backup, "-data", n.data()}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "exists") {
		t.Fatalf("restore over the database without -force: %d %s", code, errb.String())
	}
	if code := run([]string{"store", "restore", "-in", backup, "-data", n.data(), "-force"}, &out, &errb); code != 0 {
		t.Fatalf("store restore: %s", errb.String())
	}
	newEpoch := epochOf()
	if newEpoch == oldEpoch || !strings.Contains(out.String(), hex.EncodeToString(newEpoch[:])) {
		t.Fatalf("the restore kept the epoch %x (printed %q)", oldEpoch, out.String())
	}

	n.proc = startServe(t, n.addr, args...)
	// B was offline: it gets b1, b2 and the load published before the
	// backup began, in order, as one prefix of what was published.
	b, err := client.Dial(ctx, client.Config{URL: "ws://" + n.addr + "/v1/ws", PinnedKeyID: &n.pin, Identity: keyB})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := receive(b, append([]string{"b1", "b2"}, published[:before]...)...)
	for i, m := range got {
		if m.ID != uint64(i+1) {
			t.Fatalf("B's message %d has ID %d", i, m.ID)
		}
	}
	select {
	case m := <-b.Messages():
		mu.Lock()
		k := len(got) - 2
		ok := k < len(published) && string(m.Payload) == published[k]
		mu.Unlock()
		if !ok {
			t.Fatalf("after the prefix B got %q", m.Payload)
		}
	case <-time.After(200 * time.Millisecond):
	}
	// A's IDs 2 and 3 were rolled back: the next messages take them, and
	// A, in the new epoch, accepts them as possible redeliveries.
	a = dialA()
	defer a.Close()
	publish(idA, "a2'")
	publish(idA, "a3'")
	for i, m := range receive(a, "a2'", "a3'") {
		if m.ID != uint64(i+2) || !m.PossibleRedelivery {
			t.Fatalf("after the restore A got ID %d redelivery=%v, want ID %d marked as a possible redelivery", m.ID, m.PossibleRedelivery, i+2)
		}
	}
	t.Logf("backup while publishing held %d of the load's messages (%d published before it began)", len(got)-2, before)
}

// TestStorageKeyApartFromTheData: a single node given -storage-key keeps
// no storage.key in its data directory and serves again with the same key
// from $SEALFEED_STORAGE_KEY_HEX; another key is refused at start; a node
// whose data directory still holds storage.key warns (OPS-015).
func TestStorageKeyApartFromTheData(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	n := newOpsNode(t)
	secrets := t.TempDir()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	keyFile := filepath.Join(secrets, "storage.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-data", n.data(), "-publisher", n.pubFile, "-log-level", "warn"}
	p := startServe(t, n.addr, append(args, "-storage-key", keyFile)...)
	if _, err := os.Stat(filepath.Join(n.data(), "storage.key")); err == nil {
		t.Fatal("the node wrote storage.key into its data directory although -storage-key was given")
	}
	p.kill()
	p = startServeEnv(t, []string{"SEALFEED_STORAGE_KEY_HEX=" + hex.EncodeToString(key)}, n.addr, args...)
	if strings.Contains(p.output(), "OPS-015") {
		t.Errorf("warned without storage.key in the data directory:\n%s", p.output())
	}
	p.kill()

	other := strings.Repeat("ab", 32)
	var out, errb strings.Builder
	t.Setenv("SEALFEED_STORAGE_KEY_HEX", other)
	if code := run(append([]string{"serve", "-listen", "127.0.0.1:0"}, args...), &out, &errb); code == 0 {
		t.Fatal("serve started with another storage key")
	}
	if strings.Contains(errb.String(), other) {
		t.Fatal("the error quotes the key")
	}
	t.Setenv("SEALFEED_STORAGE_KEY_HEX", "abc")
	errb.Reset()
	if code := run(append([]string{"serve", "-listen", "127.0.0.1:0"}, args...), &out, &errb); code == 0 || !strings.Contains(errb.String(), "64 hex digits") {
		t.Fatalf("a malformed key: %d %s", code, errb.String())
	}

	// The key copied back beside the database: the node warns.
	t.Setenv("SEALFEED_STORAGE_KEY_HEX", "")
	if err := os.WriteFile(filepath.Join(n.data(), "storage.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, n.addr, append(args, "-storage-key", keyFile)...)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.output(), "OPS-015") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about storage.key in the data directory:\n%s", p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStorageKeyParsing(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 32)
	raw[0] = 1
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == storageKeyEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name, path, env string
		want            []byte
		fail            bool
	}{
		{"none", "", "", nil, false},
		{"raw file", write("raw", raw), "", raw, false},
		{"hex file", write("hex", []byte(hex.EncodeToString(raw)+"\n")), "", raw, false},
		{"short file", write("short", raw[:31]), "", nil, true},
		{"file wins over the environment", write("raw2", raw), strings.Repeat("ff", 32), raw, false},
		{"environment", "", hex.EncodeToString(raw), raw, false},
		{"environment, not hex", "", strings.Repeat("zz", 32), nil, true},
		{"environment, short", "", hex.EncodeToString(raw[:31]), nil, true},
	} {
		got, err := storageKey(tc.path, env(tc.env))
		if (err != nil) != tc.fail || string(got) != string(tc.want) {
			t.Errorf("%s: %x, %v", tc.name, got, err)
		}
		if err != nil && tc.env != "" && strings.Contains(err.Error(), tc.env) {
			t.Errorf("%s: the error quotes the key", tc.name)
		}
	}
}

// TestDemoPageOffByDefault: serve mounts the browser demo at /demo/ only
// with -demo-page.
func TestDemoPageOffByDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	n := newOpsNode(t)
	for _, tc := range []struct {
		flags []string
		want  int
	}{{nil, http.StatusNotFound}, {[]string{"-demo-page"}, http.StatusOK}} {
		p := startServe(t, n.addr, append([]string{"-data", n.data(), "-log-level", "error"}, tc.flags...)...)
		resp, err := http.Get("http://" + n.addr + "/demo/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("serve %v: /demo/ answered %d, want %d", tc.flags, resp.StatusCode, tc.want)
		}
		p.kill()
	}
}

// TestStoreNewEpochInACluster: after a JetStream restore, 'sealfeed store
// new-epoch' replaces the cluster store's epoch (ID-004, OPS-016); with
// another storage key it refuses and leaves the epoch.
func TestStoreNewEpochInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS server")
	}
	c := natstest.Start(t, 1)
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key := make([]byte, 32)
	key[5] = 9
	s, err := jsstore.Open(ctx, nc, jsstore.Options{StorageKey: key, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "storage.key")
	os.WriteFile(keyFile, key, 0o600)
	wrongFile := filepath.Join(dir, "wrong.key")
	os.WriteFile(wrongFile, make([]byte, 32), 0o600)
	var out, errb strings.Builder
	if code := run([]string{"store", "new-epoch", "-nats", c.URLs(), "-storage-key", wrongFile, "-replicas", "1"}, &out, &errb); code == 0 {
		t.Fatalf("new-epoch with another storage key: %s", out.String())
	}
	if e, _ := s.Epoch(ctx); e != before {
		t.Fatal("a refused new-epoch changed the epoch")
	}
	if code := run([]string{"store", "new-epoch", "-nats", c.URLs(), "-storage-key", keyFile, "-replicas", "1"}, &out, &errb); code != 0 {
		t.Fatalf("store new-epoch: %s", errb.String())
	}
	after, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before || !strings.Contains(out.String(), hex.EncodeToString(after[:])) {
		t.Fatalf("epoch %x before, %x after; printed %q", before, after, out.String())
	}
}
