package client

import "github.com/sealfeed/sealfeed/protocol/replay"

// enterSession applies what a Welcome says about the window, before any
// delivery of the session is accepted (REPLAY-011, REPLAY-020,
// REPLAY-021): an epoch the client left is replayed_epoch and changes
// nothing; a new client ID or a new store epoch starts a new window. The
// caller holds s.mu.
func (s *state) enterSession(clientID [32]byte, epoch [16]byte) error {
	fresh, err := s.Epochs.Enter(s.ClientID == clientID, epoch, s.Window.Top())
	if err != nil {
		return err
	}
	if fresh {
		s.ClientID, s.Window = clientID, replay.Window{}
	}
	return nil
}
