package conformance

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/publisher"
)

// tokenFor returns a token for clientKey issued with the target's publisher
// key, for the target's key (TOK-005), edited by edit before it is signed.
func (r *serverRun) tokenFor(clientKey ed25519.PublicKey, edit func(*token.Token)) ([]byte, error) {
	t, err := token.Issue(r.t.Publisher, token.Params{Subject: "conformance", Device: "runner", ClientKey: clientKey,
		Audience: token.Audience{Type: token.AudienceServerKey, ServerKeyID: r.t.Fingerprint}, NotBefore: time.Now().Add(-time.Minute)})
	if err != nil {
		return nil, err
	}
	if edit != nil {
		edit(t)
		raw := t.Marshal()
		tbs := raw[:len(raw)-64]
		copy(t.Signature[:], sig.Sign(r.t.Publisher, keyschedule.SigAccessToken, tbs))
	}
	return t.Marshal(), nil
}

// connectWithToken runs a handshake as a key-identified client presenting
// raw; a server that refuses it answers with an Alert, returned as the
// error (session.FromPeer).
func (r *serverRun) connectWithToken(key ed25519.PrivateKey, raw []byte) (*websocket.Conn, *session.Session, error) {
	ws, err := r.dial()
	if err != nil {
		return nil, nil, err
	}
	pin := r.t.Fingerprint
	hc, err := handshake.NewClient(&handshake.ClientConfig{PinnedKeyID: &pin, GREASE: true, Identity: key, Token: raw})
	if err != nil {
		ws.Close()
		return nil, nil, err
	}
	sess, err := hc.Drive(wsframe.Conn{WS: ws})
	if err != nil {
		ws.Close()
		return nil, nil, err
	}
	return ws, sess, nil
}

// tokenRejected presents a token in the flight and wants the server's
// Alert with code (TOK-007, HS-062).
func tokenRejected(name string, reqs []string, code alert.Code, build func(r *serverRun, key ed25519.PrivateKey) ([]byte, error)) *serverTest {
	return &serverTest{id: "server/token/" + name, reqs: reqs, run: func(ctx context.Context, r *serverRun) error {
		_, key, _ := ed25519.GenerateKey(nil)
		raw, err := build(r, key)
		if err != nil {
			return err
		}
		ws, _, err := r.connectWithToken(key, raw)
		if err == nil {
			ws.Close()
			return errors.New("the server accepted the token")
		}
		got, ok := alert.Find(err)
		if !ok || !session.FromPeer(err) {
			return fmt.Errorf("no Alert from the server: %v", err)
		}
		return want(got, code, nil)
	}}
}

