package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/testpki"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/publisher"
)

// guideBlock returns the first fenced block of the given language in a
// file of docs/.
func guideBlock(t *testing.T, doc, lang string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```"+lang+"\n")
	if !ok {
		t.Fatalf("docs/%s has no %s block", doc, lang)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/%s: unterminated %s block", doc, lang)
	}
	return block
}

// replaceOnce replaces old, which must occur exactly once in s, so the
// test notices when the guide changes under it.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("the guide's nginx block has %q %d times, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// dialFromAddr opens a WebSocket connection to url from the local address
// ip (any 127.x.y.z reaches loopback on Linux) with extra headers, and
// returns the status of the upgrade.
func dialFromAddr(t *testing.T, url, ip string, tlsConfig *tls.Config, h http.Header) int {
	t.Helper()
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	d := websocket.Dialer{Subprotocols: []string{"sealfeed.v1"}, NetDialContext: nd.DialContext, TLSClientConfig: tlsConfig, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, h)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	if resp == nil {
		t.Fatalf("dial %s from %s: %v", url, ip, err)
	}
	return resp.StatusCode
}

// TestNginxGuideConfig runs the nginx configuration of docs/proxies.md,
// with its listen address, upstream and certificate paths replaced, in
// front of a node started with -trusted-proxies 127.0.0.1 (OPS-011): a
// client over wss:// and a publisher over https:// through nginx (the
// upgrade, Host kept for the signature), and the per-address limit counts
// the forwarded address: a second connection from one client address is
// refused, another address connects, a client's own X-Forwarded-For is
// ignored, and so is one sent straight to the node. It runs only where
// nginx is installed (CI installs it), on loopback.
func TestNginxGuideConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nginx and a server process")
	}
	nginx := "nginx"
	if _, err := exec.LookPath(nginx); err != nil {
		nginx = "/usr/sbin/nginx" // not on a user's PATH in Debian
	}
	nginx = needTool(t, nginx, "nginx")
	n, proxyAddr := proxiedNode(t)

	dir := t.TempDir()
	ca := testpki.NewCA(t, "nginx test CA")
	certPath, keyPath, _ := ca.WriteLeaf(t, dir, "proxy")
	conf := guideBlock(t, "proxies.md", "nginx")
	conf = replaceOnce(t, conf, "listen 443 ssl;", "listen "+proxyAddr+" ssl;")
	conf = replaceOnce(t, conf, "server 127.0.0.1:8080;", "server "+n.addr+";")
	conf = replaceOnce(t, conf, "/etc/ssl/sealfeed/fullchain.pem", certPath)
	conf = replaceOnce(t, conf, "/etc/ssl/sealfeed/privkey.pem", keyPath)
	if err := os.WriteFile(filepath.Join(dir, "sealfeed.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := `daemon off;
master_process off;
pid ` + dir + `/nginx.pid;
error_log ` + dir + `/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path ` + dir + `/body;
    proxy_temp_path ` + dir + `/proxy;
    fastcgi_temp_path ` + dir + `/fastcgi;
    uwsgi_temp_path ` + dir + `/uwsgi;
    scgi_temp_path ` + dir + `/scgi;
    include ` + dir + `/sealfeed.conf;
}
`
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	runProxy(t, cmd, proxyAddr, 10*time.Second, filepath.Join(dir, "error.log"))
	checkThroughProxy(t, n, proxyAddr, ca, "nginx")
}

// proxiedNode starts a node for a proxy guide test and returns it with the
// address the proxy is to listen on. -authority: publishers sign for the
// proxy's address, which reaches the node only if the proxy keeps Host
// (API-039); the node trusts forwarded headers from loopback only
// (OPS-011) and takes one connection per address.
func proxiedNode(t *testing.T) (*opsNode, string) {
	t.Helper()
	n := newOpsNode(t)
	proxyAddr := freeAddr(t)
	n.proc = startServe(t, n.addr, "-data", n.data(), "-publisher", n.pubFile, "-log-level", "warn",
		"-trusted-proxies", "127.0.0.1", "-max-conns-per-ip", "1", "-authority", proxyAddr)
	n.loadPin(t)
	return n, proxyAddr
}

// runProxy starts a proxy process, stops it with the test, and waits up to
// wait until it accepts connections on addr; when it does not, the test
// fails with the process's output and, if logFile is set, that file.
func runProxy(t *testing.T, cmd *exec.Cmd, addr string, wait time.Duration, logFile string) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			var log []byte
			if logFile != "" {
				log, _ = os.ReadFile(logFile)
			}
			t.Fatalf("%s did not start: %v\n%s%s", filepath.Base(cmd.Path), err, out.String(), log)
		}
	}
}

// checkThroughProxy drives a node behind a TLS proxy on proxyAddr, as a
// guide configures it: a client connects and receives a publish signed for
// the proxy's address (the proxy keeps Host), and the per-address limit of
// one connection counts the forwarded address of a client, not the proxy,
// while a client's own X-Forwarded-For is not believed, and an untrusted
// peer's header is ignored by the node.
func checkThroughProxy(t *testing.T, n *opsNode, proxyAddr string, ca *testpki.CA, name string) {
	t.Helper()
	tlsConfig := &tls.Config{RootCAs: ca.Pool()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idKey, _ := keyfile.Generate()
	c, err := client.Dial(ctx, client.Config{URL: "wss://" + proxyAddr + "/v1/ws", PinnedKeyID: &n.pin, Identity: idKey, TLSConfig: tlsConfig})
	if err != nil {
		t.Fatalf("client through %s: %v", name, err)
	}
	defer c.Close()
	p := publisher.New("https://"+proxyAddr, n.pubKey)
	p.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}
	to := handshake.ClientID(idKey.Public().(ed25519.PublicKey))
	if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("through " + name)}, ""); err != nil {
		t.Fatalf("publish through %s: %v", name, err)
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "through "+name {
			t.Fatalf("got %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message through " + name)
	}

	wss := "wss://" + proxyAddr + "/v1/ws"
	if got := dialFromAddr(t, wss, "127.0.0.2", tlsConfig, nil); got != http.StatusSwitchingProtocols {
		t.Fatalf("first connection from 127.0.0.2 through %s: %d", name, got)
	}
	if got := dialFromAddr(t, wss, "127.0.0.2", tlsConfig, nil); got != http.StatusTooManyRequests {
		t.Fatalf("second connection from 127.0.0.2 through %s: %d, want 429 (counted under the forwarded address)", name, got)
	}
	spoof := http.Header{"X-Forwarded-For": {"127.0.0.2"}}
	if got := dialFromAddr(t, wss, "127.0.0.3", tlsConfig, spoof); got != http.StatusSwitchingProtocols {
		t.Fatalf("127.0.0.3 claiming to be 127.0.0.2 through %s: %d, want 101 (the client's own header not believed)", name, got)
	}
	direct := http.Header{"X-Forwarded-For": {"198.51.100.7"}}
	if got := dialFromAddr(t, "ws://"+n.addr+"/v1/ws", "127.0.0.2", nil, direct); got != http.StatusTooManyRequests {
		t.Fatalf("127.0.0.2 straight to the node with X-Forwarded-For: %d, want 429 (an untrusted peer's header ignored)", got)
	}
}

// TestCaddyGuideConfig runs docs/proxies.md's Caddyfile in front of a node,
// with the test's certificate instead of Caddy's own (no ACME here): the
// same checks as nginx's.
func TestCaddyGuideConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs caddy and a server process")
	}
	caddy := needTool(t, "caddy", "caddy")
	n, proxyAddr := proxiedNode(t)

	dir := t.TempDir()
	ca := testpki.NewCA(t, "caddy test CA")
	certPath, keyPath, _ := ca.WriteLeaf(t, dir, "proxy")
	conf := guideBlock(t, "proxies.md", "caddy")
	conf = replaceOnce(t, conf, "push.example.com {", "https://"+proxyAddr+" {\n    tls "+certPath+" "+keyPath)
	conf = replaceOnce(t, conf, "reverse_proxy 127.0.0.1:8080 {", "reverse_proxy "+n.addr+" {")
	// The test's own global options: no admin endpoint, no redirect
	// listener on :80, state under the test's directory.
	conf = "{\n    admin off\n    auto_https disable_redirects\n    storage file_system " + filepath.Join(dir, "state") + "\n}\n" + conf
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	runProxy(t, cmd, proxyAddr, 15*time.Second, "")
	checkThroughProxy(t, n, proxyAddr, ca, "caddy")
}
