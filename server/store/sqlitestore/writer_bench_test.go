package sqlitestore

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// BenchmarkPublishParallel: 64 goroutines publish requests of 10 messages
// of 256 bytes each, under synchronous=FULL. "group-commit" is the store
// as it runs; "transaction-per-request" limits every group to one request,
// which is the old path: one transaction and one commit (one fsync of the
// WAL) per request. commits/op is the writer's commits per request; under
// synchronous=FULL in WAL mode each commit is one fsync of the WAL
// (checkpoints add their own). cpu-µs/op is the process's user and system
// CPU time per request, which a shared machine disturbs less than the
// wall time. Compare the two in one run.
func BenchmarkPublishParallel(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxGroup int
	}{
		{"group-commit", maxGroupRequests},
		{"transaction-per-request", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "db"), Options{StorageKey: testKey(7), Synchronous: "FULL"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.qmu.Lock()
			s.maxGroup = bc.maxGroup
			s.qmu.Unlock()
			const workers, perRequest, size = 64, 10, 256
			payload := make([]byte, size)
			var next atomic.Int64
			commits, cpu := s.commits.Load(), cpuTime(b)
			b.SetBytes(perRequest * size)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := range workers {
				wg.Go(func() {
					req := &store.PublishRequest{Publisher: "bench"}
					for range perRequest {
						req.Publications = append(req.Publications, store.Publication{
							To: [][32]byte{{byte(g), byte(g >> 8)}}, Payload: payload, TTL: time.Hour})
					}
					for next.Add(1) <= int64(b.N) {
						if _, _, err := s.Publish(context.Background(), req, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(s.commits.Load()-commits)/float64(b.N), "commits/op")
			b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
