package jsstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealfeed/sealfeed/server/store"
)

// DefaultPresenceTTL is how long a presence entry lives after its node last
// wrote it (API-071): a node that dies stops writing, and its clients turn
// offline on every node at most this long after.
const DefaultPresenceTTL = 30 * time.Second

var _ store.PresenceBoard = (*Store)(nil)

// presenceEntry is the value of a presence key (the client ID in hex): the
// instance of the node the client is connected to and since when.
type presenceEntry struct {
	Node  string `json:"node"`
	Since int64  `json:"since"` // Unix ns, the node's clock
}

// openPresenceBucket creates the presence bucket: one key per connected
// client, aged out PresenceTTL after its last write. Every node of a
// deployment must use the same PresenceTTL: the last to open sets it.
func (s *Store) openPresenceBucket(ctx context.Context) error {
	var id [16]byte
	rand.Read(id[:])
	s.node = hex.EncodeToString(id[:])
	var b jetstream.KeyValue
	err := retry(ctx, func(ctx context.Context) (err error) {
		b, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: s.opt.Prefix + "-presence", Replicas: s.opt.Replicas,
			Storage: jetstream.FileStorage, History: 1, TTL: s.opt.PresenceTTL,
			Description: "SealFeed presence: client ID -> node and connected-since, renewed by the node"})
		return err
	})
	if err != nil {
		return fmt.Errorf("jsstore: bucket %s-presence: %w", s.opt.Prefix, err)
	}
	s.presence = b
	return nil
}

// PresenceRefresh implements store.PresenceBoard.
func (s *Store) PresenceRefresh() time.Duration { return s.opt.PresenceTTL / 3 }

// SetOnline implements store.PresenceBoard: one Put, which also renews the
// entry's age (API-071).
func (s *Store) SetOnline(ctx context.Context, clientID [32]byte, since time.Time) error {
	v, err := json.Marshal(presenceEntry{Node: s.node, Since: since.UnixNano()})
	if err != nil {
		return err
	}
	return retry(ctx, func(ctx context.Context) error {
		_, err := s.presence.Put(ctx, hex.EncodeToString(clientID[:]), v)
		return err
	})
}

// SetOffline implements store.PresenceBoard: the entry is deleted only if
// this node wrote it, by compare-and-set on its revision, so a client that
// already moved to another node stays online there (API-072).
func (s *Store) SetOffline(ctx context.Context, clientID [32]byte) error {
	key := hex.EncodeToString(clientID[:])
	e, err := get(ctx, s.presence, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p, err := parsePresence(e.Value())
	if err != nil || p.Node != s.node {
		return nil // another node's (or unreadable) entry: not ours to remove
	}
	err = retry(ctx, func(ctx context.Context) error {
		return s.presence.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	})
	var api *jetstream.APIError
	if errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return nil // written again meanwhile, by another node or a refresh
	}
	return err
}

// Presence implements store.PresenceBoard.
func (s *Store) Presence(ctx context.Context, clientID [32]byte) (bool, time.Time, error) {
	e, err := get(ctx, s.presence, hex.EncodeToString(clientID[:]))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, err
	}
	p, err := parsePresence(e.Value())
	if err != nil {
		return false, time.Time{}, err
	}
	return true, time.Unix(0, p.Since), nil
}

// parsePresence reads an entry strictly: one JSON object with a node and a
// positive time, nothing else.
func parsePresence(v []byte) (presenceEntry, error) {
	var p presenceEntry
	d := json.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil || d.More() || p.Node == "" || p.Since <= 0 {
		return p, errors.New("jsstore: malformed presence entry")
	}
	return p, nil
}
