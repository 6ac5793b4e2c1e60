package restapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/server/core"
	"github.com/sealfeed/sealfeed/server/store"
)

// nullStore accepts every publish without storing it and allocates
// nothing, so that what a test of the handler counts is the handler's.
type nullStore struct {
	store.Store
	res     []store.Assigned
	handles []string
	seq     uint64
}

func (s *nullStore) Seen(context.Context, string, string, time.Time) (bool, error) { return false, nil }

func (s *nullStore) Publish(_ context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	s.res = s.res[:0]
	for _, p := range req.Publications {
		for _, to := range p.To {
			s.seq++
			if len(s.handles) <= len(s.res) {
				s.handles = append(s.handles, fmt.Sprintf("%032x", len(s.handles)))
			}
			s.res = append(s.res, store.Assigned{Handle: s.handles[len(s.res)], ClientID: to, Seq: s.seq,
				Expires: time.Unix(1_900_000_000, 0)})
		}
	}
	onCommit(s.res)
	return s.res, false, nil
}

// discardWriter is a ResponseWriter that keeps the status and the body.
type discardWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// publishFixture is an API over a nullStore and signed bulk requests of
// msgs messages of 256 bytes to one client each, one request per call.
type publishFixture struct {
	api  *API
	reqs []*http.Request
	body []byte
}

