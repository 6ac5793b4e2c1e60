package memstore

import (
	"context"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

var _ store.Directory = (*Store)(nil)

// RecordDevice implements store.Directory (STORE-020, STORE-022).
func (s *Store) RecordDevice(ctx context.Context, d store.UserDevice, clientID [32]byte, seen time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u := s.devices[d.User]
	if u == nil {
		u = map[string]store.Device{}
		s.devices[d.User] = u
	}
	k := store.DeviceKey(d.Device, clientID)
	if old, ok := u[k]; ok && old.LastSeen.After(seen) {
		return nil
	}
	u[k] = store.Device{UserDevice: d, ClientID: clientID, LastSeen: seen}
	for len(u) > store.MaxDevicesPerUser {
		oldest := ""
		for k, e := range u {
			if oldest == "" || e.LastSeen.Before(u[oldest].LastSeen) {
				oldest = k
			}
		}
		delete(u, oldest)
	}
	return nil
}

// Devices implements store.Directory (STORE-021).
func (s *Store) Devices(ctx context.Context, user string) ([]store.Device, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	cutoff := s.opt.Now().Add(-store.DeviceRetention)
	var out []store.Device
	for _, e := range s.devices[user] {
		if e.LastSeen.After(cutoff) {
			out = append(out, e)
		}
	}
	return out, nil
}

// expireDevices drops the entries not seen within DeviceRetention before
// now. The caller holds s.mu.
func (s *Store) expireDevices(now time.Time) {
	cutoff := now.Add(-store.DeviceRetention)
	for user, u := range s.devices {
		for k, e := range u {
			if !e.LastSeen.After(cutoff) {
				delete(u, k)
			}
		}
		if len(u) == 0 {
			delete(s.devices, user)
		}
	}
}
