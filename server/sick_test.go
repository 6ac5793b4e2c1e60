package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
	"github.com/sealfeed/sealfeed/server/restapi"
)

// readyz returns the status code and answer of the node's /readyz.
func readyz(t *testing.T, tn *testNode) (int, restapi.ReadyJSON) {
	t.Helper()
	resp, err := http.Get(tn.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r restapi.ReadyJSON
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// metricValue returns the value of one metric line of /metrics.
func metricValue(t *testing.T, tn *testNode, name string) string {
	t.Helper()
	resp, err := http.Get(tn.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

// TestReadyzFollowsTheStore: OPS-001, OPS-002. /readyz is 200 only while
// the store reports ready (and 503 with a reason otherwise); /healthz,
// liveness, stays 200 meanwhile.
func TestReadyzFollowsTheStore(t *testing.T) {
	fs := newFaultyStore(t)
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) {
		c.Store, c.StoreTimeout, c.SickAfter = fs, 300*time.Millisecond, time.Hour
	})
	if code, r := readyz(t, tn); code != 200 || r.Status != "ready" {
		t.Fatalf("/readyz of a healthy node: %d %+v", code, r)
	}
	for _, f := range []fault{failing, hanging} {
		fs.set("Ready", f)
		start := time.Now()
		code, r := readyz(t, tn)
		if code != 503 || r.Status != "unavailable" || r.Reason != "store" {
			t.Fatalf("/readyz with a store that is %d: %d %+v", f, code, r)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("/readyz answered after %v", took)
		}
		resp, err := http.Get(tn.base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz while the store is down: %d, want 200 (liveness)", resp.StatusCode)
		}
		fs.set("Ready", healthy)
	}
	if code, _ := readyz(t, tn); code != 200 {
		t.Fatalf("/readyz after the store recovered: %d", code)
	}
	tn.API.Drain()
	if code, r := readyz(t, tn); code != 503 || r.Reason != "draining" {
		t.Fatalf("/readyz while draining: %d %+v", code, r)
	}
}

// TestSickNodeSendsClientsAwayAndRecovers: OPS-003, OPS-004. A node whose
// store stops answering closes its sessions with going_away within
// SickAfter and two probe intervals, refuses new sessions with going_away
// and publishes with 503 (rule OPS-003) while sick, reports it on /readyz
// and /metrics, and accepts sessions and publishes again once the store
// answers; the client loses nothing.
func TestSickNodeSendsClientsAwayAndRecovers(t *testing.T) {
	const sickAfter = 500 * time.Millisecond
	fs := newFaultyStore(t)
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) {
		c.Store, c.StoreTimeout, c.SickAfter = fs, 300*time.Millisecond, sickAfter
	})
	p := tn.pubs[0]
	p.Retries = -1
	id, _ := keyfile.Generate()
	c := tn.dial(t, func(c *client.Config) { c.Identity = id })
	nextEvent(t, c, 5*time.Second, func(e client.Event) bool { return e.Connected })
	ctx := context.Background()
	if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("before")}, ""); err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)

	fs.set("*", failing)
	down := time.Now()
	e := nextEvent(t, c, 20*time.Second, func(e client.Event) bool { return e.Err != nil })
	if !e.GoingAway {
		t.Fatalf("sick node ended the session with %v, want going_away", e.Err)
	}
	// The bound is SickAfter plus two probe intervals (SickAfter/5 here);
	// the margin is for a loaded machine.
	took := time.Since(down)
	if took > sickAfter+3*time.Second {
		t.Fatalf("going_away %v after the store failed", took)
	}
	t.Logf("going_away %v after the store failed (SickAfter %v)", took.Round(time.Millisecond), sickAfter)
	// While sick a new session of the client is refused with going_away.
	e = nextEvent(t, c, 10*time.Second, func(e client.Event) bool { return e.Err != nil })
	if !client.GoingAway(e.Err) {
		t.Fatalf("a session while sick ended with %v, want going_away", e.Err)
	}
	if code, r := readyz(t, tn); code != 503 || r.Reason != "sick" {
		t.Fatalf("/readyz while sick: %d %+v", code, r)
	}
	_, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("refused")}, "")
	var pr *publisher.Problem
	if !errors.As(err, &pr) || pr.Status != 503 || pr.Rule != "OPS-003" || pr.RetryAfter != time.Second {
		t.Fatalf("publish while sick: %v, want 503 rule OPS-003 with Retry-After", err)
	}
	if v := metricValue(t, tn, "sealfeed_node_sick"); v != "1" {
		t.Fatalf("sealfeed_node_sick %s while sick", v)
	}

	fs.set("*", healthy)
	// Recovery at the next probe; a Connected event alone proves nothing,
	// since a refused session reports its handshake first.
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, r := readyz(t, tn)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after recovery: %d %+v", code, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("after")}, ""); err != nil {
		t.Fatalf("publish after recovery: %v", err)
	}
	if m := collect(t, c, 1, 10*time.Second); string(m[0].Payload) != "after" {
		t.Fatalf("after recovery got %q", m[0].Payload)
	}
	if v := metricValue(t, tn, "sealfeed_node_sick_transitions_total"); v != "2" {
		t.Fatalf("sealfeed_node_sick_transitions_total %s, want 2", v)
	}
}

// TestFailingDeliveryTicksMakeTheNodeSick: OPS-003. A store that answers
// its readiness probe but fails every delivery read for SickAfter makes
// the node give its clients up too.
func TestFailingDeliveryTicksMakeTheNodeSick(t *testing.T) {
	const sickAfter = 500 * time.Millisecond
	fs := newFaultyStore(t)
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) {
		c.Store, c.StoreTimeout, c.SickAfter = fs, 300*time.Millisecond, sickAfter
	})
	id, _ := keyfile.Generate()
	c := tn.dial(t, func(c *client.Config) { c.Identity = id })
	nextEvent(t, c, 5*time.Second, func(e client.Event) bool { return e.Connected })
	fs.set("Pending", failing)
	down := time.Now()
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("stuck")}, ""); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(t, c, 20*time.Second, func(e client.Event) bool { return e.Err != nil })
	if !e.GoingAway {
		t.Fatalf("node with failing ticks ended the session with %v, want going_away", e.Err)
	}
	if took := time.Since(down); took > sickAfter+3*time.Second {
		t.Fatalf("going_away %v after the ticks started failing", took)
	}
	fs.set("Pending", healthy)
	if m := collect(t, c, 1, 20*time.Second); string(m[0].Payload) != "stuck" {
		t.Fatalf("got %q", m[0].Payload)
	}
}
