package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/merkle"
)

// Shared with the targets of protocol_test.go and httpsig_test.go.
var (
	fuzzKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	fuzzPub   = fuzzKey.Public().(ed25519.PublicKey)
	fuzzLabel = "sealfeed v1 fuzz"
)

func FuzzVerifyInclusion(f *testing.F) {
	f.Add([]byte("leaf"), uint32(0), uint32(1), []byte{})
	f.Add([]byte("leaf"), uint32(3), uint32(7), make([]byte, 96))
	f.Fuzz(func(t *testing.T, leaf []byte, index, size uint32, path []byte) {
		var hashes [][32]byte
		for len(path) >= 32 && len(hashes) < 40 {
			hashes = append(hashes, [32]byte(path[:32]))
			path = path[32:]
		}
		var root [32]byte
		merkle.VerifyInclusion(merkle.LeafHash(leaf), index, size, hashes, root)
		if size > 0 && size < 5000 && index < size {
			ls := make([][32]byte, size)
			for i := range ls {
				ls[i] = merkle.LeafHash([]byte{byte(i), byte(i >> 8)})
			}
			var tr merkle.Tree
			r := tr.Build(ls)
			if err := merkle.VerifyInclusion(ls[index], index, size, tr.AppendPath(nil, index), r); err != nil {
				t.Fatalf("honest proof rejected: %v", err)
			}
		}
	})
}
