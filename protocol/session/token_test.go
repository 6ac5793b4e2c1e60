package session

import (
	"crypto/ed25519"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// TestTokenMessagesPassedUp: TokenRefresh from a key-identified client
// reaches the server's layer above, in record order with an Ack of the same
// frame (POST-016, POST-033); TokenAccepted reaches the client. From an
// anonymous client, or in the wrong direction, they are unexpected_message
// (POST-030, POST-032).
func TestTokenMessagesPassedUp(t *testing.T) {
	pk, err := sig.ParsePublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	refresh := wire.AppendMessage(nil, wire.TypeTokenRefresh, []byte("any body: verified above"))
	ack := AppendAck(nil, []uint64{1})
	accepted := AppendTokenAccepted(nil, [16]byte{1}, 77)

	c, s := pair(t)
	s.st.ClientKey = pk
	f, _ := c.Seal(nil, ack, refresh)
	msgs, err := s.Open(f)
	if err != nil || len(msgs) != 2 || msgs[0].Type != wire.TypeAck || msgs[1].Type != wire.TypeTokenRefresh {
		t.Fatalf("server got %v, %v", msgs, err)
	}
	f, _ = s.Seal(nil, accepted)
	msgs, err = c.Open(f)
	if err != nil || len(msgs) != 1 || msgs[0].Type != wire.TypeTokenAccepted {
		t.Fatalf("client got %v, %v", msgs, err)
	}
	id, na, err := ParseTokenAccepted(msgs[0].Body)
	if err != nil || id != [16]byte{1} || na != 77 {
		t.Fatalf("TokenAccepted round trip: %x %d %v", id, na, err)
	}
	if _, _, err := ParseTokenAccepted(append(msgs[0].Body, 0)); codeOf(err) != alert.DecodeError {
		t.Fatalf("TokenAccepted with a trailing byte: %v", err)
	}

	c, s = pair(t) // anonymous: no ClientKey
	f, _ = c.Seal(nil, refresh)
	if _, err := s.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("TokenRefresh from an anonymous client: %v, want unexpected_message (POST-030)", err)
	}
	c, s = pair(t)
	f, _ = c.Seal(nil, accepted)
	if _, err := s.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("TokenAccepted sent to a server: %v, want unexpected_message (POST-032)", err)
	}
	c, s = pair(t)
	f, _ = s.Seal(nil, refresh)
	if _, err := c.Open(f); codeOf(err) != alert.UnexpectedMessage {
		t.Fatalf("TokenRefresh sent to a client: %v, want unexpected_message (POST-030)", err)
	}
}
