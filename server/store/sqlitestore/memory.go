package sqlitestore

import (
	"time"

	"github.com/sealfeed/sealfeed/server/store"
)

// The writer's memory (STORE-013, STORE-014).
//
// The writer keeps each client's last message ID and pending count in
// memory instead of a row it rewrites per message, and remembers which
// publisher–client pairs of published_to it wrote recently. Both are
// derived from the database and never the only copy of anything durable:
//   - a client's last ID is the highest seq among its rows, or once those
//     are deleted, client_seqs.last_seq (saveLastSeqs runs before the
//     sweep deletes a client's newest row); its pending count is the
//     number of its rows in state pending. Open counts these for every
//     client with a pending message (loadClients), so a client the writer
//     does not hold has none pending; another is read when first needed
//     (loadClient).
//   - a presence pair (API-040) is written with the expiry now +
//     PresenceRetention, and not written again while the one written
//     is later than now + PresenceRetention − presenceSlack: a pair may
//     end up to presenceSlack before PresenceRetention after the last
//     publish, never after it.
//
// The writer changes its memory inside a request's savepoint and journals
// the first change of each client per request and per group
// (undoRequest, undoGroup), so that a request rolled back, or a group
// whose commit failed, leaves the memory as the database is.

// clientState is what the writer holds of one client.
type clientState struct {
	lastSeq uint64 // the last message ID assigned (DLV-001)
	pending int    // messages neither acknowledged nor swept as expired (API-028)
}

type presenceKey struct {
	publisher string
	client    [32]byte
}

type presenceWrite struct {
	k       presenceKey
	expires int64
}

const (
	// presenceSlack: a published_to pair is rewritten at most once per
	// presenceSlack per publisher and client.
	presenceSlack = time.Hour
	// Bounds of the writer's memory: beyond them it forgets the clients
	// with nothing pending and the presence pairs at the next group.
	maxHeldClients  = 1 << 17
	maxHeldPresence = 1 << 17
)

// loadClients reads the state of every client with a pending message.
func (s *Store) loadClients() error {
	rows, err := s.w.Query(`SELECT p.client_id, p.n,
		max(coalesce((SELECT max(seq) FROM messages m WHERE m.client_id = p.client_id), 0),
			coalesce((SELECT last_seq FROM client_seqs c WHERE c.client_id = p.client_id), 0))
		FROM (SELECT client_id, count(*) AS n FROM messages WHERE state = 0 GROUP BY client_id) p`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c []byte
		st := &clientState{}
		if err := rows.Scan(&c, &st.pending, &st.lastSeq); err != nil {
			return err
		}
		s.clients[[32]byte(c)] = st
	}
	return rows.Err()
}

// forget trims the writer's memory to its bounds, between groups.
func (s *Store) forget() {
	if len(s.clients) > maxHeldClients {
		for c, st := range s.clients {
			if st.pending <= 0 {
				delete(s.clients, c)
			}
		}
	}
	if len(s.presence) > maxHeldPresence {
		clear(s.presence)
	}
}

// client returns the writer's state of client c for a change, journaling
// it first.
func (w *writeTx) client(c [32]byte) (*clientState, error) {
	st := w.s.clients[c]
	if st == nil {
		st = &clientState{}
		if err := w.queryRow(loadClient, c[:]).Scan(&st.lastSeq); err != nil {
			return nil, err
		}
	}
	for _, undo := range []map[[32]byte]*clientState{w.undoRequest, w.undoGroup} {
		if _, ok := undo[c]; !ok {
			if held := w.s.clients[c]; held != nil {
				prev := *held
				undo[c] = &prev
			} else {
				undo[c] = nil
			}
		}
	}
	w.s.clients[c] = st
	return st, nil
}

// restore puts back the states journaled in undo.
func (s *Store) restore(undo map[[32]byte]*clientState) {
	for c, prev := range undo {
		if prev == nil {
			delete(s.clients, c)
		} else {
			s.clients[c] = prev
		}
	}
}

// recordPresence writes the pair (publisher, c) with the expiry now +
// PresenceRetention unless the one written is less than presenceSlack
// older (API-040, STORE-014).
func (w *writeTx) recordPresence(publisher string, c [32]byte, now time.Time) error {
	k := presenceKey{publisher, c}
	exp := ms(now.Add(store.PresenceRetention))
	if w.s.presence[k] > exp-presenceSlack.Milliseconds() {
		return nil
	}
	if _, err := w.exec(recordPublishedTo, publisher, c[:], exp); err != nil {
		return err
	}
	w.presenceWrites = append(w.presenceWrites, presenceWrite{k, exp})
	return nil
}
