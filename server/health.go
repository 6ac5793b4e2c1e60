package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// watchdog decides whether the node is sick (OPS-003, OPS-004): it probes
// Store.Ready every probeEvery, each probe bounded by timeout, and reads
// the hub's record of failed delivery ticks. A node whose store has not
// answered, or whose ticks have kept failing, for sickAfter is sick: it
// closes every session with going_away (core.Hub.GoAway, POST-022),
// refuses new ones the same way and refuses publishes with 503. When a
// probe succeeds again it recovers: Hub.Resume, publishes accepted. Each
// transition is logged and counted.
type watchdog struct {
	n          *Node
	sickAfter  time.Duration
	probeEvery time.Duration
	timeout    time.Duration

	sick        atomic.Bool
	transitions atomic.Uint64 // into and out of sickness
	probeFails  atomic.Uint64

	storeFailingSince time.Time // owned by run: start of the first failed probe since a good one
}

// errProbeTimeout: Store.Ready did not return within the probe's bound.
var errProbeTimeout = errors.New("server: the store did not answer the readiness probe in time")

// probe runs Store.Ready bounded by w.timeout, even if the engine ignores
// its context (a call still running is left to finish in the background).
func (w *watchdog) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.n.Store.Ready(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errProbeTimeout
	}
}

// run probes until ctx ends. It does not undo a sickness when ctx ends:
// the shutdown that follows closes the sessions for good.
func (w *watchdog) run(ctx context.Context) {
	t := time.NewTicker(w.probeEvery)
	defer t.Stop()
	for {
		start := time.Now()
		err := w.probe(ctx)
		if ctx.Err() != nil {
			return
		}
		w.step(start, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step applies one probe's outcome, started at start.
func (w *watchdog) step(start time.Time, err error) {
	log := w.n.cfg.Logger
	now := time.Now()
	if err != nil {
		w.probeFails.Add(1)
		if w.storeFailingSince.IsZero() {
			w.storeFailingSince = start
			log.Warn("store readiness probe failed", "err", err)
		}
	} else {
		w.storeFailingSince = time.Time{}
	}
	tickSince, ticksFailing := w.n.Hub.DeliveryFailingSince()
	storeSick := err != nil && now.Sub(w.storeFailingSince) >= w.sickAfter
	ticksSick := ticksFailing && now.Sub(tickSince) >= w.sickAfter
	switch {
	case !w.sick.Load() && (storeSick || ticksSick):
		w.sick.Store(true)
		w.transitions.Add(1)
		w.n.API.SetSick(true)
		cause := "store unreachable"
		if !storeSick {
			cause = "delivery ticks failing"
		}
		sessions := w.n.Hub.GoAway("node cannot reach its store")
		log.Error("node sick: sessions closed with going_away, new sessions and publishes refused (OPS-003)",
			"cause", cause, "for", w.sickAfter, "sessions", sessions, "err", err)
	case w.sick.Load() && err == nil:
		w.n.API.SetSick(false)
		w.sick.Store(false)
		w.n.Hub.Resume()
		w.transitions.Add(1)
		log.Info("node recovered: the store answers; sessions and publishes accepted again (OPS-004)")
	}
}
