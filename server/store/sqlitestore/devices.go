package sqlitestore

import (
	"context"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

var _ store.Directory = (*Store)(nil)

// deviceSchema is the directory of user addressing (STORE-020): one row
// per (user, device key), the device key being the label or, for an
// unlabelled device, the client ID (store.DeviceKey).
const deviceSchema = `
CREATE TABLE IF NOT EXISTS devices (user TEXT NOT NULL, device_key TEXT NOT NULL, device TEXT NOT NULL,
	client_id BLOB NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (user, device_key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS devices_last_seen ON devices (last_seen);
`

// ensureDeviceSchema creates the devices table.
func (s *Store) ensureDeviceSchema() error {
	_, err := s.w.Exec(deviceSchema)
	return err
}

const (
	upsertDevice = `INSERT INTO devices (user, device_key, device, client_id, last_seen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user, device_key) DO UPDATE SET client_id = excluded.client_id, last_seen = excluded.last_seen
		WHERE excluded.last_seen >= devices.last_seen`
	// dropLeastRecentDevices keeps a user's MaxDevicesPerUser most
	// recently seen entries (STORE-022).
	dropLeastRecentDevices = `DELETE FROM devices WHERE user = ?1 AND device_key NOT IN
		(SELECT device_key FROM devices WHERE user = ?1 ORDER BY last_seen DESC, device_key LIMIT ?2)`
	selectDevices = `SELECT device, client_id, last_seen FROM devices WHERE user = ? AND last_seen > ?`
	deleteDevices = `DELETE FROM devices WHERE last_seen <= ?`
)

// RecordDevice implements store.Directory, as one request of the writer.
// It is lazy (STORE-011): a record lost with the last commits of a crash
// is written again by the device's next connection.
func (s *Store) RecordDevice(ctx context.Context, d store.UserDevice, clientID [32]byte, seen time.Time) error {
	return s.do(ctx, &writeReq{lazy: true, apply: func(w *writeTx) error {
		if _, err := w.tx.Exec(upsertDevice, d.User, store.DeviceKey(d.Device, clientID), d.Device, clientID[:], ms(seen)); err != nil {
			return err
		}
		_, err := w.tx.Exec(dropLeastRecentDevices, d.User, store.MaxDevicesPerUser)
		return err
	}})
}

// Devices implements store.Directory (STORE-021).
func (s *Store) Devices(ctx context.Context, user string) ([]store.Device, error) {
	rows, err := s.rQuery(ctx, selectDevices, user, ms(s.opt.Now().Add(-store.DeviceRetention)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		var e store.Device
		var id []byte
		var seen int64
		if err := rows.Scan(&e.Device, &id, &seen); err != nil {
			return nil, err
		}
		e.User, e.LastSeen = user, time.UnixMilli(seen)
		copy(e.ClientID[:], id)
		out = append(out, e)
	}
	return out, rows.Err()
}

// expireDevices drops the entries not seen within DeviceRetention (STORE-021).
func expireDevices(w *writeTx, now time.Time) error {
	_, err := w.tx.Exec(deleteDevices, ms(now.Add(-store.DeviceRetention)))
	return err
}
