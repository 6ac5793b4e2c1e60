// Package store defines what the SealFeed server keeps durably: messages
// until they are acknowledged or expire, each client's message-ID sequence
// (DLV-001), idempotency keys of publishes, the publishers' seen nonces
// (API-016, API-017) and the batch-sequence high-water mark of each signer
// key (BATCH-020). The core talks to a Store only; engines live in
// subpackages (sqlitestore is the embedded default).
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/sealfeed/sealfeed/protocol/handshake"
)

// MessageState is the life-cycle state of a stored message.
type MessageState uint8

const (
	// Pending: stored, not yet acknowledged by the client.
	Pending MessageState = iota
	// Acknowledged: the client acknowledged it; the payload is erased.
	Acknowledged
	// Expired: the TTL passed before an acknowledgement; the payload is erased.
	Expired
)

func (s MessageState) String() string {
	switch s {
	case Pending:
		return "pending"
	case Acknowledged:
		return "acknowledged"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// LogValue logs a state by its name, also under a JSON handler (OPS-054).
func (s MessageState) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Publication is one payload for one or more clients. With several clients
// the payload is stored once and delivered as a broadcast blob.
type Publication struct {
	To [][32]byte
	// Devices, for a publication addressed to users (API-090), holds the
	// user and device each client ID of To was resolved from, one entry
	// per To; nil otherwise. Engines keep it in the answer an
	// Idempotency-Key replays (Annotate), so a replay names the same
	// devices even after the directory changed (API-094).
	Devices []UserDevice
	Payload []byte
	TTL     time.Duration
}

// UserDevice names a device of a user (TOK-020): the token's subject and
// device ("" when the token named none).
type UserDevice struct {
	User   string `json:",omitempty"`
	Device string `json:",omitempty"`
}

// Assigned says where one accepted message went.
type Assigned struct {
	Handle   string   // public message handle (32 lower-case hex digits)
	ClientID [32]byte //
	Seq      uint64   // per-client message ID (DLV-001)
	Expires  time.Time
	// UserDevice is set for a message of a publication addressed to
	// users (Publication.Devices); empty otherwise.
	UserDevice
}

// Annotate copies each publication's Devices into the Assigned entries
// that Publish made for it, which are in the order of the publications
// and their To (API-024). An engine calls it before it records the answer
// for an Idempotency-Key; it does nothing when out does not hold one entry
// per recipient.
func Annotate(pubs []Publication, out []Assigned) {
	n := 0
	for _, p := range pubs {
		n += len(p.To)
	}
	if n != len(out) {
		return
	}
	i := 0
	for _, p := range pubs {
		for j := range p.To {
			if len(p.Devices) == len(p.To) {
				out[i].UserDevice = p.Devices[j]
			}
			i++
		}
	}
}

// PublishRequest is one atomic publish: every publication is stored, or
// none is.
type PublishRequest struct {
	Publisher      string // key ID of the publisher
	IdempotencyKey string // optional; with it a retried request is stored once
	RequestHash    [32]byte
	Publications   []Publication
	MaxPending     int // per client; 0: no limit
	// Nonce, when not nil, is the request signature's nonce (API-016),
	// recorded by the Publish as Seen records it, in the same commit as
	// the messages (STORE-016): a nonce already recorded and not expired
	// fails the Publish with ErrReplayedNonce and stores nothing. A
	// Publish that succeeds has recorded it; one that fails with another
	// error may or may not have, and the caller records it with Seen,
	// taking "already seen" as recorded by this request.
	Nonce *Nonce
}

// Nonce is a request signature's nonce as Seen records it.
type Nonce struct {
	KeyID, Nonce string
	Expires      time.Time
}

// Message is a pending message as read back for delivery.
type Message struct {
	ClientID [32]byte
	Seq      uint64
	BlobID   int64 // non-zero: the payload is the shared blob of a broadcast
	Payload  []byte
	Expires  time.Time
	// Created is when the store committed the message; the zero time if
	// the engine does not say. The metrics measure publish to sent from
	// it (OPS-044).
	Created time.Time
}

// Status is what the status endpoint reports about one message.
type Status struct {
	Handle    string
	ClientID  [32]byte
	Seq       uint64
	State     MessageState
	Publisher string
	Created   time.Time
	Expires   time.Time
}

// PresenceRetention is how long after its last publish to a client a
// publisher may query that client's presence (API-040): the longest TTL,
// 7 days, plus the 24 h a finished message's status is kept.
const PresenceRetention = 8 * 24 * time.Hour

// Errors of a Store. Each is wrapped with context.
var (
	ErrNotFound           = errors.New("store: not found")
	ErrIdempotencyReused  = errors.New("store: idempotency key reused with a different request")
	ErrTooManyPending     = errors.New("store: too many pending messages for a client")
	ErrReplayedNonce      = errors.New("store: the request's nonce was already recorded")
	ErrWrongStorageKey    = errors.New("store: the storage key does not open this store")
	ErrStoredDataTampered = errors.New("store: a stored payload failed authentication")
)

// Store is the durable state of one server node. Implementations are safe
// for concurrent use. Publish and Ack return only once the change is
// durable.
type Store interface {
	// Publish stores req atomically and assigns per-client message IDs in
	// order. If req.IdempotencyKey was seen before for the same publisher
	// with the same RequestHash, it stores nothing and returns the first
	// answer with replayed set; with another hash it fails with
	// ErrIdempotencyReused. onCommit, if not nil, runs once after the
	// commit of a stored request (not for a replayed one) with what Publish
	// returns, before Publish returns. An engine with one writer
	// (sqlitestore, memstore) runs the calls in commit order, each before
	// any later commit (sqlitestore commits a group of requests in one
	// transaction, STORE-010, and runs their calls in queue order after it,
	// on its writer: onCommit must not call the Store's writes); a
	// clustered engine (jsstore) does not order the calls of concurrent
	// publishes. The core needs only "after the commit": a Pending read
	// that onCommit triggers sees it.
	Publish(ctx context.Context, req *PublishRequest, onCommit func([]Assigned)) (res []Assigned, replayed bool, err error)
	// Pending returns up to limit unacknowledged, unexpired messages of a
	// client with Seq > after, in Seq order.
	Pending(ctx context.Context, clientID [32]byte, after uint64, limit int) ([]Message, error)
	// Ack marks messages acknowledged and erases their payloads; unknown,
	// expired (API-032), another client's or already acknowledged IDs are
	// ignored, and an ID repeated in one call counts once. It returns how
	// many changed.
	Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error)
	// Status reports one message by handle (ErrNotFound).
	Status(ctx context.Context, handle string) (*Status, error)
	// PendingCount reports how many messages of a client are pending.
	PendingCount(ctx context.Context, clientID [32]byte) (int, error)
	// Expire moves pending messages whose TTL has passed to Expired, drops
	// tombstones, idempotency keys and nonces older than their retention,
	// and returns the clients whose pending messages changed (an engine
	// whose entries expire by themselves, jsstore, returns none).
	Expire(ctx context.Context, now time.Time) ([][32]byte, error)
	// Seen records (keyID, nonce) until expires and reports whether it
	// was already recorded and not yet expired (API-016, API-017).
	Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error)
	// PublishedTo reports whether publisher stored a message for clientID
	// within PresenceRetention before now (API-040). Publish records the
	// pair in the same commit as the messages.
	PublishedTo(ctx context.Context, publisher string, clientID [32]byte) (bool, error)
	// ReserveBatchSeqs durably reserves n batch sequence numbers for a
	// signer key and returns the first; numbers never repeat across
	// restarts. BATCH-020 only needs them to rise within a session; the
	// core keeps one node-wide counter from these blocks because that is
	// the simplest counter that rises in every session at once.
	ReserveBatchSeqs(ctx context.Context, signer [32]byte, n uint64) (first uint64, err error)
	// Epoch returns the store epoch (ID-004): 16 random bytes created with
	// the store, kept sealed under the storage key, replaced only by an
	// engine's NewEpoch (a restore). A sealed value that does not open is
	// ErrStoredDataTampered.
	Epoch(ctx context.Context) ([16]byte, error)
	// TicketKeys returns the deployment's ticket key set (HS-045), sealed
	// in the store under the storage key and shared by every node; it
	// creates the set on first use and rotates it when the current key has
	// been current for rotate: a new current key with the next key ID, the
	// old current key kept as the previous one. Concurrent callers see one
	// rotation.
	TicketKeys(ctx context.Context, now time.Time, rotate time.Duration) (*handshake.TicketKeys, error)
	// TicketRecord returns the ticket record of an anonymous client ID
	// (HS-046); ok is false when there is none or it expired.
	TicketRecord(ctx context.Context, clientID [32]byte) (r handshake.TicketRecord, ok bool, err error)
	// StartTicketRecord records generation 1 for a client ID assigned by
	// a full handshake, until expires.
	StartTicketRecord(ctx context.Context, clientID [32]byte, expires time.Time) error
	// AdvanceTicketRecord replaces the record of clientID by to, valid
	// until expires, if it is still from; it reports whether it did. Of
	// concurrent calls with the same from, at most one succeeds (HS-047).
	AdvanceTicketRecord(ctx context.Context, clientID [32]byte, from, to handshake.TicketRecord, expires time.Time) (bool, error)
	// Ready reports whether everything the engine needs answers now,
	// within ctx: nil only then (OPS-001). It changes nothing. A
	// clustered engine checks each of its parts (jsstore: the stream and
	// every key-value bucket), since one can answer while another has no
	// leader yet.
	Ready(ctx context.Context) error
	Close() error
}