func newPublishFixture(tb testing.TB, msgs, n int) *publishFixture {
	tb.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	keyID := sig.Fingerprint(key.Public().(ed25519.PublicKey))
	st := &nullStore{}
	hub, err := core.New(core.Config{Key: key, Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	api := New(Config{Store: st, Hub: hub, Publishers: map[string]ed25519.PublicKey{keyID: key.Public().(ed25519.PublicKey)}})
	var b bulkJSON
	payload := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 256))
	for i := range msgs {
		id := make([]byte, 32)
		id[0] = byte(i)
		b.Messages = append(b.Messages, PublicationJSON{To: []string{hex.EncodeToString(id)}, Payload: &payload})
	}
	body, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	f := &publishFixture{api: api, body: body}
	now := time.Now()
	for i := range n {
		r := httptest.NewRequest("POST", "http://sealfeed.test/v1/messages/bulk", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := httpsig.Sign(r, body, keyID, key, now, base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%016d", i))); err != nil {
			tb.Fatal(err)
		}
		f.reqs = append(f.reqs, r)
	}
	return f
}

// serve answers request i and checks the answer.
func (f *publishFixture) serve(tb testing.TB, w *discardWriter, i int) {
	clear(w.h)
	w.body.Reset()
	f.api.ServeHTTP(w, f.reqs[i])
	if w.status != http.StatusAccepted {
		tb.Fatalf("publish: %d %s", w.status, w.body.String())
	}
}

// handlerAllocs returns the allocations of one publish request of msgs
// messages, averaged over runs.
func handlerAllocs(t *testing.T, msgs int) float64 {
	const runs = 100
	f := newPublishFixture(t, msgs, runs+1)
	w := &discardWriter{h: http.Header{}}
	f.serve(t, w, runs) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range runs {
		f.serve(t, w, i)
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs
}

// TestPublishAllocsPerMessage: a publish request of 10 messages allocates
// no more than one of 1 message plus a bounded number per message; the
// rest of a request's allocations (signature check, JSON, response) are
// per request.
func TestPublishAllocsPerMessage(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations of a build without the race detector")
	}
	one, ten := handlerAllocs(t, 1), handlerAllocs(t, 10)
	per := (ten - one) / 9
	t.Logf("allocations: %.1f per request of 1 message, %.1f per request of 10, %.1f per added message", one, ten, per)
	if per > maxAllocsPerMessage {
		t.Fatalf("%.1f allocations per added message, want at most %.1f", per, maxAllocsPerMessage)
	}
}

// BenchmarkPublishHandler measures the handler (signature check, JSON,
// response) on a request of 10 messages of 256 bytes, with a store that
// does nothing.
func BenchmarkPublishHandler(b *testing.B) {
	f := newPublishFixture(b, 10, b.N)
	w := &discardWriter{h: http.Header{}}
	b.SetBytes(int64(len(f.body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.serve(b, w, i)
	}
}

// maxAllocsPerMessage bounds the allocations per added message of a
// publish request: what remains is encoding/json's (the recipients' slice
// and strings, the payload's string and pointer, and the growth of the
// messages' slice).
const maxAllocsPerMessage = 5.5

// TestPublishResponseMatchesEncodingJSON: the hand-written answer of a
// publish is byte for byte what encoding/json writes for publishResponse.
func TestPublishResponseMatchesEncodingJSON(t *testing.T) {
	at := []time.Time{time.Unix(1_900_000_000, 0), time.Unix(1_900_000_000, 123_456_789).In(time.FixedZone("x", 3600)),
		time.Date(2030, 1, 2, 3, 4, 5, 100, time.UTC)}
	for _, tc := range []struct {
		res      []store.Assigned
		replayed bool
		unknown  *[]string
	}{
		{nil, false, &[]string{}},
		{[]store.Assigned{{Handle: "h", Seq: 1, Expires: at[0], UserDevice: store.UserDevice{User: "alice", Device: "phone"}},
			{Handle: "h2", Seq: 2, Expires: at[0], UserDevice: store.UserDevice{User: "b\"ö<", Device: ""}}}, true, &[]string{"carol", "d\u2028"}},
		{nil, false, nil},
		{[]store.Assigned{{Handle: "0123456789abcdef0123456789abcdef", ClientID: [32]byte{1, 2}, Seq: 1, Expires: at[0]}}, true, nil},
		{[]store.Assigned{
			{Handle: "h1", ClientID: [32]byte{0xff}, Seq: 1<<64 - 1, Expires: at[1]},
			{Handle: "<&>\"\\\n\u00e9\u2028", Seq: 0, Expires: at[2]},
		}, false, nil},
	} {
		out := publishResponse{Messages: make([]MessageJSON, len(tc.res)), Replayed: tc.replayed}
		for i, m := range tc.res {
			out.Messages[i] = MessageJSON{ID: m.Handle, ClientID: hex.EncodeToString(m.ClientID[:]), MessageID: m.Seq,
				Expires: m.Expires.UTC().Format(time.RFC3339Nano)}
			if m.User != "" {
				out.Messages[i].User, out.Messages[i].Device = &m.User, &m.Device
			}
		}
		out.UnknownUsers = tc.unknown
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(out)
		if got := appendPublishResponse(nil, tc.res, tc.replayed, tc.unknown); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("answer\n%s\nencoding/json writes\n%s", got, want.Bytes())
		}
	}
}

// TestPublicationsDoNotShareCapacity: the publications of one request
// share a slab, each capped at its own end, so a store that appends to one
// publication's recipients or payload cannot change the next one's.
func TestPublicationsDoNotShareCapacity(t *testing.T) {
	a := New(Config{})
	p1, p2 := "AQID", "BAUG"
	ps := []PublicationJSON{
		{To: []string{strings.Repeat("01", 32)}, Payload: &p1},
		{To: []string{strings.Repeat("02", 32)}, Payload: &p2},
	}
	slab := newPublicationSlab(ps)
	var pubs []store.Publication
	for i := range ps {
		p, err := a.publication(&ps[i], i, slab)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	_ = append(pubs[0].To, [32]byte{9})
	_ = append(pubs[0].Payload, 9)
	if pubs[1].To[0] != [32]byte{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2} ||
		!bytes.Equal(pubs[1].Payload, []byte{4, 5, 6}) {
		t.Fatalf("appending to the first publication changed the second: %x %x", pubs[1].To[0], pubs[1].Payload)
	}
}

// TestPublicationDuplicateRecipients: a recipient listed twice is refused
// in a short list (pairs compared) and in a long one (a map).
func TestPublicationDuplicateRecipients(t *testing.T) {
	a := New(Config{})
	payload := "AQID"
	for _, n := range []int{2, smallRecipientList, smallRecipientList + 1, 100} {
		to := make([]string, n)
		for i := range to {
			to[i] = fmt.Sprintf("%064x", i)
		}
		p := PublicationJSON{To: to, Payload: &payload}
		if _, err := a.publication(&p, 0, newPublicationSlab([]PublicationJSON{p})); err != nil {
			t.Fatalf("%d distinct recipients: %v", n, err)
		}
		to[n-1] = to[n/3]
		if _, err := a.publication(&p, 0, newPublicationSlab([]PublicationJSON{p})); err == nil ||
			!strings.Contains(err.Error(), fmt.Sprintf("messages[0].to[%d]: duplicate client ID", n-1)) {
			t.Fatalf("%d recipients, one twice: %v", n, err)
		}
	}
}

// lockedStore records the payloads of every publish, safe for
// concurrent use.
type lockedStore struct {
	store.Store
	mu       sync.Mutex
	payloads map[string]bool
	seq      uint64
}

func (s *lockedStore) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, nil
}

func (s *lockedStore) Publish(_ context.Context, req *store.PublishRequest, onCommit func([]store.Assigned)) ([]store.Assigned, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res []store.Assigned
	for _, p := range req.Publications {
		s.payloads[string(p.Payload)] = true
		for _, to := range p.To {
			s.seq++
			res = append(res, store.Assigned{Handle: fmt.Sprintf("%032x", s.seq), ClientID: to, Seq: s.seq, Expires: time.Unix(1_900_000_000, 0)})
		}
	}
	onCommit(res)
	return res, false, nil
}

// TestConcurrentPublishesKeepTheirBodies: publishes served at once, each
// with its own body, all verify and store their own payloads: a pooled
// body or answer buffer handed to the next request while its handler
// still reads it shows as a bad digest, a bad signature or a lost payload.
func TestConcurrentPublishesKeepTheirBodies(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	keyID := sig.Fingerprint(key.Public().(ed25519.PublicKey))
	st := &lockedStore{payloads: map[string]bool{}}
	hub, err := core.New(core.Config{Key: key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	api := New(Config{Store: st, Hub: hub, Publishers: map[string]ed25519.PublicKey{keyID: key.Public().(ed25519.PublicKey)}})
	const workers, each = 4, 50
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				payload := bytes.Repeat([]byte{byte(g), byte(i)}, 100+37*i)
				text := base64.StdEncoding.EncodeToString(payload)
				body, _ := json.Marshal(PublicationJSON{To: []string{fmt.Sprintf("%064x", g)}, Payload: &text})
				r := httptest.NewRequest("POST", "http://sealfeed.test/v1/messages", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				if err := httpsig.Sign(r, body, keyID, key, time.Now(), base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%08d%08d", g, i))); err != nil {
					t.Error(err)
					return
				}
				w := httptest.NewRecorder()
				api.ServeHTTP(w, r)
				var out publishResponse
				if w.Code != http.StatusAccepted || json.Unmarshal(w.Body.Bytes(), &out) != nil || len(out.Messages) != 1 ||
					out.Messages[0].ClientID != fmt.Sprintf("%064x", g) {
					t.Errorf("worker %d publish %d: %d %s", g, i, w.Code, w.Body.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	for g := range workers {
		for i := range each {
			if !st.payloads[string(bytes.Repeat([]byte{byte(g), byte(i)}, 100+37*i))] {
				t.Fatalf("payload of worker %d publish %d not stored as sent", g, i)
			}
		}
	}
}
