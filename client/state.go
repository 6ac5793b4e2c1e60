package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/replay"
)

// state is what a client keeps across reconnects and restarts
// (REPLAY-013): the message-ID window of its client ID and store epoch
// with the epochs it left (REPLAY-020), its resumption ticket and the
// highest revocation list number seen (CRED-013). Batch sequences are per
// session (REPLAY-010) and kept by the connection, not here; a
// "batch_seqs" field of an older state file is ignored.
type state struct {
	mu   sync.Mutex
	path string // "" keeps the state in memory only

	ClientID   [32]byte
	Window     replay.Window
	Ticket     *handshake.Ticket
	Revocation uint64
	Epochs     replay.Epochs
}

type stateFile struct {
	Version    int       `json:"version"`
	ClientID   []byte    `json:"client_id"`
	Window     []byte    `json:"window"`
	Revocation uint64    `json:"revocation_number"`
	Ticket     []byte    `json:"ticket,omitempty"`
	TicketPSK  []byte    `json:"ticket_psk,omitempty"`
	TicketID   []byte    `json:"ticket_client_id,omitempty"`
	TicketExp  time.Time `json:"ticket_expires,omitzero"`
	Epochs     []byte    `json:"store_epochs,omitempty"`
}

func loadState(path string) (*state, error) {
	s := &state{path: path}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("client: state file %s: %w", path, err)
	}
	if f.Version != 1 || len(f.ClientID) != 32 {
		return nil, fmt.Errorf("client: state file %s: unsupported or damaged", path)
	}
	copy(s.ClientID[:], f.ClientID)
	if err := s.Window.UnmarshalBinary(f.Window); err != nil {
		return nil, fmt.Errorf("client: state file %s: window: %w", path, err)
	}
	s.Revocation = f.Revocation
	if f.Epochs != nil {
		if err := s.Epochs.UnmarshalBinary(f.Epochs); err != nil {
			return nil, fmt.Errorf("client: state file %s: store epochs: %w", path, err)
		}
	}
	if len(f.Ticket) > 0 && len(f.TicketPSK) == 32 && len(f.TicketID) == 32 {
		t := &handshake.Ticket{Bytes: f.Ticket, PSK: f.TicketPSK, Expires: f.TicketExp}
		copy(t.ClientID[:], f.TicketID)
		s.Ticket = t
	}
	return s, nil
}

// save writes the state atomically and durably: a temporary file, fsync,
// rename, fsync of the directory. The caller holds mu.
func (s *state) save() error {
	if s.path == "" {
		return nil
	}
	w, err := s.Window.MarshalBinary()
	if err != nil {
		return err
	}
	f := stateFile{Version: 1, ClientID: s.ClientID[:], Window: w, Revocation: s.Revocation}
	if t := s.Ticket; t != nil {
		f.Ticket, f.TicketPSK, f.TicketID, f.TicketExp = t.Bytes, t.PSK, t.ClientID[:], t.Expires
	}
	if f.Epochs, err = s.Epochs.MarshalBinary(); err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return keyfile.WriteAtomic(s.path, b, 0o600)
}
