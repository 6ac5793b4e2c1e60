// Package natstest runs a real NATS cluster with JetStream in the test
// process, on loopback ports, for the scale-out tests.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a running cluster.
type Cluster struct {
	Servers []*server.Server
	opts    []*server.Options
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Options adjust StartWith; the zero value is what Start does.
type Options struct {
	// NoAdvertise: a server tells its clients no other server's URL, so a
	// client reaches only the URLs it was given. A test that puts a proxy
	// in front of each server needs it, or a client cut off from the
	// proxies reconnects around them to the URLs it learnt.
	NoAdvertise bool
	// StoreDirs[i], where set, is server i's JetStream directory (default:
	// a new t.TempDir()), e.g. a small file system the test fills.
	StoreDirs []string
}

// Start starts n clustered JetStream servers and waits until JetStream has
// a meta leader; with n = 1, one server without a cluster (JetStream
// streams and buckets then need replicas 1). They stop at the end of the
// test.
func Start(t testing.TB, n int) *Cluster { return StartWith(t, n, Options{}) }

// StartWith is Start with options. A server that does not become ready
// (a port taken between freePort and its listen, by another test's
// process) makes it start the whole cluster again on new ports, at most
// three times.
func StartWith(t testing.TB, n int, opt Options) *Cluster {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c, ok := startOnce(t, n, opt, attempt == 3)
		if ok {
			return c
		}
		t.Logf("natstest: a server was not ready (attempt %d); starting the cluster again on new ports", attempt)
	}
}

// startOnce starts the cluster once; ok is false when a server did not
// become ready, or the cluster elected no meta leader, and last is not set
// (the servers are then shut down).
func startOnce(t testing.TB, n int, opt Options, last bool) (*Cluster, bool) {
	t.Helper()
	c := &Cluster{}
	routes := make([]int, n)
	for i := range routes {
		routes[i] = freePort(t)
	}
	var urls []string
	for _, p := range routes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := 0; i < n; i++ {
		dir := ""
		if i < len(opt.StoreDirs) {
			dir = opt.StoreDirs[i]
		}
		if dir == "" {
			dir = t.TempDir()
		}
		o := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "sealfeed-test", Host: "127.0.0.1", Port: routes[i], NoAdvertise: opt.NoAdvertise}
			o.Routes = server.RoutesFromStr(strings.Join(urls, ","))
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		c.Servers = append(c.Servers, s)
		c.opts = append(c.opts, o)
	}
	for _, s := range c.Servers {
		if !s.ReadyForConnections(20 * time.Second) {
			if !last {
				c.Shutdown()
				return nil, false
			}
			c.Shutdown()
			t.Fatal("nats server not ready")
		}
	}
	t.Cleanup(c.Shutdown)
	if n == 1 {
		if !c.Servers[0].JetStreamEnabled() {
			t.Fatal("JetStream not enabled")
		}
		return c, true
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := false
		for _, s := range c.Servers {
			if s.JetStreamIsLeader() {
				ready = true
			}
		}
		if ready {
			return c, true
		}
		if time.Now().After(deadline) {
			if !last {
				c.Shutdown()
				return nil, false
			}
			t.Fatal("no JetStream meta leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URLs returns the client URLs of the servers still running, comma
// separated (the nats.Connect form).
func (c *Cluster) URLs() string {
	var us []string
	for _, s := range c.Servers {
		if s.Running() {
			us = append(us, s.ClientURL())
		}
	}
	return strings.Join(us, ",")
}

// ClientURL returns server i's client URL, running or not.
func (c *Cluster) ClientURL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// Kill stops server i abruptly.
func (c *Cluster) Kill(i int) { c.Servers[i].Shutdown() }

// Restart starts server i again, after Kill, with its options: the same
// ports and JetStream directory, so it rejoins the cluster with what it
// had stored. It waits until the server accepts connections.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.Servers[i].WaitForShutdown()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	c.Servers[i] = s
	if !s.ReadyForConnections(20 * time.Second) {
		t.Fatalf("nats server %d not ready after restart", i)
	}
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
}
