package merkle

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// mth is RFC 9162's recursive definition, the reference for the fast code.
func mth(leaves [][HashSize]byte) [HashSize]byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return NodeHash(&l, &r)
}

// refPath is RFC 9162 §2.1.3.1's PATH(m, D[n]).
func refPath(m int, leaves [][HashSize]byte) [][HashSize]byte {
	if len(leaves) == 1 {
		return nil
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	if m < k {
		return append(refPath(m, leaves[:k]), mth(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), mth(leaves[:k]))
}

func leaves(n int) [][HashSize]byte {
	out := make([][HashSize]byte, n)
	for i := range out {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		out[i] = LeafHash(b[:])
	}
	return out
}

func TestLeafAndNodeHashesAreSeparated(t *testing.T) {
	a, b := LeafHash([]byte("a")), LeafHash([]byte("b"))
	n := NodeHash(&a, &b)
	// A 64-byte leaf equal to the concatenation of two hashes must not hash
	// to their interior node (second preimage, MERKLE-002 rationale).
	if LeafHash(append(a[:], b[:]...)) == n {
		t.Fatal("leaf and node hashes collide")
	}
	if LeafHash(nil) != sha256.Sum256([]byte{0}) {
		t.Fatal("leaf hash prefix")
	}
}

func TestTreeMatchesRFC9162(t *testing.T) {
	var tr Tree
	for n := 1; n <= 70; n++ {
		ls := leaves(n)
		root := tr.Build(ls)
		if root != mth(ls) {
			t.Fatalf("n=%d: root differs from the recursive definition", n)
		}
		for i := 0; i < n; i++ {
			p := tr.AppendPath(nil, uint32(i))
			ref := refPath(i, ls)
			if len(p) != len(ref) || len(p) != PathLen(uint32(i), uint32(n)) {
				t.Fatalf("n=%d i=%d: path length %d, reference %d, PathLen %d", n, i, len(p), len(ref), PathLen(uint32(i), uint32(n)))
			}
			for j := range p {
				if p[j] != ref[j] {
					t.Fatalf("n=%d i=%d: path differs at %d", n, i, j)
				}
			}
			if err := VerifyInclusion(ls[i], uint32(i), uint32(n), p, root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
		}
	}
}

// The batch builder's workers hash their own chunks of leaves into the
// tree as they go (Prepare, HashSubtrees, Finish): whatever the depth of the
// subtrees, however the aligned blocks are grouped into ranges and in
// whatever order the ranges are hashed, concurrently or not, the tree is
// Build's, every level of it. One Tree is reused across sizes.
func TestHashSubtreesInAnyOrderMatchesBuild(t *testing.T) {
	var split, ser Tree
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.OneOf(rapid.IntRange(1, 70), rapid.IntRange(1, 5000), rapid.SampledFrom([]int{64, 65, 1023, 1024, 4096})).Draw(t, "n")
		depth := rapid.IntRange(0, 14).Draw(t, "depth")
		ls := leaves(n)
		// Cut the blocks of 2^depth leaves into ranges at drawn block
		// boundaries.
		block := 1 << depth
		blocks := (n + block - 1) / block
		var cuts []int
		for k := 0; k < blocks; k++ {
			if k == 0 || rapid.IntRange(0, 3).Draw(t, "cut") == 0 {
				cuts = append(cuts, min(k*block, n))
			}
		}
		cuts = append(cuts, n)
		order := rapid.Permutation(makeRange(len(cuts)-1)).Draw(t, "order")
		concurrent := rapid.Bool().Draw(t, "concurrent")
		level0 := split.Prepare(n)
		if len(level0) != n {
			t.Fatalf("Prepare(%d) returned %d leaves", n, len(level0))
		}
		var wg sync.WaitGroup
		for _, c := range order {
			lo, hi := cuts[c], cuts[c+1]
			hash := func() {
				copy(level0[lo:hi], ls[lo:hi])
				split.HashSubtrees(depth, lo, hi)
			}
			if concurrent {
				wg.Add(1)
				go func() { defer wg.Done(); hash() }()
			} else {
				hash()
			}
		}
		wg.Wait()
		root := split.Finish(depth)
		if want := ser.Build(ls); root != want || split.Root() != want {
			t.Fatalf("n=%d depth=%d: root differs from Build", n, depth)
		}
		for d := range ser.levels {
			for j := range ser.levels[d] {
				if split.levels[d][j] != ser.levels[d][j] {
					t.Fatalf("n=%d depth=%d: node %d of level %d differs from Build", n, depth, j, d)
				}
			}
		}
	})
}

func makeRange(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// HashSubtrees refuses, as a caller's bug, a range that does not start and
// end on the boundaries of its subtrees: such a range would share a node
// with its neighbour.
func TestHashSubtreesRefusesUnalignedRange(t *testing.T) {
	var tr Tree
	copy(tr.Prepare(100), leaves(100))
	for _, r := range [][3]int{{2, 2, 8}, {2, 0, 6}, {3, 8, 99}, {0, 8, 101}, {0, 9, 8}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HashSubtrees(%d, %d, %d) did not panic", r[0], r[1], r[2])
				}
			}()
			tr.HashSubtrees(r[0], r[1], r[2])
		}()
	}
	// The tree's last, partial block ends at the tree size.
	tr.HashSubtrees(3, 96, 100)
	tr.HashSubtrees(10, 0, 100) // deeper than the tree: up to the root
}

func TestInclusionProofTamperRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 2000).Draw(t, "n")
		i := rapid.IntRange(0, n-1).Draw(t, "i")
		ls := leaves(n)
		var tr Tree
		root := tr.Build(ls)
		path := tr.AppendPath(nil, uint32(i))
		if err := VerifyInclusion(ls[i], uint32(i), uint32(n), path, root); err != nil {
			t.Fatal(err)
		}
		leaf, idx, size, r := ls[i], uint32(i), uint32(n), root
		p := append([][HashSize]byte(nil), path...)
		switch m := rapid.IntRange(0, 4).Draw(t, "mutation"); m {
		case 0:
			leaf[rapid.IntRange(0, 31).Draw(t, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		case 1:
			if len(p) == 0 {
				t.Skip("no path")
			}
			j := rapid.IntRange(0, len(p)-1).Draw(t, "j")
			p[j][rapid.IntRange(0, 31).Draw(t, "byte")] ^= 1
		case 2:
			r[rapid.IntRange(0, 31).Draw(t, "byte")] ^= 1
		case 3:
			other := uint32(rapid.IntRange(0, n).Draw(t, "other"))
			if other == idx {
				t.Skip("same index")
			}
			idx = other
		case 4:
			if len(p) == 0 {
				t.Skip("no path")
			}
			p = p[:len(p)-1]
		}
		if err := VerifyInclusion(leaf, idx, size, p, r); err == nil {
			t.Fatalf("mutation accepted (n=%d i=%d)", n, i)
		}
	})
}

func TestPathLen(t *testing.T) {
	for _, c := range []struct {
		i, n uint32
		want int
	}{{0, 1, 0}, {0, 2, 1}, {2, 3, 1}, {0, 3, 2}, {4, 5, 1}, {0, 5, 3}, {7, 8, 3}, {3, 3, -1}, {0, 0, -1}} {
		if got := PathLen(c.i, c.n); got != c.want {
			t.Errorf("PathLen(%d, %d) = %d, want %d", c.i, c.n, got, c.want)
		}
	}
}

func BenchmarkBuild1000(b *testing.B) {
	ls := leaves(1000)
	var tr Tree
	b.ReportAllocs()
	for b.Loop() {
		tr.Build(ls)
	}
}
