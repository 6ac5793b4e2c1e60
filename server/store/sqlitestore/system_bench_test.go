package sqlitestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// BenchmarkSystemShape reproduces the store's work per message in the
// system benchmark's shape (bench/system): 10 000 clients; publishers
// post requests of 10 messages of 256 bytes, each to a random client,
// every request carrying its signature's nonce (STORE-016); the
// core acknowledges what was published every 50 ms in one Ack call
// (DLV-051), reads Pending only on a cache miss (one request in 100 here)
// and sweeps expiry every second. One op is one message published,
// delivered and acknowledged.
//
// "rate-1000" offers 1000 messages/s from 8 publishers (the system
// benchmark's comparison; its groups are small, so per-commit costs
// count); "unpaced" has 32 publishers post as fast as the store answers.
// cpu-µs/msg is the process's user+system CPU per message, the measure
// to compare (a shared machine disturbs it less than wall time);
// fsyncs/msg is the writer's commits under the configured synchronous
// mode (FULL: one fsync of the WAL each; checkpoints add theirs) per
// message. Compare variants in one run. SHAPE_PROFILE=file writes a CPU
// profile of the measured part alone (-cpuprofile includes the prefill).
func BenchmarkSystemShape(b *testing.B) {
	for _, bc := range []struct {
		name       string
		publishers int
		rate       int // messages/s; 0: unpaced
	}{
		{"rate-1000", 8, 1000},
		{"unpaced", 32, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "db"), Options{StorageKey: testKey(7), Synchronous: "FULL"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			runSystemShape(b, s, bc.publishers, bc.rate)
		})
	}
}

const (
	shapeClients    = 10000
	shapePerRequest = 10
	shapePayload    = 256
)

// shapeClientIDs are the benchmark's clients, the same in every run.
var shapeClientIDs = func() [][32]byte {
	ids := make([][32]byte, shapeClients)
	r := mrand.NewChaCha8([32]byte{1})
	for i := range ids {
		r.Read(ids[i][:])
	}
	return ids
}()

// prefillShape gives every client one acknowledged message, as a node
// that has been running holds (tombstones, client rows).
func prefillShape(b *testing.B, s *Store) {
	ctx := context.Background()
	for i := 0; i < shapeClients; i += 100 {
		req := &store.PublishRequest{Publisher: "bench"}
		for _, c := range shapeClientIDs[i : i+100] {
			req.Publications = append(req.Publications, store.Publication{To: [][32]byte{c}, Payload: make([]byte, shapePayload), TTL: time.Hour})
		}
		out, _, err := s.Publish(ctx, req, nil)
		if err != nil {
			b.Fatal(err)
		}
		acks := map[[32]byte][]uint64{}
		for _, a := range out {
			acks[a.ClientID] = append(acks[a.ClientID], a.Seq)
		}
		if _, err := s.Ack(ctx, acks); err != nil {
			b.Fatal(err)
		}
	}
}

func runSystemShape(b *testing.B, s *Store, publishers, rate int) {
	prefillShape(b, s)
	ctx := context.Background()
	payload := make([]byte, shapePayload)
	requests := (b.N + shapePerRequest - 1) / shapePerRequest
	var next atomic.Int64
	var ackMu sync.Mutex
	delivered := map[[32]byte][]uint64{}
	var published, acked atomic.Int64

	commits, cpu, start := s.commits.Load(), cpuTime(b), time.Now()
	fsyncs := s.fsyncCommits()
	b.SetBytes(shapePayload)
	b.ReportAllocs()
	b.ResetTimer()
	if p := os.Getenv("SHAPE_PROFILE"); p != "" && b.N > 1 { // the measured part only, without the prefill
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	stopCore := make(chan struct{})
	coreDone := make(chan struct{})
	go func() { // the core: acks every 50 ms, expiry every second
		defer close(coreDone)
		ackT, expT := time.NewTicker(50*time.Millisecond), time.NewTicker(time.Second)
		defer ackT.Stop()
		defer expT.Stop()
		flush := func() {
			ackMu.Lock()
			batch := delivered
			delivered = map[[32]byte][]uint64{}
			ackMu.Unlock()
			if len(batch) == 0 {
				return
			}
			n, err := s.Ack(ctx, batch)
			if err != nil {
				b.Error(err)
			}
			acked.Add(int64(n))
		}
		for {
			select {
			case <-ackT.C:
				flush()
			case <-expT.C:
				if _, err := s.Expire(ctx, time.Now()); err != nil {
					b.Error(err)
				}
			case <-stopCore:
				flush()
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(p), 1))
			var nonce [16]byte
			for {
				i := next.Add(1) - 1
				if i >= int64(requests) {
					return
				}
				if rate > 0 { // request i is due at i*perRequest/rate
					due := start.Add(time.Duration(i) * time.Second * shapePerRequest / time.Duration(rate))
					time.Sleep(time.Until(due))
				}
				rand.Read(nonce[:])
				req := &store.PublishRequest{Publisher: "bench", MaxPending: 10000,
					Nonce: &store.Nonce{KeyID: "bench", Nonce: hex.EncodeToString(nonce[:]), Expires: time.Now().Add(5 * time.Minute)}}
				for range shapePerRequest {
					c := shapeClientIDs[r.IntN(shapeClients)]
					req.Publications = append(req.Publications, store.Publication{To: [][32]byte{c}, Payload: payload, TTL: time.Hour})
				}
				out, _, err := s.Publish(ctx, req, nil)
				if err != nil {
					b.Error(err)
					return
				}
				published.Add(int64(len(out)))
				if r.IntN(100) == 0 { // a cache miss: a connect reads the store
					if _, err := s.Pending(ctx, out[0].ClientID, 0, 100); err != nil {
						b.Error(err)
					}
				}
				ackMu.Lock()
				for _, a := range out {
					delivered[a.ClientID] = append(delivered[a.ClientID], a.Seq)
				}
				ackMu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stopCore)
	<-coreDone
	b.StopTimer()
	n := float64(published.Load())
	if acked.Load() != published.Load() {
		b.Fatalf("published %d, acknowledged %d", published.Load(), acked.Load())
	}
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/n, "cpu-µs/msg")
	b.ReportMetric(float64(s.fsyncCommits()-fsyncs)/n, "fsyncs/msg")
	b.ReportMetric(float64(s.commits.Load()-commits)/n, "commits/msg")
}

func (s *Store) fsyncCommits() uint64 { return s.syncedCommits.Load() }
