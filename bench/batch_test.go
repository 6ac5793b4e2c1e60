package bench

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

// BenchmarkBuild seals N recipients × M messages × S bytes into one signed
// batch, unicast and broadcast.
func BenchmarkBuild(b *testing.B) {
	for _, broadcast := range []bool{false, true} {
		for _, n := range []int{1, 10, 100, 1000, 10000} {
			for _, m := range []int{1, 10} {
				for _, size := range []int{64, 1024, 16384} {
					// Keep each batch's sealed payload within 64 MiB; a
					// broadcast seals its m payloads once.
					if sealed := n * m * size; sealed > 64<<20 && (!broadcast || m*size > 64<<20) {
						continue
					}
					kind := "unicast"
					if broadcast {
						kind = "broadcast"
					}
					b.Run(fmt.Sprintf("%s/N=%d/M=%d/S=%d", kind, n, m, size), func(b *testing.B) {
						Build(b, n, m, size, broadcast, 0)
					})
				}
			}
		}
	}
}

// BenchmarkBuildWorkers compares building on one goroutine with building on
// GOMAXPROCS goroutines, in one run, for the two shapes bench/report
// compares: large leaves, and many small ones where the per-recipient work
// (tags, tree nodes, AddRecipient) weighs most.
func BenchmarkBuildWorkers(b *testing.B) {
	for _, shape := range []struct{ n, m, size int }{{1000, 10, 1024}, {10000, 1, 64}} {
		for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("workers=%d/N=%d/M=%d/S=%d", w, shape.n, shape.m, shape.size), func(b *testing.B) {
				Build(b, shape.n, shape.m, shape.size, false, w)
			})
		}
	}
}

// BenchmarkBuild100 builds batches of 100 messages of 1 KiB in three
// shapes (1 × 100, 10 × 10, 100 × 1 recipients × messages) on one worker,
// for both AEADs: how the per-recipient work of the protocol weighs as the
// same messages spread over more recipients.
func BenchmarkBuild100(b *testing.B) {
	for _, a := range aeads {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/N=%d/M=%d/S=1024", a.name, n, 100/n), func(b *testing.B) {
				BuildAEAD(b, a.id, n, 100/n, 1024, false, 1)
			})
		}
	}
}

// BenchmarkOpen verifies the signature and proof of one delivery and
// decrypts its leaf (the client's work per batch).
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{10, 1000} {
		for _, size := range []int{64, 1024, 16384} {
			b.Run(fmt.Sprintf("N=%d/M=10/S=%d", n, size), func(b *testing.B) { Open(b, n, size) })
		}
	}
}

// TestBenchFixturesOpen keeps the benchmark fixtures honest: a delivery built
// the way the benchmarks build it opens to the expected messages.
func TestBenchFixturesOpen(t *testing.T) {
	ek := keyschedule.Envelope(make([]byte, 32))
	sk, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	ck, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	builder := newBuilder(t)
	x := builder.AddBroadcast([]byte("all"))
	h, _ := builder.AddRecipient(sk, []batch.Entry{{MessageID: 1, Payload: []byte("one")}, {MessageID: 2, Broadcast: x}})
	bt, err := builder.Build(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := bt.AppendDelivery(nil, h)
	d, err := batch.ParseDelivery(body)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := sig.ParsePublicKey(signer.Public().(ed25519.PublicKey))
	msgs, err := batch.NewOpener(pk, ck, 0).Open(d, 0)
	if err != nil || len(msgs) != 2 || string(msgs[0].Payload) != "one" || string(msgs[1].Payload) != "all" {
		t.Fatalf("fixture: %v %v", msgs, err)
	}
}
