package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/token"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// RefreshRetry is how long the client waits before it asks TokenSource
// again after a failed refresh.
const RefreshRetry = 5 * time.Second

// fetchToken asks Config.TokenSource for a token and reads its ID and
// validity period; it does not verify the token, which is the server's
// task (TOK-007).
func (c *Client) fetchToken(ctx context.Context) ([]byte, *token.Token, error) {
	raw, err := c.cfg.TokenSource(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("client: token source: %w", err)
	}
	t, err := token.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("client: token source: %w", err)
	}
	return raw, t, nil
}

// refreshAt is when a token is refreshed: two thirds into its validity
// period (TOK-012), so a refresh has a third of the lifetime to succeed.
func refreshAt(t *token.Token) time.Time {
	nb, na := int64(t.NotBefore), int64(t.NotAfter)
	return time.Unix(nb+(na-nb)*2/3, 0)
}

// refresher sends TokenRefresh when the current token is two thirds
// through its life or RefreshToken asks, one at a time (POST-033), until
// stop. A failed TokenSource is retried after RefreshRetry; if the token
// expires meanwhile the server closes the connection with token_expired
// (TOK-011) and the client reconnects with a new token.
func (cn *conn) refresher(ctx context.Context, stop <-chan struct{}, cur *token.Token) {
	t := time.NewTimer(time.Until(refreshAt(cur)))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		case <-cn.refreshNow:
		}
		cn.mu.Lock()
		waiting := cn.refreshing != nil
		cn.mu.Unlock()
		if waiting {
			t.Reset(RefreshRetry)
			continue
		}
		raw, next, err := cn.c.fetchToken(ctx)
		if err == nil && next.ID == cur.ID {
			err = errors.New("client: the token source returned the current token again")
		}
		if err == nil {
			err = cn.sendRefresh(raw, next)
		}
		if err != nil {
			cn.c.log.Info("token refresh failed", "err", err)
			t.Reset(RefreshRetry)
			continue
		}
		cur = next
		// Never sooner than RefreshRetry: a source that hands out tokens
		// already two thirds through their life does not make the client
		// refresh in a loop.
		t.Reset(max(time.Until(refreshAt(next)), RefreshRetry))
	}
}

// sendRefresh sends TokenRefresh with raw (POST-030) and records that its
// answer is due.
func (cn *conn) sendRefresh(raw []byte, t *token.Token) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed {
		return errors.New("client: connection closed")
	}
	f, err := cn.sess.Seal(nil, wire.AppendMessage(nil, wire.TypeTokenRefresh, raw))
	if err != nil {
		return err
	}
	cn.refreshing = t
	cn.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return cn.ws.WriteMessage(websocket.BinaryMessage, f)
}

// tokenAccepted checks TokenAccepted against the refresh it answers
// (POST-032): one must be outstanding and the ID must be its token's.
func (cn *conn) tokenAccepted(body []byte) error {
	id, notAfter, err := session.ParseTokenAccepted(body)
	if err != nil {
		return err
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	r := cn.refreshing
	if r == nil {
		return alert.New(alert.UnexpectedMessage, "TokenAccepted without a TokenRefresh (POST-032)")
	}
	if id != r.ID || notAfter != r.NotAfter {
		return alert.New(alert.IllegalParameter, "TokenAccepted for another token (POST-032)")
	}
	cn.refreshing = nil
	cn.c.log.Debug("access token refreshed", "token_id", fmt.Sprintf("%x", id[:]))
	cn.c.event(Event{TokenRefreshed: true})
	return nil
}

// RefreshToken makes the current connection refresh its access token now
// instead of two thirds into its life (POST-030); it does nothing without
// a connection or a TokenSource, or while a refresh is outstanding.
func (c *Client) RefreshToken() {
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn == nil || cn.refreshNow == nil {
		return
	}
	select {
	case cn.refreshNow <- struct{}{}:
	default:
	}
}
