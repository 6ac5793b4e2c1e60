package generate

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("SecondPreimage", "MODIFIED", "An interior node presented as a leaf: only the 0x00/0x01 prefixes tell them apart (spec §10.3, MERKLE-002).",
		"Without domain separation a proof for a leaf that was never in the batch verifies.")
	note("WrongIndex", "MODIFIED", "A valid proof presented for another leaf index or another tree size (MERKLE-001).", "")
	note("PathLength", "MALFORMED", "An audit path shorter or longer than the algorithm needs for (leaf_index, leaf_count) (MERKLE-001).", "")
	note("ModifiedPath", "MODIFIED", "An audit path with a changed or reordered hash.", "")
	note("ModifiedLeaf", "MODIFIED", "A leaf changed after the tree was built.", "")
	note("LeafCount", "RESOURCE", "leaf_count outside 1 … MaxBatchLeaves (MERKLE-002).", "")
}

// RFC 9162 §2.1.1 over encoded leaves, written here from the RFC.

func leafHash(leaf []byte) []byte {
	h := sha256.Sum256(append([]byte{0x00}, leaf...))
	return h[:]
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// split returns the largest power of two smaller than n (n ≥ 2).
func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// mth is the Merkle Tree Hash of the leaf hashes hs.
func mth(hs [][]byte) []byte {
	if len(hs) == 1 {
		return hs[0]
	}
	k := split(len(hs))
	return nodeHash(mth(hs[:k]), mth(hs[k:]))
}

// auditPath is PATH(m, D[n]), leaf to root.
func auditPath(m int, hs [][]byte) [][]byte {
	if len(hs) <= 1 {
		return nil
	}
	k := split(len(hs))
	if m < k {
		return append(auditPath(m, hs[:k]), mth(hs[k:]))
	}
	return append(auditPath(m-k, hs[k:]), mth(hs[:k]))
}

// merkleLeaf is an encoded recipient Leaf (spec §10.1) with random tag and
// sealed bytes.
func merkleLeaf(area, name string, i int) []byte {
	r := randBytes(area, fmt.Sprintf("%s/leaf/%d", name, i), 16+17+i%24)
	b := []byte{1}
	b = append(b, r[:16]...)
	return wire.AppendOpaque(b, r[16:], 1<<24-1)
}

// bigLeafHash is the leaf hash of leaf i of the MaxBatchLeaves tree: an
// encoded blob Leaf whose sealed bytes hold i.
func bigLeaf(i int) []byte {
	sealed := make([]byte, 17)
	copy(sealed, wire.AppendUint32(nil, uint32(i)))
	return wire.AppendOpaque(wire.AppendUint16([]byte{2}, 1), sealed, 1<<24-1)
}

// verifyPath is RFC 9162 §2.1.3.2, written here from the RFC.
func verifyPath(leaf []byte, index, size uint64, path [][]byte, root []byte) bool {
	if index >= size {
		return false
	}
	fn, sn, r := index, size-1, leafHash(leaf)
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, root)
}

