// Package keyfile is the name the command line and server use for package
// keys, which holds the code: key files are read and written in one place,
// exported so that a client program outside this module can use them.
// Each function here only calls its namesake in keys.
package keyfile

import (
	"crypto/ed25519"
	"io/fs"

	"github.com/sealfeed/sealfeed/keys"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// ErrExists is keys.ErrExists.
var ErrExists = keys.ErrExists

func Generate() (ed25519.PrivateKey, error)               { return keys.Generate() }
func MarshalPrivate(k ed25519.PrivateKey) ([]byte, error) { return keys.MarshalPrivate(k) }
func MarshalPublic(pk ed25519.PublicKey) ([]byte, error)  { return keys.MarshalPublic(pk) }
func ParsePrivate(b []byte) (ed25519.PrivateKey, error)   { return keys.ParsePrivate(b) }
func ParsePublic(b []byte) (*sig.PublicKey, error)        { return keys.ParsePublic(b) }
func LoadPrivate(path string) (ed25519.PrivateKey, error) { return keys.LoadPrivate(path) }
func LoadPublic(path string) (*sig.PublicKey, error)      { return keys.LoadPublic(path) }
func SavePrivate(path string, k ed25519.PrivateKey) error { return keys.SavePrivate(path, k) }
func WriteNew(path string, data []byte, mode fs.FileMode) error {
	return keys.WriteNew(path, data, mode)
}
func WriteAtomic(path string, data []byte, mode fs.FileMode) error {
	return keys.WriteAtomic(path, data, mode)
}
func LoadOrCreatePrivate(path string) (ed25519.PrivateKey, bool, error) {
	return keys.LoadOrCreatePrivate(path)
}
