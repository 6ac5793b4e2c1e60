package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/server"
)

// TestReplayOfARefusedPublish (API-016, STORE-016) on the embedded store:
// a publish's nonce is recorded in the publish's own commit, which a
// refused request rolls back; the node then records the nonce by itself,
// so the replay of a request refused for its pending limit, or for its
// body, is answered 409, as is the replay of a stored one, which stores
// nothing more.
func TestReplayOfARefusedPublish(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) { c.MaxPendingPerClient = 1 })
	key, keyID := tn.pubs[0].Key, tn.pubs[0].KeyID
	n := 0
	signed := func(path, body string) func() (int, string) {
		n++
		nonce := strings.Repeat("r", 20) + string(rune('a'+n))
		created := time.Now()
		return func() (int, string) {
			r, _ := http.NewRequest("POST", tn.base+path, bytes.NewReader([]byte(body)))
			r.Header.Set("Content-Type", "application/json")
			if err := httpsig.Sign(r, []byte(body), keyID, key, created, nonce); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
	}
	to := strings.Repeat("ab", 32) // no client connects: its messages stay pending
	publish := `{"to":["` + to + `"],"text":"hi"}`
	stored := signed("/v1/messages", publish)
	over := signed("/v1/messages", publish)
	malformed := signed("/v1/messages", `{"to":`)
	for _, c := range []struct {
		name   string
		send   func() (int, string)
		status int
	}{
		{"stored", stored, 202},
		{"over the pending limit", over, 429},
		{"malformed", malformed, 400},
	} {
		if code, body := c.send(); code != c.status {
			t.Fatalf("%s: %d %s, want %d", c.name, code, body, c.status)
		}
		if code, body := c.send(); code != http.StatusConflict || !strings.Contains(body, "replayed-request") {
			t.Fatalf("%s, again: %d %s, want 409 replayed-request", c.name, code, body)
		}
	}
}
