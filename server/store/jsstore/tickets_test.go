package jsstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// TestTicketKeysSealedOnJetStream: the ticket key set in the meta bucket
// is sealed under the storage key; a changed byte is ErrStoredDataTampered
// on the other node (HS-045). One rotation for concurrent callers on two
// nodes and one winner of concurrent record advances (HS-046, HS-047) are
// the contract suite's (storetest TicketKeys, TicketRecords).
func TestTicketKeysSealedOnJetStream(t *testing.T) {
	a := openSingle(t)
	ctx := context.Background()
	b, err := Open(ctx, a.js.Conn(), a.opt)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := a.TicketKeys(ctx, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	e, err := a.meta.Get(ctx, keyTicketKeys)
	if err != nil {
		t.Fatal(err)
	}
	v := append([]byte(nil), e.Value()...)
	v[len(v)-1] ^= 1
	if _, err := a.meta.Put(ctx, keyTicketKeys, v); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TicketKeys(ctx, now.Add(time.Hour), time.Hour); !errors.Is(err, store.ErrStoredDataTampered) {
		t.Fatalf("tampered set: %v", err)
	}
}
