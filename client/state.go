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
	"github.com/sealfeed/sealfeed/protocol/receiver"
)

// state is what a client keeps across reconnects and restarts
// (REPLAY-013): the receive state (the message-ID window of its client ID
// and store epoch with the epochs it left, REPLAY-020, and the messages
// handed to the application and not yet acknowledged, DLV-011), its
// resumption ticket and the highest revocation list number seen
// (CRED-013). Batch sequences are per session (REPLAY-010) and kept by the
// receiver for the session, not here; a "batch_seqs" field of an older
// state file is ignored.
type state struct {
	mu   sync.Mutex
	path string // "" keeps the state in memory only

	Recv       receiver.State
	Ticket     *handshake.Ticket
	Revocation uint64
}

// stateVersion 2 adds unacked and unrecorded (DLV-011, DLV-015); a version
// 1 file loads with an empty unacked set.
const stateVersion = 2

type stateFile struct {
	Version    int       `json:"version"`
	ClientID   []byte    `json:"client_id"`
	Window     []byte    `json:"window"`
	Unacked    []uint64  `json:"unacked,omitempty"`
	Unrecorded bool      `json:"unrecorded,omitempty"`
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
	if f.Version < 1 || f.Version > stateVersion || len(f.ClientID) != 32 || (f.Version == 1 && (f.Unacked != nil || f.Unrecorded)) {
		return nil, fmt.Errorf("client: state file %s: unsupported or damaged", path)
	}
	copy(s.Recv.ClientID[:], f.ClientID)
	if err := s.Recv.Window.UnmarshalBinary(f.Window); err != nil {
		return nil, fmt.Errorf("client: state file %s: window: %w", path, err)
	}
	if err := s.Recv.SetUnacked(f.Unacked); err != nil {
		return nil, fmt.Errorf("client: state file %s: %w", path, err)
	}
	s.Recv.Unrecorded = f.Unrecorded
	s.Revocation = f.Revocation
	if f.Epochs != nil {
		if err := s.Recv.Epochs.UnmarshalBinary(f.Epochs); err != nil {
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
	w, err := s.Recv.Window.MarshalBinary()
	if err != nil {
		return err
	}
	f := stateFile{Version: stateVersion, ClientID: s.Recv.ClientID[:], Window: w, Unacked: s.Recv.UnackedIDs(),
		Unrecorded: s.Recv.Unrecorded, Revocation: s.Revocation}
	if t := s.Ticket; t != nil {
		f.Ticket, f.TicketPSK, f.TicketID, f.TicketExp = t.Bytes, t.PSK, t.ClientID[:], t.Expires
	}
	if f.Epochs, err = s.Recv.Epochs.MarshalBinary(); err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return keyfile.WriteAtomic(s.path, b, 0o600)
}
