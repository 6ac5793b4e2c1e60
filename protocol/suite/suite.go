// Package suite holds the algorithm registries of SealFeed v1 (spec §4):
// versions, key-exchange groups and AEADs, and the key-exchange operations of
// each group.
//
// Randomness is read from the io.Reader a caller passes. A nil reader means
// crypto/rand; a non-nil reader is for deterministic test vectors only and is
// never the default. The server's ML-KEM-768 encapsulation draws from the
// reader only when it is the vectors' internal/detrand.Reader; otherwise
// crypto/mlkem draws from crypto/rand.
package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// Registered values (registries.md).
const (
	Version1 uint16 = 0x0001

	GroupX25519         uint16 = 0x0001
	GroupX25519MLKEM768 uint16 = 0x0002

	AEADChaCha20Poly1305 uint16 = 0x0001
	AEADAES256GCM        uint16 = 0x0002

	KeySize   = 32 // SUITE-004
	NonceSize = 12
	TagSize   = 16
	HashSize  = 32

	x25519Len    = 32
	mlkemEKLen   = mlkem.EncapsulationKeySize768
	mlkemCTLen   = mlkem.CiphertextSize768
	mlkemSeedLen = mlkem.SeedSize
)

// SupportedVersions lists the versions this implementation speaks, most
// preferred first.
var SupportedVersions = []uint16{Version1}

// SupportedGroups lists the groups this implementation supports, most
// preferred first.
var SupportedGroups = []uint16{GroupX25519MLKEM768, GroupX25519}

// SupportedAEADs lists the AEADs this implementation supports, most
// preferred first.
var SupportedAEADs = []uint16{AEADChaCha20Poly1305, AEADAES256GCM}

// AEADName returns the name of AEAD a ("ChaCha20-Poly1305", "AES-256-GCM"),
// or its code point in hex for an AEAD this implementation does not know.
func AEADName(a uint16) string {
	switch a {
	case AEADChaCha20Poly1305:
		return "ChaCha20-Poly1305"
	case AEADAES256GCM:
		return "AES-256-GCM"
	}
	return fmt.Sprintf("0x%04x", a)
}

// ParseAEADs parses a comma-separated list of AEAD names as AEADName gives
// them, in any case ("chacha20-poly1305", "aes-256-gcm"), most preferred
// first.
func ParseAEADs(list string) ([]uint16, error) {
	var out []uint16
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(SupportedAEADs, func(a uint16) bool { return strings.EqualFold(name, AEADName(a)) })
		if i < 0 {
			return nil, fmt.Errorf("unknown AEAD %q (want chacha20-poly1305 or aes-256-gcm)", name)
		}
		if slices.Contains(out, SupportedAEADs[i]) {
			return nil, fmt.Errorf("AEAD %q listed twice", name)
		}
		out = append(out, SupportedAEADs[i])
	}
	return out, nil
}

// KnownGroup reports whether g is a group this implementation supports.
func KnownGroup(g uint16) bool { return g == GroupX25519 || g == GroupX25519MLKEM768 }

// KnownAEAD reports whether a is an AEAD this implementation supports.
func KnownAEAD(a uint16) bool { return a == AEADChaCha20Poly1305 || a == AEADAES256GCM }

// NewAEAD returns the AEAD a keyed with key (32 bytes).
func NewAEAD(a uint16, key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, alert.New(alert.InternalError, "suite: bad AEAD key length")
	}
	switch a {
	case AEADChaCha20Poly1305:
		return chacha20poly1305.New(key)
	case AEADAES256GCM:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	}
	return nil, alert.Errorf(alert.HandshakeFailure, "suite: unknown AEAD 0x%04x", a)
}

// ClientShareLen returns the client key-share length of group g, or 0.
func ClientShareLen(g uint16) int {
	switch g {
	case GroupX25519:
		return x25519Len
	case GroupX25519MLKEM768:
		return mlkemEKLen + x25519Len
	}
	return 0
}

// ServerShareLen returns the server key-share length of group g, or 0.
func ServerShareLen(g uint16) int {
	switch g {
	case GroupX25519:
		return x25519Len
	case GroupX25519MLKEM768:
		return mlkemCTLen + x25519Len
	}
	return 0
}

func readRand(r io.Reader, n int) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, alert.New(alert.InternalError, "suite: randomness source failed")
	}
	return b, nil
}

// ClientShare is a client's ephemeral secret for one offered group.
type ClientShare struct {
	Group  uint16
	x25519 *ecdh.PrivateKey
	mlkem  *mlkem.DecapsulationKey768
	public []byte
}

// Public returns the key_exchange bytes to send in ClientHello.
func (c *ClientShare) Public() []byte { return c.public }