// PresenceBoard is implemented by a Store whose nodes share presence
// (API-070, jsstore): each node records the clients connected to it, and
// any node reads where a client is. A single-node Store does not implement
// it; the node's own connections are its presence.
type PresenceBoard interface {
	// SetOnline records that clientID is connected to this node since
	// since. The entry lapses PresenceTTL after its last write unless
	// written again (API-071).
	SetOnline(ctx context.Context, clientID [32]byte, since time.Time) error
	// SetOffline removes clientID's entry if this node wrote it; an entry
	// of another node (the client moved there) is left alone (API-072).
	SetOffline(ctx context.Context, clientID [32]byte) error
	// Presence reports whether clientID is connected to some node of the
	// deployment and since when (API-070).
	Presence(ctx context.Context, clientID [32]byte) (online bool, since time.Time, err error)
	// PresenceRefresh is how often a node writes again the entries of
	// its connected clients: a third of PresenceTTL.
	PresenceRefresh() time.Duration
}

// DeviceRetention is how long after its last connection a device of a
// user stays known to user addressing (STORE-021): the longest TTL, 7 days,
// plus a day.
const DeviceRetention = 8 * 24 * time.Hour

// MaxDevicesPerUser bounds the devices a directory keeps for one user
// (STORE-022): recording one more drops the least recently seen.
const MaxDevicesPerUser = 100

