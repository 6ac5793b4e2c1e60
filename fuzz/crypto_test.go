package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/merkle"
	"github.com/sealfeed/sealfeed/protocol/replay"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

var (
	fuzzKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	fuzzPub   = fuzzKey.Public().(ed25519.PublicKey)
	fuzzLabel = "sealfeed v1 fuzz"
)

func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte(fuzzPub))
	f.Add(make([]byte, 32))
	f.Add(append([]byte{1}, make([]byte, 31)...))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := sig.ParsePublicKey(b)
		if err == nil && !bytes.Equal(k.Bytes(), b) {
			t.Fatal("accepted key re-encodes differently")
		}
	})
}

// Whatever single verification accepts, batch verification accepts, and the
// other way round (SIG-011).
func FuzzVerify(f *testing.F) {
	msg := []byte("message")
	s, w, _ := sig.SignWitnessed(fuzzKey, fuzzLabel, msg)
	f.Add(msg, s, w)
	f.Add(msg, make([]byte, 64), make([]byte, 32))
	pk, _ := sig.ParsePublicKey(fuzzPub)
	f.Fuzz(func(t *testing.T, msg, s, w []byte) {
		single := sig.VerifyWitnessed(pk, fuzzLabel, msg, s, w)
		v := sig.NewBatchVerifier(nil)
		v.Add(pk, fuzzLabel, msg, s, w)
		ok, res := v.Verify()
		if (single == nil) != ok || (single == nil) != (res[0] == nil) {
			t.Fatalf("single %v, batch %v", single, res[0])
		}
		if single == nil && sig.Verify(pk, fuzzLabel, msg, s) != nil {
			t.Fatal("witnessed signature valid but plain signature not")
		}
	})
}

func FuzzParseCredential(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	c, _ := credential.Issue(fuzzKey, fuzzPub, "realm", 1, now, now.Add(time.Hour))
	f.Add(c.Marshal())
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := credential.ParseCredential(b)
		if err == nil && !bytes.Equal(c.Marshal(), b) {
			t.Fatal("credential does not re-encode to the same bytes")
		}
	})
}

func FuzzParseRevocationList(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	l, _ := credential.IssueRevocationList(fuzzKey, 3, now, now.Add(time.Hour), []uint64{1, 5, 9})
	f.Add(l.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := credential.ParseRevocationList(b)
		if err == nil && !bytes.Equal(l.Marshal(), b) {
			t.Fatal("revocation list does not re-encode to the same bytes")
		}
	})
}

func FuzzValidateCredential(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	c, _ := credential.Issue(fuzzKey, fuzzPub, "realm", 1, now, now.Add(time.Hour))
	l, _ := credential.IssueRevocationList(fuzzKey, 3, now, now.Add(time.Hour), []uint64{2})
	f.Add(c.Marshal(), l.Marshal())
	auth, _ := sig.ParsePublicKey(fuzzPub)
	f.Fuzz(func(t *testing.T, cb, lb []byte) {
		credential.Validate(credential.Trust{Authority: auth, Realm: "realm"}, cb, lb, now)
	})
}

// The window, driven by arbitrary IDs, matches the definition of REPLAY-011.
func FuzzWindow(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var w replay.Window
		seen := map[uint64]bool{}
		var top uint64
		for len(ops) >= 3 {
			d := uint64(ops[1])<<8 | uint64(ops[2])
			var id uint64
			if ops[0]&1 == 0 {
				id = top + d
			} else if d <= top {
				id = top - d
			}
			ops = ops[3:]
			var want replay.Result
			switch {
			case id == 0:
				want = replay.Invalid
			case id > top:
				want = replay.New
			case top-id >= replay.WindowSize:
				want = replay.Stale
			case seen[id]:
				want = replay.Duplicate
			default:
				want = replay.New
			}
			if got := w.Accept(id); got != want {
				t.Fatalf("Accept(%d) with top %d = %v, want %v", id, top, got, want)
			}
			if want == replay.New {
				seen[id] = true
				top = max(top, id)
			}
		}
	})
}

func FuzzUnmarshalReplayState(f *testing.F) {
	var w replay.Window
	w.Accept(3)
	b, _ := w.MarshalBinary()
	f.Add(b)
	var s replay.Sequences
	s.Accept([32]byte{1}, 7)
	sb, _ := s.MarshalBinary()
	f.Add(sb)
	f.Fuzz(func(t *testing.T, b []byte) {
		var w replay.Window
		if w.UnmarshalBinary(b) == nil {
			again, _ := w.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Fatal("window does not re-encode")
			}
		}
		var s replay.Sequences
		if s.UnmarshalBinary(b) == nil {
			again, _ := s.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Fatal("sequences do not re-encode")
			}
		}
	})
}

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
