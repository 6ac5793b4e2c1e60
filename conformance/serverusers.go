package conformance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/publisher"
)

// dialDevice connects a key-identified client whose token names user and
// device, with a client of the library (it acknowledges what it reads).
func (r *serverRun) dialDevice(ctx context.Context, user, device string) (*client.Client, [32]byte, error) {
	_, key, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	raw, err := r.tokenFor(pub, func(t *token.Token) { t.Subject, t.Device = user, device })
	if err != nil {
		return nil, [32]byte{}, err
	}
	pin := r.t.Fingerprint
	c, err := client.Dial(ctx, client.Config{URL: r.t.ws(), PinnedKeyID: &pin, Identity: key,
		TokenSource: func(context.Context) ([]byte, error) { return raw, nil }})
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("device %q of %q: %v", device, user, err)
	}
	return c, handshake.ClientID(pub), nil
}

// randomUser is a user no earlier run of the runner used.
func randomUser(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// userServerTests check user addressing (api.md API-090 … API-094). A
// server records a device off the session's path (TOK-020), so the valid
// test publishes until both devices are in the answer; each device must
// then receive that message, and the other user's device none addressed
// to the first user.
func userServerTests() []*serverTest {
	users := func(r *serverRun, b string) (*http.Request, error) {
		return r.signed("POST", "/v1/messages", []byte(b), r.pub.KeyID, r.t.Publisher, time.Now())
	}
	return []*serverTest{
		{id: "server/users/to-user", reqs: []string{"TOK-020", "API-091", "API-094", "CONF-031"}, run: func(ctx context.Context, r *serverRun) error {
			alice, bob, carol := randomUser("alice"), randomUser("bob"), randomUser("carol")
			phone, phoneID, err := r.dialDevice(ctx, alice, "phone")
			if err != nil {
				return err
			}
			defer phone.Close()
			laptop, laptopID, err := r.dialDevice(ctx, alice, "laptop")
			if err != nil {
				return err
			}
			defer laptop.Close()
			other, _, err := r.dialDevice(ctx, bob, "")
			if err != nil {
				return err
			}
			defer other.Close()
			var payload string
			var res *publisher.Result
			for i := 0; ; i++ {
				payload = fmt.Sprintf("to %s, probe %d", alice, i)
				res, err = r.pub.Publish(ctx, publisher.Message{ToUser: []string{alice, carol}, Payload: []byte(payload)}, "")
				if err == nil && len(res.Messages) == 2 {
					break
				}
				if i == 50 {
					return fmt.Errorf("the answer never named both devices (TOK-020): %+v, %v", res, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			r.logf("answer: %+v", *res)
			// API-091: devices by label; API-094: user, device, unknown users.
			want := []publisher.Accepted{{ClientID: hex.EncodeToString(laptopID[:]), User: alice, Device: "laptop"},
				{ClientID: hex.EncodeToString(phoneID[:]), User: alice, Device: "phone"}}
			for i, m := range res.Messages {
				if m.ClientID != want[i].ClientID || m.User != want[i].User || m.Device != want[i].Device {
					return fmt.Errorf("message %d: %+v, want %+v (API-091, API-094)", i, m, want[i])
				}
			}
			if !slices.Equal(res.UnknownUsers, []string{carol}) {
				return fmt.Errorf("unknown_users %q, want [%q] (API-094)", res.UnknownUsers, carol)
			}
			for name, c := range map[string]*client.Client{"phone": phone, "laptop": laptop} {
				if err := receive(ctx, c, payload); err != nil {
					return fmt.Errorf("%s: %v", name, err)
				}
			}
			select {
			case m := <-other.Messages():
				return fmt.Errorf("another user's device received %q", m.Payload)
			case <-time.After(200 * time.Millisecond):
			}
			return nil
		}},
		restTest("to-and-to-user", []string{"API-090", "CONF-032"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			id := r.honest.ClientID()
			return users(r, `{"to":["`+hex.EncodeToString(id[:])+`"],"to_user":["alice"],"text":"x"}`)
		}),
		restTest("neither-to-nor-to-user", []string{"API-090", "CONF-032"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			return users(r, `{"text":"x"}`)
		}),
		restTest("duplicate-user", []string{"API-090", "CONF-032"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			return users(r, `{"to_user":["alice","alice"],"text":"x"}`)
		}),
		restTest("empty-to-user", []string{"API-090", "CONF-032"}, 422, "invalid-message", func(r *serverRun) (*http.Request, error) {
			return users(r, `{"to_user":[],"text":"x"}`)
		}),
		restTest("unknown-users", []string{"API-093", "CONF-032"}, 422, "unknown-users", func(r *serverRun) (*http.Request, error) {
			return users(r, `{"to_user":["`+randomUser("nobody")+`"],"text":"x"}`)
		}),
	}
}

// receive reads c's messages, acknowledging each, until one carries
// payload (earlier probes may come first).
func receive(ctx context.Context, c *client.Client, payload string) error {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return fmt.Errorf("connection ended before %q arrived", payload)
			}
			m.Ack()
			if string(m.Payload) == payload {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("%q did not arrive", payload)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
