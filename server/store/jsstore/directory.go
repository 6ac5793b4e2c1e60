package jsstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealfeed/sealfeed/server/store"
)

var _ store.Directory = (*Store)(nil)

// deviceEntry is one device in a user's value of the devices bucket.
type deviceEntry struct {
	Key      string `json:"k"` // store.DeviceKey
	Device   string `json:"device,omitempty"`
	ClientID string `json:"client_id"` // hex
	LastSeen int64  `json:"last_seen"` // Unix ms, the recording node's clock
}

// userDevices is the value of a user's key: every node reads and
// replaces it as a whole, by compare-and-set.
type userDevices struct {
	User    string        `json:"user"`
	Devices []deviceEntry `json:"devices"`
}

// openDeviceBucket creates the devices bucket (STORE-020): one key per
// user, shared by every node of the deployment; a key lapses
// DeviceRetention after its last write (STORE-021).
func (s *Store) openDeviceBucket(ctx context.Context) error {
	var b jetstream.KeyValue
	err := retry(ctx, func(ctx context.Context) (err error) {
		b, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: s.opt.Prefix + "-devices", Replicas: s.opt.Replicas,
			Storage: jetstream.FileStorage, History: 1, TTL: store.DeviceRetention,
			Description: "SealFeed user addressing: user -> devices and their client IDs"})
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: bucket %s-devices: %w", s.opt.Prefix, err)
	}
	s.devices = b
	return nil
}

// userKey is a user's key in the devices bucket: a hash, since a subject
// may hold any UTF-8 and a key only a few characters.
func userKey(user string) string {
	h := sha256.Sum256([]byte("sealfeed v1 user\x00" + user))
	return hex.EncodeToString(h[:])
}

// readUser reads a user's value and its revision (0: none).
func (s *Store) readUser(ctx context.Context, user string) (*userDevices, uint64, error) {
	e, err := get(ctx, s.devices, userKey(user))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &userDevices{User: user}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var v userDevices
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.User != user {
		return nil, 0, fmt.Errorf("jsstore: devices entry of a user: malformed")
	}
	return &v, e.Revision(), nil
}

// RecordDevice implements store.Directory: the user's value is read,
// changed and written back if no other node wrote it in between, else
// read again (STORE-020, STORE-022).
func (s *Store) RecordDevice(ctx context.Context, d store.UserDevice, clientID [32]byte, seen time.Time) error {
	k := store.DeviceKey(d.Device, clientID)
	for attempt := 0; attempt < 100; attempt++ {
		v, rev, err := s.readUser(ctx, d.User)
		if err != nil {
			return err
		}
		e := deviceEntry{Key: k, Device: d.Device, ClientID: hex.EncodeToString(clientID[:]), LastSeen: seen.UnixMilli()}
		cutoff := s.opt.Now().Add(-store.DeviceRetention).UnixMilli()
		kept := v.Devices[:0]
		for _, old := range v.Devices {
			if old.Key == k {
				if old.LastSeen > e.LastSeen {
					e = old // a later record stands
				}
				continue
			}
			if old.LastSeen > cutoff {
				kept = append(kept, old)
			}
		}
		v.Devices = append(kept, e)
		if len(v.Devices) > store.MaxDevicesPerUser {
			slices.SortFunc(v.Devices, func(a, b deviceEntry) int { return cmp.Compare(b.LastSeen, a.LastSeen) })
			v.Devices = v.Devices[:store.MaxDevicesPerUser]
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.devices.Create(ctx, userKey(d.User), b)
		} else {
			_, err = s.devices.Update(ctx, userKey(d.User), b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !strings.Contains(err.Error(), "wrong last sequence") && !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.New("jsstore: recording a device kept conflicting")
}

// Devices implements store.Directory (STORE-021): one read of the user's
// key.
func (s *Store) Devices(ctx context.Context, user string) ([]store.Device, error) {
	v, _, err := s.readUser(ctx, user)
	if err != nil {
		return nil, err
	}
	cutoff := s.opt.Now().Add(-store.DeviceRetention).UnixMilli()
	var out []store.Device
	for _, e := range v.Devices {
		if e.LastSeen <= cutoff {
			continue
		}
		d := store.Device{UserDevice: store.UserDevice{User: user, Device: e.Device}, LastSeen: time.UnixMilli(e.LastSeen)}
		if n, err := hex.Decode(d.ClientID[:], []byte(e.ClientID)); err != nil || n != 32 {
			return nil, errors.New("jsstore: devices entry of a user: malformed client ID")
		}
		out = append(out, d)
	}
	return out, nil
}
