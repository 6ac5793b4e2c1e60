package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/keys"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/receiver"
)

// state is what a client keeps across reconnects and restarts
// (REPLAY-013): the receive state (the message-ID window of its client ID
// and store epoch with the epochs it left, REPLAY-020, and the messages
// handed to the application and not yet acknowledged, DLV-011), its
// resumption ticket and the highest revocation list number seen
// (CRED-013), and in pinned-key mode the pins learned from the server
// (ID-010, ID-012). Batch sequences are per session (REPLAY-010) and kept by the
// receiver for the session, not here; a "batch_seqs" field of an older
// state file is ignored.
type state struct {
	mu   sync.Mutex
	path string // "" keeps the state in memory only

	Recv       receiver.State
	Ticket     *handshake.Ticket
	Revocation uint64
	Pins       pins
}

// pins is a pinned client's pin set (ID-010): the server keys it accepts,
// one or two KeyIDs, and the configured fingerprint they were learned
// from. A pin set learned from another configured fingerprint is not used
// (ID-012): the operator's configuration wins over what was learned.
type pins struct {
	Configured [32]byte
	Keys       [][32]byte
}

// pinsFor returns the pin set for the configured fingerprint: the learned
// one, or the configured fingerprint alone.
func (s *state) pinsFor(configured [32]byte) [][32]byte {
	if s.Pins.Configured != configured || len(s.Pins.Keys) == 0 {
		return [][32]byte{configured}
	}
	return s.Pins.Keys
}

// learnPins sets the pin set after a completed handshake (ID-010): the key
// the server authenticated with, and the next key it announced, if any. It
// reports whether the set changed. The caller holds mu and saves.
func (s *state) learnPins(configured, authenticated [32]byte, next *[32]byte) bool {
	keys := [][32]byte{authenticated}
	if next != nil {
		keys = append(keys, *next)
	}
	old := s.pinsFor(configured)
	same := len(old) == len(keys)
	for i := range keys {
		same = same && old[i] == keys[i]
	}
	if same && (s.Pins.Configured == configured || len(keys) == 1) {
		return false
	}
	s.Pins = pins{Configured: configured, Keys: keys}
	return true
}

// stateVersion 2 adds unacked and unrecorded (DLV-011, DLV-015); a version
// 1 file loads with an empty unacked set. The pin set (ID-012) is an
// optional field of version 2: a file without it loads with the configured
// fingerprint alone.
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
	PinsFor    []byte    `json:"pins_configured,omitempty"`
	Pins       [][]byte  `json:"pins,omitempty"`
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
	if f.Pins != nil {
		if len(f.PinsFor) != 32 || len(f.Pins) < 1 || len(f.Pins) > 2 {
			return nil, fmt.Errorf("client: state file %s: damaged pins", path)
		}
		s.Pins.Configured = [32]byte(f.PinsFor)
		for _, p := range f.Pins {
			if len(p) != 32 {
				return nil, fmt.Errorf("client: state file %s: damaged pins", path)
			}
			s.Pins.Keys = append(s.Pins.Keys, [32]byte(p))
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
	if len(s.Pins.Keys) > 0 {
		f.PinsFor = s.Pins.Configured[:]
		for i := range s.Pins.Keys {
			f.Pins = append(f.Pins, s.Pins.Keys[i][:])
		}
	}
	if f.Epochs, err = s.Recv.Epochs.MarshalBinary(); err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return keys.WriteAtomic(s.path, b, 0o600)
}
