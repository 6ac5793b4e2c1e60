package sqlitestore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
)

// Message handles (API-024, STORE-012).
//
// A message's public handle is its row ID under a keyed pseudorandom
// permutation: one AES-128 block, id (uint64, big-endian) ‖ eight zero
// bytes, encrypted under a key derived from the storage key with HKDF-SHA256
// and the label labelHandleKey, written as 32 lower-case hex digits. Status
// decrypts the handle instead of looking it up in an index, and takes it
// for a message only when the eight check bytes are zero: a handle with a
// flipped bit, or one from another store, decrypts to random bytes and is
// not found (with probability 1 − 2⁻⁶⁴), never to another message.
const labelHandleKey = "sealfeed v1 storage handle key"

// handleCodec encodes and decodes handles; safe for concurrent use.
type handleCodec struct{ block cipher.Block }

func newHandleCodec(storageKey []byte) (handleCodec, error) {
	k, err := hkdf.Key(sha256.New, storageKey, nil, labelHandleKey, 16)
	if err != nil {
		return handleCodec{}, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return handleCodec{}, err
	}
	return handleCodec{b}, nil
}

// encode returns the handle of row id.
func (h handleCodec) encode(id int64) string {
	var b [aes.BlockSize]byte
	binary.BigEndian.PutUint64(b[:8], uint64(id))
	h.block.Encrypt(b[:], b[:])
	return hex.EncodeToString(b[:])
}

// zeroCheck is the decrypted handle's second half.
var zeroCheck [8]byte

// decode returns the row ID of a handle that encode made under this key;
// ok is false for anything else (a malformed handle, a flipped bit,
// another key's handle, an old random handle of data format 1).
func (h handleCodec) decode(handle string) (id int64, ok bool) {
	var b [aes.BlockSize]byte
	if len(handle) != 2*aes.BlockSize {
		return 0, false
	}
	for i := range len(handle) { // lower-case hex only, as encode writes
		if c := handle[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	if _, err := hex.Decode(b[:], []byte(handle)); err != nil {
		return 0, false
	}
	h.block.Decrypt(b[:], b[:])
	if subtle.ConstantTimeCompare(b[8:], zeroCheck[:]) != 1 {
		return 0, false
	}
	id = int64(binary.BigEndian.Uint64(b[:8]))
	return id, id > 0
}
