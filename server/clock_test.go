package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// DLV-040, end to end through Config.Now: two nodes of one JetStream
// deployment, one clock 2 minutes behind the wall clock and one 2 minutes
// ahead. A message with a 60 s TTL published on either node reaches a
// client of the other: the store's clock decides expiry, not the
// publishing node's stamp against the delivering node's clock (the node
// ahead once skipped what the node behind stamped). The publisher's
// signature (API-013) and the handshakes run on the skewed clocks too.
func TestClusterNodesWithSkewedClocksDeliver(t *testing.T) {
	nats := natstest.Start(t, 1)
	key := make([]byte, 32)
	rand.Read(key)
	node := func(off time.Duration) *testNode {
		return startNode(t, t.TempDir(), 1, func(c *server.Config) {
			c.Cluster = &server.ClusterConfig{NATS: nats.URLs(), StorageKey: key, Replicas: 1}
			c.Now = func() time.Time { return time.Now().Add(off) }
		})
	}
	behind, ahead := node(-2*time.Minute), node(2*time.Minute)
	for _, tc := range []struct {
		name     string
		pub, sub *testNode
	}{{"behind to ahead", behind, ahead}, {"ahead to behind", ahead, behind}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.sub.dial(t, nil)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			text := fmt.Sprintf("sixty seconds, %s", tc.name)
			if _, err := tc.pub.pubs[0].Publish(ctx, publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte(text), TTL: 60 * time.Second}, ""); err != nil {
				t.Fatal(err)
			}
			if m := collectHeld(t, c, 1, 10*time.Second); string(m[0].Payload) != text {
				t.Fatalf("got %q", m[0].Payload)
			}
		})
	}
}

// Config.Now is the clock of the whole node: with it 10 minutes ahead,
// a publish signed now is outside the node's clock-skew window (API-013),
// and a client's handshake and delivery still work (tickets are issued
// and checked on the node's clock, HS-040).
func TestConfigNowIsTheNodeClock(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) {
		c.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	})
	c := tn.dial(t, nil)
	defer c.Close()
	_, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("x")}, "")
	var pr *publisher.Problem
	if !errors.As(err, &pr) || pr.Status != 401 || !strings.HasSuffix(pr.Type, "/stale-request") {
		t.Fatalf("publish signed 10 minutes before the node's clock: %v, want 401 stale-request", err)
	}
}

// syncBuffer is a log sink safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// DLV-041: a cluster node measures how far its clock is from the store's,
// exports it, and warns when that exceeds the skew tolerance: a node 2
// minutes ahead with the default 30 s does, one 10 s ahead does not.
func TestClusterNodeWarnsBeyondSkewTolerance(t *testing.T) {
	nats := natstest.Start(t, 1)
	key := make([]byte, 32)
	rand.Read(key)
	for _, tc := range []struct {
		off  time.Duration
		warn bool
	}{{2 * time.Minute, true}, {-2 * time.Minute, true}, {10 * time.Second, false}} {
		var log syncBuffer
		tn := startNode(t, t.TempDir(), 0, func(c *server.Config) {
			c.Cluster = &server.ClusterConfig{NATS: nats.URLs(), StorageKey: key, Replicas: 1}
			c.Now = func() time.Time { return time.Now().Add(tc.off) }
			c.Logger = slog.New(slog.NewTextHandler(&log, nil))
		})
		if got := strings.Contains(log.String(), "rule=DLV-041"); got != tc.warn {
			t.Errorf("clock %v ahead: warned %v, want %v; log:\n%s", tc.off, got, tc.warn, log.String())
		}
		resp, err := http.Get(tn.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var v float64
		for _, line := range strings.Split(string(body), "\n") {
			if f, ok := strings.CutPrefix(line, "sealfeed_clock_offset_seconds "); ok {
				v, _ = strconv.ParseFloat(f, 64)
			}
		}
		if d := v - tc.off.Seconds(); d < -2 || d > 2 {
			t.Errorf("clock %v ahead: sealfeed_clock_offset_seconds %v", tc.off, v)
		}
	}
}
