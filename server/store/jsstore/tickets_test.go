package jsstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/server/store"
)

// TestTicketKeysAndRecordsOnJetStream: nodes that rotate the ticket key
// set at once agree on one set, sealed under the storage key (HS-045); of
// concurrent advances of one record on two nodes exactly one succeeds
// (HS-046, HS-047).
func TestTicketKeysAndRecordsOnJetStream(t *testing.T) {
	a, _ := openTest(t)
	ctx := context.Background()
	b, err := Open(ctx, a.js.Conn(), a.opt)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k1, err := a.TicketKeys(ctx, now, time.Hour)
	if err != nil || k1.Current.ID != 1 {
		t.Fatalf("first set %+v %v", k1, err)
	}
	var sets [8]*handshake.TicketKeys
	var wg sync.WaitGroup
	for i := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			k, err := s.TicketKeys(ctx, now.Add(time.Hour), time.Hour)
			if err != nil {
				t.Error(err)
			}
			sets[i] = k
		}()
	}
	wg.Wait()
	for i, k := range sets {
		if k == nil || k.Current != sets[0].Current || k.Current.ID != 2 || k.Previous == nil || *k.Previous != k1.Current {
			t.Fatalf("node call %d: %+v, want one rotation to key 2", i, k)
		}
	}
	e, _ := a.meta.Get(ctx, keyTicketKeys)
	v := append([]byte(nil), e.Value()...)
	v[len(v)-1] ^= 1
	a.meta.Put(ctx, keyTicketKeys, v)
	if _, err := b.TicketKeys(ctx, now.Add(time.Hour), time.Hour); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("tampered set: %v", err)
	}

	id := [32]byte{9}
	if err := a.StartTicketRecord(ctx, id, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, ok, err := b.TicketRecord(ctx, id)
	if err != nil || !ok || r != (handshake.TicketRecord{Latest: 1}) {
		t.Fatalf("record on the other node: %+v %v %v", r, ok, err)
	}
	var wins int
	var mu sync.Mutex
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			ok, err := s.AdvanceTicketRecord(ctx, id, r, r.After(1), now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent advances from one record succeeded", wins)
	}
	if r, _, _ := a.TicketRecord(ctx, id); r != (handshake.TicketRecord{Latest: 2, Retry: true}) {
		t.Fatalf("after the advance %+v", r)
	}
}
