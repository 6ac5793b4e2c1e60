package vectors

import (
	"fmt"
	"time"

	"crypto/ed25519"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
)

// TicketConfig returns the ticket key set and generations a handshake
// vector's server uses (HS-045, HS-046); keys is nil when it issues no
// tickets. Records stay valid for MaxTicketLifetime after now.
func (s *HandshakeServer) TicketConfig(now func() time.Time) (*handshake.TicketKeys, *handshake.MemoryGenerations, error) {
	g := &handshake.MemoryGenerations{Now: now}
	for _, r := range s.TicketRecords {
		if len(r.ClientID) != 32 {
			return nil, nil, fmt.Errorf("ticket record client ID of %d bytes", len(r.ClientID))
		}
		g.Set([32]byte(r.ClientID), handshake.TicketRecord{Latest: uint64(r.Latest), Retry: r.Retry}, now().Add(handshake.MaxTicketLifetime))
	}
	if len(s.TicketKeys) == 0 {
		return nil, g, nil
	}
	if len(s.TicketKeys) > 2 {
		return nil, nil, fmt.Errorf("%d ticket keys: the current and at most one previous", len(s.TicketKeys))
	}
	var keys handshake.TicketKeys
	for i, k := range s.TicketKeys {
		if len(k.Key) != 32 {
			return nil, nil, fmt.Errorf("ticket key of %d bytes", len(k.Key))
		}
		tk := handshake.TicketKey{ID: k.ID, Key: [32]byte(k.Key)}
		if i == 0 {
			keys.Current = tk
		} else {
			keys.Previous = &tk
		}
	}
	return &keys, g, nil
}

// TokenVerifier returns the access-token verifier of a handshake vector's
// server (TOK-007): its TokenIssuers, and its key's KeyID as the audience;
// nil when it has no issuer.
func (s *HandshakeServer) TokenVerifier() (*token.Verifier, error) {
	if len(s.TokenIssuers) == 0 {
		return nil, nil
	}
	if len(s.KeySeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("server key seed of %d bytes", len(s.KeySeed))
	}
	v := &token.Verifier{Issuers: map[[32]byte]*sig.PublicKey{},
		ServerKeyID: sig.KeyID(ed25519.NewKeyFromSeed(s.KeySeed).Public().(ed25519.PublicKey))}
	for _, b := range s.TokenIssuers {
		k, err := sig.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("token issuer: %w", err)
		}
		v.Issuers[k.ID()] = k
	}
	return v, nil
}
