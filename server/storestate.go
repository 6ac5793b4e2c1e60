package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

// storeState is what each handshake reads from the store: the store epoch
// (POST-010) and the ticket key set (HS-045). Both are read for every
// handshake, so a restore or a rotation by another node is seen at once;
// when the store cannot answer (a JetStream leader election), the last
// values read stand in, since nothing is delivered from the store meanwhile
// anyway. Data that fails authentication never falls back.
type storeState struct {
	st       store.Store
	rotation time.Duration
	log      *slog.Logger
	now      func() time.Time // the node's clock

	mu    sync.Mutex
	epoch *[16]byte
	keys  *handshake.TicketKeys
}

// cached returns the last epoch and ticket keys read, without asking the
// store: the node is sick (OPS-003).
func (s *storeState) cached() ([16]byte, *handshake.TicketKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == nil || s.keys == nil {
		return [16]byte{}, nil, errors.New("server: store unavailable and no epoch read yet")
	}
	return *s.epoch, s.keys, nil
}

func (s *storeState) read(ctx context.Context) ([16]byte, *handshake.TicketKeys, error) {
	epoch, err := s.st.Epoch(ctx)
	var keys *handshake.TicketKeys
	if err == nil {
		keys, err = s.st.TicketKeys(ctx, s.now(), s.rotation)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.epoch, s.keys = &epoch, keys
		return epoch, keys, nil
	case errors.Is(err, store.ErrStoredDataTampered) || s.epoch == nil || s.keys == nil:
		return epoch, nil, err
	}
	s.log.Warn("store unavailable for a handshake; using the last epoch and ticket keys read", "err", err)
	return *s.epoch, s.keys, nil
}
