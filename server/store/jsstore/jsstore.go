// Package jsstore is a Store on NATS JetStream for several server nodes
// (docs/scale-out.md): messages live in a replicated stream, one subject per
// client, so any node can store a publish for any client and any node can
// deliver it; replication survives the loss of a minority of NATS servers.
//
// Mapping to the Store contract:
//   - a message's ID (DLV-001) is its stream sequence number: strictly
//     increasing in the order the cluster accepted messages, never reused,
//     the same on every node; IDs of one client are not contiguous;
//   - a broadcast payload is stored once, on the blob subject, and each
//     recipient's message refers to it (API-029);
//   - expiry is decided by the store's clock, never a node's (DLV-040): a
//     message expires TTL after the stream's own time stamp of it, compared
//     with the stream's clock (storeNow); JetStream's per-message TTL, a
//     second later, removes it; acknowledged messages are deleted;
//   - Idempotency-Key: each message is published with a Nats-Msg-Id derived
//     from (publisher, key, position), so JetStream's duplicate window makes
//     a retry after a crash store nothing new, and a KV record keeps the
//     request hash and the first answer (API-026, API-027);
//   - nonces (API-016, API-017) and batch-sequence high-water marks
//     (BATCH-020) are KV entries, created or compared-and-set atomically.
//
// Payloads are encrypted at rest under the storage key shared by the nodes.
// Every message carries a sealed record bound to its client, its handle, its
// expiry and its blob's sequence; a broadcast message's record holds the
// random handle of its blob, which the blob's additional data binds
// (STORE-001 … STORE-004). A message's ID, its stream sequence, is assigned
// after sealing and is not bound: a stream writer can copy a client's
// message to a new sequence, and the client then sees its own payload again.
package jsstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sealfeed/sealfeed/server/store"
)

const (
	labelMessage = "sealfeed v1 storage message"
	labelBlob    = "sealfeed v1 storage blob"

	hHandle    = "Sf-Handle"
	hPublisher = "Sf-Publisher"
	hBlob      = "Sf-Blob"
	hExpires   = "Sf-Expires"
	hCreated   = "Sf-Created"
)

// Options configure a Store.
type Options struct {
	// Prefix names the stream, the subjects and the buckets; "": "sealfeed".
	Prefix string
	// Replicas of the stream and buckets; 0: 3.
	Replicas int
	// StorageKey is the 32-byte payload key, the same on every node.
	StorageKey []byte
	// Retention of idempotency records, status tombstones and the duplicate
	// window; 0: 24 h.
	Retention time.Duration
	// Now is the node's clock; nil: time.Now. It stamps the expiry a
	// publish answers with and the expiry of nonces and ticket records; it
	// never decides whether a message expired (DLV-040).
	Now func() time.Time
	// PresenceTTL is how long a presence entry lives after its node last
	// wrote it (API-071); nodes write theirs every PresenceTTL/3; 0:
	// DefaultPresenceTTL. Every node of a deployment uses the same.
	PresenceTTL time.Duration
	// ClaimTTL is how long a webhook event handed to a node stays its own
	// without a renewal (STORE-034): the shared consumer's AckWait, so the
	// same on every node; 0: DefaultClaimTTL.
	ClaimTTL time.Duration
}

// Store is the JetStream Store.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	idem   jetstream.KeyValue
	status jetstream.KeyValue
	nonces jetstream.KeyValue
	seqs   jetstream.KeyValue
	pubTo  jetstream.KeyValue // publisher–client pairs (API-040)
	meta   jetstream.KeyValue // store epoch (epoch.go), ticket keys (tickets.go)
	ticket jetstream.KeyValue // ticket records (tickets.go)
	aead   interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
	opt     Options
	subject string // prefix of client subjects: <prefix>.msg.
	blobs   string // blob subject

	pubToSubject string // prefix of the subjects of pubTo's keys

	clock storeClock

	presence jetstream.KeyValue // client ID -> node, connected since (presence.go)
	devices  jetstream.KeyValue // user -> devices (directory.go)
	node     string             // this Store's instance in presence entries

	ob outbox // webhook events (outbox.go)
}

var _ store.Store = (*Store)(nil)

// Subject returns the wildcard subject on which every stored message is
// also published, so that nodes can learn of new messages (see ClientOf).
func (s *Store) Subject() string { return s.subject + "*" }

