package sealed

import (
	"crypto/ed25519"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/sig"
)

// BenchmarkSeal and BenchmarkOpen compare the suites of SEAL-001 on a 1 KiB
// payload; read them as ratios within one run.
func BenchmarkSeal(b *testing.B) {
	for _, c := range []struct {
		name string
		s    Suite
	}{{"hybrid", SuiteHybrid}, {"x25519", SuiteX25519}} {
		b.Run(c.name, func(b *testing.B) {
			id, pub := ed25519.NewKeyFromSeed(make([]byte, 32)), ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
			k, _ := NewKey(id, c.s, t0, 0)
			rec, err := VerifyRecord(k.Record.Raw(), id.Public().(ed25519.PublicKey), t0)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 1024)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Seal(rec, pub, payload, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, c := range []struct {
		name string
		s    Suite
	}{{"hybrid", SuiteHybrid}, {"x25519", SuiteX25519}} {
		b.Run(c.name, func(b *testing.B) {
			id, pub := ed25519.NewKeyFromSeed(make([]byte, 32)), ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
			k, _ := NewKey(id, c.s, t0, 0)
			rec, _ := VerifyRecord(k.Record.Raw(), id.Public().(ed25519.PublicKey), t0)
			env, _ := Seal(rec, pub, make([]byte, 1024), t0)
			pk, _ := sig.ParsePublicKey(pub.Public().(ed25519.PublicKey))
			o := &Opener{Keys: []*Key{k}, Publishers: []*sig.PublicKey{pk}}
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.Open(env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