// Device is a device of a user as the directory records it (TOK-020).
type Device struct {
	UserDevice
	ClientID [32]byte
	// LastSeen is when a connection of the device last presented its
	// token or ended, by the recording node's clock.
	LastSeen time.Time
}

// Directory is implemented by a Store that records the devices of users
// for user addressing (TOK-020, STORE-020 … STORE-023): every engine of
// the reference server does, and a clustered engine shares the records
// between its nodes (jsstore: a key-value bucket).
type Directory interface {
	// RecordDevice records that clientID is device d.Device of user
	// d.User, seen at seen. A non-empty device label names one entry per
	// (user, device): a new client ID replaces the old one. An empty label
	// is keyed by the client ID. A record older than the one kept (an
	// earlier seen) does not replace it. Beyond MaxDevicesPerUser the
	// least recently seen entry of the user is dropped.
	RecordDevice(ctx context.Context, d UserDevice, clientID [32]byte, seen time.Time) error
	// Devices returns the devices of user seen within DeviceRetention
	// before now (the engine's clock), in no particular order; none for an
	// unknown user.
	Devices(ctx context.Context, user string) ([]Device, error)
}

// DeviceKey is the key of a device entry within its user (STORE-020): the
// label, or for an unlabelled device its client ID.
func DeviceKey(device string, clientID [32]byte) string {
	if device == "" {
		return "c:" + hex.EncodeToString(clientID[:])
	}
	return "d:" + device
}

// Backlogger is a Store that reports its backlog to the metrics
// (OPS-045): how many unexpired messages are pending and when the oldest
// of them was created (zero when none). It may read every pending
// message; the node calls it once per scrape, not per message.
type Backlogger interface {
	Backlog(ctx context.Context) (pending int, oldest time.Time, err error)
}

// RequestHash is the hash a publish request is identified by for
// Idempotency-Key: SHA-256 over the method, path and body.
func RequestHash(method, path string, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("sealfeed v1 idempotency"))
	h.Write([]byte{0})
	h.Write([]byte(method + " " + path))
	h.Write([]byte{0})
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
