package handshake

import (
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Sizes and limits of spec §6.1.
const (
	RandomLen          = 32
	MaxVersions        = 16
	MaxKeyShares       = 4
	MaxAEADs           = 16
	IdentityRawKey     = 1
	IdentityCredential = 2
	signatureLen       = 64
	finishedLen        = 32
	keyLen             = 32
)

// KeyShare is one group's key_exchange.
type KeyShare struct {
	Group       uint16
	KeyExchange []byte
}

// ClientHello is msg_type 0x01.
type ClientHello struct {
	Random     [RandomLen]byte
	Versions   []uint16
	KeyShares  []KeyShare
	AEADs      []uint16
	Extensions []wire.Extension
}

func appendUint16List(b []byte, v []uint16, max int) []byte {
	b = wire.AppendPrefix(b, len(v), max)
	for _, x := range v {
		b = wire.AppendUint16(b, x)
	}
	return b
}

func appendKeyShare(b []byte, k KeyShare) []byte {
	b = wire.AppendUint16(b, k.Group)
	return wire.AppendOpaque(b, k.KeyExchange, 65535)
}

func readUint16List(r *wire.Reader, max int, field string) []uint16 {
	n := r.Count(1, max, 2, field)
	out := make([]uint16, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		v := r.Uint16(field)
		for _, p := range out {
			if p == v {
				r.Fail(alert.Errorf(alert.IllegalParameter, "%s: duplicate 0x%04x", field, v))
			}
		}
		out = append(out, v)
	}
	return out
}

func readKeyShare(r *wire.Reader) KeyShare {
	return KeyShare{Group: r.Uint16("group"), KeyExchange: r.Opaque(1, 65535, "key_exchange")}
}

// AppendTo appends the complete message.
func (m *ClientHello) AppendTo(b []byte) []byte {
	b, off := wire.BeginMessage(b, wire.TypeClientHello)
	b = append(b, m.Random[:]...)
	b = appendUint16List(b, m.Versions, MaxVersions)
	b = wire.AppendPrefix(b, len(m.KeyShares), MaxKeyShares)
	for _, k := range m.KeyShares {
		b = appendKeyShare(b, k)
	}
	b = appendUint16List(b, m.AEADs, MaxAEADs)
	b = wire.AppendExtensions(b, m.Extensions)
	return wire.EndMessage(b, off)
}

// ParseClientHello decodes a ClientHello body (HS-002, HS-004, WIRE-001).
// Share lengths of known groups are checked by the server (HS-003).
func ParseClientHello(body []byte) (*ClientHello, error) {
	r := wire.NewReader(body)
	m := &ClientHello{}
	r.Copy(m.Random[:], "random")
	m.Versions = readUint16List(r, MaxVersions, "versions")
	n := r.Count(1, MaxKeyShares, 5, "key_shares")
	for i := 0; i < n && r.Err() == nil; i++ {
		k := readKeyShare(r)
		for _, p := range m.KeyShares {
			if p.Group == k.Group {
				r.Fail(alert.Errorf(alert.IllegalParameter, "key_shares: duplicate group 0x%04x", k.Group))
			}
		}
		m.KeyShares = append(m.KeyShares, k)
	}
	m.AEADs = readUint16List(r, MaxAEADs, "aeads")
	m.Extensions = r.ReadExtensions()
	if err := r.Finish("client hello"); err != nil {
		return nil, err
	}
	return m, nil
}

// ServerHello is msg_type 0x02.
type ServerHello struct {
	Random     [RandomLen]byte
	Version    uint16
	AEAD       uint16
	KeyShare   KeyShare
	Extensions []wire.Extension
}

// AppendTo appends the complete message.
func (m *ServerHello) AppendTo(b []byte) []byte {
	b, off := wire.BeginMessage(b, wire.TypeServerHello)
	b = append(b, m.Random[:]...)
	b = wire.AppendUint16(b, m.Version)
	b = wire.AppendUint16(b, m.AEAD)
	b = appendKeyShare(b, m.KeyShare)
	b = wire.AppendExtensions(b, m.Extensions)
	return wire.EndMessage(b, off)
}

// ParseServerHello decodes a ServerHello body.
func ParseServerHello(body []byte) (*ServerHello, error) {
	r := wire.NewReader(body)
	m := &ServerHello{}
	r.Copy(m.Random[:], "random")
	m.Version = r.Uint16("version")
	m.AEAD = r.Uint16("aead")
	m.KeyShare = readKeyShare(r)
	m.Extensions = r.ReadExtensions()
	if err := r.Finish("server hello"); err != nil {
		return nil, err
	}
	return m, nil
}

// ServerIdentity is msg_type 0x03.
type ServerIdentity struct {
	Type           uint8
	PublicKey      []byte // raw_key
	Credential     []byte // credential
	RevocationList []byte // credential
	Extensions     []wire.Extension
}

// AppendTo appends the complete message.
func (m *ServerIdentity) AppendTo(b []byte) []byte {
	b, off := wire.BeginMessage(b, wire.TypeServerIdentity)
	b = append(b, m.Type)
	switch m.Type {
	case IdentityRawKey:
		b = append(b, m.PublicKey...)
	case IdentityCredential:
		b = wire.AppendOpaque(b, m.Credential, 65535)
		b = wire.AppendOpaque(b, m.RevocationList, 1<<24-1)
	}
	b = wire.AppendExtensions(b, m.Extensions)
	return wire.EndMessage(b, off)
}

// ParseServerIdentity decodes a ServerIdentity body.
func ParseServerIdentity(body []byte) (*ServerIdentity, error) {
	r := wire.NewReader(body)
	m := &ServerIdentity{Type: r.Uint8("identity_type")}
	switch m.Type {
	case IdentityRawKey:
		m.PublicKey = r.Bytes(keyLen, "public_key")
	case IdentityCredential:
		m.Credential = r.Opaque(1, 65535, "credential")
		m.RevocationList = r.Opaque(1, 1<<24-1, "revocation_list")
	default:
		if r.Err() == nil {
			return nil, alert.Errorf(alert.DecodeError, "identity_type %d", m.Type)
		}
	}
	m.Extensions = r.ReadExtensions()
	if err := r.Finish("server identity"); err != nil {
		return nil, err
	}
	return m, nil
}

// parseFixed decodes a body that is exactly n bytes (ServerVerify, Finished,
// ClientIdentity, ClientVerify).
func parseFixed(body []byte, n int, what string) ([]byte, error) {
	r := wire.NewReader(body)
	v := r.Bytes(n, what)
	if err := r.Finish(what); err != nil {
		return nil, err
	}
	return v, nil
}

// knownShareLen checks HS-003 for a known group.
func knownShareLen(group uint16, share []byte, client bool) error {
	want := suite.ServerShareLen(group)
	if client {
		want = suite.ClientShareLen(group)
	}
	if want != 0 && len(share) != want {
		return alert.Errorf(alert.IllegalParameter, "key share of group 0x%04x has %d bytes", group, len(share))
	}
	return nil
}
