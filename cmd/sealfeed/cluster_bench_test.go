package main

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/loadtest"
	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// BenchmarkClusterNodes measures the whole path — signed publishes in,
// verified deliveries out — on one SealFeed node and on three, all on one
// three-server NATS JetStream cluster, and on one node with the embedded
// SQLite store for reference. It is a measurement, not a timed test: run
// it with -benchtime=1x and compare the metrics of one run.
//
//	go test -run '^$' -bench ClusterNodes -benchtime 1x ./cmd/sealfeed/
func BenchmarkClusterNodes(b *testing.B) {
	for _, c := range []struct {
		name  string
		nodes int
		nats  bool
	}{{"sqlite-1-node", 1, false}, {"jetstream-1-node", 1, true}, {"jetstream-3-nodes", 3, true}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			var natsURLs string
			if c.nats {
				natsURLs = natstest.Start(b, 3).URLs()
			}
			storageKey := filepath.Join(dir, "storage.key")
			k := make([]byte, 32)
			crand.Read(k)
			os.WriteFile(storageKey, k, 0o600)
			var pubs []ed25519.PrivateKey
			var args []string
			for i := 0; i < 6; i++ {
				pk, _ := keyfile.Generate()
				pubs = append(pubs, pk)
				f := filepath.Join(dir, fmt.Sprintf("pub%d", i))
				pem, _ := keyfile.MarshalPublic(pk.Public().(ed25519.PublicKey))
				os.WriteFile(f, pem, 0o644)
				args = append(args, "-publisher", f)
			}
			var targets []loadtest.Target
			for i := 0; i < c.nodes; i++ {
				data := filepath.Join(dir, fmt.Sprintf("node%d", i))
				sk, _, _ := keyfile.LoadOrCreatePrivate(filepath.Join(data, "server.key"))
				a := append([]string{"-data", data, "-log-level", "warn", "-sync", "NORMAL", "-max-conns-per-ip", "5000",
					"-max-handshakes-per-ip", "512", "-max-pending", "1000000"}, args...)
				if c.nats {
					a = append(a, "-nats", natsURLs, "-storage-key", storageKey)
				}
				addr := freeAddr(b)
				startServe(b, addr, a...)
				targets = append(targets, loadtest.Target{BaseURL: "http://" + addr, Fingerprint: sig.Fingerprint(sk.Public().(ed25519.PublicKey))})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			b.ResetTimer()
			rep, err := loadtest.Run(ctx, loadtest.Config{Targets: targets, Publishers: pubs, Clients: 300, Duration: 5 * time.Second,
				PayloadSize: 256, Bulk: 10})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if rep.Lost != 0 || rep.Duplicates != 0 {
				b.Fatalf("lost %d, duplicated %d", rep.Lost, rep.Duplicates)
			}
			b.ReportMetric(rep.DeliveredPerSec, "delivered_msgs/s")
			b.ReportMetric(rep.PublishedPerSec, "published_msgs/s")
			b.ReportMetric(rep.LatencyP50Ms, "p50_ms")
			b.ReportMetric(rep.LatencyP99Ms, "p99_ms")
			b.ReportMetric(rep.ServerCPUPerMsgUs, "server_cpu_us/msg")
		})
	}
}
