package bench

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

var signer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

func signerKey(b *testing.B) *sig.PublicKey {
	k, err := sig.ParsePublicKey(signer.Public().(ed25519.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

type session struct{ server, client *batch.Keys }

func sessions(b *testing.B, n int) []session {
	out := make([]session, n)
	for i := range out {
		secret := []byte(fmt.Sprintf("session %032d", i))
		ek := keyschedule.Envelope(secret)
		s, err := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
		out[i] = session{s, c}
	}
	return out
}

// BenchmarkBuild seals N recipients × M messages × S bytes into one signed
// batch. MB/s counts payload bytes; msgs/s is reported as a metric.
func BenchmarkBuild(b *testing.B) {
	for _, broadcast := range []bool{false, true} {
		for _, n := range []int{1, 10, 100, 1000} {
			for _, m := range []int{1, 10} {
				for _, size := range []int{64, 1024, 16384} {
					if n*m*size > 64<<20 {
						continue
					}
					kind := "unicast"
					if broadcast {
						kind = "broadcast"
					}
					b.Run(fmt.Sprintf("%s/N=%d/M=%d/S=%d", kind, n, m, size), func(b *testing.B) {
						benchBuild(b, n, m, size, broadcast)
					})
				}
			}
		}
	}
}

// BenchmarkBuildWorkers compares sealing on one goroutine with sealing on
// GOMAXPROCS goroutines, in one run.
func BenchmarkBuildWorkers(b *testing.B) {
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d/N=1000/M=10/S=1024", w), func(b *testing.B) {
			benchBuildWorkers(b, 1000, 10, 1024, false, w)
		})
	}
}

func benchBuild(b *testing.B, n, m, size int, broadcast bool) {
	benchBuildWorkers(b, n, m, size, broadcast, 0)
}

func benchBuildWorkers(b *testing.B, n, m, size int, broadcast bool, workers int) {
	ss := sessions(b, n)
	payload := bytes.Repeat([]byte{0xab}, size)
	builder := batch.NewBuilder(signer, nil)
	if workers > 0 {
		builder.SetWorkers(workers)
	}
	entries := make([]batch.Entry, m)
	seq := uint64(0)
	b.ReportAllocs()
	if broadcast {
		b.SetBytes(int64(m * size)) // each payload is sealed once
	} else {
		b.SetBytes(int64(n * m * size))
	}
	for b.Loop() {
		builder.Reset()
		for j := range entries {
			entries[j] = batch.Entry{MessageID: uint64(j + 1), Payload: payload}
			if broadcast {
				entries[j] = batch.Entry{MessageID: uint64(j + 1), Broadcast: builder.AddBroadcast(payload)}
			}
		}
		for i := range ss {
			if _, err := builder.AddRecipient(ss[i].server, entries); err != nil {
				b.Fatal(err)
			}
		}
		seq++
		if _, err := builder.Build(seq, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*m)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkOpen verifies the signature and proof of one delivery and
// decrypts its leaf (the client's work per batch).
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{10, 1000} {
		for _, size := range []int{64, 1024, 16384} {
			b.Run(fmt.Sprintf("N=%d/M=10/S=%d", n, size), func(b *testing.B) {
				ss := sessions(b, n)
				payload := bytes.Repeat([]byte{0xcd}, size)
				builder := batch.NewBuilder(signer, nil)
				entries := make([]batch.Entry, 10)
				for j := range entries {
					entries[j] = batch.Entry{MessageID: uint64(j + 1), Payload: payload}
				}
				var h int
				for i := range ss {
					h, _ = builder.AddRecipient(ss[i].server, entries)
				}
				bt, err := builder.Build(1, 0)
				if err != nil {
					b.Fatal(err)
				}
				body, err := bt.AppendDelivery(nil, h)
				if err != nil {
					b.Fatal(err)
				}
				o := batch.NewOpener(signerKey(b), ss[n-1].client, 0)
				b.ReportAllocs()
				b.SetBytes(int64(10 * size))
				for b.Loop() {
					d, err := batch.ParseDelivery(body)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := o.Open(d, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerifyDeliveries checks the signatures of 64 deliveries from one
// server, batched (SIG-011) and one by one.
func BenchmarkVerifyDeliveries(b *testing.B) {
	ss := sessions(b, 1)
	builder := batch.NewBuilder(signer, nil)
	var ds []*batch.Delivery
	for seq := uint64(1); seq <= 64; seq++ {
		builder.Reset()
		h, _ := builder.AddRecipient(ss[0].server, []batch.Entry{{MessageID: seq, Payload: []byte("x")}})
		bt, err := builder.Build(seq, 0)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := bt.AppendDelivery(nil, h)
		d, err := batch.ParseDelivery(body)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, d)
	}
	pk := signerKey(b)
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, err := range batch.VerifyMany(sig.NewBatchVerifier(nil), pk, ds) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range ds {
				if err := sig.VerifyWitnessed(pk, keyschedule.SigBatch, d.HeaderBytes, d.Signature, d.Witness); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestBenchFixturesOpen keeps the benchmark fixtures honest: a delivery built
// the way the benchmarks build it opens to the expected messages.
func TestBenchFixturesOpen(t *testing.T) {
	ek := keyschedule.Envelope(bytes.Repeat([]byte{9}, 32))
	sk, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	ck, _ := batch.NewKeys(suite.AEADChaCha20Poly1305, ek)
	builder := batch.NewBuilder(signer, nil)
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
