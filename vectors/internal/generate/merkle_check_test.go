package generate

import (
	"bytes"
	"testing"
)

// The second-preimage vector is only meaningful if the un-prefixed leaf
// hash of its leaf really completes the path to the root.
func TestSecondPreimageVectorIsMeaningful(t *testing.T) {
	var hs [][]byte
	for i := 0; i < 7; i++ {
		hs = append(hs, leafHash(merkleLeaf("merkle", "tree-7", i)))
	}
	root := mth(hs)
	n01 := nodeHash(hs[0], hs[1])
	n23, n456 := nodeHash(hs[2], hs[3]), nodeHash(nodeHash(hs[4], hs[5]), hs[6])
	if !bytes.Equal(nodeHash(nodeHash(n01, n23), n456), root) {
		t.Fatal("the 4-leaf view does not reach the root")
	}
}
