package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// ticketOf reads the ticket bytes from a client state file.
func ticketOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Ticket []byte `json:"ticket"`
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Ticket) == 0 {
		t.Fatalf("state file without a ticket: %v", err)
	}
	return f.Ticket
}

// TestStolenTicketStopsWorking: the client library has saved the ticket
// of a connection's Welcome by the time Dial returns (HS-049); the ticket
// keys live in the store, not in the data directory (HS-045); a copy of
// the client's state taken before its owner resumed twice resumes no more
// and gets a new client ID (HS-046), while the owner keeps its ID and its
// pending messages.
func TestStolenTicketStopsWorking(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, 1, nil)
	if _, err := os.Stat(filepath.Join(dir, "ticket.key")); err == nil {
		t.Fatal("a ticket.key file in the data directory")
	}
	state := filepath.Join(t.TempDir(), "state.json")
	stolen := filepath.Join(t.TempDir(), "stolen.json")
	c := tn.dial(t, func(c *client.Config) { c.StatePath = state })
	id := c.ClientID()
	t1 := ticketOf(t, state)
	c.Close()
	b, _ := os.ReadFile(state)
	os.WriteFile(stolen, b, 0o600)

	for i := 0; i < 2; i++ {
		c := tn.dial(t, func(c *client.Config) { c.StatePath = state })
		if c.ClientID() != id {
			t.Fatalf("resumption %d: client ID changed", i)
		}
		if tk := ticketOf(t, state); string(tk) == string(t1) {
			t.Fatalf("resumption %d: the new ticket was not saved before Dial returned (HS-049)", i)
		}
		c.Close()
	}
	thief := tn.dial(t, func(c *client.Config) { c.StatePath = stolen })
	if thief.ClientID() == id {
		t.Fatal("a ticket two generations old resumed (HS-046)")
	}
	thief.Close()
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{id}, Payload: []byte("still yours")}, ""); err != nil {
		t.Fatal(err)
	}
	owner := tn.dial(t, func(c *client.Config) { c.StatePath = state })
	if owner.ClientID() != id {
		t.Fatal("the owner lost its client ID")
	}
	if m := collect(t, owner, 1, 5*time.Second); string(m[0].Payload) != "still yours" {
		t.Fatalf("got %q", m[0].Payload)
	}
}

// TestTicketKeysRotateThroughTheStore: the key set lives in the store and
// rotates once its period has passed; a ticket sealed under the key that
// just became the previous one still resumes, and the new ticket is
// sealed under the new current key (HS-045).
func TestTicketKeysRotateThroughTheStore(t *testing.T) {
	tn := startNode(t, t.TempDir(), 0, func(c *server.Config) {
		c.TicketLifetime, c.TicketKeyRotation = 2*time.Second, 3*time.Second
	})
	state := filepath.Join(t.TempDir(), "state.json")
	keyID := func() uint32 {
		tk := ticketOf(t, state)
		return uint32(tk[0])<<24 | uint32(tk[1])<<16 | uint32(tk[2])<<8 | uint32(tk[3])
	}
	connect := func() [32]byte {
		c := tn.dial(t, func(c *client.Config) { c.StatePath = state })
		defer c.Close()
		return c.ClientID()
	}
	id := connect() // the first key, created now
	first := keyID()
	time.Sleep(1500 * time.Millisecond)
	if connect() != id || keyID() != first {
		t.Fatal("within the first period: not resumed, or a new key")
	}
	time.Sleep(1700 * time.Millisecond) // the period has passed; the ticket is still valid
	if connect() != id {
		t.Fatal("a ticket under the previous key did not resume")
	}
	if keyID() != first+1 {
		t.Fatalf("the new ticket is under key %d, want %d", keyID(), first+1)
	}
	keys, err := tn.Store.TicketKeys(context.Background(), time.Now(), 3*time.Second)
	if err != nil || keys.Current.ID != first+1 || keys.Previous == nil || keys.Previous.ID != first {
		t.Fatalf("the store's set: %+v %v", keys, err)
	}
}
