// Package detrand makes a deterministic randomness source derandomize the
// server's ML-KEM-768 encapsulation too, for the test vectors: with a
// *Reader as its randomness, protocol/suite reads the 32-byte encapsulation
// message m from the reader (after the share checks, before the X25519
// seed) and encapsulates with it. With any other reader the encapsulation
// draws from crypto/rand inside crypto/mlkem.
//
// Only test tooling imports this package (the vector generator and runner,
// the conformance shims, tests); cmd/sealfeed's TestBinaryLinksNoTestHooks
// proves that the sealfeed binary links neither it nor
// crypto/mlkem/mlkemtest.
package detrand

import (
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"io"
)

// Reader is a deterministic randomness source for the vectors.
type Reader struct{ io.Reader }

// New returns r as a Reader.
func New(r io.Reader) *Reader { return &Reader{r} }

// EncapsulateDerandomized768 encapsulates to ek with the message m instead
// of fresh randomness (FIPS 203's ML-KEM.Encaps_internal).
func (*Reader) EncapsulateDerandomized768(ek *mlkem.EncapsulationKey768, m []byte) (sharedKey, ciphertext []byte, err error) {
	return mlkemtest.Encapsulate768(ek, m)
}
