// Package slowbusiness is the flow SealFeed was designed for (the push
// design of ../shared/seeds/002): a client connects and gets its client ID,
// calls an ordinary HTTP service with it, and goes on with its life; the
// service does slow work and publishes the result with its publisher key;
// the client receives it, verified and decrypted, over its SealFeed
// connection. No polling, no callback URL on the client, and the service
// never holds the client's connection.
package slowbusiness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/publisher"
)

// Service is an ordinary HTTP service: POST /jobs accepts work for a
// client ID and answers at once; the result is pushed through SealFeed.
// With a token audience set (ServerKeyID or Realm) it is also the back end
// of a logged-in app (users.go): POST /login issues connect tokens, POST
// /notify publishes to a user's devices, GET /config and GET /events feed
// the browser demo.
type Service struct {
	Publisher *publisher.Publisher
	// Work is how long a job takes; 0: 1 s.
	Work time.Duration
	// OnEvent, if set, is told what the service does (for timelines).
	OnEvent func(format string, args ...any)
	Logger  *slog.Logger

	// ServerKeyID or Realm is the audience of the connect tokens POST
	// /login issues (TOK-005): the pinned node key, or the deployment's
	// realm. Both unset: no /login, /notify, /config or /events.
	ServerKeyID [32]byte
	Realm       string
	// TokenLifetime of issued tokens; 0: token.DefaultLifetime (15 min).
	TokenLifetime time.Duration
	// WebSocketURL is the node endpoint GET /config tells browsers.
	WebSocketURL string
	// WebhookKey is the deployment's webhook key, read once from GET
	// /v1/server (publisher.Publisher.WebhookKey); WebhookHandler refuses
	// every POST without it.
	WebhookKey publisher.WebhookKey

	next  atomic.Uint64
	wg    sync.WaitGroup
	users users
}

// JobRequest is the body of POST /jobs.
type JobRequest struct {
	ClientID string `json:"client_id"`
	Input    string `json:"input"`
}

// JobAccepted is the answer to POST /jobs.
type JobAccepted struct {
	Job uint64 `json:"job"`
}

// Result is what the service pushes to the client when the job is done.
type Result struct {
	Job    uint64 `json:"job"`
	Input  string `json:"input"`
	Words  int    `json:"words"`
	SHA256 string `json:"sha256"`
	TookMs int64  `json:"took_ms"`
}

func (s *Service) event(format string, args ...any) {
	if s.OnEvent != nil {
		s.OnEvent(format, args...)
	}
}

// ServeHTTP implements POST /jobs, and with a token audience the routes of
// users.go.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.loginEnabled() && s.serveUsers(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/jobs" {
		http.Error(w, "POST /jobs", http.StatusNotFound)
		return
	}
	var req JobRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		http.Error(w, "want {\"client_id\": …, \"input\": …}", http.StatusBadRequest)
		return
	}
	id, err := hex.DecodeString(req.ClientID)
	if err != nil || len(id) != 32 {
		http.Error(w, "client_id: 64 hex digits", http.StatusUnprocessableEntity)
		return
	}
	var cid [32]byte
	copy(cid[:], id)
	job := s.next.Add(1)
	if who, ok := s.deviceOf(cid); ok {
		s.record("job", "accepted job %d %q from %s (client %s…); working", job, req.Input, who, req.ClientID[:12])
	} else {
		s.event("accepted job %d for client %s…; working", job, req.ClientID[:12])
	}
	s.wg.Add(1)
	go s.work(job, cid, req.Input)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(JobAccepted{Job: job})
}

func (s *Service) work(job uint64, to [32]byte, input string) {
	defer s.wg.Done()
	start := time.Now()
	d := s.Work
	if d <= 0 {
		d = time.Second
	}
	time.Sleep(d) // the slow part: a report, a payment, a render…
	sum := sha256.Sum256([]byte(input))
	res := Result{Job: job, Input: input, Words: len(strings.Fields(input)), SHA256: hex.EncodeToString(sum[:8]), TookMs: time.Since(start).Milliseconds()}
	payload, _ := json.Marshal(res)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The publisher library retries with the same Idempotency-Key, so the
	// result is stored exactly once even if an answer is lost.
	ans, err := s.Publisher.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: payload, TTL: time.Hour}, fmt.Sprintf("job-%d", job))
	if err != nil {
		s.record("job", "job %d: publish failed: %v", job, err)
		if s.Logger != nil {
			s.Logger.Error("publish failed", "job", job, "err", err)
		}
		return
	}
	s.record("job", "job %d done after %v → published (signed request) as message %d, id %s", job, d, ans.Messages[0].MessageID, ans.Messages[0].ID)
}

// Wait waits for running jobs.
func (s *Service) Wait() { s.wg.Wait() }

// Submit is the client side of the call: it posts a job for clientID.
func Submit(ctx context.Context, serviceURL string, clientID [32]byte, input string) (uint64, error) {
	body, _ := json.Marshal(JobRequest{ClientID: hex.EncodeToString(clientID[:]), Input: input})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serviceURL, "/")+"/jobs", strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("service: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var a JobAccepted
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return 0, err
	}
	return a.Job, nil
}

// ParseResult decodes a pushed result.
func ParseResult(payload []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, errors.New("slowbusiness: payload is not a result")
	}
	return &r, nil
}
