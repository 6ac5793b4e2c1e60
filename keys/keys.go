// Package keys reads and writes the Ed25519 keys of SealFeed's clients,
// command line and server: private keys as PKCS #8 PEM ("PRIVATE KEY"),
// public keys as PKIX PEM ("PUBLIC KEY"), the formats OpenSSL and Go's
// crypto/x509 use. A client program loads or creates its identity key with
// LoadOrCreatePrivate.
//
// Every public key read is validated with sig.ParsePublicKey (SIG-001).
// Error strings name the file and the problem, never key material.
package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealfeed/sealfeed/protocol/sig"
)

// Generate returns a fresh Ed25519 key from crypto/rand.
func Generate() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	return k, err
}

// MarshalPrivate returns k as PKCS #8 PEM. It refuses a key whose public
// half is not its seed's (SIG-006): PKCS #8 stores the seed only, so the
// file would name another public key than the caller holds.
func MarshalPrivate(k ed25519.PrivateKey) ([]byte, error) {
	if err := sig.CheckPrivateKey(k); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublic returns pk as PKIX PEM.
func MarshalPublic(pk ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivate decodes one PKCS #8 PEM Ed25519 private key; anything else
// in the input, before or after the block, is an error.
func ParsePrivate(b []byte) (ed25519.PrivateKey, error) {
	b = bytes.TrimSpace(b)
	if !bytes.HasPrefix(b, []byte("-----BEGIN ")) {
		return nil, errors.New("data before the PEM block")
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("malformed PKCS #8 key")
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	// The public half must be the seed's (SIG-006). crypto/x509 derives it
	// from the seed and ignores a public key stored in the file (RFC 8410
	// OneAsymmetricKey v2); the check keeps that true whatever parses it.
	if err := sig.CheckPrivateKey(ek); err != nil {
		return nil, err
	}
	if _, err := sig.ParsePublicKey(ek.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}
	return ek, nil
}

// ParsePublic decodes a public key given as PKIX PEM, as PKCS #8 PEM (its
// public half), as 64 hex digits or as standard or URL-safe base64 of the 32
// raw bytes, and validates it (SIG-001).
func ParsePublic(b []byte) (*sig.PublicKey, error) {
	s := bytes.TrimSpace(b)
	var raw []byte
	switch {
	case bytes.HasPrefix(s, []byte("-----BEGIN PRIVATE KEY")):
		k, err := ParsePrivate(s)
		if err != nil {
			return nil, err
		}
		raw = k.Public().(ed25519.PublicKey)
	case bytes.HasPrefix(s, []byte("-----BEGIN")):
		blk, rest := pem.Decode(s)
		if blk == nil || blk.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
			return nil, errors.New("not exactly one PEM \"PUBLIC KEY\" block")
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, errors.New("malformed PKIX public key")
		}
		pk, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("not an Ed25519 key")
		}
		raw = pk
	case len(s) == 64:
		var err error
		if raw, err = hex.DecodeString(string(s)); err != nil {
			return nil, errors.New("malformed hex key")
		}
	default:
		str := strings.TrimRight(string(s), "=")
		var err error
		if raw, err = base64.RawStdEncoding.Strict().DecodeString(str); err != nil {
			if raw, err = base64.RawURLEncoding.Strict().DecodeString(str); err != nil {
				return nil, errors.New("not PEM, hex or base64")
			}
		}
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes, want 32", len(raw))
	}
	return sig.ParsePublicKey(raw)
}

// LoadPrivate reads a private key file.
func LoadPrivate(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublic reads a public key file (any form ParsePublic accepts).
func LoadPublic(path string) (*sig.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ErrExists is returned by SavePrivate when the file exists already.
var ErrExists = errors.New("file exists; refusing to overwrite a key")

// SavePrivate writes k to path with mode 0600, creating parent directories
// with mode 0700. It never overwrites an existing file (ErrExists) and
// writes through a temporary file, so a crash leaves no partial key.
func SavePrivate(path string, k ed25519.PrivateKey) error {
	b, err := MarshalPrivate(k)
	if err != nil {
		return err
	}
	return WriteNew(path, b, 0o600)
}

// WriteNew atomically creates path with data and mode; it fails with
// ErrExists if path exists.
func WriteNew(path string, data []byte, mode fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s: %w", path, ErrExists)
	}
	return writeDurably(path, data, mode, func(tmp string) error {
		// Link fails if path appeared meanwhile: no overwrite even in a race.
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %w", path, ErrExists)
			}
			return err
		}
		return nil
	})
}

// WriteAtomic replaces path with data and mode: readers see the old file or
// the new one, never a part, and after a crash the new one survives once
// WriteAtomic returned.
func WriteAtomic(path string, data []byte, mode fs.FileMode) error {
	return writeDurably(path, data, mode, func(tmp string) error { return os.Rename(tmp, path) })
}

// writeDurably writes data to a temporary file next to path, syncs it,
// publishes it with publish (link or rename) and syncs the directory.
func writeDurably(path string, data []byte, mode fs.FileMode, publish func(tmp string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-sealfeed-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a rename: a no-op; after a link: the extra name
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := publish(tmp.Name()); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadOrCreatePrivate loads the key at path, or generates and saves one if
// the file does not exist; created reports which.
func LoadOrCreatePrivate(path string) (k ed25519.PrivateKey, created bool, err error) {
	k, err = LoadPrivate(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if k, err = Generate(); err != nil {
		return nil, false, err
	}
	if err := SavePrivate(path, k); err != nil {
		if errors.Is(err, ErrExists) { // another process won the race
			k, err = LoadPrivate(path)
			return k, false, err
		}
		return nil, false, err
	}
	return k, true, nil
}
