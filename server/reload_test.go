package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/testpki"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/certfile"
	"github.com/sealfeed/sealfeed/server/restapi"
)

// publisherKey is a new publisher key, its Reloadable entry and a
// publisher for tn.
func publisherKey(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	k, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return sig.Fingerprint(k.Public().(ed25519.PublicKey)), k
}

// publishTo publishes one message from p to c and returns the error.
func publishTo(p *publisher.Publisher, c *client.Client, payload string) error {
	_, err := p.Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte(payload)}, "")
	return err
}

// wantUnknownKey fails unless err is the 401 of a key the node does not
// know (API-012).
func wantUnknownKey(t *testing.T, what string, err error) {
	t.Helper()
	var pr *publisher.Problem
	if !errors.As(err, &pr) || pr.Status != 401 {
		t.Fatalf("%s: %v, want 401", what, err)
	}
}

// TestReloadKeepsSessions: OPS-030. A reload with clients connected
// drops none of them (no new handshake, the same connections receive),
// a publisher key it adds is accepted at once and one it removes is
// refused at once, presence grants follow.
func TestReloadKeepsSessions(t *testing.T) {
	keepID, keep := publisherKey(t)
	goneID, gone := publisherKey(t)
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) {
		c.Publishers = map[string]ed25519.PublicKey{keepID: keep.Public().(ed25519.PublicKey), goneID: gone.Public().(ed25519.PublicKey)}
		c.PresencePublishers = []string{goneID}
	})
	pKeep, pGone := publisher.New(tn.base, keep), publisher.New(tn.base, gone)
	var cs []*client.Client
	for range 4 {
		cs = append(cs, tn.dial(t, nil))
	}
	for _, c := range cs {
		if err := publishTo(pGone, c, "before"); err != nil {
			t.Fatal(err)
		}
		if m := collect(t, c, 1, 5*time.Second); string(m[0].Payload) != "before" {
			t.Fatalf("got %q", m[0].Payload)
		}
	}
	handshakes := metricValue(t, tn, "sealfeed_handshakes_total")

	addID, add := publisherKey(t)
	err := tn.Reload(server.Reloadable{
		Publishers:         map[string]ed25519.PublicKey{keepID: keep.Public().(ed25519.PublicKey), addID: add.Public().(ed25519.PublicKey)},
		PresencePublishers: []string{addID},
	})
	if err != nil {
		t.Fatal(err)
	}
	pAdd := publisher.New(tn.base, add)
	for i, c := range cs {
		wantUnknownKey(t, "removed key", publishTo(pGone, c, "removed"))
		if err := publishTo(pAdd, c, "added"); err != nil {
			t.Fatalf("added key, client %d: %v", i, err)
		}
		if err := publishTo(pKeep, c, "kept"); err != nil {
			t.Fatalf("kept key, client %d: %v", i, err)
		}
		m := collect(t, c, 2, 5*time.Second)
		if string(m[0].Payload) != "added" || string(m[1].Payload) != "kept" {
			t.Fatalf("client %d got %q, %q", i, m[0].Payload, m[1].Payload)
		}
	}
	if got := metricValue(t, tn, "sealfeed_handshakes_total"); got != handshakes {
		t.Fatalf("handshakes %s after the reload, %s before: clients were dropped", got, handshakes)
	}
	if got := metricValue(t, tn, "sealfeed_connections"); got != "4" {
		t.Fatalf("%s connections after the reload, want 4", got)
	}
	// API-040 grants follow the reload: the added key sees every client.
	if _, err := pAdd.Presence(context.Background(), cs[1].ClientID()); err != nil {
		t.Fatalf("presence by the newly granted key: %v", err)
	}
}