// ClientOf returns the client ID a message subject belongs to.
func (s *Store) ClientOf(subject string) ([32]byte, bool) {
	var id [32]byte
	h, ok := strings.CutPrefix(subject, s.subject)
	if !ok || len(h) != 64 {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(h))
	return id, err == nil
}

// Open creates or updates the stream and buckets and returns the Store.
func Open(ctx context.Context, nc *nats.Conn, opt Options) (*Store, error) {
	if len(opt.StorageKey) != chacha20poly1305.KeySize {
		return nil, errors.New("jsstore: storage key must be 32 bytes")
	}
	if opt.Prefix == "" {
		opt.Prefix = "sealfeed"
	}
	if opt.Replicas == 0 {
		opt.Replicas = 3
	}
	if opt.Retention == 0 {
		opt.Retention = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PresenceTTL <= 0 {
		opt.PresenceTTL = DefaultPresenceTTL
	}
	if opt.ClaimTTL <= 0 {
		opt.ClaimTTL = DefaultClaimTTL
	}
	a, err := chacha20poly1305.NewX(opt.StorageKey)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := &Store{js: js, aead: a, opt: opt, subject: opt.Prefix + ".msg.", blobs: opt.Prefix + ".blob"}
	name := strings.ToUpper(opt.Prefix)
	err = retry(ctx, func(ctx context.Context) (err error) {
		s.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{s.subject + "*", s.blobs}, Storage: jetstream.FileStorage,
			// No direct gets: they may be served by a replica that has not yet
			// applied a message a node was just woken for; reads go to the leader.
			Replicas: opt.Replicas, Duplicates: opt.Retention, AllowMsgTTL: true,
			Description: "SealFeed messages, one subject per client; broadcast payloads on the blob subject",
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: stream %s: %w", name, err)
	}
	kv := func(bucket string, markers bool) (jetstream.KeyValue, error) {
		cfg := jetstream.KeyValueConfig{Bucket: opt.Prefix + "-" + bucket, Replicas: opt.Replicas, Storage: jetstream.FileStorage, History: 1}
		if markers {
			cfg.LimitMarkerTTL = time.Minute
		}
		var b jetstream.KeyValue
		err := retry(ctx, func(ctx context.Context) (err error) { b, err = js.CreateOrUpdateKeyValue(ctx, cfg); return err })
		if err != nil {
			return nil, fmt.Errorf("jsstore: bucket %s: %w", cfg.Bucket, err)
		}
		return b, nil
	}
	if s.idem, err = kv("idempotency", true); err != nil {
		return nil, err
	}
	if s.status, err = kv("status", true); err != nil {
		return nil, err
	}
	if s.nonces, err = kv("nonces", true); err != nil {
		return nil, err
	}
	if s.seqs, err = kv("batchseq", false); err != nil {
		return nil, err
	}
	// Each Put renews an entry's age: a pair lives PresenceRetention after
	// the publisher's last message to the client.
	if err = retry(ctx, func(ctx context.Context) (err error) {
		s.pubTo, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: opt.Prefix + "-publishedto",
			Replicas: opt.Replicas, Storage: jetstream.FileStorage, History: 1, TTL: store.PresenceRetention})
		return err
	}); err != nil {
		return nil, fmt.Errorf("jsstore: bucket %s-publishedto: %w", opt.Prefix, err)
	}
	s.pubToSubject = "$KV." + opt.Prefix + "-publishedto."
	if s.meta, err = kv("meta", false); err != nil {
		return nil, err
	}
	if err := s.ensureEpoch(ctx); err != nil {
		return nil, err
	}
	if err := s.openTicketBucket(ctx); err != nil {
		return nil, err
	}
	if err := s.openPresenceBucket(ctx); err != nil {
		return nil, err
	}
	if err := s.openDeviceBucket(ctx); err != nil {
		return nil, err
	}
	if err := s.openOutbox(ctx); err != nil {
		return nil, err
	}
	// A replicated stream answers only once its replicas elected a leader.
	for {
		info, err := s.stream.Info(ctx)
		if err == nil && (opt.Replicas == 1 || info.Cluster != nil && info.Cluster.Leader != "") {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jsstore: stream %s has no leader: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errCodeDuplicateInProcess is JetStream's err_code 10158 (409,
// "duplicate message id is in process"): a message with the same
// Nats-Msg-Id is being stored right now. That is an earlier attempt of the
// same request — a node that resumed after a pause finishing it while the
// publisher's retry runs here — and once it is stored a retry gets it back
// as a duplicate, never a second copy.
const errCodeDuplicateInProcess jetstream.ErrorCode = 10158

// transient reports errors that a JetStream cluster gives while it elects
// a leader, a server reconnects or another attempt of the same message is
// being stored (10158); the operation can be retried.
func transient(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == errCodeDuplicateInProcess {
		return true
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		strings.Contains(err.Error(), "no responders") || strings.Contains(err.Error(), "JetStream system temporarily unavailable") ||
		strings.Contains(err.Error(), "no suitable peers for placement") || // err_code 10005: a peer is (re)starting
		strings.Contains(err.Error(), "duplicate message id is in process") // 10158 as text, its code lost on the way
}

// publish stores one message, retrying transient failures until ctx ends.
// Every message carries a Nats-Msg-Id, so a retry after an answer was lost
// is a duplicate JetStream drops, never a second copy.
func (s *Store) publish(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	wait := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ack, err := s.js.PublishMsg(actx, m, opts...)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return ack, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// readyProbeKey is the key Ready reads from each bucket; it is never
// written, so a bucket that answers says "not found".
const readyProbeKey = "ready-probe"

// Ready implements store.Store: the message stream answers with a leader
// (when replicated), and every key-value bucket the store uses answers an
// info request with a leader and a read. Right after start-up a bucket can
// still lack a leader while the stream has one, and a publish then fails
// with "no responders" (issue 15).
func (s *Store) Ready(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("jsstore: stream: %w", err)
	}
	if s.opt.Replicas > 1 && (info.Cluster == nil || info.Cluster.Leader == "") {
		return errors.New("jsstore: stream has no leader")
	}
	for _, b := range []jetstream.KeyValue{s.idem, s.status, s.nonces, s.seqs, s.pubTo, s.meta, s.ticket, s.presence, s.devices} {
		st, err := b.Status(ctx)
		if err != nil {
			return fmt.Errorf("jsstore: bucket %s: %w", b.Bucket(), err)
		}
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && s.opt.Replicas > 1 {
			if c := bs.StreamInfo().Cluster; c == nil || c.Leader == "" {
				return fmt.Errorf("jsstore: bucket %s has no leader", b.Bucket())
			}
		}
		if _, err := b.Get(ctx, readyProbeKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("jsstore: bucket %s: %w", b.Bucket(), err)
		}
	}
	return s.readyOutbox(ctx) // STORE-036
}

// Close implements store.Store; the NATS connection belongs to the caller.
func (s *Store) Close() error { return nil }

func ad(label string, id []byte, handle string) []byte {
	b := append([]byte(label), 0)
	b = append(b, id...)
	return append(b, handle...)
}

// messageAD is the additional data of a message record (STORE-001):
// label || 0x00 || client_id[32] || handle (16 hex digits) || uint64
// expires (Unix ms) || uint64 blob sequence (0: the record holds the
// payload; else the blob's handle, STORE-002).
func messageAD(clientID []byte, handle string, expires int64, blobSeq uint64) []byte {
	b := ad(labelMessage, clientID, handle)
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	return binary.BigEndian.AppendUint64(b, blobSeq)
}

func (s *Store) seal(p, ad []byte) ([]byte, error) {
	n := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(p)+16)
	if _, err := rand.Read(n); err != nil {
		return nil, err
	}
	return s.aead.Seal(n, n, p, ad), nil
}

func (s *Store) open(b, ad []byte) ([]byte, error) {
	if len(b) < chacha20poly1305.NonceSizeX {
		return nil, store.ErrStoredDataTampered
	}
	p, err := s.aead.Open(nil, b[:chacha20poly1305.NonceSizeX], b[chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, store.ErrStoredDataTampered
	}
	return p, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Handles are the sequence (16 hex digits) and 64 random bits, so Status
// finds the message without an index and cannot be probed.
func handleFor(seq uint64, random string) string { return fmt.Sprintf("%016x%s", seq, random) }

func seqOf(handle string) (uint64, bool) {
	if len(handle) != 32 {
		return 0, false
	}
	v, err := strconv.ParseUint(handle[:16], 16, 64)
	return v, err == nil
}

type idemRecord struct {
	Hash     []byte           `json:"hash"`
	Assigned []store.Assigned `json:"assigned"`
}

func idemKey(publisher, key string) string {
	h := sha256.Sum256([]byte(publisher + "\x00" + key))
	return hex.EncodeToString(h[:])
}

// Publish implements store.Store. Messages are stored one by one; a request
// that fails part-way stored some of them, and its retry with the same
// Idempotency-Key stores the rest and none twice. Without a key a failed
// request may have stored part of its messages (API-023 holds with a key).
func (s *Store) Publish(ctx context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	if n := req.Nonce; n != nil { // STORE-016: recorded first, as Seen records it
		if seen, err := s.Seen(ctx, n.KeyID, n.Nonce, n.Expires); err != nil {
			return nil, false, err
		} else if seen {
			return nil, false, store.ErrReplayedNonce
		}
	}
	var ik string
	if req.IdempotencyKey != "" {
		ik = idemKey(req.Publisher, req.IdempotencyKey)
		if e, err := get(ctx, s.idem, ik); err == nil {
			var rec idemRecord
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				return nil, false, err
			}
			if string(rec.Hash) != string(req.RequestHash[:]) {
				return nil, false, store.ErrIdempotencyReused
			}
			return rec.Assigned, true, nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, false, err
		}
	}
	if req.MaxPending > 0 {
		// The request's own messages count too: two for one recipient with
		// room for one is over the limit (API-028).
		adds := map[[32]byte]int{}
		for _, p := range req.Publications {
			for _, to := range p.To {
				adds[to]++
			}
		}
		for to, k := range adds {
			n, err := s.PendingCount(ctx, to)
			if err != nil {
				return nil, false, err
			}
			if n+k > req.MaxPending {
				return nil, false, fmt.Errorf("%w: client %x has %d", store.ErrTooManyPending, to[:4], n)
			}
		}
	}
	now := s.opt.Now()
	var out []store.Assigned
	replayed := false
	once := randomHex(16)
	for i, p := range req.Publications {
		exp := now.Add(p.TTL)
		msgOpts := func(suffix string) []jetstream.PublishOpt {
			id := ik
			if id == "" {
				id = once // unique to this request: retries within it are duplicates
			}
			// JetStream removes a message a second after it expired by
			// the store's clock (DLV-040), and a blob a minute after: its
			// messages are stored after it, by retries of up to the
			// publish's deadline, and expire after it.
			ttl := p.TTL + time.Second
			if suffix == "blob" {
				ttl = p.TTL + time.Minute
			}
			return []jetstream.PublishOpt{jetstream.WithMsgTTL(ttl), jetstream.WithMsgID(id + "/" + strconv.Itoa(i) + "/" + suffix)}
		}
		var blobSeq uint64
		var bh string
		if len(p.To) > 1 {
			bh = randomHex(16)
			data, err := s.seal(p.Payload, ad(labelBlob, nil, bh))
			if err != nil {
				return nil, false, err
			}
			m := &nats.Msg{Subject: s.blobs, Data: data, Header: nats.Header{hHandle: {bh}}}
			ack, err := s.publish(ctx, m, msgOpts("blob")...)
			if err != nil {
				return nil, false, err
			}
			blobSeq = ack.Sequence
			if ack.Duplicate {
				// Stored by an earlier attempt of this request, which may have
				// failed before its messages: they must name that blob's
				// handle, not this attempt's (STORE-002).
				old, err := s.stream.GetMsg(ctx, blobSeq)
				if err != nil {
					return nil, false, fmt.Errorf("jsstore: duplicate blob %d: %w", blobSeq, err)
				}
				bh = old.Header.Get(hHandle)
			}
		}
		for j, to := range p.To {
			random := randomHex(8)
			// The record: the payload, or the blob's handle (STORE-002).
			record := p.Payload
			if blobSeq != 0 {
				record = []byte(bh)
			}
			data, err := s.seal(record, messageAD(to[:], random, exp.UnixMilli(), blobSeq))
			if err != nil {
				return nil, false, err
			}
			h := nats.Header{hHandle: {random}, hPublisher: {req.Publisher},
				hExpires: {strconv.FormatInt(exp.UnixMilli(), 10)}, hCreated: {strconv.FormatInt(now.UnixMilli(), 10)}}
			if blobSeq != 0 {
				h.Set(hBlob, strconv.FormatUint(blobSeq, 10))
			}
			m := &nats.Msg{Subject: s.subject + hex.EncodeToString(to[:]), Data: data, Header: h}
			ack, err := s.publish(ctx, m, msgOpts(strconv.Itoa(j))...)
			if err != nil {
				return nil, false, err
			}
			if ack.Duplicate {
				// Stored by an earlier attempt: report its handle.
				replayed = replayed || ik != ""
				if random, err = s.handleOf(ctx, ack.Sequence); err != nil {
					return nil, false, fmt.Errorf("jsstore: duplicate %d: %w", ack.Sequence, err)
				}
			}
			a := store.Assigned{Handle: handleFor(ack.Sequence, random), ClientID: to, Seq: ack.Sequence, Expires: time.UnixMilli(exp.UnixMilli())}
			if s.hooked(req.Publisher) {
				if err := s.watch(ctx, req.Publisher, a, now); err != nil { // STORE-033
					return nil, false, err
				}
			}
			out = append(out, a)
		}
	}
	if err := s.recordPublishedTo(ctx, req); err != nil {
		return nil, false, err
	}
	store.Annotate(req.Publications, out) // the replayed answer names the devices (API-094)
	if ik != "" {
		b, _ := json.Marshal(idemRecord{Hash: req.RequestHash[:], Assigned: out})
		if _, err := s.idem.Create(ctx, ik, b, jetstream.KeyTTL(s.opt.Retention)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, false, err
		}
	}
	if onCommit != nil && !replayed {
		onCommit(out)
	}
	return out, false, nil
}

func publishedToKey(publisher string, clientID []byte) string {
	h := sha256.Sum256(append([]byte(publisher+"\x00"), clientID...))
	return hex.EncodeToString(h[:])
}

// recordPublishedTo records every (publisher, recipient) pair of req for
// presence (API-040) before the publish is answered: asynchronous publishes
// to the bucket's subjects, a chunk at a time, each chunk waited for (one
// KV Put per recipient in turn cost a 1000-recipient broadcast 70 % more).
func (s *Store) recordPublishedTo(ctx context.Context, req *store.PublishRequest) error {
	const chunk = 1000 // below the JetStream context's 4000 pending publishes
	seen := map[[32]byte]bool{}
	var pending []jetstream.PubAckFuture
	wait := func() error {
		defer func() { pending = pending[:0] }()
		for _, f := range pending {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				// A bucket without a leader yet, a reconnect: once more
				// through publish, which retries transient failures.
				if !transient(err) {
					return err
				}
				if _, err := s.publish(ctx, f.Msg()); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	for _, p := range req.Publications {
		for _, to := range p.To {
			if seen[to] {
				continue
			}
			seen[to] = true
			m := &nats.Msg{Subject: s.pubToSubject + publishedToKey(req.Publisher, to[:]), Data: []byte{1}}
			f, err := s.js.PublishMsgAsync(m)
			if err != nil {
				if !transient(err) {
					return err
				}
				if _, err := s.publish(ctx, m); err != nil {
					return err
				}
				continue
			}
			if pending = append(pending, f); len(pending) == chunk {
				if err := wait(); err != nil {
					return err
				}
			}
		}
	}
	return wait()
}

// PublishedTo implements store.Store.
func (s *Store) PublishedTo(ctx context.Context, publisher string, clientID [32]byte) (bool, error) {
	_, err := get(ctx, s.pubTo, publishedToKey(publisher, clientID[:]))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// handleOf returns the random part of the handle of message seq: from the
// stream while the message is pending, else from its status record once it
// was acknowledged (the first attempt of a retried publish may have been
// delivered and acknowledged before the retry). A message gone without a
// record (expired) gets a handle that finds nothing.
func (s *Store) handleOf(ctx context.Context, seq uint64) (string, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if err == nil {
		return m.Header.Get(hHandle), nil
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", err
	}
	if e, err := get(ctx, s.status, strconv.FormatUint(seq, 10)); err == nil {
		var rec statusRecord
		if json.Unmarshal(e.Value(), &rec) == nil && len(rec.Handle) == 32 {
			return rec.Handle[16:], nil
		}
	}
	return "0000000000000000", nil
}

// Pending implements store.Store with gets of the next message on the
// client's subject. Expiry is decided by the store's clock (DLV-040), not
// the node's: a node whose clock runs ahead of the store's by more than a
// TTL still delivers, and one behind delivers nothing expired.
func (s *Store) Pending(ctx context.Context, clientID [32]byte, after uint64, limit int) ([]store.Message, error) {
	subj := s.subject + hex.EncodeToString(clientID[:])
	now, err := s.storeNow(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Message
	for len(out) < limit {
		m, err := s.stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		after = m.Sequence
		if expiredAt(m, now) {
			continue // JetStream removes it a second later
		}
		exp, _ := strconv.ParseInt(m.Header.Get(hExpires), 10, 64)
		msg := store.Message{ClientID: clientID, Seq: m.Sequence, Expires: time.UnixMilli(exp), Created: m.Time}
		var bs uint64
		if b := m.Header.Get(hBlob); b != "" {
			if bs, err = strconv.ParseUint(b, 10, 64); err != nil || bs == 0 {
				return nil, fmt.Errorf("jsstore: message %d: %w", m.Sequence, store.ErrStoredDataTampered)
			}
		}
		// The record is bound to this subject's client, the handle, the
		// expiry and the blob sequence the headers name.
		if msg.Payload, err = s.open(m.Data, messageAD(clientID[:], m.Header.Get(hHandle), exp, bs)); err != nil {
			return nil, fmt.Errorf("jsstore: message %d: %w", m.Sequence, err)
		}
		if bs != 0 {
			// A broadcast: the blob opens only under the handle in the
			// record, never the one in the blob's own headers.
			bh := string(msg.Payload)
			bm, err := s.stream.GetMsg(ctx, bs)
			if err != nil {
				return nil, fmt.Errorf("jsstore: blob %d of message %d: %w", bs, m.Sequence, err)
			}
			msg.BlobID = int64(bs)
			if bm.Subject != s.blobs || len(bh) != 32 {
				return nil, fmt.Errorf("jsstore: blob %d: %w", bs, store.ErrStoredDataTampered)
			}
			if msg.Payload, err = s.open(bm.Data, ad(labelBlob, nil, bh)); err != nil {
				return nil, fmt.Errorf("jsstore: blob %d: %w", bs, err)
			}
		}
		out = append(out, msg)
	}
	return out, nil
}

type statusRecord struct {
	Handle    string `json:"handle"`
	ClientID  []byte `json:"client_id"`
	Publisher string `json:"publisher"`
	Created   int64  `json:"created"`
	Expires   int64  `json:"expires"`
}

// Ack implements store.Store: the message is deleted from the stream and a
// status record remembers the acknowledgement for the retention. The
// requests run concurrently, once per distinct ID.
func (s *Store) Ack(ctx context.Context, acks map[[32]byte][]uint64) (int, error) {
	var mu sync.Mutex
	var firstErr error
	n := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for c, ids := range acks {
		subj := s.subject + hex.EncodeToString(c[:])
		seen := make(map[uint64]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				continue // an ID repeated in one call counts once
			}
			seen[id] = true
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ok, err := s.ack(ctx, c, subj, id)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if ok {
					n++
				}
			}()
		}
	}
	wg.Wait()
	return n, firstErr
}

func (s *Store) ack(ctx context.Context, c [32]byte, subj string, id uint64) (bool, error) {
	if id == 0 {
		return false, nil // no message has ID 0 (DLV-001); JetStream refuses to look it up
	}
	m, err := s.stream.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m.Subject != subj {
		return false, nil // not this client's message
	}
	now, err := s.storeNow(ctx)
	if err != nil {
		return false, err
	}
	if expiredAt(m, now) {
		// Expired by the store's clock (DLV-040) is final: a late
		// acknowledgement must not report it acknowledged (API-032).
		return false, nil
	}
	// The event first (STORE-032): a crash after it leaves the message
	// pending, and its next acknowledgement publishes the same event, which
	// the duplicate window drops; the other order could lose it.
	handle := handleFor(id, m.Header.Get(hHandle))
	if err := s.recordEvent(ctx, store.Event{Publisher: m.Header.Get(hPublisher), State: store.Acknowledged, Handle: handle,
		ClientID: c, Seq: id, Time: now.Truncate(time.Millisecond)}); err != nil {
		return false, err
	}
	if s.ob.crashBeforeAck != nil {
		if err := s.ob.crashBeforeAck(); err != nil {
			return false, err
		}
	}
	created, _ := strconv.ParseInt(m.Header.Get(hCreated), 10, 64)
	exp, _ := strconv.ParseInt(m.Header.Get(hExpires), 10, 64)
	rec, _ := json.Marshal(statusRecord{Handle: handle, ClientID: c[:],
		Publisher: m.Header.Get(hPublisher), Created: created, Expires: exp})
	if _, err := s.status.Create(ctx, strconv.FormatUint(id, 10), rec, jetstream.KeyTTL(s.opt.Retention)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return false, err
	}
	if err := s.stream.DeleteMsg(ctx, id); err != nil {
		// Deleted by a concurrent acknowledgement (another node's, or a
		// retry): that one counts it, not this one.
		if _, gerr := s.stream.GetMsg(ctx, id); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// Status implements store.Store. A message the stream holds is pending or
// expired by the store's clock (DLV-040), whatever the node's clock says;
// its created and expires are the stamps of the node that accepted it,
// which the publish answered with (DLV-042). JetStream removes an expired
// message a second later; its status is then not found (DLV-042).
func (s *Store) Status(ctx context.Context, handle string) (*store.Status, error) {
	seq, ok := seqOf(handle)
	if !ok {
		return nil, store.ErrNotFound
	}
	if m, err := s.stream.GetMsg(ctx, seq); err == nil && handleFor(seq, m.Header.Get(hHandle)) == handle {
		st := &store.Status{Handle: handle, Seq: seq, State: store.Pending, Publisher: m.Header.Get(hPublisher)}
		if id, ok := s.ClientOf(m.Subject); ok {
			st.ClientID = id
		}
		created, _ := strconv.ParseInt(m.Header.Get(hCreated), 10, 64)
		exp, _ := strconv.ParseInt(m.Header.Get(hExpires), 10, 64)
		st.Created, st.Expires = time.UnixMilli(created), time.UnixMilli(exp)
		now, err := s.storeNow(ctx)
		if err != nil {
			return nil, err
		}
		if expiredAt(m, now) {
			st.State = store.Expired
		}
		return st, nil
	}
	e, err := s.status.Get(ctx, strconv.FormatUint(seq, 10))
	if err != nil {
		return nil, store.ErrNotFound
	}
	var rec statusRecord
	if json.Unmarshal(e.Value(), &rec) != nil || rec.Handle != handle {
		return nil, store.ErrNotFound
	}
	st := &store.Status{Handle: handle, Seq: seq, State: store.Acknowledged, Publisher: rec.Publisher,
		Created: time.UnixMilli(rec.Created), Expires: time.UnixMilli(rec.Expires)}
	copy(st.ClientID[:], rec.ClientID)
	return st, nil
}

// expiredAt reports whether m expired by the store's clock at now: its
// TTL, the span between the publishing node's expiry and creation stamps
// (both on that node's clock, so the span is exact), has passed since the
// stream's own time stamp of it (DLV-040).
func expiredAt(m *jetstream.RawStreamMsg, now time.Time) bool {
	c, _ := strconv.ParseInt(m.Header.Get(hCreated), 10, 64)
	e, _ := strconv.ParseInt(m.Header.Get(hExpires), 10, 64)
	return !now.Before(m.Time.Add(time.Duration(e-c) * time.Millisecond))
}

// clockRefresh is how long a reading of the store's clock is carried
// forward on the monotonic clock before it is read again.
const clockRefresh = 30 * time.Second

// storeClock is the last reading of the store's clock: the time stamp of a
// stream info answer, and the monotonic reading of the midpoint of its
// request.
type storeClock struct {
	mu      sync.Mutex
	at      time.Time // monotonic reading
	ts      time.Time // the store's clock then
	reading bool      // a caller is reading it again; the others carry the last reading forward
}

// storeNow returns the store's clock (DLV-040): the stream leader's time,
// read at most every clockRefresh and carried forward on this process's
// monotonic clock, which neither the node's clock setting nor a step of
// its wall clock moves; off by at most half the round trip of the reading.
// When a reading fails, the last one stands in.
func (s *Store) storeNow(ctx context.Context) (time.Time, error) {
	c := &s.clock
	c.mu.Lock()
	at, ts := c.at, c.ts
	if !at.IsZero() && (time.Since(at) < clockRefresh || c.reading) {
		c.mu.Unlock()
		return ts.Add(time.Since(at)), nil
	}
	c.reading = true
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.reading = false; c.mu.Unlock() }()
	t0 := time.Now()
	info, err := s.stream.Info(ctx)
	if err != nil || info.TimeStamp.IsZero() {
		if !at.IsZero() {
			return ts.Add(time.Since(at)), nil
		}
		if err == nil {
			err = errors.New("jsstore: the stream info carries no time stamp")
		}
		return time.Time{}, fmt.Errorf("jsstore: reading the store's clock: %w", err)
	}
	mid := t0.Add(time.Since(t0) / 2)
	c.mu.Lock()
	c.at, c.ts = mid, info.TimeStamp
	c.mu.Unlock()
	return info.TimeStamp.Add(time.Since(mid)), nil
}

// ClockOffset reports how far the node's clock (Options.Now) is ahead of
// the store's (DLV-041).
func (s *Store) ClockOffset(ctx context.Context) (time.Duration, error) {
	now, err := s.storeNow(ctx)
	if err != nil {
		return 0, err
	}
	return s.opt.Now().Sub(now), nil
}

// PendingCount implements store.Store (messages not yet removed by their
// TTL count until JetStream removes them).
func (s *Store) PendingCount(ctx context.Context, clientID [32]byte) (int, error) {
	subj := s.subject + hex.EncodeToString(clientID[:])
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, err
	}
	return int(info.State.Subjects[subj]), nil
}

// Expire implements store.Store: JetStream's per-message TTL removes the
// messages; with a webhook configured, the sweep records the `expired`
// events of those that expired unacknowledged (STORE-033).
func (s *Store) Expire(ctx context.Context, _ time.Time) ([][32]byte, error) {
	return nil, s.sweepExpired(ctx)
}

// Seen implements store.Store and httpsig.NonceStore: an atomic create in
// the nonce bucket, kept until expires.
func (s *Store) Seen(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	h := sha256.Sum256([]byte(keyID + "\x00" + nonce))
	// expires is on the node's clock, so the TTL is too (DLV-041).
	ttl := expires.Sub(s.opt.Now())
	if ttl < time.Second {
		ttl = time.Second
	}
	_, err := s.nonces.Create(ctx, hex.EncodeToString(h[:]), []byte{1}, jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true, nil
	}
	return false, err
}

// ReserveBatchSeqs implements store.Store with compare-and-set on the
// signer's high-water mark.
func (s *Store) ReserveBatchSeqs(ctx context.Context, signer [32]byte, n uint64) (uint64, error) {
	key := hex.EncodeToString(signer[:])
	for attempt := 0; attempt < 100; attempt++ {
		e, err := s.seqs.Get(ctx, key)
		var hwm, rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, err
		default:
			hwm, rev = binary.BigEndian.Uint64(e.Value()), e.Revision()
		}
		next := binary.BigEndian.AppendUint64(nil, hwm+n)
		if rev == 0 {
			_, err = s.seqs.Create(ctx, key, next)
		} else {
			_, err = s.seqs.Update(ctx, key, next, rev)
		}
		if err == nil {
			return hwm + 1, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !strings.Contains(err.Error(), "wrong last sequence") {
			return 0, err
		}
	}
	return 0, errors.New("jsstore: batch sequence reservation kept conflicting")
}

// Backlog implements store.Backlogger (OPS-045) from the stream's state:
// every message on a client subject is pending (an acknowledged one is
// deleted, an expired one removed by its TTL), the broadcast blobs are
// not counted, and the stream's first message is the oldest pending one
// (a blob is stored with the messages that refer to it). One stream info
// request per scrape.
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.blobs))
	if err != nil {
		return 0, time.Time{}, err
	}
	st := info.State
	if st.Msgs == 0 {
		return 0, time.Time{}, nil
	}
	n := int(st.Msgs) - int(st.Subjects[s.blobs])
	return max(n, 0), st.FirstTime, nil
}