func hexList(hs [][]byte) []vectors.Hex {
	out := make([]vectors.Hex, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

var merkleArea = areaDef{
	name: "merkle",
	build: func(a *area) (any, error) {
		var groups []vectors.MerkleGroup
		tree := func(n int) ([][]byte, [][]byte, vectors.MerkleGroup) {
			name := fmt.Sprintf("tree-%d", n)
			var leaves, hs [][]byte
			for i := 0; i < n; i++ {
				l := merkleLeaf(a.name, name, i)
				leaves = append(leaves, l)
				hs = append(hs, leafHash(l))
			}
			return leaves, hs, vectors.MerkleGroup{Type: "MerkleInclusion", LeafCount: n, Leaves: hexList(leaves), Root: mth(hs)}
		}
		proof := func(g *vectors.MerkleGroup, t vectors.Test, idx, count int, leaf []byte, path [][]byte) {
			if ok := verifyPath(leaf, uint64(idx), uint64(count), path, g.Root); ok != (t.Result == vectors.Valid) {
				a.fail("tcId %d: verifier says %v", t.TcID, ok)
			}
			g.Tests = append(g.Tests, vectors.MerkleTest{Test: t, LeafIndex: uint32(idx), LeafCount: uint32(count), Leaf: leaf, Path: hexList(path)})
		}
		for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33} {
			leaves, hs, g := tree(n)
			idxs := []int{}
			if n <= 8 {
				for i := 0; i < n; i++ {
					idxs = append(idxs, i)
				}
			} else {
				idxs = []int{0, n / 2, n - 2, n - 1}
			}
			for _, i := range idxs {
				proof(&g, a.valid(fmt.Sprintf("tree-%d/leaf-%d", n, i), fmt.Sprintf("leaf %d of %d", i, n), "MERKLE-001", "Normal"),
					i, n, leaves[i], auditPath(i, hs))
			}
			groups = append(groups, g)
		}

		// Mutations on a tree of 7 leaves (unbalanced) and of 4 (balanced).
		leaves, hs, g := tree(7)
		g.Tests = nil
		bad := func(name, comment, req string, code alert.Code, idx, count int, leaf []byte, path [][]byte, flags ...string) {
			if verifyPath(leaf, uint64(idx), uint64(count), path, g.Root) {
				a.fail("%s: the proof verifies", name)
			}
			proof(&g, a.invalid("tree-7/"+name, comment, req, code.String(), flags...), idx, count, leaf, path)
		}
		p2 := auditPath(2, hs)
		p6 := auditPath(6, hs)
		flipped := func(h []byte) []byte { h = bytes.Clone(h); h[0] ^= 1; return h }
		with := func(path [][]byte, i int, h []byte) [][]byte {
			out := append([][]byte(nil), path...)
			out[i] = h
			return out
		}
		proof(&g, a.valid("tree-7/leaf-2-reference", "leaf 2 of 7, the proof the mutations below start from", "MERKLE-001", "Normal"), 2, 7, leaves[2], p2)
		bad("index-equals-count", "leaf_index = leaf_count = 7, with the path of leaf 6", "MERKLE-001", alert.BadProof, 7, 7, leaves[6], p6, "WrongIndex")
		bad("index-max", "leaf_index = 2^32 − 1", "MERKLE-001", alert.BadProof, 1<<32-1, 7, leaves[6], p6, "WrongIndex")
		bad("wrong-index", "the proof of leaf 2 presented as leaf 3", "MERKLE-001", alert.BadProof, 3, 7, leaves[2], p2, "WrongIndex")
		bad("wrong-index-sibling", "leaf 3 with the proof of leaf 2", "MERKLE-001", alert.BadProof, 2, 7, leaves[3], p2, "WrongIndex")
		bad("count-minus-1", "leaf_count 6 with a path for 7", "MERKLE-001", alert.BadProof, 6, 6, leaves[6], p6, "WrongIndex")
		// MERKLE-003: the size is not an input of the tree hash, so the path
		// of leaf 2 of 7 also verifies for a claimed size of 8. Only the
		// signed leaf_count makes the proof meaningful.
		if !verifyPath(leaves[2], 2, 8, p2, g.Root) {
			return nil, fmt.Errorf("MERKLE-003 example does not verify")
		}
		proof(&g, a.valid("tree-7/count-plus-1", "leaf 2 of 7 with leaf_count 8: the same path verifies, since the size is not hashed; a verifier must take leaf_count from the signed header", "MERKLE-003", "WrongIndex"),
			2, 8, leaves[2], p2)
		bad("count-plus-1-last", "leaf 6 of 7 (path of 1 hash) with leaf_count 8 (path of 3 hashes)", "MERKLE-001", alert.BadProof, 6, 8, leaves[6], p6, "WrongIndex")
		bad("path-short", "the path without its last hash", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], p2[:len(p2)-1], "PathLength")
		bad("path-empty", "an empty path", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], nil, "PathLength")
		bad("path-long", "the path with the root appended", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], append(append([][]byte(nil), p2...), g.Root), "PathLength")
		bad("path-long-zero", "the path with a zero hash appended", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], append(append([][]byte(nil), p2...), make([]byte, 32)), "PathLength")
		bad("path-leaf-6-short", "leaf 6 (path length 1) with the path of leaf 2 (length 3)", "MERKLE-001", alert.BadProof, 6, 7, leaves[6], p2, "PathLength")
		bad("path-first-flipped", "bit 0 of the first path hash flipped", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], with(p2, 0, flipped(p2[0])), "ModifiedPath")
		bad("path-last-flipped", "bit 0 of the last path hash flipped", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], with(p2, len(p2)-1, flipped(p2[len(p2)-1])), "ModifiedPath")
		bad("path-swapped", "the first two path hashes swapped", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], with(with(p2, 0, p2[1]), 1, p2[0]), "ModifiedPath")
		bad("path-reversed", "the path root to leaf", "MERKLE-001", alert.BadProof, 2, 7, leaves[2], [][]byte{p2[2], p2[1], p2[0]}, "ModifiedPath")
		bad("leaf-flipped", "bit 0 of the leaf's last byte flipped", "MERKLE-001", alert.BadProof, 2, 7, func() []byte {
			l := bytes.Clone(leaves[2])
			l[len(l)-1] ^= 1
			return l
		}(), p2, "ModifiedLeaf")
		bad("leaf-truncated", "the leaf without its last byte", "MERKLE-001", alert.BadProof, 2, 7, leaves[2][:len(leaves[2])-1], p2, "ModifiedLeaf")
		bad("leaf-hash-as-leaf", "the leaf hash given in place of the leaf", "MERKLE-001", alert.BadProof, 2, 7, hs[2], p2, "ModifiedLeaf")
		// Second preimage: the tree of 7 is node(node(n01, n23), node(n45, h6)).
		// A verifier that hashed leaves without the 0x00 prefix would take
		// 0x01 || h0 || h1 as a leaf hashing to n01, leaf 0 of a 4-leaf tree
		// with the same root.
		n23, n456 := nodeHash(hs[2], hs[3]), nodeHash(nodeHash(hs[4], hs[5]), hs[6])
		bad("interior-node-as-leaf", "0x01 || h(leaf 0) || h(leaf 1) presented as leaf 0 of a tree of 4: it matches the root only without the leaf prefix",
			"MERKLE-001", alert.BadProof, 0, 4, append([]byte{0x01}, append(bytes.Clone(hs[0]), hs[1]...)...), [][]byte{n23, n456}, "SecondPreimage")
		// leaf_count outside 1 … 2^20 is illegal_parameter when the batch
		// header is checked (MERKLE-002, batch.json); a bare proof check
		// rejects these by MERKLE-001.
		bad("count-zero", "leaf_count 0: no index is below it", "MERKLE-001", alert.BadProof, 0, 0, leaves[0], nil, "LeafCount")
		bad("count-over-max", "leaf_count MaxBatchLeaves + 1 with a 3-hash path (21 needed)", "MERKLE-001", alert.BadProof, 2, 1<<20+1, leaves[2], p2, "LeafCount")
		bad("count-max-uint32", "leaf_count 2^32 − 1 with a 3-hash path", "MERKLE-001", alert.BadProof, 2, 1<<32-1, leaves[2], p2, "LeafCount")
		groups = append(groups, g)

		// A single-leaf tree: the root is the leaf hash and the path empty.
		l1, h1, g1 := tree(1)
		g1.Tests = nil
		proof(&g1, a.invalid("tree-1/path-one-hash", "one leaf with a one-hash path", "MERKLE-001", alert.BadProof.String(), "PathLength"),
			0, 1, l1[0], [][]byte{h1[0]})
		proof(&g1, a.invalid("tree-1/index-1", "leaf_index 1 in a tree of one", "MERKLE-001", alert.BadProof.String(), "WrongIndex"),
			1, 1, l1[0], nil)
		groups = append(groups, g1)

		// The largest tree, MaxBatchLeaves = 2^20 leaves: paths of 20 hashes.
		const max = 1 << 20
		big := make([][]byte, max)
		for i := range big {
			big[i] = leafHash(bigLeaf(i))
		}
		gb := vectors.MerkleGroup{Type: "MerkleInclusion", LeafCount: max, Root: mth(big)}
		for _, i := range []int{0, max/2 + 12345, max - 1} {
			proof(&gb, a.valid(fmt.Sprintf("tree-max/leaf-%d", i), fmt.Sprintf("leaf %d of MaxBatchLeaves: a 20-hash path", i), "MERKLE-002", "MaxSize"),
				i, max, bigLeaf(i), auditPath(i, big))
		}
		p := auditPath(max-1, big)
		proof(&gb, a.invalid("tree-max/path-21", "a 21-hash path", "MERKLE-001", alert.BadProof.String(), "PathLength"),
			max-1, max, bigLeaf(max-1), append(append([][]byte(nil), p...), gb.Root))
		groups = append(groups, gb)

		return file(a, []string{
			"RFC 9162 §2.1 Merkle trees over encoded Leaf structures (spec §10.3): leaf_hash = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left || right).",
			"Each test is an inclusion proof checked with RFC 9162 §2.1.3.2 against the group's root; leafCount is the header's leaf_count.",
			"Any failure is bad_proof (MERKLE-001). In a delivery, leaf_count is first checked to be within 1 … 2^20 (MERKLE-002, illegal_parameter); batch.json tests that.",
		}, groups), nil
	},
	schema: func() map[string]any {
		return fileSchema("merkle", "SealFeed v1 Merkle inclusion proof vectors",
			obj{"type": constant("MerkleInclusion"), "leafCount": integer(1, 1<<20), "leaves": arrayOf(hexAny()), "root": hexLen(32)}, []string{"leaves"},
			obj{"leafIndex": integer(0, 1<<32-1), "leafCount": integer(0, 1<<32-1), "leaf": hexAny(), "path": arrayOf(hexLen(32))}, nil)
	},
}
