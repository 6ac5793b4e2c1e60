package core

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// presenceTimeout bounds one presence write, and the last pass at shutdown.
const presenceTimeout = 5 * time.Second

// presenceChanged queues a client whose connection here began or ended for
// the presence writer (API-070). A node on a Store that is not a
// store.PresenceBoard does nothing: its connections are its presence.
func (h *Hub) presenceChanged(id [32]byte) {
	if h.board == nil {
		return
	}
	h.presMu.Lock()
	h.presDirty[id] = struct{}{}
	h.presMu.Unlock()
	select {
	case h.presWake <- struct{}{}:
	default:
	}
}

// presenceLoop writes the presence of queued clients as it is when it
// writes, not as it was queued, so writes that overtake each other cannot
// leave a stale entry: a client connected here is SetOnline, any other is
// SetOffline (which leaves another node's entry alone, API-072). Every
// PresenceRefresh it writes every connected client again, which renews the
// entries a dead node would leave to lapse (API-071). A failed write is
// logged and tried again at the next refresh (an online entry) or left to
// lapse (an offline one). When stop closes it makes one last pass for what
// GoAway queued, bounded by presenceTimeout.
func (h *Hub) presenceLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(h.board.PresenceRefresh())
	defer t.Stop()
	for {
		select {
		case <-stop:
			ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
			h.writePresence(ctx)
			cancel()
			return
		case <-t.C:
			h.mu.Lock()
			ids := make([][32]byte, 0, len(h.conns))
			for id := range h.conns {
				ids = append(ids, id)
			}
			h.mu.Unlock()
			h.presMu.Lock()
			for _, id := range ids {
				h.presDirty[id] = struct{}{}
			}
			h.presMu.Unlock()
		case <-h.presWake:
		}
		h.writePresence(context.Background())
	}
}

// presenceWriters bounds the presence writes in flight at once: a node
// renews every connected client each PresenceRefresh, and one write at a
// time at a replicated store's round trip would not get through thousands.
const presenceWriters = 16

// writePresence writes the queued clients' records, each write bounded by
// presenceTimeout within ctx.
func (h *Hub) writePresence(ctx context.Context) {
	h.presMu.Lock()
	dirty := h.presDirty
	h.presDirty = map[[32]byte]struct{}{}
	h.presMu.Unlock()
	sem := make(chan struct{}, presenceWriters)
	var wg sync.WaitGroup
	for id := range dirty {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.mu.Lock()
			c := h.conns[id]
			h.mu.Unlock()
			wctx, cancel := context.WithTimeout(ctx, presenceTimeout)
			defer cancel()
			var err error
			if c != nil {
				err = h.board.SetOnline(wctx, id, c.since)
			} else {
				err = h.board.SetOffline(wctx, id)
			}
			if err != nil {
				h.M.StoreErrors.Add(1)
				h.log.Warn("presence write failed", "client", fmt.Sprintf("%x", id[:8]), "online", c != nil, "err", err)
			}
		}()
	}
	wg.Wait()
}