// TestFailedReloadKeepsEverything: OPS-030. A reload with one bad part
// (a presence grant for a key it does not register, a credential where
// the node has none, a TLS certificate that does not load) changes
// nothing: the keys it would remove still work, the one it would add is
// refused, and the certificate in use stays.
func TestFailedReloadKeepsEverything(t *testing.T) {
	keepID, keep := publisherKey(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "test CA")
	certPath, keyPath, leaf := ca.WriteLeaf(t, dir, "node")
	cert, err := certfile.Load(certPath, keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) {
		c.Publishers = map[string]ed25519.PublicKey{keepID: keep.Public().(ed25519.PublicKey)}
		c.TLSCert = cert
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := tn.dial(t, nil)
	pKeep := publisher.New(tn.base, keep)
	addID, add := publisherKey(t)
	pAdd := publisher.New(tn.base, add)
	good := server.Reloadable{Publishers: map[string]ed25519.PublicKey{addID: add.Public().(ed25519.PublicKey)}}

	// A renewal that fails to load: the key file is not the certificate's.
	_, otherKey, _ := ca.Leaf(t, "other")
	if err := os.WriteFile(keyPath, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := map[string]server.Reloadable{
		"presence grant for an unregistered key": {Publishers: good.Publishers, PresencePublishers: []string{keepID}},
		"credential added":                       {Publishers: good.Publishers, Credential: []byte("x"), RevocationList: []byte("y")},
		"certificate that does not load":         good,
	}
	for name, r := range bad {
		if err := tn.Reload(r); err == nil {
			t.Fatalf("%s: reload accepted", name)
		}
		if err := publishTo(pKeep, c, "kept"); err != nil {
			t.Fatalf("%s: the key in use was dropped: %v", name, err)
		}
		collect(t, c, 1, 5*time.Second)
		wantUnknownKey(t, name+": key of the refused reload", publishTo(pAdd, c, "added"))
		if got := tn.TLSExpiry(); !got.Equal(leaf.NotAfter) {
			t.Fatalf("%s: certificate in use expires %v, want %v", name, got, leaf.NotAfter)
		}
	}
	if n := strings.Count(log.String(), "reload: refused"); n != len(bad) {
		t.Fatalf("%d refusals logged, want %d:\n%s", n, len(bad), log.String())
	}
	if strings.Contains(log.String(), "reload: applied") {
		t.Fatalf("a refused reload logged as applied:\n%s", log.String())
	}
}

// authority is a test authority that issues credentials for a node key.
type authority struct {
	pub  *sig.PublicKey
	priv ed25519.PrivateKey
}

func newAuthority(t *testing.T) authority {
	pub, priv, _ := ed25519.GenerateKey(nil)
	pk, err := sig.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return authority{pk, priv}
}

func (a authority) issue(t *testing.T, server ed25519.PublicKey, serial uint64, notBefore, notAfter time.Time, revoked ...uint64) (cred, crl []byte) {
	t.Helper()
	c, err := credential.Issue(a.priv, server, "push.example", serial, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	l, err := credential.IssueRevocationList(a.priv, serial, notBefore, notAfter, revoked)
	if err != nil {
		t.Fatal(err)
	}
	return c.Marshal(), l.Marshal()
}

// nodeKey creates the node key in dir, which an authority signs.
func nodeKey(t *testing.T, dir string) ed25519.PublicKey {
	key, _, err := keyfile.LoadOrCreatePrivate(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key.Public().(ed25519.PublicKey)
}

func getBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestCredentialRenewalByReload: OPS-030. A renewed credential (here from
// a new authority key) is served to the clients that connect afterwards
// (handshake and REST), a client
// connected under the old one stays, and a credential for another key,
// one not valid now, or none (the realm is fixed until a restart) is
// refused.
func TestCredentialRenewalByReload(t *testing.T) {
	dir := t.TempDir()
	nk := nodeKey(t, dir)
	auth := newAuthority(t)
	now := time.Now()
	cred, crl := auth.issue(t, nk, 1, now.Add(-time.Minute), now.Add(time.Hour))
	pubID, pubKey := publisherKey(t)
	keys := map[string]ed25519.PublicKey{pubID: pubKey.Public().(ed25519.PublicKey)}
	tn := startNode(t, dir, 0, func(c *server.Config) {
		c.Credential, c.RevocationList, c.Realm, c.Publishers = cred, crl, "push.example", keys
	})
	pub := publisher.New(tn.base, pubKey)
	trust := &credential.Trust{Authority: auth.pub, Realm: "push.example"}
	old := tn.dial(t, func(c *client.Config) { c.PinnedKeyID, c.Trust = nil, trust })

	otherKey, _, _ := ed25519.GenerateKey(nil)
	wrongKey, wrongCRL := auth.issue(t, otherKey, 2, now.Add(-time.Minute), now.Add(time.Hour))
	expired, expiredCRL := auth.issue(t, nk, 3, now.Add(-2*time.Hour), now.Add(-time.Hour))
	for name, r := range map[string]server.Reloadable{
		"another server key": {Credential: wrongKey, RevocationList: wrongCRL},
		"expired":            {Credential: expired, RevocationList: expiredCRL},
		"removed":            {Publishers: keys},
	} {
		if err := tn.Reload(r); err == nil {
			t.Fatalf("%s: reload accepted", name)
		}
	}
	if _, b := getBody(t, tn.base+"/v1/server/credential"); string(b) != string(cred) {
		t.Fatal("a refused credential is served")
	}

	// The renewal comes from a new authority key (the same realm): only a
	// client served the new credential connects trusting that key.
	auth2 := newAuthority(t)
	renewed, renewedCRL := auth2.issue(t, nk, 4, now.Add(-time.Minute), now.Add(3*time.Hour))
	if err := tn.Reload(server.Reloadable{Publishers: keys, Credential: renewed, RevocationList: renewedCRL}); err != nil {
		t.Fatal(err)
	}
	if _, b := getBody(t, tn.base+"/v1/server/credential"); string(b) != string(renewed) {
		t.Fatal("the renewed credential is not served on /v1/server/credential")
	}
	if _, b := getBody(t, tn.base+"/v1/server/revocation-list"); string(b) != string(renewedCRL) {
		t.Fatal("the renewed revocation list is not served")
	}
	if got, want := tn.CredentialExpiry(), now.Add(3*time.Hour).Truncate(time.Second); !got.Equal(want) {
		t.Fatalf("CredentialExpiry %v, want %v", got, want)
	}
	tn.dial(t, func(c *client.Config) {
		c.PinnedKeyID, c.Trust = nil, &credential.Trust{Authority: auth2.pub, Realm: "push.example"}
	})
	if err := publishTo(pub, old, "still here"); err != nil {
		t.Fatal(err)
	}
	collect(t, old, 1, 5*time.Second)
	// The old client got its message on the connection it had: two
	// handshakes in all, the old one and the new client's.
	// (The new client's may be counted just after its Dial returns.)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := metricValue(t, tn, "sealfeed_handshakes_total")
		if got == "2" {
			break
		}
		if got != "1" || time.Now().After(deadline) {
			t.Fatalf("%s handshakes, want 2: the old client reconnected", got)
		}
	}
}

// healthz returns the answer of /healthz.
func healthz(t *testing.T, tn *testNode) (int, restapi.HealthJSON) {
	t.Helper()
	code, b := getBody(t, tn.base+"/healthz")
	var h restapi.HealthJSON
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return code, h
}

func reasons(h restapi.HealthJSON) []string {
	var out []string
	for _, w := range h.Warnings {
		out = append(out, w.Reason)
	}
	return out
}

// TestExpiryWarnings: OPS-031, OPS-032, OPS-033. On the node's clock, the
// credential and the TLS certificate are warned about once each when less
// than the warning fraction of their lifetime is left and again at expiry;
// /healthz stays 200 and lists them; /readyz answers 503
// credential_expired once the credential expired; a renewal clears it.
func TestExpiryWarnings(t *testing.T) {
	dir := t.TempDir()
	nk := nodeKey(t, dir)
	auth := newAuthority(t)
	start := time.Now()
	// 100 minutes of lifetime: the last 25 are the warning quarter.
	cred, crl := auth.issue(t, nk, 1, start.Add(-10*time.Minute), start.Add(90*time.Minute))
	ca := testpki.NewCA(t, "test CA")
	certPath, keyPath, _ := ca.WriteLeaf(t, t.TempDir(), "node") // valid 1 h ago to 24 h ahead
	cert, err := certfile.Load(certPath, keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	var log syncBuffer
	tn := startNode(t, dir, 0, func(c *server.Config) {
		c.Credential, c.RevocationList, c.Realm = cred, crl, "push.example"
		c.TLSCert = cert
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	lines := func(msg string) int { return strings.Count(log.String(), msg) }
	const warnMsg, expiredMsg = "expiry: less than the warning fraction", "expiry: expired"
	for _, step := range []struct {
		at            time.Duration
		reasons       []string
		ready         string // "" or the 503 reason
		warn, expired int    // log lines so far
	}{
		{0, nil, "", 0, 0},
		{60 * time.Minute, nil, "", 0, 0}, // 30 of 100 minutes left
		{70 * time.Minute, []string{"credential_expiring"}, "", 1, 0},
		{80 * time.Minute, []string{"credential_expiring"}, "", 1, 0}, // warned once
		{91 * time.Minute, []string{"credential_expired"}, "credential_expired", 1, 1},
		{19 * time.Hour, []string{"credential_expired", "tls_certificate_expiring"}, "credential_expired", 2, 1},
		{25 * time.Hour, []string{"credential_expired", "tls_certificate_expired"}, "credential_expired", 2, 2},
	} {
		offset.Store(int64(step.at))
		tn.CheckExpiry()
		tn.CheckExpiry()
		code, h := healthz(t, tn)
		if code != 200 || h.Status != "ok" || !slices.Equal(reasons(h), step.reasons) {
			t.Fatalf("at +%v: /healthz %d %+v, want 200 with %v", step.at, code, h, step.reasons)
		}
		rc, r := readyz(t, tn)
		if step.ready == "" && rc != 200 || step.ready != "" && (rc != 503 || r.Reason != step.ready) {
			t.Fatalf("at +%v: /readyz %d %+v, want %q", step.at, rc, r, step.ready)
		}
		if w, e := lines(warnMsg), lines(expiredMsg); w != step.warn || e != step.expired {
			t.Fatalf("at +%v: %d warnings and %d expiries logged, want %d and %d:\n%s", step.at, w, e, step.warn, step.expired, log.String())
		}
	}
	if !strings.Contains(log.String(), "item=credential") || !strings.Contains(log.String(), "item=tls_certificate") {
		t.Fatalf("the lines do not name the item:\n%s", log.String())
	}

	// A renewal valid on the node's clock makes it ready again.
	now := time.Now().Add(time.Duration(offset.Load()))
	renewed, renewedCRL := auth.issue(t, nk, 2, now.Add(-time.Minute), now.Add(10*time.Hour))
	if err := tn.Reload(server.Reloadable{Credential: renewed, RevocationList: renewedCRL}); err != nil {
		t.Fatal(err)
	}
	if rc, r := readyz(t, tn); rc != 200 {
		t.Fatalf("after the renewal: /readyz %d %+v", rc, r)
	}
	if _, h := healthz(t, tn); !slices.Equal(reasons(h), []string{"tls_certificate_expired"}) {
		t.Fatalf("after the renewal: /healthz warnings %v", reasons(h))
	}
	if !strings.Contains(log.String(), "expiry: renewed") {
		t.Fatalf("the renewal is not logged:\n%s", log.String())
	}
	// The gauges give the expiry times of what is in use: the renewed
	// credential's, the certificate's (OPS-031).
	mf := scrape(t, tn)
	if v, ok := sample(mf, "sealfeed_credential_expiry_timestamp_seconds", nil); !ok || int64(v) != now.Add(10*time.Hour).Unix() {
		t.Fatalf("sealfeed_credential_expiry_timestamp_seconds %v (%v), want %d", v, ok, now.Add(10*time.Hour).Unix())
	}
	if v, ok := sample(mf, "sealfeed_tls_certificate_expiry_timestamp_seconds", nil); !ok || int64(v) != cert.Leaf().NotAfter.Unix() {
		t.Fatalf("sealfeed_tls_certificate_expiry_timestamp_seconds %v (%v), want %d", v, ok, cert.Leaf().NotAfter.Unix())
	}
}

// TestReloadChangesTokenIssuers: OPS-030 for access tokens (TOK-002): after
// a reload that replaces publisher key A with B, a new session with a
// token from A is refused and one from B accepted, and a connected
// session refreshes with a token from B on its open connection
// (POST-030).
func TestReloadChangesTokenIssuers(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, requireTokens)
	bID, b := publisherKey(t)
	pb := publisher.New(tn.base, b)
	var mu sync.Mutex
	issuer := tn.pubs[0]
	sourceFor := func(key ed25519.PrivateKey) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			return issuer.IssueToken(publisher.TokenRequest{Subject: "alice", Device: "phone", ClientKey: key.Public().(ed25519.PublicKey),
				ServerKeyID: tn.pinned, Lifetime: 10 * time.Minute})
		}
	}
	key, _ := keyfile.Generate()
	cl := tn.dial(t, func(c *client.Config) { c.Identity = key; c.TokenSource = sourceFor(key) })
	if err := tn.Reload(server.Reloadable{Publishers: map[string]ed25519.PublicKey{bID: b.Public().(ed25519.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	other, _ := keyfile.Generate()
	if err := dialErr(tn, func(c *client.Config) { c.Identity = other; c.TokenSource = sourceFor(other) }); err == nil {
		t.Fatal("a token from the removed key was accepted")
	}
	mu.Lock()
	issuer = pb
	mu.Unlock()
	if err := dialErr(tn, func(c *client.Config) { c.Identity = other; c.TokenSource = sourceFor(other) }); err != nil {
		t.Fatalf("a token from the added key: %v", err)
	}
	cl.RefreshToken()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-cl.Events():
			if e.Err != nil {
				t.Fatalf("refresh with a token from the added key: %v", e.Err)
			}
			if e.TokenRefreshed {
				return
			}
		case <-deadline:
			t.Fatal("no refresh")
		}
	}
}

// TestExpiredCredentialAtStart: a node started with a credential past its
// validity starts (it still serves pinned clients) and reports it:
// /readyz 503 credential_expired (OPS-033), /healthz 200 with the
// warning (OPS-032).
func TestExpiredCredentialAtStart(t *testing.T) {
	dir := t.TempDir()
	nk := nodeKey(t, dir)
	auth := newAuthority(t)
	now := time.Now()
	cred, crl := auth.issue(t, nk, 1, now.Add(-3*time.Hour), now.Add(-time.Hour))
	tn := startNode(t, dir, 0, func(c *server.Config) { c.Credential, c.RevocationList, c.Realm = cred, crl, "push.example" })
	if rc, r := readyz(t, tn); rc != 503 || r.Reason != "credential_expired" {
		t.Fatalf("/readyz %d %+v, want 503 credential_expired", rc, r)
	}
	if code, h := healthz(t, tn); code != 200 || !slices.Equal(reasons(h), []string{"credential_expired"}) {
		t.Fatalf("/healthz %d %+v", code, h)
	}
	tn.dial(t, nil)
}
