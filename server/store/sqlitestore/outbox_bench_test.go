package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// BenchmarkAckOutbox: acknowledging 100 messages in one Ack call, under
// synchronous=NORMAL, with no webhook filter ("off", the store as it ran
// before the outbox), with a filter that selects no publisher ("other":
// one extra read per message) and with one that selects the publisher
// ("on": the read and the outbox insert, STORE-030). Compare the three in
// one run: the ratio is the cost webhooks add to the ack path.
func BenchmarkAckOutbox(b *testing.B) {
	for _, bc := range []struct {
		name   string
		filter func(string) bool
	}{
		{"off", nil},
		{"other", func(p string) bool { return p == "another" }},
		{"on", func(p string) bool { return p == "p" }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "db"), Options{StorageKey: testKey(7), Synchronous: "NORMAL"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.SetOutboxFilter(bc.filter)
			ctx := context.Background()
			c := [32]byte{1}
			pubs := make([]store.Publication, 100)
			for i := range pubs {
				pubs[i] = store.Publication{To: [][32]byte{c}, Payload: make([]byte, 64), TTL: time.Hour}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: pubs}, nil)
				if err != nil {
					b.Fatal(err)
				}
				seqs := make([]uint64, len(res))
				for i, r := range res {
					seqs[i] = r.Seq
				}
				b.StartTimer()
				if n, err := s.Ack(ctx, map[[32]byte][]uint64{c: seqs}); err != nil || n != len(seqs) {
					b.Fatalf("ack: %d, %v", n, err)
				}
			}
		})
	}
}
