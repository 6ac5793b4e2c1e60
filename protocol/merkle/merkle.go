// Package merkle implements the Merkle Tree Hash of RFC 9162 §2.1 over the
// leaves of a batch (spec §10.3): leaf and interior hashes with distinct
// prefixes, audit paths, and their verification (MERKLE-001).
package merkle

import (
	"crypto/sha256"
	"math/bits"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// HashSize is the size of every hash in the tree.
const HashSize = sha256.Size

// LeafHash returns SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) [HashSize]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// NodeHash returns SHA-256(0x01 || left || right).
func NodeHash(left, right *[HashSize]byte) [HashSize]byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// PathLen returns the exact length of the audit path of leaf index in a tree
// of size leaves, or -1 if index ≥ size.
func PathLen(index, size uint32) int {
	if index >= size {
		return -1
	}
	// RFC 9162 §2.1.3.2: one hash per level of the tree containing index;
	// the tree's right edge can skip levels.
	n := 0
	fn, sn := index, size-1
	for sn > 0 {
		if fn&1 == 1 || fn != sn {
			n++
		}
		fn >>= 1
		sn >>= 1
	}
	return n
}

// Tree holds the levels of a tree built over leaf hashes. A Tree is
// reusable: Build keeps the storage of the previous tree.
type Tree struct {
	levels [][][HashSize]byte // levels[0] = leaves; each level ceil(prev/2), odd last node promoted
}

// Size returns the number of leaves.
func (t *Tree) Size() uint32 {
	if len(t.levels) == 0 {
		return 0
	}
	return uint32(len(t.levels[0]))
}

// Build computes the tree over leafHashes (copied) and returns the root.
// With RFC 9162's split at the largest power of two below n, the tree is
// the same as pairing nodes level by level and promoting an unpaired last
// node unchanged.
func (t *Tree) Build(leafHashes [][HashSize]byte) [HashSize]byte {
	copy(t.Prepare(len(leafHashes)), leafHashes)
	return t.Finish(0)
}

// SubtreeDepth returns the depth of the aligned subtrees that split a tree
// of n leaves into at least parts blocks where it can: the largest D with
// 2^D ≤ n/parts, and 0 (single leaves) when n < 2·parts.
func SubtreeDepth(n, parts int) int {
	return max(bits.Len(uint(n/max(parts, 1)))-1, 0)
}

// Prepare sizes the tree for n ≥ 1 leaves, keeping the storage of the
// previous tree, and returns its leaf level for the caller to fill with the
// leaf hashes; then HashSubtrees and Finish compute the rest. The slice
// stays valid until the next Prepare or Build.
func (t *Tree) Prepare(n int) [][HashSize]byte {
	if n <= 0 {
		panic("merkle: empty tree")
	}
	levels := bits.Len(uint(n-1)) + 1
	for len(t.levels) < levels {
		t.levels = append(t.levels, nil)
	}
	t.levels = t.levels[:levels]
	for d := range levels {
		size := (n + 1<<d - 1) >> d // ceil(n / 2^d)
		if cap(t.levels[d]) < size {
			t.levels[d] = make([][HashSize]byte, size)
		}
		t.levels[d] = t.levels[d][:size]
	}
	return t.levels[0]
}

// HashSubtrees computes levels 1 to depth (at most the root's) over the
// leaves lo…hi−1, whose hashes must be in place: the nodes of the aligned
// subtrees of 2^depth leaves that cover them. lo must be a multiple of
// 2^depth, and hi too unless it is the tree size. In the level-by-level
// tree every aligned block of 2^depth leaves is the subtree of one node at
// level depth, and the promoted last node of a level lies in the last
// block; so calls over disjoint ranges write disjoint nodes and may run
// concurrently.
func (t *Tree) HashSubtrees(depth, lo, hi int) {
	depth = min(depth, len(t.levels)-1)
	if lo&(1<<depth-1) != 0 || (hi&(1<<depth-1) != 0 && hi != len(t.levels[0])) || lo > hi || hi > len(t.levels[0]) {
		panic("merkle: HashSubtrees over a range not aligned to its subtrees")
	}
	t.hashLevels(1, depth, lo, hi)
}

// Finish computes the levels above depth, once HashSubtrees has covered
// every leaf up to depth (nothing to cover for depth 0), and returns the
// root.
func (t *Tree) Finish(depth int) [HashSize]byte {
	top := len(t.levels) - 1
	t.hashLevels(min(depth, top)+1, top, 0, len(t.levels[0]))
	return t.levels[top][0]
}

// hashLevels computes levels from…to over the nodes that cover leaves
// [lo, hi); lo is a multiple of 2^to, and hi is too unless it is the
// tree size.
func (t *Tree) hashLevels(from, to, lo, hi int) {
	for d := from; d <= to; d++ {
		prev, cur := t.levels[d-1], t.levels[d]
		for j := lo >> d; j < (hi+1<<d-1)>>d; j++ {
			if 2*j+1 < len(prev) {
				cur[j] = NodeHash(&prev[2*j], &prev[2*j+1])
			} else {
				cur[j] = prev[2*j] // the unpaired last node, promoted
			}
		}
	}
}

// Root returns the root of the last Build.
func (t *Tree) Root() [HashSize]byte { return t.levels[len(t.levels)-1][0] }

// AppendPath appends the audit path of leaf index, leaf to root.
func (t *Tree) AppendPath(dst [][HashSize]byte, index uint32) [][HashSize]byte {
	i := int(index)
	for d := 0; d < len(t.levels)-1; d++ {
		level := t.levels[d]
		sib := i ^ 1
		if sib < len(level) {
			dst = append(dst, level[sib])
		}
		i >>= 1
	}
	return dst
}

// VerifyInclusion checks an audit path with the algorithm of RFC 9162
// §2.1.3.2. Any failure is bad_proof (MERKLE-001).
func VerifyInclusion(leafHash [HashSize]byte, index, size uint32, path [][HashSize]byte, root [HashSize]byte) error {
	if index >= size {
		return alert.Errorf(alert.BadProof, "leaf index %d not below tree size %d", index, size)
	}
	if len(path) != PathLen(index, size) {
		return alert.Errorf(alert.BadProof, "path of %d hashes, want %d", len(path), PathLen(index, size))
	}
	fn, sn := index, size-1
	r := leafHash
	for _, p := range path {
		if sn == 0 {
			return alert.New(alert.BadProof, "path longer than the tree")
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(&p, &r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = NodeHash(&r, &p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || r != root {
		return alert.New(alert.BadProof, "inclusion proof does not lead to the signed root")
	}
	return nil
}
