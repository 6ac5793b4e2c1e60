package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// directoryTimeout bounds one device record write, and the last pass at
// shutdown.
const directoryTimeout = 5 * time.Second

// directoryRetry is how long a failed device record waits before it is
// written again.
const directoryRetry = 5 * time.Second

// deviceRecord is a queued write of the directory (TOK-020).
type deviceRecord struct {
	d    store.UserDevice
	id   [32]byte
	seen time.Time
}

// recordDevice queues, for the directory writer, that the connection's
// client is the device its token names, seen now (TOK-020): when the hub
// attaches a connection with a token, when a refresh replaces it, and when
// the connection ends. It never blocks the session; a Store that is not a
// store.Directory records nothing.
func (c *Conn) recordDevice() {
	if c.hub.dir == nil {
		return
	}
	if u, ok := c.User(); ok {
		c.hub.queueDevice(c.id, u.Subject, u.Device)
	}
}

// queueDevice queues the record of client id as device of user, seen now.
func (h *Hub) queueDevice(id [32]byte, user, device string) {
	if h.dir == nil {
		return
	}
	r := deviceRecord{d: store.UserDevice{User: user, Device: device}, id: id, seen: h.cfg.Now()}
	h.dirMu.Lock()
	h.dirQueue[store.DeviceKey(r.d.Device, r.id)+"\x00"+r.d.User] = r
	h.dirMu.Unlock()
	select {
	case h.dirWake <- struct{}{}:
	default:
	}
}

// directoryLoop writes the queued device records off the delivery path
// (TOK-020). A failed write is logged and tried again directoryRetry
// later, unless a newer record of the same device replaced it. When stop
// closes it makes one last pass, bounded by directoryTimeout, for the
// records of the connections GoAway closed.
func (h *Hub) directoryLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(directoryRetry)
	defer t.Stop()
	for {
		select {
		case <-stop:
			ctx, cancel := context.WithTimeout(context.Background(), directoryTimeout)
			h.writeDevices(ctx)
			cancel()
			return
		case <-t.C:
		case <-h.dirWake:
		}
		h.writeDevices(context.Background())
	}
}

// writeDevices writes the queued records, presenceWriters at a time (a
// node whose clients all reconnect at once records them all), each bounded
// by directoryTimeout within ctx; the failed ones go back to the queue.
func (h *Hub) writeDevices(ctx context.Context) {
	h.dirMu.Lock()
	q := h.dirQueue
	h.dirQueue = map[string]deviceRecord{}
	h.dirMu.Unlock()
	sem := make(chan struct{}, presenceWriters)
	var wg sync.WaitGroup
	for k, r := range q {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			wctx, cancel := context.WithTimeout(ctx, directoryTimeout)
			err := h.dir.RecordDevice(wctx, r.d, r.id, r.seen)
			cancel()
			if err == nil || errors.Is(err, errors.ErrUnsupported) {
				return // a wrapper over an engine without a directory records nothing
			}
			h.M.StoreErrors.Add(1)
			h.log.Warn("device record write failed; retried", "client", fmt.Sprintf("%x", r.id[:8]), "err", err)
			h.dirMu.Lock()
			if _, newer := h.dirQueue[k]; !newer {
				h.dirQueue[k] = r
			}
			h.dirMu.Unlock()
		}()
	}
	wg.Wait()
}