// tokenServerTests check a server's verification of access tokens (§6.8)
// with tokens the runner issues with the target's publisher key. They need
// no server setting: a server verifies every token presented, whether or
// not it requires one (HS-062).
func tokenServerTests() []*serverTest {
	mine := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	_, otherPublisher, _ := ed25519.GenerateKey(nil)
	return []*serverTest{
		{id: "server/token/valid", reqs: []string{"HS-060", "HS-061", "TOK-007", "CONF-020"}, run: func(ctx context.Context, r *serverRun) error {
			_, key, _ := ed25519.GenerateKey(nil)
			raw, err := r.tokenFor(mine(key), nil)
			if err != nil {
				return err
			}
			ws, sess, err := r.connectWithToken(key, raw)
			if err != nil {
				return fmt.Errorf("a valid token was refused: %v", err)
			}
			defer ws.Close()
			// POST-030 … POST-032: a refresh is answered with TokenAccepted
			// naming it; one for another user closes the connection.
			next, err := r.tokenFor(mine(key), nil)
			if err != nil {
				return err
			}
			if err := refresh(ws, sess, next); err != nil {
				return err
			}
			t, _ := token.Parse(next)
			for {
				_, f, err := ws.ReadMessage()
				if err != nil {
					return fmt.Errorf("no TokenAccepted: %v", err)
				}
				msgs, err := sess.Open(f)
				if err != nil {
					return fmt.Errorf("instead of TokenAccepted: %v", err)
				}
				if len(msgs) == 1 && msgs[0].Type == wire.TypeTokenAccepted {
					id, na, err := session.ParseTokenAccepted(msgs[0].Body)
					if err != nil || id != t.ID || na != t.NotAfter {
						return fmt.Errorf("TokenAccepted %x %d (%v), want %x %d (POST-032)", id, na, err, t.ID, t.NotAfter)
					}
					break
				}
			}
			other, err := r.tokenFor(mine(key), func(t *token.Token) { t.Subject = "someone else" })
			if err != nil {
				return err
			}
			if err := refresh(ws, sess, other); err != nil {
				return err
			}
			got, err := protectedAlert(ws, sess)
			return want(got, alert.IllegalParameter, err)
		}},
		tokenRejected("expired", []string{"TOK-004", "CONF-021"}, alert.TokenExpired, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			return r.tokenFor(mine(k), func(t *token.Token) { t.NotBefore, t.NotAfter = t.NotBefore-3600, t.NotBefore-1800 })
		}),
		tokenRejected("not-yet-valid", []string{"TOK-004", "CONF-021"}, alert.TokenExpired, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			return r.tokenFor(mine(k), func(t *token.Token) { t.NotBefore, t.NotAfter = t.NotBefore+1800, t.NotBefore+2400 })
		}),
		tokenRejected("lifetime-above-1h", []string{"TOK-003", "CONF-021"}, alert.IllegalParameter, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			return r.tokenFor(mine(k), func(t *token.Token) { t.NotAfter = t.NotBefore + 3601 })
		}),
		tokenRejected("other-deployment", []string{"TOK-005", "CONF-021"}, alert.RealmMismatch, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			return r.tokenFor(mine(k), func(t *token.Token) { t.Audience.ServerKeyID[0] ^= 1 })
		}),
		tokenRejected("bound-to-other-key", []string{"TOK-006", "CONF-021"}, alert.TokenKeyMismatch, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			_, other, _ := ed25519.GenerateKey(nil)
			return r.tokenFor(mine(other), nil)
		}),
		tokenRejected("unknown-issuer", []string{"TOK-002", "CONF-021"}, alert.UnknownSigner, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			return publisher.New(r.t.BaseURL, otherPublisher).IssueToken(publisher.TokenRequest{Subject: "x", ClientKey: mine(k), ServerKeyID: r.t.Fingerprint})
		}),
		tokenRejected("bad-signature", []string{"TOK-002", "CONF-021"}, alert.BadSignature, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			raw, err := r.tokenFor(mine(k), nil)
			if err == nil {
				raw[len(raw)-1] ^= 1
			}
			return raw, err
		}),
		tokenRejected("trailing-byte", []string{"TOK-001", "CONF-021"}, alert.DecodeError, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			raw, err := r.tokenFor(mine(k), nil)
			return append(raw, 0), err
		}),
		tokenRejected("unknown-version", []string{"TOK-001", "CONF-021"}, alert.DecodeError, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			return r.tokenFor(mine(k), func(t *token.Token) { t.Version = 2 })
		}),
		tokenRejected("oversize", []string{"TOK-001", "CONF-021"}, alert.DecodeError, func(r *serverRun, k ed25519.PrivateKey) ([]byte, error) {
			raw, err := r.tokenFor(mine(k), nil)
			return append(raw, make([]byte, token.MaxSize)...), err
		}),
	}
}

// refresh sends TokenRefresh with raw on a connected session (POST-030).
func refresh(ws *websocket.Conn, sess *session.Session, raw []byte) error {
	f, err := sess.Seal(nil, wire.AppendMessage(nil, wire.TypeTokenRefresh, raw))
	if err != nil {
		return err
	}
	return ws.WriteMessage(websocket.BinaryMessage, f)
}
