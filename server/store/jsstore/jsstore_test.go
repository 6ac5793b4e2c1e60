package jsstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealfeed/sealfeed/internal/natstest"
	"github.com/sealfeed/sealfeed/server/store"
)

func openTest(t *testing.T) (*Store, *natstest.Cluster) {
	t.Helper()
	c := natstest.Start(t, 3)
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // a 3-server cluster under -race on a loaded 2-core machine
	defer cancel()
	s, err := Open(ctx, nc, Options{StorageKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// openSingle opens a store on one JetStream server of its own, replicas 1,
// for the tests that need no cluster.
func openSingle(t *testing.T) *Store {
	t.Helper()
	c := natstest.Start(t, 1)
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, nc, Options{StorageKey: make([]byte, 32), Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cid(b byte) [32]byte { return [32]byte{b} }

// A replicated store survives the loss of one of three NATS servers.
func TestStoreSurvivesANATSServer(t *testing.T) {
	s, c := openTest(t)
	ctx := context.Background()
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{{To: [][32]byte{cid(3)}, Payload: []byte("kept"), TTL: time.Hour}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		msgs, err := s.Pending(ctx, cid(3), 0, 10)
		cancel()
		if err == nil && len(msgs) == 1 && msgs[0].Seq == res[0].Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after losing a server: %v %+v", err, msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{{To: [][32]byte{cid(3)}, Payload: []byte("new"), TTL: time.Hour}}}, nil); err != nil {
		t.Fatalf("publish with two of three servers: %v", err)
	}
}

// A publish retried with its Idempotency-Key after the first attempt was
// stored, delivered and acknowledged (so its message is gone from the
// stream) still answers with the first attempt's handle instead of failing.
func TestRetryAfterTheMessageWasAcknowledged(t *testing.T) {
	s := openSingle(t) // no server is lost here: one JetStream server
	ctx := context.Background()
	req := &store.PublishRequest{Publisher: "p", IdempotencyKey: "k2", RequestHash: [32]byte{3},
		Publications: []store.Publication{{To: [][32]byte{cid(5)}, Payload: []byte("once"), TTL: time.Hour}}}
	first, _, err := s.Publish(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Ack(ctx, map[[32]byte][]uint64{cid(5): {first[0].Seq}}); err != nil || n != 1 {
		t.Fatal(err, n)
	}
	// The first attempt's KV record is lost (the node died before writing
	// it): the retry meets JetStream's duplicate of an acknowledged message.
	if err := s.idem.Delete(ctx, idemKey("p", "k2")); err != nil {
		t.Fatal(err)
	}
	again, _, err := s.Publish(ctx, req, nil)
	if err != nil || again[0].Handle != first[0].Handle || again[0].Seq != first[0].Seq {
		t.Fatalf("retry: %v %+v, want %+v", err, again, first)
	}
	if left, _ := s.Pending(ctx, cid(5), 0, 10); len(left) != 0 {
		t.Fatalf("the retry stored the message again: %+v", left)
	}
}

// TestStreamRewritesAreRefused: a writer of the stream without the storage
// key publishes altered copies of stored messages; Pending fails with
// ErrStoredDataTampered on each, and no client is handed another client's
// payload (STORE-001, STORE-002, STORE-003, STORE-004).
func TestStreamRewritesAreRefused(t *testing.T) {
	s := openSingle(t) // no server is lost here: one JetStream server
	ctx := context.Background()
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{
		{To: [][32]byte{cid(1), cid(2)}, Payload: []byte("for-1-and-2"), TTL: time.Hour},
		{To: [][32]byte{cid(3), cid(4)}, Payload: []byte("for-3-and-4"), TTL: time.Hour},
		{To: [][32]byte{cid(5)}, Payload: []byte("direct-5"), TTL: time.Hour},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(seq uint64) *nats.Msg {
		m, err := s.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return &nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header}
	}
	msg1, msg3, msg5 := get(res[0].Seq), get(res[2].Seq), get(res[4].Seq)
	blob1, _ := strconv.ParseUint(msg1.Header.Get(hBlob), 10, 64)
	blob3, _ := strconv.ParseUint(msg3.Header.Get(hBlob), 10, 64)
	subject := func(c byte) string { id := cid(c); return s.subject + hex.EncodeToString(id[:]) }
	inject := func(m *nats.Msg) {
		t.Helper()
		if _, err := s.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	copyOf := func(m *nats.Msg) *nats.Msg {
		h := nats.Header{}
		for k, v := range m.Header {
			h[k] = append([]string(nil), v...)
		}
		h.Del(jetstream.MsgIDHeader) // else JetStream drops the copy as a duplicate
		return &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
	}
	refused := func(t *testing.T, client byte) {
		t.Helper()
		msgs, err := s.Pending(ctx, cid(client), 0, 10)
		for _, m := range msgs {
			if want := map[byte]string{1: "for-1-and-2", 3: "for-3-and-4", 5: "direct-5"}[client]; string(m.Payload) != want {
				t.Fatalf("client %d handed %q", client, m.Payload)
			}
		}
		if !errors.Is(err, store.ErrStoredDataTampered) {
			t.Fatalf("client %d: %v, want ErrStoredDataTampered", client, err)
		}
	}
	// Each case injects into a client of its own, whose subject held one
	// good message before.
	t.Run("message repointed at another client's blob", func(t *testing.T) {
		m := copyOf(msg1)
		m.Header.Set(hBlob, strconv.FormatUint(blob3, 10))
		inject(m)
		refused(t, 1)
	})
	t.Run("blob payload swapped", func(t *testing.T) {
		// A new blob with client 3's ciphertext under client 1's blob handle,
		// and client 3's message pointed at it.
		b := get(blob3)
		b.Header = nats.Header{hHandle: {get(blob1).Header.Get(hHandle)}}
		ack, err := s.js.PublishMsg(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		m := copyOf(msg3)
		m.Header.Set(hBlob, strconv.FormatUint(ack.Sequence, 10))
		inject(m)
		refused(t, 3)
	})
	t.Run("message copied to another client", func(t *testing.T) {
		m := copyOf(msg3)
		m.Subject = subject(9)
		inject(m)
		refused(t, 9)
	})
	t.Run("direct message copied to another client", func(t *testing.T) {
		m := copyOf(msg5)
		m.Subject = subject(8)
		inject(m)
		refused(t, 8)
	})
	t.Run("expiry extended", func(t *testing.T) {
		m := copyOf(msg5)
		exp, _ := strconv.ParseInt(m.Header.Get(hExpires), 10, 64)
		m.Header.Set(hExpires, strconv.FormatInt(exp+3600000, 10))
		inject(m)
		refused(t, 5)
	})
}

// TestTransient: the errors a JetStream cluster gives while it elects a
// leader, reconnects, or stores another attempt of the same message ID
// (10158, issue 15) are retried; an answer that decides the request is not.
func TestTransient(t *testing.T) {
	inProcess := &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"10158 as returned by PublishMsg", fmt.Errorf("nats: %w", inProcess), true},
		{"10158 as text only", errors.New("nats: API error: code=409 err_code=10158 description=duplicate message id is in process"), true},
		{"no responders", nats.ErrNoResponders, true},
		{"timeout", fmt.Errorf("publish: %w", context.DeadlineExceeded), true},
		{"no stream response", jetstream.ErrNoStreamResponse, true},
		{"wrong last sequence (10071)", fmt.Errorf("nats: %w", &jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 4"}), false},
		{"key exists", jetstream.ErrKeyExists, false},
		{"message not found", jetstream.ErrMsgNotFound, false},
		{"cancelled", context.Canceled, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("%s: transient %v, want %v", c.name, got, c.want)
		}
	}
}

// inProcessJS stores the first message published through it and answers
// 10158 for it, as JetStream does to an attempt that races an earlier one
// with the same Nats-Msg-Id.
type inProcessJS struct {
	jetstream.JetStream
	conflicts atomic.Int32
}

func (j *inProcessJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, m, opts...)
	if err == nil && j.conflicts.Add(1) == 1 {
		return nil, fmt.Errorf("nats: %w", &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"})
	}
	return ack, err
}

// TestPublishRetriesDuplicateInProcess: a publish whose message answer is
// 10158 retries, gets the stored message back as a duplicate and answers
// with it: one message stored, not a 503 (issue 15).
func TestPublishRetriesDuplicateInProcess(t *testing.T) {
	s := openSingle(t)
	fake := &inProcessJS{JetStream: s.js}
	s.js = fake
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to := cid(9)
	res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", IdempotencyKey: "k", RequestHash: [32]byte{1},
		Publications: []store.Publication{{To: [][32]byte{to}, Payload: []byte("once"), TTL: time.Hour}}}, nil)
	if err != nil {
		t.Fatalf("publish answered 10158 once: %v, want it retried", err)
	}
	if fake.conflicts.Load() < 2 {
		t.Fatalf("%d publish attempts, want a retry", fake.conflicts.Load())
	}
	msgs, err := s.Pending(ctx, to, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0].Payload) != "once" || len(res) != 1 || res[0].Seq != msgs[0].Seq {
		t.Fatalf("stored %d messages (%+v), answered %+v; want the one message", len(msgs), msgs, res)
	}
	if st, err := s.Status(ctx, res[0].Handle); err != nil || st.State != store.Pending {
		t.Fatalf("status of the answered handle: %v %+v", err, st)
	}
}

// TestReadyNeedsEveryBucket: OPS-001. Ready answers nil only when the
// stream and every key-value bucket answer: a store whose nonce bucket is
// gone (or has no leader yet) is not ready although its stream is.
func TestReadyNeedsEveryBucket(t *testing.T) {
	s := openSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("fresh store not ready: %v", err)
	}
	if err := s.js.DeleteKeyValue(ctx, s.nonces.Bucket()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.stream.Info(ctx); err != nil {
		t.Fatalf("the stream should still answer: %v", err)
	}
	if err := s.Ready(ctx); err == nil {
		t.Fatal("ready without its nonce bucket")
	}
}

// OPS-045: the backlog counts pending messages, not broadcast blobs nor
// acknowledged messages, and its oldest is the first message stored.
func TestBacklog(t *testing.T) {
	s := openSingle(t)
	ctx := context.Background()
	if n, oldest, err := s.Backlog(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty store: %d, %v, %v", n, oldest, err)
	}
	before := time.Now().Add(-time.Second)
	pub := func(p store.Publication) []store.Assigned {
		res, _, err := s.Publish(ctx, &store.PublishRequest{Publisher: "p", Publications: []store.Publication{p}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := pub(store.Publication{To: [][32]byte{cid(1)}, Payload: []byte("one"), TTL: time.Hour})
	pub(store.Publication{To: [][32]byte{cid(1)}, Payload: []byte("two"), TTL: time.Hour})
	pub(store.Publication{To: [][32]byte{cid(2), cid(3)}, Payload: []byte("broadcast"), TTL: time.Hour})
	n, oldest, err := s.Backlog(ctx)
	if err != nil || n != 4 || oldest.Before(before) || oldest.After(time.Now().Add(time.Second)) {
		t.Fatalf("after 2 messages and a broadcast to 2: %d pending, oldest %v, %v; want 4", n, oldest, err)
	}
	if _, err := s.Ack(ctx, map[[32]byte][]uint64{cid(1): {first[0].Seq}}); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.Backlog(ctx); err != nil || n != 3 {
		t.Fatalf("after one acknowledgement: %d pending, %v; want 3", n, err)
	}
}