// NewClientShare generates a fresh ephemeral for group g (HS-003).
func NewClientShare(g uint16, rnd io.Reader) (*ClientShare, error) {
	c := &ClientShare{Group: g}
	switch g {
	case GroupX25519MLKEM768:
		seed, err := readRand(rnd, mlkemSeedLen)
		if err != nil {
			return nil, err
		}
		if c.mlkem, err = mlkem.NewDecapsulationKey768(seed); err != nil {
			return nil, alert.New(alert.InternalError, "suite: ML-KEM key generation failed")
		}
		c.public = append(c.public, c.mlkem.EncapsulationKey().Bytes()...)
		fallthrough
	case GroupX25519:
		seed, err := readRand(rnd, x25519Len)
		if err != nil {
			return nil, err
		}
		if c.x25519, err = ecdh.X25519().NewPrivateKey(seed); err != nil {
			return nil, alert.New(alert.InternalError, "suite: X25519 key generation failed")
		}
		c.public = append(c.public, c.x25519.PublicKey().Bytes()...)
	default:
		return nil, alert.Errorf(alert.InternalError, "suite: unknown group 0x%04x", g)
	}
	return c, nil
}

// Finish computes the shared secret from the server's key_exchange bytes
// (SUITE-002, SUITE-003).
func (c *ClientShare) Finish(server []byte) ([]byte, error) {
	if len(server) != ServerShareLen(c.Group) {
		return nil, alert.New(alert.IllegalParameter, "suite: server key share length")
	}
	var shared []byte
	if c.Group == GroupX25519MLKEM768 {
		ss, err := c.mlkem.Decapsulate(server[:mlkemCTLen])
		if err != nil {
			return nil, alert.New(alert.IllegalParameter, "suite: ML-KEM ciphertext")
		}
		shared = append(shared, ss...)
		server = server[mlkemCTLen:]
	}
	ss, err := x25519(c.x25519, server)
	if err != nil {
		return nil, err
	}
	return append(shared, ss...), nil
}

// derandomizedKEM is implemented by internal/detrand.Reader, the test
// vectors' deterministic randomness, and by nothing in a production build:
// derandomized encapsulation stays out of the sealfeed binary.
type derandomizedKEM interface {
	EncapsulateDerandomized768(ek *mlkem.EncapsulationKey768, m []byte) (sharedKey, ciphertext []byte, err error)
}

// ServerRespond generates the server's ephemeral for group g against the
// client's key_exchange bytes and returns the server's key_exchange bytes and
// the shared secret (SUITE-002, SUITE-003). With the ML-KEM group, the
// encapsulation's 32-byte message is read from rnd before the X25519 seed
// only when rnd is an internal/detrand.Reader (test vectors); otherwise
// crypto/mlkem draws it from crypto/rand.
func ServerRespond(g uint16, client []byte, rnd io.Reader) (public, shared []byte, err error) {
	if len(client) != ClientShareLen(g) || ClientShareLen(g) == 0 {
		return nil, nil, alert.New(alert.IllegalParameter, "suite: client key share length")
	}
	if g == GroupX25519MLKEM768 {
		ek, err := mlkem.NewEncapsulationKey768(client[:mlkemEKLen])
		if err != nil {
			return nil, nil, alert.New(alert.IllegalParameter, "suite: ML-KEM encapsulation key")
		}
		var ss, ct []byte
		if d, ok := rnd.(derandomizedKEM); ok {
			m, err := readRand(rnd, 32)
			if err != nil {
				return nil, nil, err
			}
			if ss, ct, err = d.EncapsulateDerandomized768(ek, m); err != nil {
				return nil, nil, alert.New(alert.InternalError, "suite: ML-KEM encapsulation failed")
			}
		} else {
			ss, ct = ek.Encapsulate()
		}
		public = append(public, ct...)
		shared = append(shared, ss...)
		client = client[mlkemEKLen:]
	}
	seed, err := readRand(rnd, x25519Len)
	if err != nil {
		return nil, nil, err
	}
	priv, err := ecdh.X25519().NewPrivateKey(seed)
	if err != nil {
		return nil, nil, alert.New(alert.InternalError, "suite: X25519 key generation failed")
	}
	ss, err := x25519(priv, client)
	if err != nil {
		return nil, nil, err
	}
	return append(public, priv.PublicKey().Bytes()...), append(shared, ss...), nil
}

func x25519(priv *ecdh.PrivateKey, peer []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, alert.New(alert.IllegalParameter, "suite: X25519 share")
	}
	ss, err := priv.ECDH(pub)
	// crypto/ecdh already refuses an all-zero result; check again in constant
	// time so the rule does not rest on a library detail (SUITE-002).
	if err != nil || subtle.ConstantTimeCompare(ss, make([]byte, len(ss))) == 1 {
		return nil, alert.New(alert.IllegalParameter, "suite: low-order X25519 share")
	}
	return ss, nil
}
