package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// STORE-012: a handle decodes to the row ID it was made from, and to
// nothing else: each of its 128 bits flipped, another storage key's
// handle, a malformed one.
func TestHandleDecodesOnlyItsOwnRow(t *testing.T) {
	h, err := newHandleCodec(testKey(7))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newHandleCodec(testKey(8))
	for _, id := range []int64{1, 2, 255, 1 << 32, 1<<63 - 1} {
		s := h.encode(id)
		if len(s) != 32 || strings.ToLower(s) != s {
			t.Fatalf("handle %q: not 32 lower-case hex digits (API-024)", s)
		}
		if got, ok := h.decode(s); !ok || got != id {
			t.Fatalf("handle of %d decodes to %d, %v", id, got, ok)
		}
		for bit := range 128 {
			b := []byte(s)
			i := bit / 4
			v := strings.IndexByte("0123456789abcdef", b[i]) ^ 1<<(bit%4)
			b[i] = "0123456789abcdef"[v]
			if got, ok := h.decode(string(b)); ok {
				t.Fatalf("handle of %d with bit %d flipped decodes to row %d", id, bit, got)
			}
		}
		if got, ok := other.decode(s); ok {
			t.Fatalf("another storage key decodes the handle of %d to %d", id, got)
		}
		for _, bad := range []string{strings.ToUpper(s), s[:31], s + "0", "", strings.Repeat("g", 32)} {
			if _, ok := h.decode(bad); ok && bad != s {
				t.Fatalf("malformed handle %q decoded", bad)
			}
		}
	}
	// Row ID 0 is no row (AUTOINCREMENT starts at 1).
	if _, ok := h.decode(h.encode(0)); ok {
		t.Fatal("the handle of row 0 decoded")
	}
	// Handles of consecutive rows share nothing visible.
	if a, b := h.encode(1), h.encode(2); a[:16] == b[:16] || a[16:] == b[16:] {
		t.Fatalf("handles of rows 1 and 2 share a half: %s %s", a, b)
	}
}

// STORE-012: Status of a handle with a flipped bit, or of another store's
// handle for the same row ID, is not found, never another message.
func TestStatusOfAlteredHandleIsNotFound(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), nil)
	var handles []string
	for i := range 20 {
		res, _, err := s.Publish(ctx, publishTo(cid(byte(i)), 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, res[0].Handle)
	}
	for i, h := range handles {
		st, err := s.Status(ctx, h)
		if err != nil || st.ClientID != cid(byte(i)) {
			t.Fatalf("status of message %d: %+v %v", i, st, err)
		}
		b := []byte(h)
		b[31] = "10"[b[31]&1] // the last digit changed
		if st, err := s.Status(ctx, string(b)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status of an altered handle: %+v %v", st, err)
		}
	}
	o, err := Open(filepath.Join(t.TempDir(), "other"), Options{StorageKey: testKey(9)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	res, _, err := o.Publish(ctx, publishTo(cid(1), 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := s.Status(ctx, res[0].Handle); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another store's handle of row 1 found here: %+v %v", st, err)
	}
}

// STORE-012, STORE-013: once the sweep deleted a client's newest row (the
// store's newest too), a new message gets a new row ID (the old handle
// stays not found) and the next message ID, also after a restart.
func TestDeletedRowsReuseNeitherRowIDNorMessageID(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{StorageKey: testKey(7), TombstoneRetention: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := s.Publish(ctx, publishTo(cid(1), 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {1, 2, 3}}); err != nil || n != 3 {
		t.Fatal(n, err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Expire(ctx, now); err != nil {
		t.Fatal(err)
	}
	var rows int
	s.r.QueryRow(`SELECT count(*) FROM messages`).Scan(&rows)
	if rows != 0 {
		t.Fatalf("%d rows after the sweep", rows)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{StorageKey: testKey(7), TombstoneRetention: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again, _, err := s.Publish(ctx, publishTo(cid(1), 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Seq != 4 {
		t.Fatalf("message ID %d after the sweep and a restart, want 4 (DLV-001)", again[0].Seq)
	}
	for _, old := range res {
		if old.Handle == again[0].Handle {
			t.Fatalf("a deleted message's handle %s was given again", old.Handle)
		}
		if st, err := s.Status(ctx, old.Handle); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a deleted message's handle names %+v (%v)", st, err)
		}
	}
}

// STORE-013: the pending counts the writer holds are rebuilt from the rows
// at Open, so the limit (API-028) holds across a restart.
func TestPendingLimitHoldsAcrossARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, nil)
	limited := func(n int) *store.PublishRequest {
		r := publishTo(cid(1), n)
		r.MaxPending = 3
		return r
	}
	if _, _, err := s.Publish(ctx, limited(3), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {1}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path, nil)
	if _, _, err := s.Publish(ctx, limited(1), nil); err != nil {
		t.Fatalf("third pending message refused: %v", err)
	}
	if _, _, err := s.Publish(ctx, limited(1), nil); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("fourth pending message after a restart: %v, want ErrTooManyPending", err)
	}
}

// STORE-014: a publisher–client pair is written once per presenceSlack,
// with the exact expiry of the publish that wrote it.
func TestPresencePairWrittenOncePerSlack(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s := openTest(t, filepath.Join(t.TempDir(), "db"), func() time.Time { return now })
	expires := func() int64 {
		var e int64
		if err := s.r.QueryRow(`SELECT expires FROM published_to WHERE publisher = 'p' AND client_id = ?`, cidb(1)).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	for i, step := range []struct {
		advance time.Duration
		written time.Time // the publish whose expiry the pair holds
	}{
		{0, now},
		{presenceSlack - time.Minute, now},
		{2 * time.Minute, now.Add(presenceSlack + time.Minute)},
	} {
		now = now.Add(step.advance)
		if _, _, err := s.Publish(ctx, publishTo(cid(1), 1), nil); err != nil {
			t.Fatal(err)
		}
		if got, want := expires(), ms(step.written.Add(store.PresenceRetention)); got != want {
			t.Fatalf("publish %d: pair expires %d, want %d", i, got, want)
		}
	}
}
