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

// Start starts n clustered JetStream servers and waits until JetStream has
// a meta leader; with n = 1, one server without a cluster (JetStream
// streams and buckets then need replicas 1). They stop at the end of the
// test.
func Start(t testing.TB, n int) *Cluster {
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
		o := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "sealfeed-test", Host: "127.0.0.1", Port: routes[i]}
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
	t.Cleanup(c.Shutdown)
	for _, s := range c.Servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("nats server not ready")
		}
	}
	if n == 1 {
		if !c.Servers[0].JetStreamEnabled() {
			t.Fatal("JetStream not enabled")
		}
		return c
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
			return c
		}
		if time.Now().After(deadline) {
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

// Kill stops server i abruptly.
func (c *Cluster) Kill(i int) { c.Servers[i].Shutdown() }

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
}
