package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// dir returns the engine's store.Directory: every engine of the reference
// server implements it (STORE-020).
func (v *env) dir(t *testing.T, s store.Store) store.Directory {
	t.Helper()
	d, ok := s.(store.Directory)
	if !ok {
		t.Fatalf("%T does not implement store.Directory (STORE-020)", s)
	}
	return d
}

func (v *env) record(t *testing.T, s store.Store, user, device string, id [32]byte, seen time.Time) {
	t.Helper()
	if err := v.dir(t, s).RecordDevice(v.ctx, store.UserDevice{User: user, Device: device}, id, seen); err != nil {
		t.Fatalf("RecordDevice(%q, %q): %v", user, device, err)
	}
}

// devices returns user's devices on s as sorted "device=client" strings.
func (v *env) devices(t *testing.T, s store.Store, user string) []string {
	t.Helper()
	ds, err := v.dir(t, s).Devices(v.ctx, user)
	if err != nil {
		t.Fatalf("Devices(%q): %v", user, err)
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.User != user {
			t.Fatalf("Devices(%q) returned a device of %q", user, d.User)
		}
		out = append(out, fmt.Sprintf("%s=%x", d.Device, d.ClientID[:1]))
	}
	slices.Sort(out)
	return out
}

func wantDevices(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: devices %v, want %v", what, got, want)
	}
}

// STORE-020: one entry per (user, device label); an unlabelled device is
// keyed by its client ID; users do not see each other's devices; every
// node of a cluster reads what another recorded.
func testDirectory(t *testing.T, v *env) {
	now := v.c.Now()
	nodes := v.nodes(t)
	w, r := nodes[0], nodes[len(nodes)-1]
	v.record(t, w, "alice", "phone", cid(1), now)
	v.record(t, w, "alice", "laptop", cid(2), now)
	v.record(t, w, "alice", "", cid(3), now)
	v.record(t, w, "alice", "", cid(4), now)
	v.record(t, w, "bob", "phone", cid(5), now)
	v.record(t, w, "ålice ünicode", "", cid(6), now)
	wantDevices(t, "alice", v.devices(t, r, "alice"), "phone=01", "laptop=02", "=03", "=04")
	wantDevices(t, "bob", v.devices(t, r, "bob"), "phone=05")
	wantDevices(t, "a UTF-8 user", v.devices(t, r, "ålice ünicode"), "=06")
	wantDevices(t, "unknown user", v.devices(t, r, "carol"))
	wantDevices(t, "a prefix of a user", v.devices(t, r, "alic"))
	// The same client ID recorded again stays one entry.
	v.record(t, r, "alice", "", cid(3), now)
	v.record(t, r, "alice", "phone", cid(1), now)
	wantDevices(t, "recorded twice", v.devices(t, w, "alice"), "phone=01", "laptop=02", "=03", "=04")
}

// STORE-020: a new client key for the same (user, device) replaces the
// entry; an older record does not replace a newer one.
func testDirectoryReplace(t *testing.T, v *env) {
	now := v.c.Now()
	v.record(t, v.s, "alice", "phone", cid(1), now)
	v.record(t, v.s, "alice", "phone", cid(7), now.Add(time.Second))
	wantDevices(t, "replaced", v.devices(t, v.s, "alice"), "phone=07")
	v.record(t, v.s, "alice", "phone", cid(1), now) // late: a write that was overtaken
	wantDevices(t, "an older record", v.devices(t, v.s, "alice"), "phone=07")
}

// STORE-021: a device is known for DeviceRetention after it was last
// seen, and a record renews it.
func testDirectoryRetention(t *testing.T, v *env) {
	if v.c.wall {
		t.Skip("the engine's retentions run on the wall clock; the suite cannot wait 8 days")
	}
	now := v.c.Now()
	v.record(t, v.s, "alice", "phone", cid(1), now)
	v.record(t, v.s, "alice", "laptop", cid(2), now)
	v.c.advance(t, store.DeviceRetention-time.Hour)
	v.record(t, v.s, "alice", "laptop", cid(2), v.c.Now())
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	wantDevices(t, "within the retention", v.devices(t, v.s, "alice"), "phone=01", "laptop=02")
	v.c.advance(t, 2*time.Hour)
	wantDevices(t, "past the retention, before Expire", v.devices(t, v.s, "alice"), "laptop=02")
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	wantDevices(t, "past the retention", v.devices(t, v.s, "alice"), "laptop=02")
	v.c.advance(t, store.DeviceRetention)
	if _, err := v.s.Expire(v.ctx, v.c.Now()); err != nil {
		t.Fatal(err)
	}
	wantDevices(t, "every device past the retention", v.devices(t, v.s, "alice"))
}

// STORE-022: a user keeps at most MaxDevicesPerUser devices; one more
// drops the least recently seen.
func testDirectoryLimit(t *testing.T, v *env) {
	now := v.c.Now()
	var want []string
	for i := range store.MaxDevicesPerUser + 1 {
		d := fmt.Sprintf("d%03d", i)
		v.record(t, v.s, "alice", d, cid(byte(i)), now.Add(time.Duration(i)*time.Millisecond))
		if i > 0 {
			want = append(want, fmt.Sprintf("%s=%02x", d, i))
		}
	}
	got := v.devices(t, v.s, "alice")
	if len(got) != store.MaxDevicesPerUser || slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "d000=") }) {
		t.Fatalf("%d devices kept (want %d), the least recently seen dropped: %v", len(got), store.MaxDevicesPerUser, got[:3])
	}
	wantDevices(t, "limit", got, want...)
}

// API-094: the answer of a publication addressed to users names each
// message's user and device, and a replay of its Idempotency-Key names
// the same ones.
func testAnnotatedReplay(t *testing.T, v *env) {
	p := pub(cid(1), cid(2))
	p.Devices = []store.UserDevice{{User: "alice", Device: "phone"}, {User: "bob"}}
	req := &store.PublishRequest{Publisher: "p", IdempotencyKey: "k", RequestHash: [32]byte{1},
		Publications: []store.Publication{pub(cid(3)), p}}
	first, replayed, err := v.s.Publish(v.ctx, req, nil)
	if err != nil || replayed {
		t.Fatal(err, replayed)
	}
	again, replayed, err := v.s.Publish(v.ctx, req, nil)
	if err != nil || !replayed {
		t.Fatal(err, replayed)
	}
	want := []store.UserDevice{{}, {User: "alice", Device: "phone"}, {User: "bob"}}
	for i, res := range [][]store.Assigned{first, again} {
		if len(res) != 3 {
			t.Fatalf("answer %d: %d messages", i, len(res))
		}
		for j := range res {
			if res[j].UserDevice != want[j] {
				t.Fatalf("answer %d, message %d: %+v, want %+v", i, j, res[j].UserDevice, want[j])
			}
		}
	}
}

// STORE-020: the records survive a restart of a persistent engine.
func testDirectoryDurability(t *testing.T, v *env) {
	if v.e.Reopen == nil {
		t.Skip("the engine keeps nothing across Close")
	}
	v.record(t, v.s, "alice", "phone", cid(1), v.c.Now())
	v.s = v.e.Reopen(t, v.s, v.c.Now)
	wantDevices(t, "after a restart", v.devices(t, v.s, "alice"), "phone=01")
}
